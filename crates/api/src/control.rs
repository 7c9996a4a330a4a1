//! The control API (`/_switchboard/...`): directory and simulated behaviour, acting as a
//! directory user, the virtual clock, outbox flush, reset, the notification log and
//! redelivery, the live view and its event stream. Not part of Graph; guarded by the admin
//! token.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{Behaviour, TenantId, User};
use switchboard_engine::{Change, Seed};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{RefOr, Schema};

use crate::openapi::schema::{integer, object, string};

use crate::endpoints::{endpoint, tag, Body, Endpoint};
use crate::error::ApiError;
use crate::extract::{GraphJson, GraphPath, GraphQuery};
use crate::AppState;

/// Every route of the control API.
pub fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(Method::GET, "/_switchboard/directory", directory)
            .summary("The directory: applications, application instances, users, phone numbers (no secrets)")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/directory/export", export_directory)
            .summary("The whole directory as a seed (secrets as hashes), for `switchboard directory export`")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/directory/import", import_directory)
            .summary("Writes a seed into the directory, entry by entry (insert or replace)")
            .reads(Body::JsonInline(object))
            .answers(204, Body::None),
        endpoint(Method::POST, "/_switchboard/users", add_user)
            .summary("Adds a directory user")
            .reads(Body::JsonInline(new_user_schema))
            .answers(201, Body::JsonInline(object)),
        endpoint(Method::PUT, "/_switchboard/users/{id}/behaviour", set_user_behaviour)
            .summary("Sets how a user's simulated endpoint answers when rung")
            .reads(Body::JsonInline(behaviour_schema))
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::PUT, "/_switchboard/phones/{number}/behaviour", set_phone_behaviour)
            .summary("Sets how a phone number answers when rung (E.164, `+` escaped as %2B)")
            .reads(Body::JsonInline(behaviour_schema))
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/applications/{client_id}/token", application_token)
            .summary("Mints an access token for an application of the directory, as the token endpoint would")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::PUT, "/_switchboard/applications/{client_id}/callingWebhook", set_calling_webhook)
            .summary("Sets (or with `url: null` clears) the application's calling webhook, where its incoming calls are notified")
            .reads(Body::JsonInline(webhook_schema))
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/calls", call_application)
            .summary("A directory user or a phone number calls an application (by application id, application instance id or phone number)")
            .reads(Body::JsonInline(call_application_schema))
            .answers(201, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/meetings", meetings)
            .summary("Every online meeting, as Graph renders it")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/meetings/{id}/join", join_meeting)
            .summary("A directory user joins an online meeting (by id or joinMeetingId) from a client")
            .reads(Body::JsonInline(join_schema))
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/accept", accept)
            .summary("The user answers a ringing invitation")
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/decline", decline)
            .summary("The user declines a ringing invitation (603/10003)")
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/leave", leave)
            .summary("The user hangs up: leaves the roster, or ends a peer-to-peer call (200/18503)")
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/mute", mute_self)
            .summary("The user mutes themselves (the roster of a group call or meeting shows it)")
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/unmute", unmute_self)
            .summary("The user unmutes themselves")
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/participants/{id}/hangUp", hang_up_after)
            .summary("The user hangs up after `afterMs` of domain time (a timer): then as `leave`")
            .reads(Body::JsonInline(after_schema))
            .answers(200, Body::json::<graph_model::Participant>()),
        endpoint(Method::POST, "/_switchboard/faults", inject_fault)
            .summary("Arms a fault: the next ring(s) of a user, a phone number or from a call fail with a resultInfo (a preset, or code/subcode/message)")
            .reads(Body::JsonInline(fault_schema))
            .answers(201, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/faults/routes", inject_route_fault)
            .summary("Arms a 429 or 503 with Retry-After on a Graph route, for `count` requests or until cleared")
            .reads(Body::JsonInline(route_fault_schema))
            .answers(201, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/faults", faults)
            .summary("The armed faults (`value`) and route faults (`routes`)")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::DELETE, "/_switchboard/faults", clear_faults)
            .summary("Disarms every fault and route fault")
            .answers(204, Body::None),
        endpoint(Method::GET, "/_switchboard/conversations", conversations)
            .summary("The newest conversations with their calls, operations and participants")
            .query(&[
                ("limit", "at most this many (default 50, at most 1000)"),
                ("includeEnded", "true to include ended conversations (default true)"),
            ])
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/conversations/{id}", conversation)
            .summary("One conversation with its calls, operations and participants")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/clock", clock)
            .summary("Domain time and the clock's mode")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/clock/advance", advance)
            .summary("Moves the virtual clock forward; returns once due work ran and each notification was tried")
            .reads(Body::JsonInline(advance_schema))
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/outbox/flush", flush)
            .summary("Delivers every notification due now, once each")
            .answers(204, Body::None),
        endpoint(Method::POST, "/_switchboard/reset", reset)
            .summary("Forgets every call, conversation, operation and notification (the directory stays)")
            .answers(204, Body::None),
        endpoint(Method::GET, "/_switchboard/notifications", notifications)
            .summary("The notification log: bodies, headers and every delivery attempt")
            .query(&[
                ("callId", "only this call's notifications"),
                ("state", "only pending, delivered or dead ones (dead letters: retries exhausted or too old)"),
                ("limit", "the newest N (default 200)"),
            ])
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::GET, "/_switchboard/notifications/{id}", notification)
            .summary("One notification of the log")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/notifications/{id}/redeliver", redeliver)
            .summary("Sends a delivered or dead notification again: a copy at the end of its call's queue")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::POST, "/_switchboard/keys/rotate", rotate_keys)
            .summary("Rotates the signing key (the old one stays published for a rollover)")
            .answers(200, Body::JsonInline(object)),
        endpoint(Method::PUT, "/_switchboard/failpoints/{name}", arm_failpoint)
            .summary("Arms a named failure point: the process aborts the next time it passes there (crash tests)")
            .answers(204, Body::None),
        endpoint(Method::GET, "/_switchboard/events", events)
            .summary("Server-sent events: one `change` event per committed change (the console's live view)")
            .query(&[("token", "the admin token, for clients that cannot send headers (EventSource)")])
            .answers(200, Body::EventStream),
    ]
    .into_iter()
    .map(|e| e.tag(tag::CONTROL).admin())
    .collect()
}

/// A simulated behaviour (`{"kind": "answer", "afterMs": 1000}`, ...).
fn behaviour_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property(
            "kind",
            string().enum_values(Some(["answer", "decline", "busy", "noAnswer", "manual", "unreachable", "fault"])),
        )
        .required("kind")
        .property("afterMs", integer())
        .property("code", integer())
        .property("subcode", integer())
        .property("reason", string())
        .into()
}

fn new_user_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("id", string())
        .property("displayName", string())
        .required("displayName")
        .property("tenantId", string())
        .required("tenantId")
        .property("behaviour", behaviour_schema())
        .into()
}

fn webhook_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("url", ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])))
        .required("url")
        .into()
}

/// `{"from": {"userId"|"phoneNumber"}, "to": {"applicationId"|"applicationInstanceId"|"phoneNumber"}}`.
fn call_application_schema() -> RefOr<Schema> {
    let one_of = |names: &[&str]| {
        let mut o = ObjectBuilder::new().schema_type(SchemaType::Type(Type::Object));
        for n in names {
            o = o.property(*n, string());
        }
        o
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("from", one_of(&["userId", "phoneNumber"]))
        .required("from")
        .property("to", one_of(&["applicationId", "applicationInstanceId", "phoneNumber"]))
        .required("to")
        .property("requestedModalities", utoipa::openapi::schema::ArrayBuilder::new().items(string()))
        .into()
}

fn after_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("afterMs", integer())
        .required("afterMs")
        .into()
}

fn fault_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("userId", string())
        .property("phoneNumber", string())
        .property("callId", string())
        .property(
            "preset",
            string().enum_values(Some(switchboard_core::faults::PRESETS.iter().map(|p| p.0).collect::<Vec<_>>())),
        )
        .property("code", integer())
        .property("subcode", integer())
        .property("message", string())
        .property("count", integer())
        .property("untilCleared", ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .into()
}

fn route_fault_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("path", string())
        .required("path")
        .property("method", string())
        .property("status", integer().enum_values(Some([429, 503])))
        .required("status")
        .property("retryAfter", integer())
        .property("count", integer())
        .into()
}

fn join_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("userId", string())
        .required("userId")
        .into()
}

fn advance_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .property("ms", integer())
        .property("seconds", integer())
        .into()
}

/// Proof of the admin credential (`Authorization: Bearer <admin token>`).
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            Some(token) if constant_time_eq(token.as_bytes(), state.admin_token().as_bytes()) => Ok(Admin),
            _ => Err(ApiError::unauthenticated("The control API needs the admin token.", state.public_url())),
        }
    }
}

/// The admin token from the `Authorization` header or, for `EventSource` (which cannot send
/// headers), from the `token` query parameter.
pub struct AdminOrQueryToken;

impl FromRequestParts<AppState> for AdminOrQueryToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if Admin::from_request_parts(parts, state).await.is_ok() {
            return Ok(AdminOrQueryToken);
        }
        let query = parts.uri.query().unwrap_or_default();
        let presented = serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .unwrap_or_default()
            .into_iter()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v);
        match presented {
            Some(token) if constant_time_eq(token.as_bytes(), state.admin_token().as_bytes()) => Ok(AdminOrQueryToken),
            _ => Err(ApiError::unauthenticated("The control API needs the admin token.", state.public_url())),
        }
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn directory(State(state): State<AppState>, _: Admin) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.engine().directory().await?))
}

async fn export_directory(State(state): State<AppState>, _: Admin) -> Result<Json<Seed>, ApiError> {
    Ok(Json(state.engine().export_directory().await?))
}

async fn import_directory(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(seed): GraphJson<Seed>,
) -> Result<StatusCode, ApiError> {
    if seed.admin_token.is_some() {
        return Err(ApiError::invalid("adminToken cannot be changed through the control API"));
    }
    state.engine().seed(seed).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewUser {
    id: Option<String>,
    display_name: String,
    tenant_id: String,
    #[serde(default)]
    behaviour: Behaviour,
}

async fn add_user(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(body): GraphJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let user = User {
        id: body.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        tenant_id: TenantId(body.tenant_id),
        display_name: body.display_name,
        behaviour: body.behaviour,
    };
    Ok((StatusCode::CREATED, Json(state.engine().add_user(user).await?)))
}

async fn set_user_behaviour(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
    GraphJson(behaviour): GraphJson<Behaviour>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(state.engine().set_user_behaviour(id, behaviour).await?))
}

async fn set_phone_behaviour(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(number): GraphPath<String>,
    GraphJson(behaviour): GraphJson<Behaviour>,
) -> Result<Json<switchboard_core::PhoneNumber>, ApiError> {
    Ok(Json(state.engine().set_phone_behaviour(number, behaviour).await?))
}

async fn application_token(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(client_id): GraphPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = state
        .engine()
        .application(client_id.clone())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("application {client_id} is not in the directory")))?;
    let token = crate::identity::app_token(&state, state.public_url(), &app)?;
    Ok(Json(json!({
        "token_type": "Bearer",
        "expires_in": crate::identity::TOKEN_LIFETIME_SECS,
        "access_token": token,
        "clientId": app.client_id,
        "tenantId": app.tenant_id,
    })))
}

async fn meetings(State(state): State<AppState>, _: Admin) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "value": state.engine().meetings().await? })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct WebhookBody {
    url: Option<String>,
}

async fn set_calling_webhook(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(client_id): GraphPath<String>,
    GraphJson(body): GraphJson<WebhookBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let app = state.engine().set_calling_webhook(client_id, body.url).await?;
    Ok(Json(json!({"clientId": app.client_id, "callingWebhook": app.calling_webhook})))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallFrom {
    user_id: Option<String>,
    phone_number: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallTo {
    application_id: Option<String>,
    application_instance_id: Option<String>,
    phone_number: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallApplicationBody {
    from: CallFrom,
    to: CallTo,
    #[serde(default)]
    requested_modalities: Vec<graph_model::Modality>,
}

/// A simulated user or phone calls an application: its incoming call is notified to the
/// application's calling webhook. 201 with the ids of the call, the conversation and both legs.
async fn call_application(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(body): GraphJson<CallApplicationBody>,
) -> Result<(StatusCode, Json<switchboard_engine::InboundCall>), ApiError> {
    use switchboard_core::{Party, PartyKind};
    use switchboard_engine::{ApplicationAddress, IncomingCallRequest, IncomingParty};
    let party = match (body.from.user_id, body.from.phone_number) {
        (Some(id), None) => Party {
            kind: PartyKind::User,
            id,
            display_name: None,
            tenant_id: None,
            identity_provider: Some("AAD".to_owned()),
        },
        (None, Some(number)) => Party {
            kind: PartyKind::Phone,
            id: switchboard_core::party::parse_e164(&number).map_err(ApiError::from)?,
            display_name: None,
            tenant_id: None,
            identity_provider: None,
        },
        _ => return Err(ApiError::invalid("from names exactly one of userId or phoneNumber")),
    };
    let to = match (body.to.application_id, body.to.application_instance_id, body.to.phone_number) {
        (Some(id), None, None) => ApplicationAddress::Application(id),
        (None, Some(id), None) => ApplicationAddress::Instance(id),
        (None, None, Some(number)) => {
            ApplicationAddress::PhoneNumber(switchboard_core::party::parse_e164(&number).map_err(ApiError::from)?)
        }
        _ => {
            return Err(ApiError::invalid(
                "to names exactly one of applicationId, applicationInstanceId or phoneNumber",
            ))
        }
    };
    let request = IncomingCallRequest {
        from: IncomingParty { party, endpoint: switchboard_core::EndpointKind::Simulated, node: None, leg_state: None },
        to,
        requested_modalities: body.requested_modalities,
    };
    Ok((StatusCode::CREATED, Json(state.engine().call_application(request).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JoinBody {
    user_id: String,
}

async fn join_meeting(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(meeting_id): GraphPath<String>,
    GraphJson(body): GraphJson<JoinBody>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().join_meeting(meeting_id, body.user_id).await?))
}

async fn mute_self(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().mute_self(id, true).await?))
}

async fn unmute_self(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().mute_self(id, false).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultBody {
    user_id: Option<String>,
    phone_number: Option<String>,
    call_id: Option<String>,
    preset: Option<String>,
    code: Option<i32>,
    subcode: Option<i32>,
    message: Option<String>,
    count: Option<u32>,
    #[serde(default)]
    until_cleared: bool,
}

async fn inject_fault(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(body): GraphJson<FaultBody>,
) -> Result<(StatusCode, Json<switchboard_core::faults::InjectedFault>), ApiError> {
    use switchboard_core::faults::FaultTarget;
    let target = match (body.user_id, body.phone_number, body.call_id) {
        (Some(id), None, None) => FaultTarget::UserId(id),
        (None, Some(n), None) => FaultTarget::PhoneNumber(switchboard_core::party::parse_e164(&n)?),
        (None, None, Some(id)) => FaultTarget::CallId(id),
        _ => return Err(ApiError::invalid("name exactly one of userId, phoneNumber or callId")),
    };
    let request = switchboard_engine::faults::FaultRequest {
        target,
        preset: body.preset,
        code: body.code,
        subcode: body.subcode,
        reason: body.message,
        count: body.count,
        until_cleared: body.until_cleared,
    };
    Ok((StatusCode::CREATED, Json(state.engine().inject_fault(request).await?)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RouteFaultBody {
    path: String,
    method: Option<String>,
    status: u16,
    retry_after: Option<u64>,
    count: Option<u32>,
}

async fn inject_route_fault(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(body): GraphJson<RouteFaultBody>,
) -> Result<(StatusCode, Json<switchboard_core::faults::RouteFault>), ApiError> {
    let fault = switchboard_core::faults::RouteFault {
        id: uuid::Uuid::now_v7().to_string(),
        method: body.method,
        path: body.path,
        status: body.status,
        retry_after: body.retry_after.unwrap_or(1),
        remaining: body.count,
    };
    Ok((StatusCode::CREATED, Json(state.engine().arm_route_fault(fault).await?)))
}

async fn faults(State(state): State<AppState>, _: Admin) -> Result<Json<serde_json::Value>, ApiError> {
    let armed = state.engine().faults().await?;
    let routes = state.engine().route_faults().await?;
    Ok(Json(json!({"value": armed, "routes": routes})))
}

async fn clear_faults(State(state): State<AppState>, _: Admin) -> Result<StatusCode, ApiError> {
    state.engine().clear_faults().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AfterBody {
    after_ms: i64,
}

async fn hang_up_after(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
    GraphJson(body): GraphJson<AfterBody>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().hang_up_after(id, body.after_ms).await?))
}

async fn accept(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().accept_invitation(id).await?))
}

async fn decline(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().decline_invitation(id).await?))
}

async fn leave(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<graph_model::Participant>, ApiError> {
    Ok(Json(state.engine().leave(id).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConversationQuery {
    limit: Option<usize>,
    include_ended: Option<bool>,
}

async fn conversations(
    State(state): State<AppState>,
    _: Admin,
    GraphQuery(q): GraphQuery<ConversationQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let list = state.engine().conversations(q.limit.unwrap_or(50).min(1000), q.include_ended.unwrap_or(true)).await?;
    Ok(Json(json!({ "value": list })))
}

async fn conversation(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<switchboard_engine::ConversationView>, ApiError> {
    Ok(Json(state.engine().conversation(id).await?))
}

async fn clock(State(state): State<AppState>, _: Admin) -> Json<serde_json::Value> {
    let clock = state.engine().clock();
    Json(json!({
        "mode": match clock.mode() { switchboard_engine::ClockMode::Virtual => "virtual", _ => "system" },
        "now": clock.now().to_rfc3339(),
        "nowMs": clock.now().0,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Advance {
    ms: Option<i64>,
    seconds: Option<i64>,
}

async fn advance(
    State(state): State<AppState>,
    _: Admin,
    GraphJson(body): GraphJson<Advance>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let ms = match (body.ms, body.seconds) {
        (Some(ms), None) => ms,
        (None, Some(s)) => s.saturating_mul(1000),
        (None, None) => 0,
        (Some(_), Some(_)) => return Err(ApiError::invalid("give either ms or seconds")),
    };
    let now = state.engine().advance(ms).await?;
    Ok(Json(json!({ "now": now.to_rfc3339(), "nowMs": now.0 })))
}

async fn flush(State(state): State<AppState>, _: Admin) -> Result<StatusCode, ApiError> {
    state.engine().flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset(State(state): State<AppState>, _: Admin) -> Result<StatusCode, ApiError> {
    state.engine().reset().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    call_id: Option<String>,
    /// `pending`, `delivered` or `dead` (dead letters: retries exhausted or too old).
    state: Option<String>,
    limit: Option<usize>,
}

async fn notifications(
    State(state): State<AppState>,
    _: Admin,
    GraphQuery(q): GraphQuery<LogQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let delivery_state = match q.state.as_deref() {
        None => None,
        Some(name) => Some(
            switchboard_engine::DeliveryState::parse(name)
                .ok_or_else(|| ApiError::invalid(format!("unknown state '{name}': use pending, delivered or dead")))?,
        ),
    };
    let log = state.engine().notification_log(q.call_id, delivery_state, q.limit.unwrap_or(200).min(10_000)).await?;
    Ok(Json(json!({ "value": log })))
}

async fn notification(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<i64>,
) -> Result<Json<switchboard_engine::LoggedNotification>, ApiError> {
    Ok(Json(state.engine().notification(id).await?))
}

async fn redeliver(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(id): GraphPath<i64>,
) -> Result<Json<switchboard_engine::LoggedNotification>, ApiError> {
    Ok(Json(state.engine().redeliver(id).await?))
}

/// How often an idle event stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /_switchboard/events`: a `hello` event, then one `change` event per committed change
/// (its data is the [`Change`] as JSON), and `resync` when this stream fell behind and the
/// client should refetch everything.
async fn events(
    State(state): State<AppState>,
    _: AdminOrQueryToken,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.engine().subscribe();
    let hello = Event::default().event("hello").data(json!({ "nowMs": state.engine().clock().now().0 }).to_string());
    let changes = futures::stream::unfold(receiver, |mut receiver| async move {
        use tokio::sync::broadcast::error::RecvError;
        let event = match receiver.recv().await {
            Ok(change) => change_event(&change),
            Err(RecvError::Lagged(missed)) => Event::default().event("resync").data(missed.to_string()),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    });
    let stream = futures::StreamExt::chain(futures::stream::once(async move { Ok(hello) }), changes);
    // The stream ends when the server shuts down, so a graceful shutdown never waits on it.
    let stream = futures::StreamExt::take_until(stream, state.shutting_down());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

fn change_event(change: &Change) -> Event {
    Event::default().event("change").data(serde_json::to_string(change).unwrap_or_default())
}

async fn rotate_keys(State(state): State<AppState>, _: Admin) -> Result<Json<serde_json::Value>, ApiError> {
    let kid = state.engine().rotate_keys()?;
    Ok(Json(json!({ "kid": kid, "jwks": state.engine().keys().jwks() })))
}

/// Arms a named failure point: the process aborts the next time it passes there (crash tests).
async fn arm_failpoint(
    State(state): State<AppState>,
    _: Admin,
    GraphPath(name): GraphPath<String>,
) -> Result<StatusCode, ApiError> {
    let point = switchboard_engine::Failpoint::parse(&name).ok_or_else(|| {
        let names: Vec<&str> = switchboard_engine::Failpoint::ALL.iter().map(|f| f.name()).collect();
        ApiError::not_found(format!("no failure point '{name}'; there are: {}", names.join(", ")))
    })?;
    state.engine().arm_failpoint(point);
    Ok(StatusCode::NO_CONTENT)
}
