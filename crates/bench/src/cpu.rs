//! CPU time by process and thread over a measured window, from `/proc/PID/task/TID/stat`: how
//! the machine's cores were shared between the server (by thread name: the SQLite writer, its
//! sync and checkpoint threads, the tokio workers) and the bench (load generator and receiver
//! share one runtime, so they are counted together). Linux only; elsewhere nothing is read.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// `/proc` counts CPU time in ticks of `USER_HZ`, 100 per second on every Linux architecture
/// Switchboard builds for (the kernel's `USER_HZ` is fixed at 100 on x86 and arm64).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks used so far, by (process label, thread name), taken at one instant.
pub struct Sample {
    at: Instant,
    ticks: BTreeMap<(&'static str, String), u64>,
}

impl Sample {
    /// Reads every thread of the labelled processes.
    pub fn take(processes: &[(&'static str, u32)]) -> Sample {
        let mut ticks = BTreeMap::new();
        for &(label, pid) in processes {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { continue };
            for task in tasks.flatten() {
                let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
                if let Some((name, used)) = parse_stat(&stat) {
                    *ticks.entry((label, name)).or_insert(0) += used;
                }
            }
        }
        Sample { at: Instant::now(), ticks }
    }
}

/// The thread's name and its user + system ticks, from one `stat` line. The name is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let (head, tail) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = tail.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Seconds of CPU of one process: in all, and by thread name.
type ProcessTime = (f64, Vec<(String, f64)>);

/// One line: microseconds of CPU per unit of work (`units` done between the samples), by
/// process and, within it, by thread name, and how busy the machine's cores were.
pub fn describe(before: &Sample, after: &Sample, units: u64, unit: &str) -> String {
    let seconds = after.at.duration_since(before.at).max(Duration::from_millis(1)).as_secs_f64();
    let mut by_process: BTreeMap<&str, ProcessTime> = BTreeMap::new();
    let mut total = 0.0;
    for ((label, name), &end) in &after.ticks {
        let start = before.ticks.get(&(*label, name.clone())).copied().unwrap_or(0);
        let used = end.saturating_sub(start) as f64 / TICKS_PER_SECOND;
        total += used;
        let entry = by_process.entry(label).or_default();
        entry.0 += used;
        if used > 0.0 {
            entry.1.push((name.clone(), used));
        }
    }
    let per_unit = |s: f64| s * 1e6 / units.max(1) as f64;
    let processes: Vec<String> = by_process
        .into_iter()
        .map(|(label, (used, mut threads))| {
            threads.sort_by(|a, b| b.1.total_cmp(&a.1));
            let threads: Vec<String> = threads.iter().map(|(name, t)| format!("{name} {:.0}", per_unit(*t))).collect();
            format!("{label} {:.0} us ({})", per_unit(used), threads.join(", "))
        })
        .collect();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    format!(
        "CPU per {unit} ({:.1} s measured): {}; {:.0}% of the machine's {} cores busy with these processes",
        seconds,
        processes.join("; "),
        100.0 * total / seconds / cores,
        cores
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_thread_name_and_ticks() {
        let line = "4242 (sqlite-writer) S 1 2 3 0 -1 4194368 10 0 0 0 150 25 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(("sqlite-writer".to_owned(), 175)));
        // A name with a space and a parenthesis of its own.
        let line = "7 (odd (name) x) R 1 2 3 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_stat(line), Some(("odd (name) x".to_owned(), 10)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_seen_using_cpu() {
        let pid = std::process::id();
        let before = Sample::take(&[("bench", pid)]);
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut spin = 0u64;
        while Instant::now() < deadline {
            spin = spin.wrapping_add(1);
        }
        let after = Sample::take(&[("bench", pid)]);
        let used: u64 = after.ticks.values().sum::<u64>() - before.ticks.values().sum::<u64>();
        assert!(used >= 1, "200 ms of spinning used {used} ticks ({spin} turns)");
        assert!(describe(&before, &after, 10, "invite").starts_with("CPU per invite"));
    }
}
