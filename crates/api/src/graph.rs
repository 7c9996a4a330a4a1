//! The Graph calls API. Every endpoint is declared once in [`route_table`] (method, path,
//! permission, handler) and registered by [`routes`] under `/beta` and `/v1.0`, on
//! `/communications/...` and its deprecated `/app/...` alias.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body as HttpBody, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use graph_model::{CollectionPage, CreateCallBody, CreateOnlineMeetingBody, InviteParticipantsBody};
use http_body::Frame;
use serde::{Deserialize, Serialize};
use switchboard_core::call_kind::{media_hosting, MediaHosting};
use switchboard_engine::participants::{DEFAULT_PAGE, MAX_PAGE};
use switchboard_engine::HoldGuard;

use crate::auth::{AppCaller, GrantedRoles, RequiredRoles};
use crate::endpoints::{tag, Auth, Body, Endpoint};
use crate::error::{ApiError, GraphError};
use crate::extract::{GraphJson, GraphPath, GraphQuery};
use crate::openapi::schema::{Page, Selection};
use crate::select::{Projection, Resource, Shape};
use crate::AppState;

/// Graph versions served; both have the same routes here.
pub const VERSIONS: &[&str] = &["beta", "v1.0"];

/// Any permission that lets an application hold calls ("checked when the call is created").
const CALLS_ANY: &[&str] = &[
    "Calls.Initiate.All",
    "Calls.InitiateGroupCall.All",
    "Calls.InitiateGroupCalls.All",
    "Calls.JoinGroupCall.All",
    "Calls.JoinGroupCallAsGuest.All",
    "Calls.AccessMedia.All",
];
/// Application-hosted media, on top of a calling permission.
const ACCESS_MEDIA: &str = "Calls.AccessMedia.All";
/// `participant: invite` (the docs spell it both ways).
const INVITE: &[&str] = &["Calls.InitiateGroupCall.All", "Calls.InitiateGroupCalls.All"];
/// `participant: delete`.
const DELETE_PARTICIPANT: &[&str] =
    &["Calls.JoinGroupCall.All", "Calls.JoinGroupCallAsGuest.All", "Calls.InitiateGroupCall.All"];
const MEETINGS: &[&str] = &["OnlineMeetings.ReadWrite.All"];
/// Get onlineMeeting: reading needs no more than `OnlineMeetings.Read.All`.
const READ_MEETINGS: &[&str] = &["OnlineMeetings.Read.All", "OnlineMeetings.ReadWrite.All"];

/// Where a route hangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Under `/communications` and `/app`.
    Communications,
    /// Directly under the version (`/users/...`).
    Root,
}

/// One Graph endpoint.
pub struct GraphRoute {
    pub method: Method,
    pub base: Base,
    /// Path below the base, in axum's syntax.
    pub path: &'static str,
    pub roles: &'static [&'static str],
    pub summary: &'static str,
    pub request: Body,
    pub status: u16,
    pub response: Body,
    pub query: &'static [(&'static str, &'static str)],
    /// What `$select` selects from, on the routes whose pages support the OData query
    /// parameters (they list [`SELECT`] in `query` too; a test holds the two together).
    pub select: Option<Projection>,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
}

impl GraphRoute {
    fn reads(mut self, body: Body) -> Self {
        self.request = body;
        self
    }
    fn answers(mut self, status: u16, body: Body) -> Self {
        self.status = status;
        self.response = body;
        self
    }
    fn query(mut self, query: &'static [(&'static str, &'static str)]) -> Self {
        self.query = query;
        self
    }
    fn selects(mut self, resource: Resource, shape: Shape) -> Self {
        self.select = Some(Projection { resource, shape });
        self
    }
}

/// The query parameters Graph routes read, as the OpenAPI description lists them.
const TOP: (&str, &str) = ("$top", "page size, a positive integer (default 100; more than 999 is served as 999)");
const SKIPTOKEN: (&str, &str) = ("$skiptoken", "continuation from @odata.nextLink");
const SELECT: (&str, &str) =
    ("$select", "comma-separated property names to return (any case); id and @odata annotations are always returned");

macro_rules! handler {
    ($f:path) => {
        |filter| on(filter, $f)
    };
}

fn route(
    method: Method,
    base: Base,
    path: &'static str,
    roles: &'static [&'static str],
    summary: &'static str,
    handler: fn(MethodFilter) -> MethodRouter<AppState>,
) -> GraphRoute {
    GraphRoute {
        method,
        base,
        path,
        roles,
        summary,
        request: Body::None,
        status: 200,
        response: Body::None,
        query: &[],
        select: None,
        handler,
    }
}

/// Graph actions Switchboard does not implement yet: they answer `501 notImplemented`.
pub const NOT_IMPLEMENTED_CALL_ACTIONS: &[&str] = &[
    "redirect",
    "transfer",
    "playPrompt",
    "recordResponse",
    "cancelMediaProcessing",
    "subscribeToTone",
    "sendDtmfTones",
    "mute",
    "unmute",
    "changeScreenSharingRole",
    "updateRecordingStatus",
    "addLargeGalleryView",
];
pub const NOT_IMPLEMENTED_PARTICIPANT_ACTIONS: &[&str] = &["startHoldMusic", "stopHoldMusic"];
pub const NOT_IMPLEMENTED_ROSTER_ACTIONS: &[&str] = &["muteAll", "configureMixer"];

/// Every Graph endpoint, once.
pub fn route_table() -> Vec<GraphRoute> {
    use Base::*;
    let mut table = vec![
        route(Method::POST, Communications, "/calls", CALLS_ANY, "Create call", handler!(create_call))
            .reads(Body::json::<CreateCallBody>())
            .answers(201, Body::json::<graph_model::Call>()),
        route(Method::GET, Communications, "/calls/{call_id}", CALLS_ANY, "Get call", handler!(get_call))
            .query(&[SELECT])
            .selects(Resource::Call, Shape::Entity)
            .answers(200, Body::json::<graph_model::Call>()),
        route(Method::DELETE, Communications, "/calls/{call_id}", CALLS_ANY, "Delete call", handler!(delete_call))
            .answers(204, Body::None),
        route(
            Method::GET,
            Communications,
            "/calls/{call_id}/participants",
            CALLS_ANY,
            "List participants",
            handler!(list_participants),
        )
        .query(&[TOP, SKIPTOKEN, SELECT])
        .selects(Resource::Participant, Shape::Collection)
        .answers(200, Body::json::<Page<graph_model::Participant>>()),
        route(
            Method::GET,
            Communications,
            "/calls/{call_id}/participants/{participant_id}",
            CALLS_ANY,
            "Get participant",
            handler!(get_participant),
        )
        .query(&[SELECT])
        .selects(Resource::Participant, Shape::Entity)
        .answers(200, Body::json::<graph_model::Participant>()),
        route(
            Method::DELETE,
            Communications,
            "/calls/{call_id}/participants/{participant_id}",
            DELETE_PARTICIPANT,
            "Delete participant",
            handler!(delete_participant),
        )
        .answers(204, Body::None),
        route(
            Method::GET,
            Communications,
            "/calls/{call_id}/operations/{operation_id}",
            CALLS_ANY,
            "Get operation",
            handler!(get_operation),
        )
        .answers(200, Body::json::<graph_model::CommsOperation>()),
        route(
            Method::POST,
            Communications,
            "/onlineMeetings",
            MEETINGS,
            "Create online meeting",
            handler!(create_meeting),
        )
        .reads(Body::json::<CreateOnlineMeetingBody>())
        .answers(201, Body::json::<graph_model::OnlineMeeting>()),
        route(
            Method::POST,
            Root,
            "/users/{user_id}/onlineMeetings",
            MEETINGS,
            "Create online meeting",
            handler!(create_meeting_for_user),
        )
        .reads(Body::json::<CreateOnlineMeetingBody>())
        .answers(201, Body::json::<graph_model::OnlineMeeting>()),
        // Where the `Location` of each create points. The old beta Get onlineMeeting page lists
        // `/communications/onlineMeetings/{id}` (and `/app`); today's lists the `/users` path.
        route(
            Method::GET,
            Communications,
            "/onlineMeetings/{meeting_id}",
            READ_MEETINGS,
            "Get online meeting",
            handler!(get_meeting),
        )
        .answers(200, Body::json::<graph_model::OnlineMeeting>()),
        route(
            Method::GET,
            Root,
            "/users/{user_id}/onlineMeetings/{meeting_id}",
            READ_MEETINGS,
            "Get online meeting",
            handler!(get_meeting_for_user),
        )
        .answers(200, Body::json::<graph_model::OnlineMeeting>()),
    ];
    table.extend(action("/calls/{call_id}/", "keepAlive", |path| {
        route(Method::POST, Communications, path, CALLS_ANY, "Keep a call alive", handler!(keep_alive))
    }));
    table.extend(action("/calls/{call_id}/participants/", "invite", |path| {
        route(Method::POST, Communications, path, INVITE, "Invite participants", handler!(invite))
            .reads(Body::json::<InviteParticipantsBody>())
            .answers(200, Body::json::<graph_model::CommsOperation>())
    }));
    table.extend(action("/calls/{call_id}/", "answer", |path| {
        route(Method::POST, Communications, path, CALLS_ANY, "Answer an incoming call", handler!(answer_call))
            .reads(Body::json::<graph_model::AnswerBody>())
            .answers(202, Body::None)
    }));
    table.extend(action("/calls/{call_id}/", "reject", |path| {
        route(Method::POST, Communications, path, CALLS_ANY, "Reject an incoming call", handler!(reject_call))
            .reads(Body::json::<graph_model::RejectBody>())
            .answers(202, Body::None)
    }));
    table.extend(action("/calls/{call_id}/participants/{participant_id}/", "mute", |path| {
        route(Method::POST, Communications, path, CALLS_ANY, "Mute participant", handler!(mute_participant))
            .reads(Body::json::<graph_model::MuteParticipantBody>())
            .answers(200, Body::json::<graph_model::CommsOperation>())
    }));
    let unimplemented = [
        ("/calls/{call_id}/", NOT_IMPLEMENTED_CALL_ACTIONS),
        ("/calls/{call_id}/participants/{participant_id}/", NOT_IMPLEMENTED_PARTICIPANT_ACTIONS),
        ("/calls/{call_id}/participants/", NOT_IMPLEMENTED_ROSTER_ACTIONS),
    ];
    for (parent, names) in unimplemented {
        for name in names {
            table.extend(action(parent, name, |path| {
                let summary = "Not implemented by Switchboard yet (501 notImplemented)";
                route(Method::POST, Communications, path, CALLS_ANY, summary, handler!(not_implemented))
                    .answers(501, Body::json::<graph_model::ErrorBody>())
            }));
        }
    }
    table
}

/// A Graph action under both of the spellings Graph accepts: `{parent}{name}` and
/// `{parent}microsoft.graph.{name}` (the docs use either).
fn action(parent: &str, name: &str, make: impl Fn(&'static str) -> GraphRoute) -> [GraphRoute; 2] {
    ["", "microsoft.graph."].map(|spelling| make(Box::leak(format!("{parent}{spelling}{name}").into_boxed_str())))
}

/// The Graph version a request came in on (`beta` or `v1.0`), for absolute links.
#[derive(Debug, Clone, Copy)]
struct ApiVersion(&'static str);

impl ApiVersion {
    /// The version whose metadata shapes the resources of this request.
    fn graph(self) -> graph_model::GraphVersion {
        graph_model::GraphVersion::from_segment(self.0).unwrap_or_default()
    }
}

/// Every Graph route, under each version and (for `/communications` routes) on both
/// `/communications` and the deprecated `/app` alias.
pub fn endpoints() -> Vec<Endpoint> {
    let mut endpoints = Vec::new();
    for r in route_table() {
        for version in VERSIONS {
            let prefixes: &[&str] = match r.base {
                Base::Communications => &["/communications", "/app"],
                Base::Root => &[""],
            };
            for prefix in prefixes {
                let filter = MethodFilter::try_from(r.method.clone()).expect("graph routes use standard methods");
                let read = r.query;
                let mut method_router: MethodRouter<AppState> = (r.handler)(filter);
                if let Some(projection) = r.select {
                    let graph_version = ApiVersion(version).graph();
                    method_router =
                        method_router.layer::<_, Infallible>(axum::middleware::from_fn(move |request, next| {
                            crate::select::select(projection, graph_version, request, next)
                        }));
                }
                let method_router = method_router
                    .layer::<_, Infallible>(axum::middleware::from_fn(move |request, next| {
                        refuse_unread_options(read, request, next)
                    }))
                    .layer::<_, Infallible>(Extension(RequiredRoles(r.roles)))
                    .layer::<_, Infallible>(Extension(ApiVersion(version)));
                let method_router = match *version {
                    "beta" => method_router.layer::<_, Infallible>(axum::middleware::from_fn(dollar_optional)),
                    _ => method_router,
                };
                let graph_version = ApiVersion(version).graph();
                let mut endpoint =
                    Endpoint::new(r.method.clone(), format!("/{version}{prefix}{}", r.path), method_router)
                        .summary(r.summary)
                        .tag(tag::GRAPH)
                        .reads(r.request.clone())
                        .answers(r.status, versioned(&r.response, graph_version))
                        .query(r.query);
                endpoint.auth = Auth::Graph(r.roles);
                if let Some(projection) = r.select {
                    endpoint.selectable = crate::select::selectable(projection.resource, graph_version);
                    endpoint.selection = versioned(&selection(projection), graph_version);
                }
                endpoints.push(endpoint);
            }
        }
    }
    endpoints
}

/// OData system query options by the names Graph's "Use query parameters" page lists them.
const ODATA_OPTIONS: &[&str] =
    &["count", "expand", "filter", "format", "orderby", "search", "select", "skip", "skiptoken", "top"];

/// On the beta endpoint "the `$` prefix is optional" (Graph's "Use query parameters" page:
/// "instead of $filter, you can use filter"), so `select=id` is read as `$select=id`: the
/// request goes on with the `$` written, and the routes read (or refuse) it as they read the
/// option itself. On v1.0 such a name is a parameter like any other, as `foo=bar` is.
async fn dollar_optional(mut request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let without_dollar = |pair: &str| ODATA_OPTIONS.contains(&pair.split('=').next().unwrap_or_default());
    let query = request.uri().query().filter(|query| query.split('&').any(without_dollar));
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| if without_dollar(pair) { format!("${pair}") } else { pair.to_owned() })
            .collect();
        if let Ok(uri) = format!("{}?{}", request.uri().path(), pairs.join("&")).parse() {
            *request.uri_mut() = uri;
        }
    }
    next.run(request).await
}

/// Refuses the OData system query options a route does not read (`$filter`, `$count`, `$select`
/// off the routes that project, ...): ignored, they would answer other data than the client
/// asked for, and it would not know. Names are compared as the handlers read them (exactly),
/// after percent-decoding (`%24filter`).
async fn refuse_unread_options(
    read: &'static [(&'static str, &'static str)],
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Most requests have no query; a name decodes to `$...` only from `$` or `%24`.
    let Some(query) = request.uri().query() else { return next.run(request).await };
    let options = query
        .split('&')
        .map(|pair| pair.split('=').next().unwrap_or_default())
        .filter(|raw| raw.starts_with('$') || raw.get(..3).is_some_and(|prefix| prefix.eq_ignore_ascii_case("%24")));
    for raw in options {
        let raw = raw.replace('+', " ");
        let name = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy();
        if name.starts_with('$') && !read.iter().any(|(known, _)| *known == name) {
            let supported: Vec<&str> = read.iter().map(|(known, _)| *known).collect();
            let message = match supported.as_slice() {
                [] => format!("The query option '{name}' is not supported on this resource."),
                _ => format!(
                    "The query option '{name}' is not supported on this resource (supported: {}).",
                    supported.join(", ")
                ),
            };
            return ApiError::invalid(message).into_response();
        }
    }
    next.run(request).await
}

/// What a route with `projection` answers when `$select` names properties, for the OpenAPI
/// description.
fn selection(projection: Projection) -> Body {
    use graph_model::{Call, Participant};
    match (projection.resource, projection.shape) {
        (Resource::Call, Shape::Entity) => Body::json::<Selection<Call>>(),
        (Resource::Call, Shape::Collection) => Body::json::<Page<Selection<Call>>>(),
        (Resource::Participant, Shape::Entity) => Body::json::<Selection<Participant>>(),
        (Resource::Participant, Shape::Collection) => Body::json::<Page<Selection<Participant>>>(),
    }
}

/// A response body as `version` documents it: v1.0's `call` has no beta-only property
/// ([`crate::openapi::schema::CallV1`]); every other body is the same in both.
fn versioned(body: &Body, version: graph_model::GraphVersion) -> Body {
    use crate::openapi::schema::CallV1;
    use graph_model::Call;
    use utoipa::ToSchema;
    let Body::Json(named) = body else { return body.clone() };
    if version != graph_model::GraphVersion::V1 {
        return body.clone();
    }
    let name = (named.name)();
    if name == Call::name() {
        Body::json::<CallV1>()
    } else if name == Selection::<Call>::name() {
        Body::json::<Selection<CallV1>>()
    } else if name == Page::<Selection<Call>>::name() {
        Body::json::<Page<Selection<CallV1>>>()
    } else {
        body.clone()
    }
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(GraphError::MethodNotAllowed, "The HTTP method is not allowed on this resource.")
}

/// A response body that keeps a call's notifications back until it has been written out.
struct HeldBody {
    inner: http_body_util::Full<Bytes>,
    _hold: HoldGuard,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn json_response(
    status: StatusCode,
    location: Option<String>,
    value: &impl Serialize,
    hold: Option<HoldGuard>,
) -> Response {
    let bytes = match serde_json::to_vec(value) {
        Ok(b) => Bytes::from(b),
        Err(_) => return ApiError::internal().into_response(),
    };
    let body = match hold {
        Some(hold) => HttpBody::new(HeldBody { inner: http_body_util::Full::new(bytes), _hold: hold }),
        None => HttpBody::from(bytes),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(Ok(v)) = location.as_deref().map(HeaderValue::from_str) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

fn call_url(state: &AppState, version: ApiVersion, call_id: &str) -> String {
    format!("{}/{}/communications/calls/{call_id}", state.public_url(), version.0)
}

#[derive(Serialize)]
struct WithContext<'a, T: Serialize> {
    #[serde(rename = "@odata.context")]
    context: String,
    #[serde(flatten)]
    value: &'a T,
}

/// `POST /communications/calls`. A call with application-hosted media needs
/// `Calls.AccessMedia.All` besides a calling permission (application-post-calls).
async fn create_call(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    roles: Option<Extension<GrantedRoles>>,
    GraphJson(body): GraphJson<CreateCallBody>,
) -> Result<Response, ApiError> {
    let may_access_media = roles.is_some_and(|Extension(r)| r.has(ACCESS_MEDIA));
    // (A missing or unknown mediaConfig is refused with the body's other rules, in the engine.)
    if matches!(media_hosting(body.media_config.as_ref()), Ok(MediaHosting::App)) && !may_access_media {
        return Err(ApiError::forbidden(
            "A call with application-hosted media requires the Calls.AccessMedia.All permission.",
        ));
    }
    let (call, hold) = state.engine().create_call(caller, body, version.graph()).await?;
    let location = call_url(&state, version, &call.id);
    let context = call_context(&state, version);
    let value = call.to_json(version.graph());
    Ok(json_response(StatusCode::CREATED, Some(location), &WithContext { context, value: &value }, Some(hold)))
}

async fn get_call(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
) -> Result<Response, ApiError> {
    let call = state.engine().get_call(caller, call_id).await?.to_json(version.graph());
    Ok(json_response(StatusCode::OK, None, &WithContext { context: call_context(&state, version), value: &call }, None))
}

fn call_context(state: &AppState, version: ApiVersion) -> String {
    format!("{}/{}/$metadata#communications/calls/$entity", state.public_url(), version.0)
}

async fn delete_call(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine().delete_call(caller, call_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../answer`. Any calling permission answers (the page names
/// `Calls.JoinGroupCall.All`; cloud-communications-calls says answering a peer-to-peer call
/// needs none more), and application-hosted media needs `Calls.AccessMedia.All`.
async fn answer_call(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    roles: Option<Extension<GrantedRoles>>,
    GraphPath(call_id): GraphPath<String>,
    GraphJson(body): GraphJson<graph_model::AnswerBody>,
) -> Result<StatusCode, ApiError> {
    let may_access_media = roles.is_some_and(|Extension(r)| r.has(ACCESS_MEDIA));
    state.engine().answer(caller, call_id, body, may_access_media).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST .../participants/{id}/mute` (participant-mute: permission "None", so any calling
/// permission): 200 with the settled operation and its `Location`.
async fn mute_participant(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath((call_id, participant_id)): GraphPath<(String, String)>,
    GraphJson(body): GraphJson<graph_model::MuteParticipantBody>,
) -> Result<Response, ApiError> {
    let (operation, hold) =
        state.engine().mute_participant(caller, call_id.clone(), participant_id, body.client_context).await?;
    let location = format!("{}/operations/{}", call_url(&state, version, &call_id), operation.id);
    let context = format!("{}/{}/$metadata#muteParticipantOperation", state.public_url(), version.0);
    Ok(json_response(StatusCode::OK, Some(location), &WithContext { context, value: &operation }, Some(hold)))
}

/// `POST .../reject`.
async fn reject_call(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
    GraphJson(body): GraphJson<graph_model::RejectBody>,
) -> Result<StatusCode, ApiError> {
    state.engine().reject(caller, call_id, body).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn keep_alive(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
) -> Result<StatusCode, ApiError> {
    state.engine().keep_alive(caller, call_id).await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(rename = "$top")]
    top: Option<String>,
    #[serde(rename = "$skiptoken")]
    skip_token: Option<String>,
}

async fn list_participants(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
    GraphQuery(query): GraphQuery<PageQuery>,
) -> Result<Json<CollectionPage<graph_model::Participant>>, ApiError> {
    let top = match query.top.as_deref() {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(MAX_PAGE),
            _ => {
                return Err(ApiError::invalid(format!(
                    "Invalid value '{raw}' for $top: a positive integer is expected."
                )))
            }
        },
    };
    let after = match query.skip_token.as_deref() {
        None => None,
        Some(token) => Some(
            URL_SAFE_NO_PAD
                .decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::invalid("Invalid $skiptoken."))?,
        ),
    };
    let page = state.engine().list_participants(caller, call_id.clone(), top, after).await?;
    let base = call_url(&state, version, &call_id);
    Ok(Json(CollectionPage {
        odata_context: Some(format!(
            "{}/{}/$metadata#communications/calls('{call_id}')/participants",
            state.public_url(),
            version.0
        )),
        value: page.participants,
        next_link: page
            .next_after
            .map(|after| format!("{base}/participants?$top={top}&$skiptoken={}", URL_SAFE_NO_PAD.encode(after))),
    }))
}

async fn get_participant(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath((call_id, participant_id)): GraphPath<(String, String)>,
) -> Result<Response, ApiError> {
    let participant = state.engine().get_participant(caller, call_id.clone(), participant_id).await?;
    // As participant-get's example: `...$metadata#communications/calls('{id}')/participants/$entity`.
    let context = format!(
        "{}/{}/$metadata#communications/calls('{call_id}')/participants/$entity",
        state.public_url(),
        version.0
    );
    Ok(json_response(StatusCode::OK, None, &WithContext { context, value: &participant }, None))
}

async fn delete_participant(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath((call_id, participant_id)): GraphPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.engine().delete_participant(caller, call_id, participant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn invite(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath(call_id): GraphPath<String>,
    GraphJson(body): GraphJson<InviteParticipantsBody>,
) -> Result<Response, ApiError> {
    let (operation, hold) = state.engine().invite(caller, call_id.clone(), body).await?;
    let location = format!("{}/operations/{}", call_url(&state, version, &call_id), operation.id);
    Ok(json_response(StatusCode::OK, Some(location), &operation, Some(hold)))
}

async fn get_operation(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath((call_id, operation_id)): GraphPath<(String, String)>,
) -> Result<Json<graph_model::CommsOperation>, ApiError> {
    Ok(Json(state.engine().get_operation(caller, call_id, operation_id).await?))
}

/// The `@odata.context` of a meeting: under `communications`, or under the user it was created
/// for, as create-onlineMeeting's examples write it (`users('{id}')/onlineMeetings/$entity`).
fn meeting_context(state: &AppState, version: ApiVersion, user_id: Option<&str>) -> String {
    let set = match user_id {
        Some(user) => format!("users('{user}')/onlineMeetings"),
        None => "communications/onlineMeetings".to_owned(),
    };
    format!("{}/{}/$metadata#{set}/$entity", state.public_url(), version.0)
}

/// The URL of a meeting, on the path it was created on, so `Location` resolves by GET.
fn meeting_url(state: &AppState, version: ApiVersion, user_id: Option<&str>, meeting_id: &str) -> String {
    let collection = match user_id {
        Some(user) => format!("users/{user}/onlineMeetings"),
        None => "communications/onlineMeetings".to_owned(),
    };
    format!("{}/{}/{collection}/{meeting_id}", state.public_url(), version.0)
}

async fn create_meeting(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphJson(body): GraphJson<CreateOnlineMeetingBody>,
) -> Result<Response, ApiError> {
    create_meeting_on(state, version, caller, None, body).await
}

async fn create_meeting_for_user(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath(user_id): GraphPath<String>,
    GraphJson(body): GraphJson<CreateOnlineMeetingBody>,
) -> Result<Response, ApiError> {
    create_meeting_on(state, version, caller, Some(user_id), body).await
}

async fn create_meeting_on(
    state: AppState,
    version: ApiVersion,
    caller: switchboard_engine::Caller,
    user_id: Option<String>,
    body: CreateOnlineMeetingBody,
) -> Result<Response, ApiError> {
    let meeting =
        state.engine().create_online_meeting(caller, body, user_id.clone(), state.public_url().to_owned()).await?;
    let location = meeting_url(&state, version, user_id.as_deref(), &meeting.id);
    let context = meeting_context(&state, version, user_id.as_deref());
    Ok(json_response(StatusCode::CREATED, Some(location), &WithContext { context, value: &meeting }, None))
}

async fn get_meeting(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath(meeting_id): GraphPath<String>,
) -> Result<Response, ApiError> {
    let meeting = state.engine().get_online_meeting(caller, meeting_id, None).await?;
    let context = meeting_context(&state, version, None);
    Ok(json_response(StatusCode::OK, None, &WithContext { context, value: &meeting }, None))
}

async fn get_meeting_for_user(
    State(state): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    AppCaller(caller): AppCaller,
    GraphPath((user_id, meeting_id)): GraphPath<(String, String)>,
) -> Result<Response, ApiError> {
    let meeting = state.engine().get_online_meeting(caller, meeting_id, Some(user_id.clone())).await?;
    let context = meeting_context(&state, version, Some(&user_id));
    Ok(json_response(StatusCode::OK, None, &WithContext { context, value: &meeting }, None))
}

/// A Graph action Switchboard does not implement: 501, once the call (and participant) in the
/// path are known to be the caller's, so the answer never tells anything about others' calls.
async fn not_implemented(
    State(state): State<AppState>,
    AppCaller(caller): AppCaller,
    GraphPath(ids): GraphPath<std::collections::HashMap<String, String>>,
    uri: axum::http::Uri,
) -> ApiError {
    let engine = state.engine();
    let call_id = ids.get("call_id").cloned().unwrap_or_default();
    let owned = match ids.get("participant_id") {
        Some(participant) => engine.get_participant(caller, call_id, participant.clone()).await.map(drop),
        None => engine.get_call(caller, call_id).await.map(drop),
    };
    if let Err(e) = owned {
        return e.into();
    }
    let action = uri.path().rsplit('/').next().unwrap_or_default().trim_start_matches("microsoft.graph.").to_owned();
    ApiError::not_implemented(format!("The action '{action}' is not implemented by Switchboard yet."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_reads_select_exactly_when_it_projects_its_answer() {
        let mut selecting = Vec::new();
        for r in route_table() {
            let reads = r.query.iter().any(|(name, _)| *name == SELECT.0);
            assert_eq!(reads, r.select.is_some(), "{} {}: $select listed and projected together", r.method, r.path);
            if reads {
                assert_eq!(r.method, Method::GET, "{}: OData query options are for GET", r.path);
                selecting.push(r.path);
            }
        }
        // The pages that say "This method supports the OData query parameters"; get operation's
        // page has no such section.
        assert_eq!(
            selecting,
            ["/calls/{call_id}", "/calls/{call_id}/participants", "/calls/{call_id}/participants/{participant_id}"]
        );
    }
}
