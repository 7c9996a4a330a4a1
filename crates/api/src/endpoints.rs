//! Every route of the server, described once: method, path, summary, who may call it, the
//! body it reads and the one it answers, and its handler. The router ([`crate::router`]) and
//! `/openapi.json` ([`crate::openapi`]) are both built from [`all`], so neither can list a
//! route the other lacks.

use std::borrow::Cow;

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};
use utoipa::openapi::schema::ComponentsBuilder;
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;

use crate::AppState;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Public,
    /// A Graph application token holding any one of these permissions.
    Graph(&'static [&'static str]),
    /// The control API's admin token.
    Admin,
}

/// A named schema, registered in the document's components with the schemas it refers to.
#[derive(Clone, Copy)]
pub struct Named {
    pub name: fn() -> Cow<'static, str>,
    pub register: fn(ComponentsBuilder) -> ComponentsBuilder,
}

impl Named {
    pub fn of<T: ToSchema>() -> Named {
        Named {
            name: T::name,
            register: |components| {
                let mut nested = Vec::new();
                T::schemas(&mut nested);
                components.schema_from::<T>().schemas_from_iter(nested)
            },
        }
    }
}

/// A request or response body.
#[derive(Clone)]
pub enum Body {
    None,
    /// JSON of a named schema.
    Json(Named),
    /// A JSON array of a named schema.
    JsonArray(Named),
    /// JSON described inline.
    JsonInline(fn() -> RefOr<Schema>),
    /// `application/x-www-form-urlencoded` (the token endpoint).
    Form(fn() -> RefOr<Schema>),
    /// Text of a content type (`text/html`, `text/plain; version=0.0.4`, ...).
    Text(&'static str),
    /// `text/event-stream`.
    EventStream,
}

impl Body {
    pub fn json<T: ToSchema>() -> Body {
        Body::Json(Named::of::<T>())
    }
    pub fn json_array<T: ToSchema>() -> Body {
        Body::JsonArray(Named::of::<T>())
    }
}

/// Groups of the document.
pub mod tag {
    pub const GRAPH: &str = "Graph calls";
    pub const IDENTITY: &str = "Identity";
    pub const CONTROL: &str = "Control";
    pub const OPERATIONS: &str = "Operations";
    pub const CONSOLE: &str = "Console";
}

/// One route.
pub struct Endpoint {
    pub method: Method,
    /// The full path, in axum's (and OpenAPI's) `{param}` syntax.
    pub path: String,
    pub summary: Cow<'static, str>,
    pub tag: &'static str,
    pub auth: Auth,
    pub request: Body,
    pub status: u16,
    pub response: Body,
    /// Query parameters read, each `(name, description)`.
    pub query: &'static [(&'static str, &'static str)],
    /// The property names `$select` takes, on a route that reads it (the OpenAPI description
    /// lists them as the parameter's values); empty elsewhere.
    pub selectable: Vec<&'static str>,
    /// What a `200` answers when `$select` names properties (the projection of `response`), on
    /// a route that reads it; [`Body::None`] elsewhere.
    pub selection: Body,
    pub(crate) handler: MethodRouter<AppState>,
}

/// A route answering `method` on `path` with `handler` (public, 200, no bodies until told).
pub(crate) fn endpoint<H, T>(method: Method, path: impl Into<String>, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
    Endpoint::new(method, path.into(), on(filter, handler))
}

impl Endpoint {
    pub(crate) fn new(method: Method, path: String, handler: MethodRouter<AppState>) -> Endpoint {
        Endpoint {
            method,
            path,
            summary: Cow::Borrowed(""),
            tag: tag::CONTROL,
            auth: Auth::Public,
            request: Body::None,
            status: 200,
            response: Body::None,
            query: &[],
            selectable: Vec::new(),
            selection: Body::None,
            handler,
        }
    }
    pub(crate) fn summary(mut self, summary: impl Into<Cow<'static, str>>) -> Self {
        self.summary = summary.into();
        self
    }
    pub(crate) fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }
    pub(crate) fn admin(mut self) -> Self {
        self.auth = Auth::Admin;
        self
    }
    pub(crate) fn reads(mut self, body: Body) -> Self {
        self.request = body;
        self
    }
    pub(crate) fn answers(mut self, status: u16, body: Body) -> Self {
        self.status = status;
        self.response = body;
        self
    }
    pub(crate) fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }
}

/// Every route of the server.
pub fn all() -> Vec<Endpoint> {
    let mut all = crate::graph::endpoints();
    all.extend(crate::identity::endpoints());
    all.extend(crate::control::endpoints());
    all.extend(crate::agents::endpoints());
    all.extend(crate::operations::endpoints());
    all.extend(crate::console::endpoints());
    all
}
