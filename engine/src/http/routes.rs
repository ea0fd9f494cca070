//! What each route of the HTTP endpoint answers.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | every metric of the instance, Prometheus text format 0.0.4 |
//! | `GET /health/live` | 200 unless the instance stopped after an error (then 503) |
//! | `GET /health/ready` | 200 while `RUNNING` with no task restoring, else 503 with the reason |
//! | `GET /topology` | the topology's description (as `Topology::describe`) |
//! | `GET /stores...` | interactive queries (see [`super::stores`]) |
//!
//! Other paths get 404, other methods 405; every error body says why in one line.

use super::stores::StoreRoutes;
use crate::metrics::{names, Metrics};
use crate::query::KeyLocator;
use crate::runtime::query_registry::QueryRegistry;
use crate::runtime::state::{StateBoard, StreamsState};
use sluice_dsl::Topology;
use std::sync::Arc;

/// An answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// A redirect's target (`Location`).
    pub location: Option<String>,
}

const TEXT: &str = "text/plain; charset=utf-8";
/// The content type of Prometheus' text exposition format.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Self {
        let mut body = body.into();
        if !body.ends_with('\n') {
            body.push('\n');
        }
        Response {
            status,
            content_type: TEXT,
            body,
            location: None,
        }
    }
}

/// What the routes read: the instance's metrics, state and topology (shared, read-only).
#[derive(Clone)]
pub(crate) struct Endpoints {
    pub metrics: Metrics,
    pub board: Arc<StateBoard>,
    pub topology: Arc<Topology>,
    pub queries: Arc<QueryRegistry>,
    /// Finds the instance holding a key this one does not (`None` in unit tests).
    pub locator: Option<Arc<KeyLocator>>,
}

impl Endpoints {
    /// The answer to `method path` (`path` may carry a query string).
    pub fn respond(&self, method: &str, path: &str) -> Response {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let route = match path {
            "/metrics" | "/health/live" | "/health/ready" | "/topology" => path,
            _ if path == "/stores" || path.starts_with("/stores/") => "/stores",
            _ => {
                return Response::text(
                    404,
                    format!(
                        "no route {path}: try /metrics, /health/live, /health/ready, /topology or /stores"
                    ),
                )
            }
        };
        if method != "GET" && method != "HEAD" {
            return Response::text(405, format!("{method} {route}: only GET is served"));
        }
        match route {
            "/metrics" => Response {
                status: 200,
                content_type: PROMETHEUS,
                body: self.metrics.render_prometheus(),
                location: None,
            },
            "/health/live" => match self.board.state() {
                StreamsState::Error => Response::text(503, "not live: the instance stopped after an error"),
                state => Response::text(200, format!("live: {state}")),
            },
            "/health/ready" => self.readiness(),
            "/stores" => StoreRoutes {
                topology: &self.topology,
                queries: &self.queries,
                board: &self.board,
                locator: self.locator.as_deref(),
            }
            .respond(&path["/stores".len()..], query),
            _ => Response::text(200, self.topology.describe().to_string()),
        }
    }

    /// Ready while `RUNNING` with no task restoring its state.
    fn readiness(&self) -> Response {
        let state = self.board.state();
        if state != StreamsState::Running {
            return Response::text(503, format!("not ready: the instance is {state}"));
        }
        match self.metrics.total(names::RESTORING, &[]) {
            0 => Response::text(200, "ready"),
            n => Response::text(503, format!("not ready: {n} task(s) restoring state")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dsl::prelude::*;

    fn endpoints() -> Endpoints {
        let b = StreamsBuilder::new();
        b.stream("payments", Consumed::with(Serde::string(), Serde::string()))
            .to("out", Produced::default());
        Endpoints {
            metrics: Metrics::new(),
            board: Arc::new(StateBoard::new()),
            topology: Arc::new(b.build().unwrap()),
            queries: Arc::default(),
            locator: None,
        }
    }

    #[test]
    fn metrics_are_prometheus_text() {
        let e = endpoints();
        e.metrics
            .counter(
                "sluice_records_processed_total",
                "Records processed",
                &[("task", "0_0")],
            )
            .add(7);
        let r = e.respond("GET", "/metrics");
        assert_eq!((r.status, r.content_type), (200, PROMETHEUS));
        assert!(
            r.body.contains("sluice_records_processed_total{task=\"0_0\"} 7"),
            "{}",
            r.body
        );
    }

    #[test]
    fn ready_only_while_running_with_nothing_restoring() {
        let e = endpoints();
        assert_eq!(e.respond("GET", "/health/ready").status, 503, "created");
        assert_eq!(e.respond("GET", "/health/live").status, 200);
        e.board.transition(StreamsState::Rebalancing);
        assert_eq!(e.respond("GET", "/health/ready").status, 503, "rebalancing");
        e.board.transition(StreamsState::Running);
        assert_eq!(e.respond("GET", "/health/ready").status, 200);
        let restoring = e.metrics.gauge(names::RESTORING, "Restoring", &[("task", "0_1")]);
        restoring.set(1);
        let r = e.respond("GET", "/health/ready?verbose");
        assert_eq!(r.status, 503);
        assert!(r.body.contains("1 task(s) restoring"), "{}", r.body);
        restoring.set(0);
        assert_eq!(e.respond("GET", "/health/ready").status, 200);
        e.board.transition(StreamsState::PendingError);
        e.board.transition(StreamsState::Error);
        assert_eq!(e.respond("GET", "/health/live").status, 503);
    }

    #[test]
    fn topology_is_described() {
        let r = endpoints().respond("GET", "/topology");
        assert_eq!(r.status, 200);
        assert!(r.body.contains("payments"), "{}", r.body);
    }

    #[test]
    fn unknown_paths_and_methods_get_a_reason() {
        let e = endpoints();
        let r = e.respond("GET", "/nope");
        assert_eq!(r.status, 404);
        assert!(r.body.contains("/metrics"));
        assert_eq!(e.respond("POST", "/metrics").status, 405);
        assert_eq!(e.respond("GET", "").status, 404);
    }
}
