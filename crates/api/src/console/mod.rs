//! The web console at `/console`: static HTML, JavaScript (plain ES modules, no build step)
//! and CSS embedded in the binary. The page itself is public; everything it shows comes from
//! the control API with the admin token it asks for (or reads from `#token=` in the URL),
//! and it stays live through `GET /_switchboard/events`.

use axum::http::{header, Method};
use axum::response::IntoResponse;

use crate::endpoints::{endpoint, tag, Body, Endpoint};

const INDEX: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/console", index).summary("The web console").answers(200, Body::Text("text/html")),
        endpoint(Method::GET, "/console/app.js", app_js)
            .summary("The console's script")
            .answers(200, Body::Text("text/javascript")),
        endpoint(Method::GET, "/console/style.css", style)
            .summary("The console's style sheet")
            .answers(200, Body::Text("text/css")),
    ]
    .into_iter()
    .map(|e| e.tag(tag::CONSOLE))
    .collect()
}

/// The assets change only with the binary; the browser revalidates each load.
const CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), CACHE], INDEX)
}

async fn app_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), CACHE], APP_JS)
}

async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), CACHE], STYLE)
}
