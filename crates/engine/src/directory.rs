//! The directory: seeding (from a TOML file or the development defaults), client
//! authentication, simulated behaviours, and online meetings.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_core::{
    AppId, Application, ApplicationInstance, Behaviour, DomainError, Meeting, MeetingId, PhoneNumber, Tenant, TenantId,
    User,
};
use switchboard_store::{StoreError, Tx};

use crate::error::EngineResult;
use crate::{Caller, Engine, EngineError};

/// Permissions of the development application: every calling permission and meetings.
pub const DEV_PERMISSIONS: &[&str] = &[
    "Calls.Initiate.All",
    "Calls.InitiateGroupCall.All",
    "Calls.JoinGroupCall.All",
    "Calls.JoinGroupCallAsGuest.All",
    "Calls.AccessMedia.All",
    "OnlineMeetings.ReadWrite.All",
];

/// A directory seed, as read from `--config FILE` (TOML, camelCase keys).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seed {
    /// The control API's admin token (generated and kept in the store when absent).
    #[serde(default)]
    pub admin_token: Option<String>,
    #[serde(default)]
    pub tenants: Vec<SeedTenant>,
    #[serde(default)]
    pub applications: Vec<SeedApplication>,
    #[serde(default)]
    pub application_instances: Vec<ApplicationInstance>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumber>,
    /// Online meetings (as `directory export` writes them), so links and ids survive a move.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub online_meetings: Vec<Meeting>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedTenant {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SeedApplication {
    pub client_id: String,
    pub tenant_id: String,
    pub display_name: String,
    /// Client secrets; only their hashes are stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_secrets: Vec<String>,
    /// SHA-256 (hex) of client secrets, as `directory export` writes them: the secrets
    /// themselves are never stored, so an export carries their hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_secret_hashes: Vec<String>,
    pub permissions: Vec<String>,
    #[serde(default)]
    pub calling_webhook: Option<String>,
}

/// What a newcomer needs, written to `DATA_DIR/dev-credentials.json` on a first start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevCredentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub application_instance: ApplicationInstance,
    pub users: Vec<DevUser>,
    pub phone_numbers: Vec<PhoneNumber>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevUser {
    pub id: String,
    pub display_name: String,
    pub behaviour: Behaviour,
}

pub fn hash_secret(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A random secret of 32 bytes, base64url.
pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::thread_rng().gen::<[u8; 32]>())
}

impl Seed {
    /// The development tenant: one application with every calling permission, an application
    /// instance with a phone number, five users with different behaviours, three phone numbers.
    pub fn development() -> (Seed, DevCredentials) {
        let tenant_id = uuid::Uuid::new_v4().to_string();
        let client_id = uuid::Uuid::new_v4().to_string();
        let client_secret = random_secret();
        let tenant = TenantId(tenant_id.clone());
        let instance = ApplicationInstance {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: AppId(client_id.clone()),
            tenant_id: tenant.clone(),
            display_name: "Switchboard Dev Bot line".to_owned(),
            phone_number: Some("+14255550100".to_owned()),
        };
        let user = |name: &str, behaviour: Behaviour| User {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant.clone(),
            display_name: name.to_owned(),
            behaviour,
        };
        let users = vec![
            user("Adele Vance", Behaviour::Answer { after_ms: 1000 }),
            user("Alex Wilber", Behaviour::Answer { after_ms: 3000 }),
            user("Megan Bowen", Behaviour::Decline { after_ms: 2000 }),
            user("Lynne Robbins", Behaviour::Busy { after_ms: 500 }),
            user("Diego Siciliani", Behaviour::NoAnswer),
        ];
        let phone = |number: &str, name: &str, behaviour: Behaviour| PhoneNumber {
            number: number.to_owned(),
            display_name: Some(name.to_owned()),
            behaviour,
        };
        let phones = vec![
            phone("+14255550101", "Front desk", Behaviour::Answer { after_ms: 2000 }),
            phone("+14255550102", "Busy line", Behaviour::Busy { after_ms: 1000 }),
            phone("+14255550103", "Nobody home", Behaviour::NoAnswer),
        ];
        let seed = Seed {
            admin_token: None,
            tenants: vec![SeedTenant { id: tenant_id.clone(), display_name: Some("Switchboard Dev".to_owned()) }],
            applications: vec![SeedApplication {
                client_id: client_id.clone(),
                tenant_id: tenant_id.clone(),
                display_name: "Switchboard Dev Bot".to_owned(),
                client_secrets: vec![client_secret.clone()],
                client_secret_hashes: Vec::new(),
                permissions: DEV_PERMISSIONS.iter().map(|p| p.to_string()).collect(),
                calling_webhook: None,
            }],
            application_instances: vec![instance.clone()],
            users: users.clone(),
            phone_numbers: phones.clone(),
            online_meetings: Vec::new(),
        };
        let credentials = DevCredentials {
            tenant_id,
            client_id,
            client_secret,
            application_instance: instance,
            users: users
                .into_iter()
                .map(|u| DevUser { id: u.id, display_name: u.display_name, behaviour: u.behaviour })
                .collect(),
            phone_numbers: phones,
        };
        (seed, credentials)
    }

    /// Checks what the store cannot: ids, behaviours, phone numbers, references between entries.
    pub fn validate(&self) -> Result<(), DomainError> {
        for t in &self.tenants {
            check_id("tenant", &t.id)?;
        }
        for a in &self.applications {
            check_id("application", &a.client_id)?;
        }
        for i in &self.application_instances {
            check_id("application instance", &i.id)?;
        }
        for m in &self.online_meetings {
            check_id("online meeting", &m.id.0)?;
            check_id("online meeting thread", &m.thread_id)?;
            check_id("online meeting join", &m.join_meeting_id)?;
        }
        for u in &self.users {
            check_id("user", &u.id)?;
            u.behaviour.validate()?;
        }
        for p in &self.phone_numbers {
            p.behaviour.validate()?;
            switchboard_core::party::parse_e164(&p.number)?;
        }
        for i in &self.application_instances {
            if let Some(n) = &i.phone_number {
                switchboard_core::party::parse_e164(n)?;
            }
            if !self.applications.iter().any(|a| a.client_id == i.app_id.0) {
                return Err(DomainError::invalid(format!("application instance {} names unknown application", i.id)));
            }
        }
        for a in &self.applications {
            if a.client_secrets.is_empty() && a.client_secret_hashes.is_empty() {
                return Err(DomainError::invalid(format!("application {} has no client secret", a.client_id)));
            }
        }
        Ok(())
    }
}

/// A directory id (tenant, application, instance, user, meeting) has at most
/// [`switchboard_core::party::MAX_ID_CHARS`] characters, the most an identity in a call may
/// have, and no U+0000. PostgreSQL cannot index a longer one (it answered 500) nor store
/// U+0000 in text, and both stores must answer alike.
fn check_id(kind: &str, id: &str) -> Result<(), DomainError> {
    use switchboard_core::party::MAX_ID_CHARS;
    if id.chars().count() > MAX_ID_CHARS {
        return Err(DomainError::invalid(format!("{kind} ids have at most {MAX_ID_CHARS} characters")));
    }
    if id.contains('\0') {
        return Err(DomainError::invalid(format!("{kind} ids cannot hold the character U+0000")));
    }
    Ok(())
}

/// What the directory says of a client's credentials.
#[derive(Debug, Clone)]
pub enum ClientAuthentication {
    Authenticated(Application),
    /// The tenant exists, but the application is not registered in it or the secret is wrong.
    Refused,
    /// No tenant of that id in the directory.
    UnknownTenant,
}

/// The names the identity platform serves without naming a tenant. They count as known, so
/// discovery answers for them (MSAL's instance discovery points at `common`) and a client's
/// credentials sent there are refused as Entra refuses them, not as an unknown tenant.
pub const TENANT_ALIASES: &[&str] = &["common", "organizations", "consumers"];

/// Whether `tenant` (compared without case, as tenant ids are GUIDs) is a tenant of the
/// directory or one of [`TENANT_ALIASES`]. A hand-written seed may name a tenant only through
/// its applications or users, so those count too; they are scanned only when the tenants table
/// has no row, which the development tenant and every exported directory do have.
fn tenant_known(tx: &mut dyn Tx, tenant: &str) -> Result<bool, StoreError> {
    if TENANT_ALIASES.iter().any(|alias| alias.eq_ignore_ascii_case(tenant)) {
        return Ok(true);
    }
    if tx.tenant(tenant)?.is_some() || tx.tenant(&tenant.to_ascii_lowercase())?.is_some() {
        return Ok(true);
    }
    let named = |id: &TenantId| id.0.eq_ignore_ascii_case(tenant);
    Ok(tx.applications()?.iter().any(|a| named(&a.tenant_id)) || tx.users()?.iter().any(|u| named(&u.tenant_id)))
}

impl Engine {
    /// Writes a seed into the directory (insert or replace, entry by entry).
    pub async fn seed(&self, seed: Seed) -> EngineResult<()> {
        seed.validate()?;
        self.run(move |tx| {
            for t in &seed.tenants {
                tx.upsert_tenant(&Tenant {
                    id: TenantId(t.id.clone()),
                    display_name: t.display_name.clone().unwrap_or_else(|| t.id.clone()),
                })?;
            }
            for a in &seed.applications {
                tx.upsert_application(&Application {
                    client_id: AppId(a.client_id.clone()),
                    tenant_id: TenantId(a.tenant_id.clone()),
                    display_name: a.display_name.clone(),
                    secret_hashes: a
                        .client_secrets
                        .iter()
                        .map(|s| hash_secret(s))
                        .chain(a.client_secret_hashes.iter().map(|h| h.to_ascii_lowercase()))
                        .collect(),
                    permissions: a.permissions.clone(),
                    calling_webhook: a.calling_webhook.clone(),
                })?;
            }
            for i in &seed.application_instances {
                tx.upsert_application_instance(i)?;
            }
            for u in &seed.users {
                tx.upsert_user(u)?;
            }
            for p in &seed.phone_numbers {
                tx.upsert_phone(p)?;
            }
            for m in &seed.online_meetings {
                // Meetings are never replaced: their threads may have live calls.
                if tx.meeting(m.id.as_str())?.is_none() {
                    tx.insert_meeting(m)?;
                }
            }
            Ok::<_, EngineError>(())
        })
        .await
    }

    /// A stored setting, created with `make` on first use (e.g. the admin token).
    pub async fn setting_or_init(&self, key: &'static str, make: fn() -> String) -> EngineResult<String> {
        self.run(move |tx| {
            if let Some(v) = tx.setting(key)? {
                return Ok(v);
            }
            let v = make();
            tx.set_setting(key, &v)?;
            Ok::<_, EngineError>(v)
        })
        .await
    }

    pub async fn setting(&self, key: &'static str) -> EngineResult<Option<String>> {
        self.run(move |tx| Ok::<_, EngineError>(tx.setting(key)?)).await
    }

    pub async fn set_setting(&self, key: &'static str, value: String) -> EngineResult<()> {
        self.run(move |tx| Ok::<_, EngineError>(tx.set_setting(key, &value)?)).await
    }

    /// Checks client credentials for `tenant`. A refusal says whether the tenant exists, because
    /// Entra ID answers an unknown tenant differently from a bad secret.
    pub async fn authenticate_client(
        &self,
        tenant: String,
        client_id: String,
        secret: String,
    ) -> EngineResult<ClientAuthentication> {
        self.run(move |tx| {
            let app = tx.application(&client_id)?.filter(|a| {
                a.tenant_id.0.eq_ignore_ascii_case(&tenant) && a.secret_hashes.contains(&hash_secret(&secret))
            });
            // The tenant is looked up only on a refusal, so a good request costs one read.
            let outcome = match app {
                Some(app) => ClientAuthentication::Authenticated(app),
                None if tenant_known(tx, &tenant)? => ClientAuthentication::Refused,
                None => ClientAuthentication::UnknownTenant,
            };
            Ok::<_, EngineError>(outcome)
        })
        .await
    }

    /// Whether `tenant` names a tenant of the directory (see [`tenant_known`]).
    pub async fn tenant_known(&self, tenant: String) -> EngineResult<bool> {
        self.run(move |tx| Ok::<_, EngineError>(tenant_known(tx, &tenant)?)).await
    }

    pub async fn application(&self, client_id: String) -> EngineResult<Option<Application>> {
        self.run(move |tx| Ok::<_, EngineError>(tx.application(&client_id)?)).await
    }

    /// Sets (or with `None` clears) an application's calling webhook, where its incoming calls
    /// are notified. The URL must pass the callback policy.
    pub async fn set_calling_webhook(&self, client_id: String, url: Option<String>) -> EngineResult<Application> {
        if let Some(url) = &url {
            self.inner.config.callback_policy.check(url)?;
        }
        self.run(move |tx| {
            let mut app = tx
                .application(&client_id)?
                .ok_or_else(|| DomainError::not_found(format!("application {client_id} is not in the directory")))?;
            app.calling_webhook = url.clone();
            tx.upsert_application(&app)?;
            Ok::<_, EngineError>(app)
        })
        .await
    }

    pub async fn set_user_behaviour(&self, user_id: String, behaviour: Behaviour) -> EngineResult<User> {
        behaviour.validate()?;
        self.run(move |tx| {
            let mut user = tx
                .user(&user_id)?
                .ok_or_else(|| DomainError::not_found(format!("user {user_id} is not in the directory")))?;
            user.behaviour = behaviour;
            tx.upsert_user(&user)?;
            Ok::<_, EngineError>(user)
        })
        .await
    }

    pub async fn set_phone_behaviour(&self, number: String, behaviour: Behaviour) -> EngineResult<PhoneNumber> {
        behaviour.validate()?;
        let number = switchboard_core::party::parse_e164(&number)?;
        self.run(move |tx| {
            let mut phone = tx.phone(&number)?.unwrap_or(PhoneNumber {
                number: number.clone(),
                display_name: None,
                behaviour: Behaviour::default(),
            });
            phone.behaviour = behaviour;
            tx.upsert_phone(&phone)?;
            Ok::<_, EngineError>(phone)
        })
        .await
    }

    pub async fn add_user(&self, user: User) -> EngineResult<User> {
        check_id("user", &user.id)?;
        user.behaviour.validate()?;
        self.run(move |tx| {
            if tx.user(&user.id)?.is_some() {
                return Err(DomainError::conflict(format!("user {} already exists", user.id)).into());
            }
            tx.upsert_user(&user)?;
            Ok::<_, EngineError>(user)
        })
        .await
    }

    /// The whole directory as a seed (`switchboard directory export`): secrets as hashes,
    /// no admin token. Importing it into an empty server gives the same directory.
    pub async fn export_directory(&self) -> EngineResult<Seed> {
        self.run(|tx| {
            let applications = tx.applications()?;
            let users = tx.users()?;
            let mut tenant_ids: Vec<String> = applications
                .iter()
                .map(|a| a.tenant_id.0.clone())
                .chain(users.iter().map(|u| u.tenant_id.0.clone()))
                .collect();
            tenant_ids.sort();
            tenant_ids.dedup();
            let mut tenants = Vec::new();
            for id in tenant_ids {
                let display_name = tx.tenant(&id)?.map(|t| t.display_name);
                tenants.push(SeedTenant { id, display_name });
            }
            let mut application_instances = Vec::new();
            for a in &applications {
                application_instances.extend(tx.application_instances(&a.client_id.0)?);
            }
            Ok::<_, EngineError>(Seed {
                admin_token: None,
                tenants,
                applications: applications
                    .into_iter()
                    .map(|a| SeedApplication {
                        client_id: a.client_id.0,
                        tenant_id: a.tenant_id.0,
                        display_name: a.display_name,
                        client_secrets: Vec::new(),
                        client_secret_hashes: a.secret_hashes,
                        permissions: a.permissions,
                        calling_webhook: a.calling_webhook,
                    })
                    .collect(),
                application_instances,
                users,
                phone_numbers: tx.phones()?,
                online_meetings: tx.meetings()?,
            })
        })
        .await
    }

    /// The directory as the control API shows it (no secrets).
    pub async fn directory(&self) -> EngineResult<serde_json::Value> {
        self.run(|tx| {
            let apps: Vec<serde_json::Value> = tx
                .applications()?
                .into_iter()
                .map(|a| {
                    serde_json::json!({
                        "clientId": a.client_id, "tenantId": a.tenant_id, "displayName": a.display_name,
                        "servicePrincipalId": a.service_principal_id(),
                        "permissions": a.permissions, "callingWebhook": a.calling_webhook,
                    })
                })
                .collect();
            let mut instances = Vec::new();
            for a in tx.applications()? {
                instances.extend(tx.application_instances(&a.client_id.0)?);
            }
            Ok::<_, EngineError>(serde_json::json!({
                "applications": apps,
                "applicationInstances": instances,
                "users": tx.users()?,
                "phoneNumbers": tx.phones()?,
            }))
        })
        .await
    }

    /// Creates an online meeting owned by the calling application, on behalf of a user: the
    /// one in the path (`/users/{id}/onlineMeetings`, given as `organizer`) or else the body's
    /// `participants.organizer` (create-onlineMeeting, Example 1). That user must be in the
    /// caller's tenant (404 otherwise, as the control API reports an unknown user); they are
    /// written as the organizer and their id is the `Oid` of the join URL's context. A meeting
    /// no user organises has the object id of the application's service principal there.
    pub async fn create_online_meeting(
        &self,
        caller: Caller,
        body: graph_model::CreateOnlineMeetingBody,
        organizer: Option<String>,
        public_url: String,
    ) -> EngineResult<graph_model::OnlineMeeting> {
        let request = switchboard_core::parse_meeting_request(body)?;
        let now = self.inner.clock.now();
        let id = MeetingId(format!("MSo{}", URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes())));
        let thread_id = format!("19:meeting_{}@thread.v2", URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()));
        let join_meeting_id: String = {
            let mut rng = rand::thread_rng();
            (0..12).map(|i| char::from(b'0' + rng.gen_range(if i == 0 { 1 } else { 0 }..10))).collect()
        };
        let organizer = organizer.or(request.organizer_user_id.clone());
        let meeting = self
            .run(move |tx| {
                let organizer = match organizer {
                    Some(user_id) => Some(
                        tx.user(&user_id)?
                            .filter(|u| u.tenant_id == caller.tenant_id)
                            .ok_or_else(|| DomainError::not_found(format!("user {user_id} is not in the directory")))?,
                    ),
                    None => None,
                };
                // The organizer's object id: a user's, or else the calling application's
                // service principal (an object id, as in its tokens' `oid`; not its client id).
                let oid = match &organizer {
                    Some(user) => user.id.clone(),
                    None => switchboard_core::directory::service_principal_id(&caller.tenant_id, &caller.app_id),
                };
                let context = format!("{{\"Tid\":\"{}\",\"Oid\":\"{oid}\"}}", caller.tenant_id);
                let join_web_url = format!(
                    "{}/l/meetup-join/{}/0?context={}",
                    public_url.trim_end_matches('/'),
                    url_encode(&thread_id),
                    url_encode(&context)
                );
                let participants = match &organizer {
                    Some(user) => switchboard_core::meeting::with_organizer(request.participants, user),
                    None => request.participants,
                };
                let meeting = Meeting {
                    id,
                    tenant_id: caller.tenant_id.clone(),
                    creator_app_id: Some(caller.app_id.clone()),
                    subject: request.subject,
                    thread_id,
                    join_meeting_id,
                    join_web_url,
                    start_date_time: request.start_date_time,
                    end_date_time: request.end_date_time,
                    participants: serde_json::Value::Object(participants),
                    created_at: now,
                };
                tx.insert_meeting(&meeting)?;
                Ok::<_, EngineError>(meeting)
            })
            .await?;
        Ok(render_meeting(&meeting))
    }

    /// An online meeting of the caller's tenant (`GET .../onlineMeetings/{id}`); with
    /// `organizer` (`/users/{id}/onlineMeetings/{id}`), only one created on that user's behalf.
    /// Any other is 404, so the answer tells nothing about other tenants' meetings.
    pub async fn get_online_meeting(
        &self,
        caller: Caller,
        meeting_id: String,
        organizer: Option<String>,
    ) -> EngineResult<graph_model::OnlineMeeting> {
        self.run(move |tx| {
            let meeting = tx
                .meeting(&meeting_id)?
                .filter(|m| m.tenant_id == caller.tenant_id)
                .filter(|m| organizer.as_deref().is_none_or(|user| m.organizer_user_id() == Some(user)))
                .ok_or_else(|| DomainError::not_found(format!("online meeting {meeting_id} was not found")))?;
            Ok::<_, EngineError>(render_meeting(&meeting))
        })
        .await
    }
}

pub fn render_meeting(m: &Meeting) -> graph_model::OnlineMeeting {
    graph_model::OnlineMeeting {
        odata_type: graph_model::odata::ONLINE_MEETING.to_owned(),
        id: m.id.0.clone(),
        creation_date_time: m.created_at.to_rfc3339(),
        start_date_time: m.start_date_time.clone(),
        end_date_time: m.end_date_time.clone(),
        subject: m.subject.clone(),
        join_web_url: m.join_web_url.clone(),
        join_url: m.join_web_url.clone(),
        chat_info: graph_model::ChatInfo {
            odata_type: Some(graph_model::odata::CHAT_INFO.to_owned()),
            thread_id: Some(m.thread_id.clone()),
            message_id: Some("0".to_owned()),
            reply_chain_message_id: None,
        },
        join_meeting_id_settings: graph_model::JoinMeetingIdSettings {
            odata_type: None,
            join_meeting_id: m.join_meeting_id.clone(),
            passcode: None,
            is_passcode_required: false,
        },
        participants: m.participants.clone(),
        auto_admitted_users: "everyoneInCompany".to_owned(),
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
