//! The control API (`/_switchboard/...`): directory and simulated behaviour, the virtual clock,
//! outbox flush, reset, and the notification log. Not part of Graph; guarded by the admin token.

use axum::extract::{FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{Behaviour, TenantId, User};

use crate::error::ApiError;
use crate::extract::{GraphJson, GraphPath, GraphQuery};
use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_switchboard/directory", get(directory))
        .route("/_switchboard/users", post(add_user))
        .route("/_switchboard/users/{id}/behaviour", put(set_user_behaviour))
        .route("/_switchboard/phones/{number}/behaviour", put(set_phone_behaviour))
        .route("/_switchboard/clock", get(clock))
        .route("/_switchboard/clock/advance", post(advance))
        .route("/_switchboard/outbox/flush", post(flush))
        .route("/_switchboard/reset", post(reset))
        .route("/_switchboard/notifications", get(notifications))
        .route("/_switchboard/keys/rotate", post(rotate_keys))
        .route("/_switchboard/failpoints/{name}", put(arm_failpoint))
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

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn directory(State(state): State<AppState>, _: Admin) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.engine().directory().await?))
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
