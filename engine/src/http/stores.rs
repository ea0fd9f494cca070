//! The HTTP routes of interactive queries, for any store whose keys can be written in a URL:
//!
//! | route | answer |
//! |---|---|
//! | `GET /stores` | every store: name and kind |
//! | `GET /stores/<name>/keys/<key>` | a key-value store: the key's committed value; a window store: the key's windows (`?from=&to=` bound their starts, ms) |
//! | `GET /stores/<name>/all?limit=N` | the first N entries (windows) in store order; N at most 10,000, default 100 |
//!
//! Keys in URLs are percent-decoded text, accepted for stores whose keys are strings or
//! integers. Values come back as JSON: strings, numbers and booleans as themselves, values of
//! a JSON serde as their JSON, anything else as `{"hex": "<serialized bytes>"}`.
//! Answers: 404 for an unknown store or a key this instance does not hold, 400 for a key or
//! bound that does not parse and for a limit above 10,000, 503 while the store is unavailable
//! (restoring, not running).

use super::routes::Response;
use crate::error::StreamsError;
use crate::query::{bound_ref as as_ref, value_bytes, KeyLocator, MAX_RANGE_ENTRIES};
use crate::runtime::query_registry::QueryRegistry;
use crate::runtime::state::StateBoard;
use serde_json::{json, Value};
use sluice_dsl::dynamic::{erase, DynBox};
use sluice_dsl::serde::ErasedSerde;
use sluice_dsl::topology::{StoreKind, StoreSpec};
use sluice_dsl::Topology;
use sluice_state::{Committed, KeyValueStore, SessionSchema, WindowSchema};
use std::any::TypeId;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Entries of `/all` without `?limit=`.
const DEFAULT_LIMIT: usize = 100;

/// What the store routes read.
pub(crate) struct StoreRoutes<'a> {
    pub topology: &'a Topology,
    pub queries: &'a QueryRegistry,
    pub board: &'a StateBoard,
    /// Where keys not held here live.
    pub locator: Option<&'a KeyLocator>,
}

fn json_response(status: u16, body: Value) -> Response {
    Response {
        status,
        content_type: "application/json",
        body: format!("{body}\n"),
        location: None,
    }
}

fn error(status: u16, message: impl Into<String>) -> Response {
    json_response(status, json!({ "error": message.into() }))
}

impl StoreRoutes<'_> {
    /// `rest`: the path after `/stores` (empty, or `/<name>/...`); `query`: after `?`.
    pub(crate) fn respond(&self, rest: &str, query: &str) -> Response {
        let parts: Vec<&str> = rest.trim_start_matches('/').splitn(3, '/').collect();
        match parts.as_slice() {
            [""] => self.list(),
            [name, "keys", key] => self.with_store(name, |spec| self.key(spec, key, query)),
            [name, "all"] => self.with_store(name, |spec| self.all(spec, query)),
            [name, "range"] => self.with_store(name, |spec| self.range(spec, query)),
            _ => error(
                404,
                "no such route: /stores, /stores/<name>/keys/<key>, /stores/<name>/range or /stores/<name>/all",
            ),
        }
    }

    fn list(&self) -> Response {
        let stores: Vec<Value> = self
            .topology
            .stores()
            .iter()
            .map(|s| json!({ "name": s.name, "kind": kind_label(s.kind) }))
            .collect();
        json_response(200, json!({ "stores": stores }))
    }

    fn with_store(&self, name: &str, f: impl FnOnce(&StoreSpec) -> Result<Response, Response>) -> Response {
        let name = decode(name);
        let Some(spec) = self.topology.store(&name) else {
            return error(404, format!("no store {name:?}: GET /stores lists them"));
        };
        f(spec).unwrap_or_else(|e| e)
    }

    /// Visits the store's committed state in every local active task.
    fn visit(
        &self,
        spec: &StoreSpec,
        mut f: impl FnMut(&KeyValueStore, i64) -> Result<(), StreamsError>,
    ) -> Result<(), Response> {
        self.queries
            .visit(self.board, &spec.name, &mut f)
            .map_err(|e| match e {
                StreamsError::StoreUnavailable { .. } => error(503, e.to_string()),
                other => error(500, other.to_string()),
            })
    }

    fn key(&self, spec: &StoreSpec, key: &str, query: &str) -> Result<Response, Response> {
        let key_text = decode(key);
        let key_bytes = key_from_text(&spec.key_serde, &key_text).map_err(|e| error(400, e))?;
        let params = parse_query(query);
        match spec.kind {
            StoreKind::KeyValue => {
                let mut found = None;
                self.visit(spec, |kv, _| {
                    if found.is_none() {
                        found = kv.get_committed(&key_bytes).map_err(|e| store_error(spec, e))?;
                    }
                    Ok(())
                })?;
                match found {
                    Some(v) => Ok(json_response(
                        200,
                        json!({ "key": key_text, "value": value_json(spec, &v) }),
                    )),
                    None => Err(match self.owner_elsewhere(spec, &key_bytes) {
                        Some(host) => redirect(&host, spec, key, query, &key_text),
                        None => error(
                            404,
                            format!("key {key_text:?} is not in {} on this instance", spec.name),
                        ),
                    }),
                }
            }
            StoreKind::Window {
                retention_ms,
                size_ms,
                ..
            } => {
                let from = param_i64(&params, "from", i64::MIN / 2)?;
                let to = param_i64(&params, "to", i64::MAX / 2)?;
                let schema = WindowSchema::new(retention_ms, size_ms);
                let mut windows = Vec::new();
                self.visit(spec, |kv, stream_time| {
                    windows.extend(
                        schema
                            .fetch(&Committed(kv), &key_bytes, from, to, stream_time)
                            .map_err(|e| store_error(spec, e))?,
                    );
                    Ok(())
                })?;
                if windows.is_empty() {
                    if let Some(host) = self.owner_elsewhere(spec, &key_bytes) {
                        return Err(redirect(&host, spec, key, query, &key_text));
                    }
                }
                windows.sort_by_key(|(start, _)| *start);
                let windows: Vec<Value> = windows
                    .iter()
                    .map(|(start, v)| json!({ "start": start, "end": start + size_ms, "value": value_json(spec, v) }))
                    .collect();
                Ok(json_response(200, json!({ "key": key_text, "windows": windows })))
            }
            StoreKind::Session { retention_ms } => {
                let schema = SessionSchema::new(retention_ms);
                let mut sessions = Vec::new();
                self.visit(spec, |kv, stream_time| {
                    sessions.extend(
                        schema
                            .key_sessions(&Committed(kv), &key_bytes, stream_time)
                            .map_err(|e| store_error(spec, e))?,
                    );
                    Ok(())
                })?;
                if sessions.is_empty() {
                    if let Some(host) = self.owner_elsewhere(spec, &key_bytes) {
                        return Err(redirect(&host, spec, key, query, &key_text));
                    }
                }
                sessions.sort_by_key(|s| (s.end, s.start));
                let sessions: Vec<Value> = sessions
                    .iter()
                    .map(|s| json!({ "start": s.start, "end": s.end, "value": value_json(spec, &s.value) }))
                    .collect();
                Ok(json_response(
                    200,
                    json!({ "key": key_text, "sessions": sessions }),
                ))
            }
            _ => Err(not_served(spec)),
        }
    }

    /// `?from=&to=` (keys, both included, either may be left out) and `?limit=` of a
    /// key-value store.
    fn range(&self, spec: &StoreSpec, query: &str) -> Result<Response, Response> {
        if spec.kind != StoreKind::KeyValue {
            return Err(error(
                400,
                format!("{} is not a key-value store: ranges are of keys", spec.name),
            ));
        }
        let params = parse_query(query);
        let bound = |name: &str| -> Result<Bound<Vec<u8>>, Response> {
            params.get(name).map_or(Ok(Bound::Unbounded), |text| {
                key_from_text(&spec.key_serde, text)
                    .map(Bound::Included)
                    .map_err(|e| error(400, format!("{name}: {e}")))
            })
        };
        let (from, to) = (bound("from")?, bound("to")?);
        self.entries(spec, limit(&params)?, from, to)
    }

    fn all(&self, spec: &StoreSpec, query: &str) -> Result<Response, Response> {
        let limit = limit(&parse_query(query))?;
        match spec.kind {
            StoreKind::KeyValue => self.entries(spec, limit, Bound::Unbounded, Bound::Unbounded),
            StoreKind::Window {
                retention_ms,
                size_ms,
                ..
            } => {
                let schema = WindowSchema::new(retention_ms, size_ms);
                let mut windows = Vec::new();
                self.visit(spec, |kv, stream_time| {
                    windows.extend(
                        schema
                            .fetch_all(&Committed(kv), i64::MIN / 2, i64::MAX / 2, stream_time)
                            .map_err(|e| store_error(spec, e))?,
                    );
                    Ok(())
                })?;
                windows.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
                windows.truncate(limit);
                let windows: Vec<Value> = windows
                    .iter()
                    .map(|w| {
                        json!({
                            "key": key_json(spec, &w.key),
                            "start": w.start,
                            "end": w.start + size_ms,
                            "value": value_json(spec, &w.value),
                        })
                    })
                    .collect();
                Ok(json_response(200, json!({ "windows": windows })))
            }
            _ => Err(not_served(spec)),
        }
    }

    /// Up to `limit` committed entries of a key-value store between the bounds, in
    /// serialized-key order, over the local tasks.
    fn entries(
        &self,
        spec: &StoreSpec,
        limit: usize,
        from: Bound<Vec<u8>>,
        to: Bound<Vec<u8>>,
    ) -> Result<Response, Response> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        self.visit(spec, |kv, _| {
            for e in kv
                .range_committed(as_ref(&from), as_ref(&to))
                .map_err(|e| store_error(spec, e))?
                .take(limit)
            {
                entries.push(e.map_err(|e| store_error(spec, e))?);
            }
            Ok(())
        })?;
        entries.sort();
        entries.truncate(limit);
        let entries: Vec<Value> = entries
            .iter()
            .map(|(k, v)| json!({ "key": key_json(spec, k), "value": value_json(spec, v) }))
            .collect();
        Ok(json_response(200, json!({ "entries": entries })))
    }
}

impl StoreRoutes<'_> {
    /// The `application.server` of the instance holding `key_bytes` of `spec`, if that is
    /// another instance (and it set one).
    fn owner_elsewhere(&self, spec: &StoreSpec, key_bytes: &[u8]) -> Option<String> {
        let m = self.locator?.locate(&spec.name, key_bytes).ok()?;
        if m.local {
            return None;
        }
        m.active_host
    }
}

/// 307 to the same route on the instance `host` that holds the key.
fn redirect(host: &str, spec: &StoreSpec, raw_key: &str, query: &str, key_text: &str) -> Response {
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let location = format!(
        "http://{host}/stores/{}/keys/{raw_key}{query}",
        percent_encoding::utf8_percent_encode(&spec.name, percent_encoding::NON_ALPHANUMERIC)
    );
    let mut r = json_response(
        307,
        json!({
            "error": format!("key {key_text:?} of {} is held by {host}", spec.name),
            "active_host": host,
        }),
    );
    r.location = Some(location);
    r
}

/// `?limit=` (default 100, at most 10,000).
fn limit(params: &BTreeMap<String, String>) -> Result<usize, Response> {
    match params.get("limit") {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n <= MAX_RANGE_ENTRIES => Ok(n),
            Ok(n) => Err(error(
                400,
                format!("limit {n} is above {MAX_RANGE_ENTRIES}: page with smaller ones"),
            )),
            Err(_) => Err(error(400, format!("limit {l:?} is not a number"))),
        },
    }
}

/// Session stores' `/all` (and kinds to come) are not served over HTTP yet.
fn not_served(spec: &StoreSpec) -> Response {
    error(
        400,
        format!(
            "{} is a {} store: only key-value and window stores are served",
            spec.name,
            kind_label(spec.kind)
        ),
    )
}

fn store_error(spec: &StoreSpec, e: impl std::fmt::Display) -> StreamsError {
    StreamsError::StoreAccess {
        store: spec.name.clone(),
        reason: e.to_string(),
    }
}

fn kind_label(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::KeyValue => "key-value",
        StoreKind::Window { .. } => "window",
        StoreKind::Session { .. } => "session",
        StoreKind::Versioned { .. } => "versioned",
        _ => "other",
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn param_i64(params: &BTreeMap<String, String>, name: &str, default: i64) -> Result<i64, Response> {
    params.get(name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| error(400, format!("{name}={v:?} is not a timestamp in milliseconds")))
    })
}

/// The stored bytes of a key given as URL text, for stores keyed by strings or integers.
fn key_from_text(serde: &ErasedSerde, text: &str) -> Result<Vec<u8>, String> {
    let t = serde.value_type_id();
    let parse_err = |_| format!("key {text:?} is not a {}", serde.type_name());
    let key = if t == TypeId::of::<String>() {
        erase(text.to_string())
    } else if t == TypeId::of::<i64>() {
        erase(text.parse::<i64>().map_err(parse_err)?)
    } else if t == TypeId::of::<i32>() {
        erase(text.parse::<i32>().map_err(parse_err)?)
    } else if t == TypeId::of::<u64>() {
        erase(text.parse::<u64>().map_err(parse_err)?)
    } else if t == TypeId::of::<u32>() {
        erase(text.parse::<u32>().map_err(parse_err)?)
    } else {
        return Err(format!(
            "keys of type {} cannot be given in a URL (strings and integers can)",
            serde.type_name()
        ));
    };
    serde
        .serialize(&key)
        .map_err(|e| format!("cannot serialize key {text:?}: {e}"))?
        .ok_or_else(|| format!("key {text:?} serializes to null"))
}

/// A deserialized value as JSON, when its type is one JSON has.
fn known_json(value: &DynBox) -> Option<Value> {
    macro_rules! try_types {
        ($($t:ty),*) => {
            $(if let Some(v) = value.downcast_ref::<$t>() { return Some(json!(v)); })*
        };
    }
    try_types!(String, i64, i32, u64, u32, f64, f32, bool, Value);
    None
}

fn bytes_json(serde: &ErasedSerde, bytes: &[u8]) -> Value {
    match serde.deserialize_box(Some(bytes)) {
        Ok(v) => known_json(&v)
            .or_else(|| serde_json::from_slice(bytes).ok())
            .unwrap_or_else(|| json!({ "hex": hex(bytes) })),
        Err(e) => json!({ "hex": hex(bytes), "unreadable": e.to_string() }),
    }
}

fn key_json(spec: &StoreSpec, bytes: &[u8]) -> Value {
    bytes_json(&spec.key_serde, bytes)
}

fn value_json(spec: &StoreSpec, stored: &[u8]) -> Value {
    bytes_json(&spec.value_serde, value_bytes(spec.timestamped, stored))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dsl::serde::Serde;

    #[test]
    fn keys_come_from_url_text_for_strings_and_integers() {
        let strings = ErasedSerde::from(Serde::string());
        assert_eq!(key_from_text(&strings, "card 1").unwrap(), b"card 1".to_vec());
        let longs = ErasedSerde::from(Serde::<i64>::i64());
        assert_eq!(key_from_text(&longs, "7").unwrap(), 7i64.to_be_bytes().to_vec());
        let err = key_from_text(&longs, "seven").unwrap_err();
        assert!(err.contains("is not a"), "{err}");
        let bytes = ErasedSerde::from(Serde::bytes());
        assert!(key_from_text(&bytes, "ab")
            .unwrap_err()
            .contains("cannot be given in a URL"));
    }

    #[test]
    fn values_render_as_json_or_hex() {
        assert_eq!(
            bytes_json(&ErasedSerde::from(Serde::<i64>::i64()), &5i64.to_be_bytes()),
            json!(5)
        );
        assert_eq!(
            bytes_json(&ErasedSerde::from(Serde::string()), b"hi"),
            json!("hi")
        );
        assert_eq!(
            bytes_json(&ErasedSerde::from(Serde::bytes()), &[0xff, 0x01]),
            json!({"hex": "ff01"})
        );
    }

    #[test]
    fn query_strings_and_paths_are_percent_decoded() {
        let q = parse_query("from=10&to=2%30&flag");
        assert_eq!(q.get("to").map(String::as_str), Some("20"));
        assert_eq!(q.get("flag").map(String::as_str), Some(""));
        assert_eq!(decode("acct%2F1"), "acct/1");
    }
}
