//! Just enough of the Kafka wire protocol to tell whether a broker is up: `ApiVersions` v0 and
//! `Metadata` v4 (no topics), spoken over a plain TCP socket.
//!
//! Requests are size-prefixed: `int32 size`, then request header v1 (`int16 api_key`,
//! `int16 api_version`, `int32 correlation_id`, `string client_id`) and the body. Responses are
//! `int32 size`, response header v0 (`int32 correlation_id`) and the body. Neither version used
//! here is "flexible" (no tagged fields, no compact encodings), and both are supported by every
//! Kafka 4.x broker (4.0 removed Metadata v0–v3).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

const API_METADATA: i16 = 3;
const API_API_VERSIONS: i16 = 18;
const METADATA_VERSION: i16 = 4;
const CLIENT_ID: &str = "sluice-testkit";

/// A broker as listed in a `Metadata` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerNode {
    /// The broker's `node.id`.
    pub node_id: i32,
    /// Its advertised host.
    pub host: String,
    /// Its advertised port.
    pub port: i32,
}

/// The cluster part of a `Metadata` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// Live (in KRaft: registered and unfenced) brokers.
    pub brokers: Vec<BrokerNode>,
    /// The cluster id, if the broker reports one.
    pub cluster_id: Option<String>,
    /// The broker id reported as controller; -1 when none is known.
    pub controller_id: i32,
}

/// One entry of an `ApiVersions` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// The API key (3 = Metadata, 18 = ApiVersions, ...).
    pub api_key: i16,
    /// Oldest version the broker accepts.
    pub min_version: i16,
    /// Newest version the broker accepts.
    pub max_version: i16,
}

/// Sends `ApiVersions` v0 and returns the API ranges the broker supports.
///
/// `timeout` bounds the connect and each read and write.
pub fn api_versions(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Vec<ApiVersionRange>> {
    let body = round_trip(addr, timeout, API_API_VERSIONS, 0, &[])?;
    let mut r = Reader::new(&body);
    let error_code = r.i16()?;
    if error_code != 0 {
        return Err(invalid(format!("ApiVersions answered error code {error_code}")));
    }
    let n = r.array_len()?;
    let mut apis = Vec::with_capacity(n);
    for _ in 0..n {
        apis.push(ApiVersionRange {
            api_key: r.i16()?,
            min_version: r.i16()?,
            max_version: r.i16()?,
        });
    }
    Ok(apis)
}

/// Sends `Metadata` v4 for no topics and returns the brokers, cluster id and controller id.
///
/// `timeout` bounds the connect and each read and write.
pub fn metadata(addr: impl ToSocketAddrs, timeout: Duration) -> io::Result<Metadata> {
    // topics: empty (not null) array = no topics; allow_auto_topic_creation: false.
    let body = round_trip(addr, timeout, API_METADATA, METADATA_VERSION, &[0, 0, 0, 0, 0])?;
    let mut r = Reader::new(&body);
    let _throttle_time_ms = r.i32()?;
    let n = r.array_len()?;
    let mut brokers = Vec::with_capacity(n);
    for _ in 0..n {
        let node_id = r.i32()?;
        let host = r.string()?.ok_or_else(|| invalid("null broker host".into()))?;
        let port = r.i32()?;
        let _rack = r.string()?;
        brokers.push(BrokerNode { node_id, host, port });
    }
    let cluster_id = r.string()?;
    let controller_id = r.i32()?;
    let _topics = r.array_len()?;
    Ok(Metadata {
        brokers,
        cluster_id,
        controller_id,
    })
}

fn round_trip(
    addr: impl ToSocketAddrs,
    timeout: Duration,
    api_key: i16,
    api_version: i16,
    body: &[u8],
) -> io::Result<Vec<u8>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    let addr = addrs
        .first()
        .ok_or_else(|| invalid("no address to connect to".into()))?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;

    let correlation_id = (crate::config::random_u64() as i32) & 0x7fff_ffff;
    let mut req = Vec::with_capacity(64 + body.len());
    req.extend_from_slice(&[0; 4]); // size, filled below
    req.extend_from_slice(&api_key.to_be_bytes());
    req.extend_from_slice(&api_version.to_be_bytes());
    req.extend_from_slice(&correlation_id.to_be_bytes());
    req.extend_from_slice(&(CLIENT_ID.len() as i16).to_be_bytes());
    req.extend_from_slice(CLIENT_ID.as_bytes());
    req.extend_from_slice(body);
    let size = (req.len() - 4) as i32;
    req[..4].copy_from_slice(&size.to_be_bytes());
    stream.write_all(&req)?;

    let mut size = [0u8; 4];
    stream.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    if !(4..=64 * 1024 * 1024).contains(&size) {
        return Err(invalid(format!("implausible response size {size}")));
    }
    let mut resp = vec![0u8; size as usize];
    stream.read_exact(&mut resp)?;
    let got = i32::from_be_bytes([resp[0], resp[1], resp[2], resp[3]]);
    if got != correlation_id {
        return Err(invalid(format!(
            "correlation id {got}, expected {correlation_id}"
        )));
    }
    resp.drain(..4);
    Ok(resp)
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed Kafka response: {msg}"),
    )
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> io::Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(invalid(format!(
                "truncated: wanted {n} more bytes, have {}",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn i16(&mut self) -> io::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn i32(&mut self) -> io::Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn array_len(&mut self) -> io::Result<usize> {
        match self.i32()? {
            -1 => Ok(0),
            n if n >= 0 && (n as usize) <= self.buf.len() => Ok(n as usize),
            n => Err(invalid(format!("bad array length {n}"))),
        }
    }

    /// A nullable string: `int16 length` (-1 = null), then UTF-8 bytes.
    fn string(&mut self) -> io::Result<Option<String>> {
        match self.i16()? {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(String::from_utf8_lossy(self.take(n as usize)?).into_owned())),
            n => Err(invalid(format!("bad string length {n}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_parses_strings_and_arrays() {
        let buf = [0, 0, 0, 1, 0, 2, b'h', b'i', 0xff, 0xff];
        let mut r = Reader::new(&buf);
        assert_eq!(r.array_len().unwrap(), 1);
        assert_eq!(r.string().unwrap().as_deref(), Some("hi"));
        assert_eq!(r.string().unwrap(), None);
        assert!(r.i16().is_err());
    }
}
