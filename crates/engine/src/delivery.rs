//! Delivery of the outbox to callback URIs: in order per call (one POST in flight per call),
//! calls in parallel, each POST signed with a bearer token, failures retried with backoff.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rand::Rng;
use switchboard_core::{CallId, Timestamp};
use switchboard_store::{AttemptResult, OutboxRow, Tx};
use tracing::Instrument;

use crate::error::EngineResult;
use crate::{Engine, EngineError, Failpoint};

/// The calls this node is delivering (one delivery at a time per call keeps its notifications
/// in order), and the claims of the outbox under way.
///
/// A claim leaves out the calls in flight when it starts, reads and leases the due rows in a
/// writer unit, then takes the calls of the runs it found. The lock is not held over that
/// round trip, so that an invite can reserve its call meanwhile. (Held over it, the lock made
/// more than half the invites at 2,000/s leave their notifications to the loop: one more
/// writer round trip, with its sync, before their first POST.) A call taken in between is left
/// to whoever took it: the claim may have read its rows before the taker claimed them again,
/// or even delivered and settled them.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    calls: HashSet<CallId>,
    /// Claims between their snapshot of `calls` and taking their runs' calls.
    claims: usize,
    /// Calls taken while a claim was under way; forgotten when none is.
    taken_during_claims: HashSet<CallId>,
}

impl InFlight {
    /// Takes `call` for a delivery, if it is free and fewer than `limit` calls are taken.
    fn take(&mut self, call: &CallId, limit: usize) -> bool {
        if self.calls.len() >= limit || !self.calls.insert(call.clone()) {
            return false;
        }
        if self.claims > 0 {
            self.taken_during_claims.insert(call.clone());
        }
        true
    }

    /// A claim starts: what it reads of the outbox from now on may be taken by others.
    fn begin_claim(&mut self) {
        self.claims += 1;
    }

    /// Takes the call of a run a claim found: not if anyone took it since the claim began.
    fn take_claimed(&mut self, call: &CallId, limit: usize) -> bool {
        !self.taken_during_claims.contains(call) && self.take(call, limit)
    }

    fn end_claim(&mut self) {
        self.claims -= 1;
        if self.claims == 0 {
            self.taken_during_claims.clear();
        }
    }

    fn release(&mut self, call: &CallId) {
        self.calls.remove(call);
    }

    pub(crate) fn delivering(&self, call: &CallId) -> bool {
        self.calls.contains(call)
    }

    fn idle(&self) -> bool {
        self.calls.is_empty() && self.claims == 0
    }
}

/// A claim under way ([`InFlight`]); it ends when dropped, also when the claim fails or its
/// future is dropped.
struct Claim<'a>(&'a Engine);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.in_flight().end_claim();
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Connecting to a callback URI (default 2 s).
    pub connect_timeout: Duration,
    /// Between two reads of a response (default 5 s).
    pub read_timeout: Duration,
    /// One whole attempt, from connecting to the end of the response (default 10 s).
    pub total_timeout: Duration,
    /// Attempts before a notification is kept as a dead letter (default 8).
    pub max_attempts: i64,
    /// A notification not delivered this long after it was enqueued is kept as a dead letter
    /// instead of being retried (default 24 h).
    pub max_age: Duration,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
    /// Deliveries in flight at once (over all calls).
    pub concurrency: usize,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            max_attempts: 8,
            max_age: Duration::from_secs(24 * 3600),
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            concurrency: 64,
        }
    }
}

pub(crate) async fn run(engine: Engine) {
    let wake = &engine.inner.delivery_wake;
    loop {
        let pass = engine.start_due_deliveries().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "reading the outbox failed");
            Pass::Drained(0)
        });
        match pass {
            Pass::Limited(_) => continue,
            // A delivery that ends frees a slot and wakes the loop.
            Pass::Saturated => engine.sleep_until_due(async { Ok(None) }, wake).await,
            Pass::Drained(_) => engine.sleep_until_due(engine.next_delivery_due(), wake).await,
        }
    }
}

/// What one claim of the delivery loop found.
enum Pass {
    /// No delivery slot was free.
    Saturated,
    /// The claim took as many heads as there were free slots (this many started): more may be
    /// due at once.
    Limited(usize),
    /// Every head due now was claimed (this many started), or belongs to a call this node is
    /// delivering or holding; the rest comes due later.
    Drained(usize),
}

impl Pass {
    fn started(&self) -> usize {
        match self {
            Pass::Saturated => 0,
            Pass::Limited(n) | Pass::Drained(n) => *n,
        }
    }
}

impl Engine {
    /// When the loop next has something to start. Calls this node is delivering or holding
    /// are left out: their tasks and holds wake the loop when they end, and counting their
    /// queued rows (due at once) would make the loop spin on the writer while they last.
    async fn next_delivery_due(&self) -> EngineResult<Option<Timestamp>> {
        let busy = self.busy_calls(&self.in_flight().calls);
        let now = self.inner.clock.now();
        self.run(move |tx| Ok::<_, EngineError>(tx.next_delivery_due(now, &busy)?)).await
    }

    /// Claims the due head of each idle call's queue, with the run of due notifications behind
    /// it, and starts delivering them.
    async fn start_due_deliveries(&self) -> EngineResult<Pass> {
        let Some((claimed, limited)) = self.claim_due().await? else { return Ok(Pass::Saturated) };
        let count = claimed.len();
        for run in claimed {
            self.spawn_delivery(run);
        }
        Ok(if limited { Pass::Limited(count) } else { Pass::Drained(count) })
    }

    /// Delivers a claimed run of one call (already in `in_flight`), then the call's next runs,
    /// on a task of its own.
    fn spawn_delivery(&self, run: Vec<OutboxRow>) {
        let engine = self.clone();
        tokio::spawn(async move {
            // The call's next run, when due, is claimed as this one is recorded and delivered
            // by this same task: no claim of its own, the order kept.
            let call_id = run[0].call_id.clone();
            let mut next = run;
            while !next.is_empty() {
                // An invite answered meanwhile holds the call until its response is out.
                engine.until_released(&call_id).await;
                next = engine.deliver_run(next).await;
            }
            engine.release(&call_id);
            engine.inner.delivery_wake.notify_one();
        });
    }

    /// Takes the delivery of `call` for a unit of work about to queue notifications to it, so
    /// that the unit claims them itself ([`claim_call_run`]) and no claim of the delivery loop
    /// stands between its commit and the first POST. `false` when the call is being delivered
    /// already (that delivery claims them next) or no delivery slot is free (the loop will).
    pub(crate) fn reserve_delivery(&self, call: &CallId) -> bool {
        self.in_flight().take(call, self.inner.config.delivery.concurrency)
    }

    pub(crate) fn in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.inner.in_flight.lock().expect("in_flight lock")
    }

    /// Starts the run a reserving unit claimed; with nothing claimed (or the unit failed), gives
    /// the reservation back to the delivery loop.
    pub(crate) fn start_reserved(&self, call: &CallId, run: Vec<OutboxRow>) {
        if run.is_empty() {
            self.release(call);
            self.inner.delivery_wake.notify_one();
        } else {
            self.spawn_delivery(run);
        }
    }

    /// The runs claimed (one per call, each starting at the call's head), to start, and
    /// whether the claim reached its limit; `None` when no delivery slot is free.
    async fn claim_due(&self) -> EngineResult<Option<(Vec<Vec<OutboxRow>>, bool)>> {
        let concurrency = self.inner.config.delivery.concurrency;
        let (free, busy) = {
            let mut in_flight = self.in_flight();
            let free = concurrency.saturating_sub(in_flight.calls.len());
            if free == 0 {
                return Ok(None);
            }
            in_flight.begin_claim();
            (free, self.busy_calls(&in_flight.calls))
        };
        let claim = Claim(self);
        let now = self.inner.clock.now();
        let lease_until = now.plus_millis(self.lease_ms());
        let runs = self
            .run(move |tx| {
                let heads = tx.claim_deliveries(now, lease_until, free, &busy)?;
                let limited = heads.len() == free;
                let runs = heads
                    .into_iter()
                    .map(|head| claim_run(tx, head, now, lease_until))
                    .collect::<EngineResult<Vec<_>>>()?;
                Ok::<_, EngineError>((runs, limited))
            })
            .await?;
        let (runs, limited) = runs;
        let held = self.held_calls();
        let mut in_flight = self.in_flight();
        // A run of a call held, or taken by someone else since the snapshot, is left alone;
        // its rows stay leased to this node, which claims them again when they are due.
        let runs = runs.into_iter().filter(|r| {
            let call = &r[0].call_id;
            !held.contains(call) && in_flight.take_claimed(call, concurrency)
        });
        let runs = runs.collect();
        // The guard first: ending the claim locks `in_flight` again.
        drop(in_flight);
        drop(claim);
        Ok(Some((runs, limited)))
    }

    /// Calls the delivery loop leaves alone: those this node is delivering (`in_flight`) or
    /// holding until a response is written.
    fn busy_calls(&self, in_flight: &HashSet<CallId>) -> Vec<CallId> {
        in_flight.iter().cloned().chain(self.held_calls()).collect()
    }

    /// How long a claimed notification stays this node's: one whole attempt and a margin.
    /// Another node takes it over after that (and may then repeat it, never reorder it).
    pub(crate) fn lease_ms(&self) -> i64 {
        self.inner.config.delivery.total_timeout.as_millis() as i64 + 5_000
    }

    fn release(&self, call_id: &CallId) {
        self.in_flight().release(call_id);
    }

    /// Delivers every notification that is due now, once each, and returns when none is due
    /// or in flight (what `clock/advance` and `outbox/flush` wait for).
    pub async fn flush(&self) -> EngineResult<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let started = self.start_due_deliveries().await?.started();
            let idle = self.in_flight().idle();
            if started == 0 && idle {
                let now = self.inner.clock.now();
                let busy = self.held_calls();
                let due = self.run(move |tx| Ok::<_, EngineError>(tx.due_deliveries(now, 1, &busy)?)).await?;
                if due.is_empty() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(EngineError::Internal("the outbox did not drain within 30 s".to_owned()));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Posts a run of one call's notifications in order, stopping at the first that is not
    /// delivered, and records the attempts in one unit of work; in that unit the call's next
    /// run is claimed when it is due, and returned (empty when there is none, or when a lease
    /// was lost to another node).
    async fn deliver_run(&self, run: Vec<OutboxRow>) -> Vec<OutboxRow> {
        let call_id = run[0].call_id.clone();
        let mut attempts = Vec::with_capacity(run.len());
        let mut untried = Vec::new();
        // The run's leases were taken together: no POST starts that could end after them (a
        // slow callback URI makes the run shorter; the rest is claimed again at once).
        let config = &self.inner.config.delivery;
        let budget = Duration::from_millis(self.lease_ms() as u64).saturating_sub(config.total_timeout);
        let started = Instant::now();
        for row in run {
            let failed = attempts.last().is_some_and(|a: &Attempt| !a.delivered());
            if failed || (!attempts.is_empty() && started.elapsed() > budget) {
                untried.push(row.id);
                continue;
            }
            let span = delivery_span(&row);
            attempts.push(self.deliver(row).instrument(span).await);
        }
        let lease_until = self.inner.clock.now().plus_millis(self.lease_ms());
        let recorded = self.run(move |tx| {
            let mut all_recorded = true;
            for a in &attempts {
                let recorded = tx.record_attempt(a.id, a.at, a.latency_ms, &a.result)?;
                if recorded && a.send_again {
                    tx.requeue_notification(a.id, a.at)?;
                }
                all_recorded &= recorded;
            }
            tx.release_leases(&untried)?;
            let Some(at) = attempts.last().map(|a| a.at).filter(|_| all_recorded) else {
                return Ok::<_, EngineError>((false, Vec::new()));
            };
            Ok((true, claim_call_run(tx, &call_id, at, lease_until)?))
        });
        match recorded.await {
            Ok((true, next)) => next,
            Ok((false, _)) => {
                tracing::warn!(
                    "the delivery lease expired and another node took the notification over; attempt not recorded"
                );
                Vec::new()
            }
            Err(e) => {
                tracing::error!(error = %e, "recording delivery attempts failed");
                Vec::new()
            }
        }
    }

    /// One attempt to deliver one notification, to be recorded.
    async fn deliver(&self, row: OutboxRow) -> Attempt {
        let started = Instant::now();
        self.failpoint(Failpoint::BeforePost);
        let result = self.attempt(&row).await;
        self.failpoint(Failpoint::AfterPost);
        let elapsed = started.elapsed();
        let latency_ms = elapsed.as_millis() as i64;
        let outcome = match &result {
            AttemptResult::Delivered { status } => {
                tracing::debug!(status, latency_ms, "notification delivered");
                "delivered"
            }
            AttemptResult::Failed { error, retry_at, status } => {
                tracing::warn!(status, error, latency_ms, dead = retry_at.is_none(), "notification not delivered");
                if retry_at.is_some() {
                    "failed"
                } else {
                    "dead"
                }
            }
        };
        metrics::counter!("switchboard_notification_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("switchboard_notification_delivery_duration_seconds", "outcome" => outcome)
            .record(elapsed.as_secs_f64());
        // Graph sends a call's first incoming-call notification once more when the bot answers
        // it with 204 (call-notifications: the legacy-format handshake); the copy is queued
        // behind whatever the call has pending, with the next sequence number.
        let send_again = matches!(result, AttemptResult::Delivered { status: 204 })
            && row.sequence == 1
            && row.redelivery_of.is_none()
            && is_incoming_call(&row.body);
        Attempt { id: row.id, at: self.inner.clock.now(), latency_ms, result, send_again }
    }

    /// One POST of a notification, and what it came to.
    async fn attempt(&self, row: &OutboxRow) -> AttemptResult {
        let policy = &self.inner.config.callback_policy;
        let url = match policy.check(&row.callback_uri) {
            Ok(url) => url,
            // Never retried: the URI will not become acceptable by waiting.
            Err(refused) => return AttemptResult::Failed { status: None, error: refused.message, retry_at: None },
        };
        let token = match self.callback_token(&row.app_id, &row.tenant_id) {
            Ok(token) => token,
            Err(e) => return self.failure(row, None, e.to_string()),
        };
        let response = self
            .inner
            .http
            // The URL as the policy parsed it: not parsed a second time.
            .post(url)
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {token}"))
            .header("X-Switchboard-Sequence", row.sequence.to_string())
            .header("X-Switchboard-Call-Id", row.call_id.as_str())
            .body(row.body.clone())
            .send()
            .await;
        let r = match response {
            Ok(r) => r,
            Err(e) => return self.failure(row, None, transport_error(&e)),
        };
        let status = i64::from(r.status().as_u16());
        if r.status().is_success() {
            return AttemptResult::Delivered { status };
        }
        if r.status().is_redirection() {
            // A bot moves its call's callbacks with a redirect (Graph documents 302 for this);
            // followed only within the callback policy.
            let target = r
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| url::Url::parse(&row.callback_uri).ok()?.join(l).ok());
            return match target.filter(|t| policy.check(t.as_str()).is_ok()) {
                Some(target) => match self.move_callbacks(&row.call_id, target.to_string()).await {
                    Ok(()) => AttemptResult::Failed {
                        status: Some(status),
                        error: format!("callbacks moved to {target}"),
                        retry_at: Some(self.inner.clock.now()),
                    },
                    Err(e) => self.failure(row, Some(status), format!("cannot move callbacks: {e}")),
                },
                None => self.failure(row, Some(status), "a redirect outside the callback policy".to_owned()),
            };
        }
        self.failure(row, Some(status), format!("HTTP {}", r.status()))
    }

    /// Points the call, and its pending notifications, at a new callback URI.
    async fn move_callbacks(&self, call_id: &CallId, target: String) -> EngineResult<()> {
        let call_id = call_id.clone();
        self.run(move |tx| {
            if let Some(mut call) = tx.call(call_id.as_str())? {
                call.callback_uri = target.clone();
                tx.update_call(&call)?;
            }
            tx.retarget_pending_notifications(&call_id, &target)?;
            Ok::<_, EngineError>(())
        })
        .await
    }

    fn failure(&self, row: &OutboxRow, status: Option<i64>, error: String) -> AttemptResult {
        let config = &self.inner.config.delivery;
        let attempt = row.attempts + 1;
        let expires = row.created_at.plus_millis(config.max_age.as_millis() as i64);
        let retry_at = (attempt < config.max_attempts)
            .then(|| {
                let base =
                    config.initial_backoff_ms.saturating_mul(1 << (attempt - 1).min(20)).min(config.max_backoff_ms);
                let jitter = rand::thread_rng().gen_range(0..=base / 4);
                self.inner.clock.now().plus_millis(base + jitter)
            })
            // Past its maximum age a notification is not tried again: it is a dead letter.
            .filter(|at| *at <= expires);
        AttemptResult::Failed { status, error, retry_at }
    }

    /// The bearer token of callbacks to an application, minted per (application, tenant) and
    /// reused until shortly before it expires. Wall time: advancing the virtual clock never
    /// expires a token.
    fn callback_token(&self, app_id: &str, tenant_id: &str) -> EngineResult<String> {
        let now = crate::clock::wall_millis() / 1000;
        let key = (app_id.to_owned(), tenant_id.to_owned());
        if let Some((token, exp)) = self.inner.callback_tokens.lock().expect("token cache").get(&key) {
            if *exp - 300 > now {
                return Ok(token.clone());
            }
        }
        let exp = now + 3600;
        let token = self.inner.keys.sign(&serde_json::json!({
            "iss": self.inner.config.callback_issuer,
            "aud": app_id,
            "tid": tenant_id,
            "iat": now,
            "nbf": now - 300,
            "exp": exp,
        }))?;
        self.inner.callback_tokens.lock().expect("token cache").insert(key, (token.clone(), exp));
        Ok(token)
    }
}

/// Most notifications of one call posted back to back before their attempts are recorded.
const MAX_RUN: usize = 16;

/// One POST made, to be recorded.
struct Attempt {
    id: i64,
    at: Timestamp,
    latency_ms: i64,
    result: AttemptResult,
    /// The first incoming-call notification answered with 204 is queued once more.
    send_again: bool,
}

impl Attempt {
    fn delivered(&self) -> bool {
        matches!(self.result, AttemptResult::Delivered { .. })
    }
}

/// The run that starts at a claimed head: the head and the due notifications behind it, each
/// leased, roster marks rendered as the roster is now.
fn claim_run(tx: &mut dyn Tx, head: OutboxRow, now: Timestamp, lease_until: Timestamp) -> EngineResult<Vec<OutboxRow>> {
    let mut run = vec![head];
    let (call, after) = (run[0].call_id.clone(), run[0].sequence);
    run.extend(tx.claim_following(&call, after, now, lease_until, MAX_RUN - 1)?);
    crate::notify::render_marks(tx, &mut run)?;
    Ok(run)
}

/// The run at the head of one call's queue, when its head is due and not another node's.
pub(crate) fn claim_call_run(
    tx: &mut dyn Tx,
    call: &CallId,
    now: Timestamp,
    lease_until: Timestamp,
) -> EngineResult<Vec<OutboxRow>> {
    match tx.claim_next_of_call(call, now, lease_until)? {
        Some(head) => claim_run(tx, head, now, lease_until),
        None => Ok(Vec::new()),
    }
}

fn delivery_span(row: &OutboxRow) -> tracing::Span {
    tracing::info_span!(
        "delivery",
        call_id = %row.call_id,
        notification_id = row.id,
        sequence = row.sequence,
        attempt = row.attempts + 1
    )
}

/// Whether a notification body is an incoming call (`created` on a call).
fn is_incoming_call(body: &str) -> bool {
    serde_json::from_str::<graph_model::CommsNotifications>(body)
        .ok()
        .and_then(|n| n.value.into_iter().next())
        .is_some_and(|n| n.change_type == graph_model::ChangeType::Created && !n.resource_url.contains("/participants"))
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// Resolves callback hosts, keeping only addresses callbacks may reach (never link-local or
/// unspecified, whatever a DNS name resolves to).
pub(crate) struct PolicyResolver;

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| switchboard_core::call_kind::address_allowed(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address callbacks may reach").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> CallId {
        CallId(id.to_owned())
    }

    #[test]
    fn a_claim_takes_the_calls_of_its_runs_unless_someone_took_them_while_it_was_under_way() {
        let mut f = InFlight::default();
        f.begin_claim();
        // An invite reserves call a while the claim reads the outbox; its delivery even ends.
        assert!(f.take(&call("a"), 8));
        f.release(&call("a"));
        // The claim may have read a's rows before the invite's unit claimed them: not its own.
        assert!(!f.take_claimed(&call("a"), 8));
        assert!(f.take_claimed(&call("b"), 8));
        // One delivery per call.
        assert!(!f.take(&call("b"), 8));
        f.end_claim();
        assert!(!f.idle());
        f.release(&call("b"));
        assert!(f.idle());
        // With no claim under way nothing is remembered: the next claim may take a.
        f.begin_claim();
        assert!(f.take_claimed(&call("a"), 8));
        f.end_claim();
    }

    #[test]
    fn of_two_claims_under_way_the_later_to_finish_leaves_alone_what_the_earlier_took() {
        let mut f = InFlight::default();
        f.begin_claim();
        f.begin_claim();
        // Both found a run of call a; the first to finish takes it, delivers it and lets it go.
        assert!(f.take_claimed(&call("a"), 8));
        f.end_claim();
        f.release(&call("a"));
        assert!(!f.take_claimed(&call("a"), 8));
        f.end_claim();
        assert!(f.idle());
    }

    #[test]
    fn no_more_calls_are_taken_than_the_limit() {
        let mut f = InFlight::default();
        assert!(f.take(&call("a"), 2));
        assert!(f.take(&call("b"), 2));
        assert!(!f.take(&call("c"), 2));
        f.begin_claim();
        assert!(!f.take_claimed(&call("c"), 2));
        f.end_claim();
    }
}
