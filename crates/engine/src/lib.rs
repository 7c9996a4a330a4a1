//! Runs the core: every request and timer becomes one store transaction in which the core's
//! rules decide and the resulting state and notifications are written together (transactional
//! outbox). Background tasks fire due timers and deliver the outbox to callback URIs.

mod actions;
pub mod agents;
mod calls;
pub mod clock;
mod control;
mod delivery;
pub mod directory;
mod error;
pub mod events;
pub mod faults;
pub mod inbound;
mod invite;
pub mod keys;
pub mod legs;
mod mute;
mod nodes;
mod notify;
pub mod participants;
mod retention;
mod timers;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

pub use clock::{Clock, ClockMode};
pub use control::{ConversationView, DeliveryState, LoggedAttempt, LoggedNotification, Stats};
pub use delivery::DeliveryConfig;
pub use directory::{ClientAuthentication, DevCredentials, Seed};
pub use error::EngineError;
pub use events::Change;
pub use inbound::{ApplicationAddress, InboundCall, IncomingCallRequest, IncomingParty};
pub use keys::SigningKeys;
pub use legs::{choose_endpoint, Endpoint, LegCommand, LegDriver, RingRequest};
pub use participants::RosterPage;
use switchboard_core::{AppId, CallId, TenantId};
use switchboard_store::Store;

/// Who is calling: the application and tenant of a validated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub app_id: AppId,
    pub tenant_id: TenantId,
}

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub clock: ClockMode,
    pub delivery: DeliveryConfig,
    /// `iss` of callback tokens.
    pub callback_issuer: String,
    /// Where notifications may be posted.
    pub callback_policy: switchboard_core::call_kind::CallbackPolicy,
    /// This node's id: owner of its live legs (agent WebSockets, SIP dialogs) and leg inbox.
    pub node_id: String,
    /// Whether phone numbers are reached through a SIP trunk (else they are simulated).
    pub sip_trunk: bool,
    /// How long a node may go without recording itself alive before another node takes over
    /// its live legs (wall time; `src/nodes.rs`).
    pub node_timeout: std::time::Duration,
    /// How long an ended conversation and everything recorded for it are kept (domain time;
    /// `src/retention.rs`); `None` keeps them forever.
    pub retention: Option<std::time::Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            clock: ClockMode::System,
            delivery: DeliveryConfig::default(),
            callback_issuer: "https://api.botframework.com".to_owned(),
            callback_policy: Default::default(),
            node_id: "local".to_owned(),
            sip_trunk: false,
            node_timeout: std::time::Duration::from_secs(15),
            retention: Some(std::time::Duration::from_secs(86_400)),
        }
    }
}

/// The running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    keys: SigningKeys,
    config: EngineConfig,
    /// Calls whose notifications wait until the HTTP response that created their pending
    /// operation (or the call) has been written.
    holds: Mutex<HashMap<CallId, usize>>,
    /// Woken whenever a hold ends (a delivery task waiting to go on with a held call).
    hold_released: tokio::sync::Notify,
    /// Calls with a delivery in flight, and the claims of the outbox under way
    /// ([`delivery::InFlight`]). Never held across an await.
    in_flight: Mutex<delivery::InFlight>,
    timer_wake: tokio::sync::Notify,
    delivery_wake: tokio::sync::Notify,
    /// Serialises firing of timers between the timer task and clock advances.
    timer_lock: tokio::sync::Mutex<()>,
    http: reqwest::Client,
    /// Failure points armed through the control API (crash tests).
    failpoints: Mutex<HashSet<Failpoint>>,
    callback_tokens: Mutex<HashMap<(String, String), (String, i64)>>,
    /// Whether route faults may be armed in the store (see [`faults::RouteFaultsSeen`]).
    route_faults: faults::RouteFaultsSeen,
    /// Committed changes, for the console's live view (see [`events`]).
    changes: tokio::sync::broadcast::Sender<Change>,
    /// Leg drivers of this node, by endpoint kind (see [`legs`]).
    drivers: legs::Drivers,
    /// Wakes the leg task after a commit wrote leg commands.
    leg_wake: tokio::sync::Notify,
    /// The agents connected to this node.
    agents: agents::AgentHub,
}

impl Engine {
    pub fn new(store: impl Into<Store>, keys: SigningKeys, config: EngineConfig) -> Result<Engine, EngineError> {
        let store = store.into();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(std::sync::Arc::new(delivery::PolicyResolver))
            .connect_timeout(config.delivery.connect_timeout)
            .read_timeout(config.delivery.read_timeout)
            .timeout(config.delivery.total_timeout)
            .build()
            .map_err(|e| EngineError::Internal(format!("http client: {e}")))?;
        let engine = Engine {
            inner: Arc::new(Inner {
                store,
                clock: Clock::new(config.clock),
                keys,
                config,
                holds: Mutex::new(HashMap::new()),
                hold_released: tokio::sync::Notify::new(),
                in_flight: Mutex::new(delivery::InFlight::default()),
                timer_wake: tokio::sync::Notify::new(),
                delivery_wake: tokio::sync::Notify::new(),
                timer_lock: tokio::sync::Mutex::new(()),
                http,
                failpoints: Mutex::new(HashSet::new()),
                callback_tokens: Mutex::new(HashMap::new()),
                route_faults: faults::RouteFaultsSeen::default(),
                changes: tokio::sync::broadcast::channel(events::CHANNEL_CAPACITY).0,
                drivers: Default::default(),
                leg_wake: tokio::sync::Notify::new(),
                agents: agents::AgentHub::default(),
            }),
        };
        agents::register(&engine);
        Ok(engine)
    }

    /// Restores the virtual clock where the last run left it, records this node alive, forgets
    /// its agent sessions (their WebSockets did not survive), lets each leg driver settle the
    /// legs of the previous run, then starts the timer, delivery, leg, node-liveness and
    /// retention tasks.
    /// They stop when the returned handles are aborted.
    pub async fn start(&self) -> Result<Vec<tokio::task::JoinHandle<()>>, EngineError> {
        if self.inner.clock.mode() == ClockMode::Virtual {
            if let Some(saved) = self.setting(VIRTUAL_NOW).await?.and_then(|v| v.parse::<i64>().ok()) {
                self.inner.clock.restore_virtual(switchboard_core::Timestamp(saved));
            }
        }
        // Alive before anything else, so no other node takes this one over while it starts.
        self.beat().await?;
        let node = self.node_id().to_owned();
        let forgotten = self.run(move |tx| Ok(tx.clear_agent_sessions(&node)?)).await?;
        if forgotten > 0 {
            tracing::info!(sessions = forgotten, "agent sessions of the previous run forgotten");
        }
        self.recover_legs().await?;
        // Other nodes' commits (PostgreSQL NOTIFY) wake the background tasks; the idle poll
        // stays as the safety net.
        let engine = self.clone();
        self.inner.store.listen(Arc::new(move |wake| match wake {
            switchboard_store::Wake::Work => {
                engine.inner.timer_wake.notify_one();
                engine.inner.delivery_wake.notify_one();
                engine.inner.leg_wake.notify_one();
            }
            switchboard_store::Wake::Settings => engine.inner.route_faults.changed(),
        }));
        Ok(vec![
            tokio::spawn(timers::run(self.clone())),
            tokio::spawn(delivery::run(self.clone())),
            tokio::spawn(legs::run(self.clone())),
            tokio::spawn(nodes::run(self.clone())),
            tokio::spawn(retention::run(self.clone())),
        ])
    }

    /// `iss` of callback tokens.
    pub fn callback_issuer(&self) -> &str {
        &self.inner.config.callback_issuer
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.inner.keys
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn hold(&self, call_id: &CallId) -> HoldGuard {
        *self.inner.holds.lock().expect("holds lock").entry(call_id.clone()).or_insert(0) += 1;
        HoldGuard { engine: self.clone(), call_id: Some(call_id.clone()) }
    }

    /// The part of a hold other nodes see (on PostgreSQL): what they enqueue to the call
    /// meanwhile is born leased to this node, which delivers it after the response. Called in
    /// the unit of work that creates the call or its operation, before that unit queues
    /// anything to the call (what it queues is born leased to the call's holder).
    fn hold_in_store(
        tx: &mut dyn switchboard_store::Tx,
        call: &CallId,
        now: switchboard_core::Timestamp,
    ) -> error::EngineResult<()> {
        Ok(tx.hold_call(call, now.plus_millis(switchboard_store::BIRTH_LEASE_MS))?)
    }

    fn held_calls(&self) -> Vec<CallId> {
        self.inner.holds.lock().expect("holds lock").keys().cloned().collect()
    }

    /// Returns once `call_id` is not held.
    async fn until_released(&self, call_id: &CallId) {
        loop {
            let released = self.inner.hold_released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.inner.holds.lock().expect("holds lock").contains_key(call_id) {
                return;
            }
            released.await;
        }
    }

    /// Rotates the signing keys (the previous key stays trusted during the rollover) and drops
    /// cached callback tokens so new notifications carry the new key. Returns the new key id.
    pub fn rotate_keys(&self) -> Result<String, EngineError> {
        let kid = self.inner.keys.rotate()?;
        self.inner.callback_tokens.lock().expect("token cache").clear();
        Ok(kid)
    }

    /// Whether the store answers (readiness).
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.run(|tx| Ok::<_, EngineError>(tx.ping()?)).await
    }
}

/// Named places where the engine can be stopped dead, to test what a crash there leaves
/// behind. Armed through the control API; the process aborts the next time it passes there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failpoint {
    /// A notification was claimed for delivery; nothing was posted yet.
    BeforePost,
    /// A notification was posted (and maybe delivered); the attempt is not recorded yet.
    AfterPost,
    /// Due timers were read; none fired yet.
    BeforeTimers,
    /// An invite committed; its HTTP response is not written yet.
    InviteCommitted,
    /// Leg commands were read from this node's inbox; none ran yet.
    LegsBeforeDispatch,
}

impl Failpoint {
    pub const ALL: [Failpoint; 5] = [
        Failpoint::BeforePost,
        Failpoint::AfterPost,
        Failpoint::BeforeTimers,
        Failpoint::InviteCommitted,
        Failpoint::LegsBeforeDispatch,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Failpoint::BeforePost => "delivery-before-post",
            Failpoint::AfterPost => "delivery-after-post",
            Failpoint::BeforeTimers => "timers-before-fire",
            Failpoint::InviteCommitted => "invite-committed",
            Failpoint::LegsBeforeDispatch => "legs-before-dispatch",
        }
    }

    pub fn parse(name: &str) -> Option<Failpoint> {
        Failpoint::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl Engine {
    /// Arms a failure point.
    pub fn arm_failpoint(&self, point: Failpoint) {
        tracing::warn!(failpoint = point.name(), "failure point armed: the process will abort there");
        self.inner.failpoints.lock().expect("failpoints").insert(point);
    }

    /// Aborts the process here if `point` is armed (no unwinding, no cleanup: a crash).
    fn failpoint(&self, point: Failpoint) {
        if self.inner.failpoints.lock().expect("failpoints").contains(&point) {
            eprintln!("failure point {} reached: aborting", point.name());
            std::process::abort();
        }
    }
}

/// Keeps a call's notifications back until dropped; the API drops it once the response body
/// that created the call or operation has been written.
pub struct HoldGuard {
    engine: Engine,
    call_id: Option<CallId>,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        if let Some(call_id) = self.call_id.take() {
            let mut holds = self.engine.inner.holds.lock().expect("holds lock");
            let mut released = false;
            if let Some(count) = holds.get_mut(&call_id) {
                *count -= 1;
                if *count == 0 {
                    holds.remove(&call_id);
                    released = true;
                }
            }
            drop(holds);
            self.engine.inner.hold_released.notify_waiters();
            // The delivery loop left the call alone while it was held; it has it to claim now,
            // unless the call is being delivered: that delivery waits for the release, claims
            // what was queued meanwhile, and wakes the loop when it ends. (Checked after the
            // release: a wake too many, never one too few.)
            if released && !self.engine.in_flight().delivering(&call_id) {
                self.engine.inner.delivery_wake.notify_one();
            }
        }
    }
}

/// The setting that keeps virtual time across restarts.
const VIRTUAL_NOW: &str = "virtual_now";

/// Safety-net poll of the background tasks when nothing wakes them.
const IDLE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

impl Engine {
    /// Sleeps until a background task may have work: woken, or (system clock) the next due
    /// time, at most [`IDLE_POLL`]. In virtual mode nothing comes due by itself: advances wake it.
    async fn sleep_until_due(
        &self,
        next_due: impl std::future::Future<Output = Result<Option<switchboard_core::Timestamp>, EngineError>>,
        wake: &tokio::sync::Notify,
    ) {
        let wait = match self.inner.clock.mode() {
            ClockMode::Virtual => IDLE_POLL,
            ClockMode::System => match next_due.await {
                Ok(Some(due)) => {
                    let ms = (due.0 - self.inner.clock.now().0).clamp(0, IDLE_POLL.as_millis() as i64);
                    std::time::Duration::from_millis(ms as u64)
                }
                _ => IDLE_POLL,
            },
        };
        let _ = tokio::time::timeout(wait, wake.notified()).await;
    }
}

/// Mints the ids Switchboard owns: time-ordered UUIDv7.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
