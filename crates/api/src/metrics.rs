//! `/metrics` in Prometheus text format, and the middleware that counts requests.
//!
//! The `metrics` facade is process-global by design of that crate: the binary installs the
//! Prometheus recorder once ([`install`]) and hands its handle to [`crate::AppState`]. The
//! engine counts operations and deliveries, and the SQLite adapter times its log syncs and
//! checkpoints, through the same facade (a no-op where nothing is installed, as in unit
//! tests). Gauges of the store (outbox depth and age, active calls and participants) are read
//! at scrape time, not kept up to date.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::error::ApiError;
use crate::AppState;

/// Latency buckets, in seconds, of every histogram.
const BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the process's Prometheus recorder and describes Switchboard's metrics. Call once,
/// from the binary; the handle renders `/metrics`, and its `run_upkeep` should be called now
/// and then (the binary does it every few seconds).
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    describe_counter!(
        "switchboard_http_requests_total",
        "HTTP requests answered, by method, route template and status."
    );
    describe_histogram!(
        "switchboard_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request (to its response head), by method, route template and status."
    );
    describe_counter!(
        "switchboard_operations_total",
        "Asynchronous operations by kind and outcome: started, then completed or failed."
    );
    describe_counter!(
        "switchboard_notification_deliveries_total",
        "Delivery attempts of notifications by outcome: delivered, failed (will retry) or dead (attempts exhausted)."
    );
    describe_histogram!(
        "switchboard_notification_delivery_duration_seconds",
        Unit::Seconds,
        "Time of one delivery attempt (POST to the callback URI), by outcome."
    );
    describe_histogram!(
        "switchboard_store_log_sync_duration_seconds",
        Unit::Seconds,
        "SQLite only: time to sync the write-ahead log to disk; every commit is answered after the sync that covers it."
    );
    describe_histogram!(
        "switchboard_store_checkpoint_duration_seconds",
        Unit::Seconds,
        "SQLite only: time of one checkpoint (the log copied into the database file, that file synced)."
    );
    describe_gauge!("switchboard_outbox_pending", "Notifications waiting in the outbox (retries included).");
    describe_gauge!(
        "switchboard_outbox_oldest_pending_age_seconds",
        Unit::Seconds,
        "Age of the oldest pending notification, in domain time (0 when the outbox is empty)."
    );
    describe_gauge!("switchboard_calls_active", "Calls not yet terminated.");
    describe_gauge!("switchboard_participants", "Participants ringing or connected, by state.");
    Ok(handle)
}

/// Counts and times every request by its route template (never the raw path, whose ids
/// would make every request its own series), and logs one line per request.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    record_path_ids(&route, request.uri().path());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let labels = [("method", method.clone()), ("route", route.clone()), ("status", status.to_string())];
    metrics::counter!("switchboard_http_requests_total", &labels).increment(1);
    metrics::histogram!("switchboard_http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if matches!(route.as_str(), "/metrics" | "/healthz" | "/readyz") {
        tracing::debug!(%route, status, latency_ms, "request answered");
    } else if status >= 500 {
        tracing::warn!(%route, status, latency_ms, "request answered");
    } else {
        tracing::info!(%route, status, latency_ms, "request answered");
    }
    response
}

/// The ids a route names in its path (`{call_id}`, `{operation_id}`, `{participant_id}`) go
/// into the request's span, so every line logged while answering carries them.
fn record_path_ids(route: &str, path: &str) {
    let span = tracing::Span::current();
    for (template, actual) in route.split('/').zip(path.split('/')) {
        match template {
            "{call_id}" => span.record("call_id", actual),
            "{operation_id}" => span.record("operation_id", actual),
            "{participant_id}" => span.record("participant_id", actual),
            _ => &span,
        };
    }
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = state.metrics() else {
        return Err(ApiError::unavailable("metrics are not enabled in this process"));
    };
    let stats = state.engine().stats().await?;
    metrics::gauge!("switchboard_outbox_pending").set(stats.store.outbox_pending as f64);
    metrics::gauge!("switchboard_outbox_oldest_pending_age_seconds").set(stats.outbox_oldest_age_ms as f64 / 1000.0);
    metrics::gauge!("switchboard_calls_active").set(stats.store.active_calls as f64);
    metrics::gauge!("switchboard_participants", "state" => "ringing").set(stats.store.ringing_participants as f64);
    metrics::gauge!("switchboard_participants", "state" => "connected").set(stats.store.connected_participants as f64);
    handle.run_upkeep();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response())
}
