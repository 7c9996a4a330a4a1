//! `switchboard-bench`: starts the real Switchboard binary (durable SQLite in a temporary data
//! directory, system clock, throttling off), a notification receiver and a load generator, and
//! prints what BENCHMARKS.md records. Subcommands:
//!
//! - `invites`: invite throughput and latency, then the same load against a bare axum handler
//!   that parses the same body and answers a same-shaped response without state (the ratio);
//! - `meeting`: one meeting joined by N participants through invites (whole or delta roster);
//! - `calls`: N established calls at once, and the server's resident memory.
//!
//! Simulated endpoints answer at once (`{kind = "answer", afterMs = 0}`).

mod baseline;
mod cpu;
mod receiver;
mod server;
mod store_timing;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

/// The same allocator as the server's, so the bare baseline is measured on it too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use receiver::Receiver;
use server::{Server, ServerOptions};

#[derive(Parser)]
#[command(name = "switchboard-bench", about = "Benchmarks of Switchboard (see BENCHMARKS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Invite throughput and latency, and the ratio to a bare axum baseline.
    Invites(InviteArgs),
    /// A meeting joined by many participants through invites.
    Meeting(MeetingArgs),
    /// Many established calls at once: the server's resident memory.
    Calls(CallsArgs),
    /// The bare axum baseline server (started by `invites`; prints its URL).
    #[command(hide = true)]
    BaselineServer,
}

#[derive(clap::Args, Clone)]
struct InviteArgs {
    #[command(flatten)]
    server: ServerOptions,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent connections (one request in flight each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Fixed rate in invites per second over all connections (default: as fast as possible).
    /// Latencies are then measured from each invite's scheduled time.
    #[arg(long)]
    rate: Option<f64>,
    /// Invites into one call before a connection joins a fresh meeting.
    #[arg(long, default_value_t = 50)]
    per_call: usize,
    /// Skip the bare axum baseline.
    #[arg(long)]
    no_baseline: bool,
}

#[derive(clap::Args, Clone)]
struct MeetingArgs {
    #[command(flatten)]
    server: ServerOptions,
    /// Participants invited into the meeting.
    #[arg(long, default_value_t = 10_000)]
    participants: usize,
    /// The bot's call asks for delta rosters (`isDeltaRosterEnabled`).
    #[arg(long)]
    delta: bool,
    /// Concurrent invites.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// `$top` of the paged `GET .../participants`.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
}

#[derive(clap::Args, Clone)]
struct CallsArgs {
    #[command(flatten)]
    server: ServerOptions,
    /// Established calls to hold at once.
    #[arg(long, default_value_t = 100_000)]
    calls: usize,
    /// Concurrent call creations.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

/// Pids of the servers this process started: stopped when it is interrupted, so a ^C never
/// leaves a server running.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// Their temporary data directories, removed then too.
static DATA_DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

fn register_child(pid: u32) {
    CHILDREN.lock().unwrap().push(pid);
}

fn register_data_dir(dir: &std::path::Path) {
    DATA_DIRS.lock().unwrap().push(dir.to_path_buf());
}

async fn stop_children_on_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    for pid in CHILDREN.lock().unwrap().iter() {
        let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
    }
    for dir in DATA_DIRS.lock().unwrap().iter() {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(130);
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        tokio::spawn(stop_children_on_signal());
        match cli.command {
            Command::Invites(args) => invites(args).await,
            Command::Meeting(args) => meeting(args).await,
            Command::Calls(args) => calls(args).await,
            Command::BaselineServer => baseline::serve().await,
        }
    })
}

fn new_histogram() -> Histogram<u64> {
    // Microseconds, 1 µs to 1 h, three significant digits; values above saturate.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram bounds")
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn describe(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "no samples".to_owned();
    }
    format!(
        "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  (n={})",
        ms(h, 0.50),
        ms(h, 0.99),
        ms(h, 0.999),
        h.max() as f64 / 1000.0,
        h.len()
    )
}

fn machine_line() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("cpus {cpus}, load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn invite_body(user: &str, context: &str) -> Value {
    json!({
        "participants": [{
            "@odata.type": "#microsoft.graph.invitationParticipantInfo",
            "identity": {"@odata.type": "#microsoft.graph.identitySet",
                         "user": {"@odata.type": "#microsoft.graph.identity", "id": user, "identityProvider": "AAD"}}
        }],
        "clientContext": context,
    })
}

/// What one load run measured.
struct LoadResult {
    requests: u64,
    /// From the start of the measured window to the end of its last request.
    elapsed: f64,
    errors: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

/// The client side of one run: `concurrency` connections, each sending one request at a time
/// (or at its share of a fixed rate), for `warmup + duration`; only requests started after the
/// warm-up are counted. `send(worker, n)` returns whether the request succeeded and when it was
/// sent: what `send` waits for first (a fresh meeting to invite into) is not the request's
/// latency in a closed loop; at a fixed rate latency counts from the request's slot anyway.
async fn load<F, Fut>(
    start: Instant,
    concurrency: usize,
    warmup: u64,
    duration: u64,
    rate: Option<f64>,
    send: F,
) -> LoadResult
where
    F: Fn(usize, u64, Option<Instant>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = (bool, Instant)> + Send,
{
    let send = Arc::new(send);
    let measure_from = start + Duration::from_secs(warmup);
    let end = measure_from + Duration::from_secs(duration);
    let latency = Arc::new(Mutex::new(new_histogram()));
    let (requests, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let last_done = Arc::new(Mutex::new(measure_from));
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (send, latency, requests, errors, last_done) =
            (send.clone(), latency.clone(), requests.clone(), errors.clone(), last_done.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = new_histogram();
            let mut n: u64 = 0;
            loop {
                // At a fixed rate, the n-th request of this worker has its slot; latency counts
                // from the slot, so a stall is not hidden by the requests it delayed.
                let scheduled = rate.map(|r| {
                    let slot = (n * concurrency as u64 + worker as u64) as f64 / r;
                    start + Duration::from_secs_f64(slot)
                });
                if let Some(at) = scheduled {
                    tokio::time::sleep_until(at.into()).await;
                }
                let began = scheduled.unwrap_or_else(Instant::now);
                if began >= end {
                    break;
                }
                let (ok, sent) = send(worker, n, scheduled).await;
                n += 1;
                if began >= measure_from {
                    requests.fetch_add(1, Ordering::Relaxed);
                    let mut last = last_done.lock().unwrap();
                    *last = (*last).max(Instant::now());
                    drop(last);
                    if ok {
                        let from = scheduled.unwrap_or(sent);
                        local.saturating_record(from.elapsed().as_micros().max(1) as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latency.lock().unwrap().add(&local).unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let latency = latency.lock().unwrap().clone();
    let elapsed = last_done.lock().unwrap().duration_since(measure_from).as_secs_f64().max(duration as f64);
    LoadResult {
        requests: requests.load(Ordering::Relaxed),
        elapsed,
        errors: errors.load(Ordering::Relaxed),
        seconds: duration as f64,
        latency,
    }
}

/// A bot call joined to a fresh meeting, established.
async fn join_meeting(server: &Server, receiver: &Receiver, delta: bool) -> anyhow::Result<String> {
    let meeting = server.post("/beta/communications/onlineMeetings", &json!({"subject": "bench"})).await?;
    anyhow::ensure!(meeting.0 == 201, "create meeting: {} {}", meeting.0, meeting.1);
    let meeting = meeting.1;
    let body = json!({
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": receiver.callback(),
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
        "chatInfo": {"@odata.type": "#microsoft.graph.chatInfo", "threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
        "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                        "organizer": {"@odata.type": "#microsoft.graph.identitySet", "user": {"id": server::ORGANIZER}}},
        "callOptions": {"@odata.type": "#microsoft.graph.outgoingCallOptions", "isDeltaRosterEnabled": delta},
        "tenantId": server::TENANT,
    });
    let (status, call) = server.post("/beta/communications/calls", &body).await?;
    anyhow::ensure!(status == 201, "join meeting: {status} {call}");
    let id = call["id"].as_str().context("call id")?.to_owned();
    server.wait_established(&id).await?;
    Ok(id)
}

async fn invites(args: InviteArgs) -> anyhow::Result<()> {
    println!("# switchboard-bench invites  ({})", machine_line());
    let users = args.per_call.max(1);
    let receiver = Receiver::start().await?;
    let server = Server::start(&args.server, users).await?;
    let server = Arc::new(server);
    println!(
        "server pid {} ({}), durable SQLite (WAL synced before each answer) in {}, throttling off, endpoints answer after 0 ms",
        server.pid,
        args.server.cpus_note(),
        server.data_dir.display()
    );
    let calls: Arc<Vec<tokio::sync::Mutex<(String, usize)>>> = Arc::new(
        futures_join((0..args.concurrency).map(|_| {
            let (server, receiver) = (server.clone(), receiver.clone());
            async move { join_meeting(&server, &receiver, true).await.map(|id| tokio::sync::Mutex::new((id, 0))) }
        }))
        .await?,
    );
    // Fresh calls for connections whose call is full, joined in the background ahead of need:
    // a connection does not stop sending invites while a meeting is joined.
    let (ready_tx, ready_rx) = tokio::sync::mpsc::channel::<String>(args.concurrency);
    let ready_rx = Arc::new(tokio::sync::Mutex::new(ready_rx));
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let (server, receiver, ready_tx) = (server.clone(), receiver.clone(), ready_tx.clone());
            tokio::spawn(async move {
                loop {
                    let id = match join_meeting(&server, &receiver, true).await {
                        Ok(id) => id,
                        Err(e) => {
                            eprintln!("joining a meeting failed: {e:#}");
                            return;
                        }
                    };
                    if ready_tx.send(id).await.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(ready_tx);
    receiver.reset();
    let per_call = args.per_call;
    let (s, r, c) = (server.clone(), receiver.clone(), calls.clone());
    let rss_before = server.rss_kib();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    receiver.set_window(measure_from, measure_from + Duration::from_secs(args.duration));
    let cpu = cpu_window(&[("server", server.pid), ("bench", std::process::id())], measure_from, args.duration);
    let disk = metrics_window(server.clone(), measure_from, args.duration);
    let result = load(start, args.concurrency, args.warmup, args.duration, args.rate, move |worker, n, scheduled| {
        let (server, receiver, calls, ready) = (s.clone(), r.clone(), c.clone(), ready_rx.clone());
        async move {
            let mut slot = calls[worker].lock().await;
            if slot.1 >= per_call {
                match ready.lock().await.recv().await {
                    Some(id) => *slot = (id, 0),
                    None => return (false, Instant::now()),
                }
            }
            let user = server::user_id(slot.1);
            slot.1 += 1;
            let context = format!("b{worker}-{n}");
            let sent = Instant::now();
            receiver.expect_completion(&context, scheduled.unwrap_or(sent));
            let path = format!("/beta/communications/calls/{}/participants/invite", slot.0);
            (matches!(server.post_status(&path, &invite_body(&user, &context)).await, Ok(200)), sent)
        }
    })
    .await;
    for joiner in joiners {
        joiner.abort();
    }
    let measured = receiver.snapshot();
    // Let the last invites complete before reading the completion latencies.
    server.flush().await.ok();
    let completed = receiver.completion_histogram();
    let rss_after = server.rss_kib();
    // Invites answered over the time it took to answer them (at a fixed rate the server may
    // finish the window's invites late: that is the rate it sustained, not the offered one).
    let throughput = (result.requests - result.errors) as f64 / result.elapsed;
    println!(
        "invites: {} answered in {:.1} s = {:.0}/s sustained, {} errors, concurrency {}{}",
        result.requests,
        result.elapsed,
        throughput,
        result.errors,
        args.concurrency,
        args.rate.map(|r| format!(", offered at a fixed rate of {r}/s")).unwrap_or_default()
    );
    println!("invite POST latency: {}", describe(&result.latency));
    println!("invite -> operation completed notification at the receiver: {}", describe(&completed));
    println!(
        "notifications delivered: {:.0}/s during the measured window ({} in all, {} operation, {} roster, {} call)",
        measured.in_window as f64 / result.seconds,
        measured.total,
        measured.operations,
        measured.rosters,
        measured.calls
    );
    println!("server RSS: {} MiB before, {} MiB after", rss_before / 1024, rss_after / 1024);
    let (before, after) = cpu.await?;
    println!("{}", cpu::describe(&before, &after, result.requests - result.errors, "invite"));
    match disk.await? {
        Ok((before, after)) => println!("{}", store_timing::describe(&before, &after)),
        Err(e) => println!("store disk work: /metrics could not be read ({e:#})"),
    }
    server.stop().await;
    // A run whose invites failed or never completed measured nothing: say so by the exit code.
    anyhow::ensure!(result.errors == 0, "{} invites failed (the server log is in DATA_DIR/server.log)", result.errors);
    anyhow::ensure!(!completed.is_empty(), "no invite completed");

    if !args.no_baseline {
        let baseline = baseline::Baseline::start(&args.server).await?;
        let base = Arc::new(baseline.url.clone());
        let http = reqwest::Client::new();
        let b = base.clone();
        let start = Instant::now();
        let cpu = cpu_window(
            &[("baseline server", baseline.pid), ("bench", std::process::id())],
            start + Duration::from_secs(args.warmup),
            args.duration,
        );
        let result_b = load(start, args.concurrency, args.warmup, args.duration, args.rate, move |worker, n, _| {
            let (http, base) = (http.clone(), b.clone());
            async move {
                let sent = Instant::now();
                let body = invite_body(&server::user_id(n as usize % 50), &format!("b{worker}-{n}"));
                let r = http
                    .post(format!("{base}/beta/communications/calls/{worker}/participants/invite"))
                    .bearer_auth("baseline")
                    .json(&body)
                    .send()
                    .await;
                let ok = match r {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                };
                (ok, sent)
            }
        })
        .await;
        baseline.stop().await;
        let (before, after) = cpu.await?;
        let base_rate = (result_b.requests - result_b.errors) as f64 / result_b.elapsed;
        println!(
            "baseline (bare axum, parse + same-shaped 200): {:.0}/s, {} errors; latency {}",
            base_rate,
            result_b.errors,
            describe(&result_b.latency)
        );
        println!("{}", cpu::describe(&before, &after, result_b.requests - result_b.errors, "request"));
        println!("ratio: Switchboard {:.0}/s = {:.1}% of the baseline", throughput, 100.0 * throughput / base_rate);
    }
    Ok(())
}

/// CPU samples of the processes at the start and the end of the measured window.
fn cpu_window(
    processes: &[(&'static str, u32)],
    from: Instant,
    seconds: u64,
) -> tokio::task::JoinHandle<(cpu::Sample, cpu::Sample)> {
    let processes = processes.to_vec();
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let before = cpu::Sample::take(&processes);
        tokio::time::sleep_until((from + Duration::from_secs(seconds)).into()).await;
        (before, cpu::Sample::take(&processes))
    })
}

/// The server's `/metrics` at the start and the end of the measured window.
fn metrics_window(
    server: Arc<Server>,
    from: Instant,
    seconds: u64,
) -> tokio::task::JoinHandle<anyhow::Result<(String, String)>> {
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let before = server.metrics_text().await?;
        tokio::time::sleep_until((from + Duration::from_secs(seconds)).into()).await;
        Ok((before, server.metrics_text().await?))
    })
}

async fn futures_join<T, F>(futures: impl Iterator<Item = F>) -> anyhow::Result<Vec<T>>
where
    F: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}

async fn meeting(args: MeetingArgs) -> anyhow::Result<()> {
    println!("# switchboard-bench meeting  ({})", machine_line());
    let receiver = Receiver::start().await?;
    let server = Arc::new(Server::start(&args.server, args.participants).await?);
    println!(
        "server pid {} ({}), {} participants, {} roster, concurrency {}",
        server.pid,
        args.server.cpus_note(),
        args.participants,
        if args.delta { "delta" } else { "whole" },
        args.concurrency
    );
    let call = join_meeting(&server, &receiver, args.delta).await?;
    server.flush().await?;
    receiver.reset();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (server, receiver, next, call) = (server.clone(), receiver.clone(), next.clone(), call.clone());
        let total = args.participants as u64;
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return errors;
                }
                let context = format!("m{i}");
                receiver.expect_completion(&context, Instant::now());
                let path = format!("/beta/communications/calls/{call}/participants/invite");
                match server.post(&path, &invite_body(&server::user_id(i as usize), &context)).await {
                    Ok((200, _)) => {}
                    other => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("invite failed: {other:?}");
                        }
                    }
                }
            }
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await?;
    }
    let posted = started.elapsed();
    receiver.wait_completions(args.participants, Duration::from_secs(600)).await;
    let all_joined = started.elapsed();
    server.flush().await?;
    let drained = started.elapsed();
    let seen = receiver.snapshot();
    println!(
        "joins: {} invites posted in {:.2} s ({} errors); all operations completed at {:.2} s; outbox drained at {:.2} s",
        args.participants,
        posted.as_secs_f64(),
        errors,
        all_joined.as_secs_f64(),
        drained.as_secs_f64()
    );
    println!("invite -> completed: {}", describe(&receiver.completion_histogram()));
    println!(
        "roster notifications: {} (snapshots/updates) for {} joins; {} bytes in all = {:.0} bytes per join; \
         largest {} bytes; participant entries sent {}",
        seen.rosters,
        args.participants,
        seen.roster_bytes,
        seen.roster_bytes as f64 / args.participants as f64,
        seen.largest_roster,
        seen.roster_entries
    );
    println!("server RSS {} MiB", server.rss_kib() / 1024);
    anyhow::ensure!(errors == 0, "{errors} invites failed");
    anyhow::ensure!(seen.completed as usize >= args.participants, "only {} of the joins completed", seen.completed);
    anyhow::ensure!(seen.rosters > 0, "no roster notification arrived");

    // The roster, paged the way Graph pages collections.
    let mut latency = new_histogram();
    let mut url = format!("/beta/communications/calls/{call}/participants?$top={}", args.page_size);
    let (mut pages, mut entries) = (0, 0);
    let began = Instant::now();
    loop {
        let t = Instant::now();
        let (status, page) = server.get(&url).await?;
        latency.saturating_record(t.elapsed().as_micros().max(1) as u64);
        anyhow::ensure!(status == 200, "GET participants: {status} {page}");
        pages += 1;
        entries += page["value"].as_array().map(|v| v.len()).unwrap_or(0);
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.trim_start_matches(&server.base).to_owned(),
            None => break,
        }
    }
    anyhow::ensure!(entries == args.participants + 1, "GET participants listed {entries} entries");
    println!(
        "GET participants ($top={}): {} entries in {} pages, {:.2} s in all; per page {}",
        args.page_size,
        entries,
        pages,
        began.elapsed().as_secs_f64(),
        describe(&latency)
    );
    server.stop().await;
    Ok(())
}

async fn calls(args: CallsArgs) -> anyhow::Result<()> {
    println!("# switchboard-bench calls  ({})", machine_line());
    let users = 1000;
    let receiver = Receiver::start().await?;
    let server = Arc::new(Server::start(&args.server, users).await?);
    println!(
        "server pid {} ({}), {} calls, concurrency {}",
        server.pid,
        args.server.cpus_note(),
        args.calls,
        args.concurrency
    );
    let rss_before = server.rss_kib();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (server, receiver, next) = (server.clone(), receiver.clone(), next.clone());
        let total = args.calls as u64;
        tasks.push(tokio::spawn(async move {
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return errors;
                }
                let body = json!({
                    "@odata.type": "#microsoft.graph.call",
                    "callbackUri": receiver.callback(),
                    "requestedModalities": ["audio"],
                    "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
                    "targets": [{"@odata.type": "#microsoft.graph.invitationParticipantInfo",
                                 "identity": {"@odata.type": "#microsoft.graph.identitySet",
                                              "user": {"id": server::user_id(i as usize % users)}}}],
                    "tenantId": server::TENANT,
                });
                match server.post("/beta/communications/calls", &body).await {
                    Ok((201, _)) => {}
                    other => {
                        errors += 1;
                        if errors < 3 {
                            eprintln!("create call failed: {other:?}");
                        }
                    }
                }
            }
        }));
    }
    let mut errors = 0;
    for t in tasks {
        errors += t.await?;
    }
    let created = started.elapsed();
    // Memory is read once every call is active (the outbox may still be delivering their
    // `established` notifications: a backlog of 100,000 takes minutes and is not call state).
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut established = server.established_count().await?;
    while established < (args.calls as u64).saturating_sub(errors) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        established = server.established_count().await?;
    }
    let rss_after = server.rss_kib();
    let hwm = server.hwm_kib();
    let db = server.db_bytes();
    println!(
        "calls: {} created in {:.1} s ({:.0}/s, {} errors); {} established; notifications received {}",
        args.calls,
        created.as_secs_f64(),
        args.calls as f64 / created.as_secs_f64(),
        errors,
        established,
        receiver.snapshot().total
    );
    println!(
        "server RSS {} MiB (before {} MiB, peak {} MiB) = {:.2} KiB per established call; SQLite files {} MiB",
        rss_after / 1024,
        rss_before / 1024,
        hwm / 1024,
        (rss_after.saturating_sub(rss_before)) as f64 / established.max(1) as f64,
        db / (1024 * 1024)
    );
    server.stop().await;
    Ok(())
}
