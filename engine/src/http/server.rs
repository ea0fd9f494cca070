//! The HTTP server: one thread running a single-threaded tokio runtime and hyper (HTTP/1.1),
//! answering from [`Endpoints`].
//!
//! Lifecycle: [`HttpServer::start`] binds the address (so that a taken port fails the instance's
//! start, not a later request) and spawns the thread; dropping the server stops accepting,
//! lets the requests being answered finish, and joins the thread.

use super::routes::Endpoints;
use crate::error::StreamsError;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// A running HTTP endpoint.
pub(crate) struct HttpServer {
    address: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `listen` and serves `endpoints` from a thread of its own.
    pub fn start(listen: SocketAddr, endpoints: Endpoints) -> Result<Self, StreamsError> {
        let io = |e: std::io::Error| StreamsError::Http {
            address: listen.to_string(),
            reason: e.to_string(),
        };
        let listener = std::net::TcpListener::bind(listen).map_err(io)?;
        listener.set_nonblocking(true).map_err(io)?;
        let address = listener.local_addr().map_err(io)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(io)?;
        let (stop, stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("sluice-http".into())
            .spawn(move || runtime.block_on(serve(listener, endpoints, stopped)))
            .map_err(io)?;
        tracing::info!(%address, "HTTP endpoint listening");
        Ok(HttpServer {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// The address it listens on (the port chosen by the system if `listen` said 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until told to stop; each connection is served by its own task.
async fn serve(listener: std::net::TcpListener, endpoints: Endpoints, mut stopped: watch::Receiver<bool>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "HTTP endpoint cannot listen");
            return;
        }
    };
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: say so, and go on accepting.
                        tracing::warn!(error = %e, "HTTP endpoint: accept failed");
                        continue;
                    }
                };
                let endpoints = endpoints.clone();
                let mut stopped = stopped.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| {
                        let endpoints = endpoints.clone();
                        async move { Ok::<_, Infallible>(answer(&endpoints, &request)) }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        // Closing: finish the request in flight, then drop the connection.
                        _ = stopped.changed() => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            // Reap finished connections so that the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    while connections.join_next().await.is_some() {}
}

fn answer(endpoints: &Endpoints, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let r = endpoints.respond(request.method().as_str(), path);
    let body = if request.method() == hyper::Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(r.body)
    };
    let mut response = Response::builder()
        .status(r.status)
        .header(hyper::header::CONTENT_TYPE, r.content_type);
    if let Some(location) = &r.location {
        response = response.header(hyper::header::LOCATION, location);
    }
    response.body(Full::new(body)).unwrap_or_else(|e| {
        // A Location that is no valid header (a host with odd bytes): say so instead.
        let mut failed = Response::new(Full::new(Bytes::from(format!("cannot answer: {e}\n"))));
        *failed.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        failed
    })
}
