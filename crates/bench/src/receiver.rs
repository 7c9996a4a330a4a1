//! The bot's callback endpoint: counts notifications by kind and bytes, and times each invite
//! from its send to its operation's `completed` notification (matched by `clientContext`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Default, Clone, Debug)]
pub struct Counts {
    pub total: u64,
    /// Received while a measured window was open (see [`Receiver::reset`]).
    pub in_window: u64,
    pub operations: u64,
    pub completed: u64,
    pub rosters: u64,
    pub calls: u64,
    pub roster_bytes: u64,
    pub roster_entries: u64,
    pub largest_roster: u64,
}

struct State {
    counts: Counts,
    /// The measured window: only invites sent in it are timed, only notifications received
    /// in it count as `in_window`.
    window: Option<(Instant, Instant)>,
    pending: HashMap<String, Instant>,
    completion: Histogram<u64>,
}

#[derive(Clone)]
pub struct Receiver {
    url: String,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let state = Arc::new(Mutex::new(State {
            counts: Counts::default(),
            window: None,
            pending: HashMap::new(),
            completion: crate::new_histogram(),
        }));
        let s = state.clone();
        // No body limit: a whole roster of 10,000 participants is about 9 MB (axum's default
        // limit of 2 MB would answer 413 and the roster would be retried later).
        let app = axum::Router::new()
            .fallback(move |body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    record(&s, &body);
                    axum::http::StatusCode::ACCEPTED
                }
            })
            .layer(axum::extract::DefaultBodyLimit::disable());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Receiver { url, state })
    }

    pub fn callback(&self) -> String {
        format!("{}/callback", self.url)
    }

    /// Forgets what was received so far and opens the measured window.
    pub fn reset(&self) {
        let mut s = self.state.lock().unwrap();
        s.counts = Counts::default();
        s.completion.reset();
    }

    pub fn set_window(&self, from: Instant, to: Instant) {
        self.state.lock().unwrap().window = Some((from, to));
    }

    /// An invite with this `clientContext` was sent (or scheduled) at `at`.
    pub fn expect_completion(&self, context: &str, at: Instant) {
        self.state.lock().unwrap().pending.insert(context.to_owned(), at);
    }

    pub fn snapshot(&self) -> Counts {
        self.state.lock().unwrap().counts.clone()
    }

    pub fn completion_histogram(&self) -> Histogram<u64> {
        self.state.lock().unwrap().completion.clone()
    }

    /// Waits until `n` operations completed (or the timeout).
    pub async fn wait_completions(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while (self.snapshot().completed as usize) < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// What the receiver reads of a `commsNotifications` body: only the fields it counts, borrowed
/// from the body where they need no unescaping. Parsing whole bodies into `serde_json::Value`
/// was a fifth of the bench's CPU, taken from the server it measures on the same two cores.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    value: Vec<Notification<'a>>,
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(rename = "resourceUrl", borrow, default)]
    resource_url: Cow<'a, str>,
    /// An object (a call, an operation) or an array (a roster), read once its kind is known.
    #[serde(rename = "resourceData", borrow)]
    resource_data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct OperationData<'a> {
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(rename = "clientContext", borrow, default)]
    client_context: Option<Cow<'a, str>>,
}

fn record(state: &Mutex<State>, body: &[u8]) {
    let parsed: Envelope = serde_json::from_slice(body).unwrap_or(Envelope { value: Vec::new() });
    let now = Instant::now();
    let mut s = state.lock().unwrap();
    for n in &parsed.value {
        s.counts.total += 1;
        if s.window.is_none_or(|(from, to)| now >= from && now < to) {
            s.counts.in_window += 1;
        }
        let data = n.resource_data.map(RawValue::get).unwrap_or("null");
        if n.resource_url.ends_with("/participants") {
            s.counts.rosters += 1;
            s.counts.roster_bytes += body.len() as u64;
            s.counts.largest_roster = s.counts.largest_roster.max(body.len() as u64);
            let entries = serde_json::from_str::<Vec<IgnoredAny>>(data).map(|a| a.len() as u64).unwrap_or(0);
            s.counts.roster_entries += entries;
        } else if n.resource_url.contains("/operations/") {
            s.counts.operations += 1;
            let Ok(op) = serde_json::from_str::<OperationData>(data) else { continue };
            if op.status.as_deref() == Some("completed") {
                s.counts.completed += 1;
                let sent = op.client_context.and_then(|c| s.pending.remove(c.as_ref()));
                if let Some(at) = sent.filter(|at| s.window.is_none_or(|(from, to)| *at >= from && *at < to)) {
                    s.completion.saturating_record(now.saturating_duration_since(at).as_micros().max(1) as u64);
                }
            }
        } else {
            s.counts.calls += 1;
        }
    }
}
