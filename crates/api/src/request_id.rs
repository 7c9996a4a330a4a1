//! Every response carries `request-id` (and echoes `client-request-id`); error bodies repeat
//! them in `innerError`, read from a task-local set here.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

#[derive(Clone, Debug)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: Option<String>,
}

tokio::task_local! {
    pub(crate) static REQUEST_IDS: RequestIds;
}

pub(crate) fn current() -> RequestIds {
    REQUEST_IDS
        .try_with(Clone::clone)
        .unwrap_or_else(|_| RequestIds { request_id: uuid::Uuid::new_v4().to_string(), client_request_id: None })
}

pub(crate) async fn middleware(request: Request, next: Next) -> Response {
    let ids = RequestIds {
        request_id: uuid::Uuid::new_v4().to_string(),
        client_request_id: request
            .headers()
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 128)
            .map(str::to_owned),
    };
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // Every line logged while answering carries the request id (and, through the engine's
    // spans, the call and operation ids). The span is attached to the future, never entered
    // across an await.
    let span = tracing::info_span!(
        "request",
        request_id = %ids.request_id,
        %method,
        %path,
        call_id = tracing::field::Empty,
        operation_id = tracing::field::Empty,
        participant_id = tracing::field::Empty
    );
    let mut response = REQUEST_IDS.scope(ids.clone(), next.run(request)).instrument(span).await;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        headers.insert("request-id", v);
    }
    if let Some(Ok(v)) = ids.client_request_id.as_deref().map(HeaderValue::from_str) {
        headers.insert("client-request-id", v);
    }
    response
}
