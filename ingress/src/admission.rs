//! Admission control: at most `INGRESS_MAX_IN_FLIGHT` API requests are served at once, and one
//! more is refused at once with `503` and `Retry-After` rather than queued. Past the machine's
//! capacity an open-ended backlog (a staff PATCH may wait `COMMAND_WAIT_MS` for its outcome)
//! only grows memory and every client's latency until time-outs fail them all; refusing early
//! keeps the admitted requests fast, and the refused ones are not queued, so nothing is lost.
//! Probes, metrics and the console are not counted: an overloaded ingress must still say so.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    fn record_in_flight(&self) {
        let in_flight = self.limit - self.permits.available_permits();
        metrics::gauge!("kyte_http_requests_in_flight").set(in_flight as f64);
    }
}

pub async fn admit(State(admission): State<Admission>, req: Request, next: Next) -> Response {
    let Ok(permit) = admission.permits.clone().try_acquire_owned() else {
        metrics::counter!("kyte_http_requests_shed_total").increment(1);
        return ApiError::unavailable("ingress is at capacity; try again shortly").into_response();
    };
    admission.record_in_flight();
    let response = next.run(req).await;
    drop(permit);
    admission.record_in_flight();
    response
}
