//! The optional built-in HTTP endpoint of an instance (`http.server.listen`): Prometheus
//! metrics, liveness and readiness, the topology's description, and interactive queries.
//!
//! [`routes`] decides what every request gets (pure, tested without sockets); [`server`] runs
//! it on a thread of its own, so that a slow or hostile client never touches a stream thread.

mod routes;
mod server;
mod stores;

pub(crate) use routes::Endpoints;
pub(crate) use server::HttpServer;
