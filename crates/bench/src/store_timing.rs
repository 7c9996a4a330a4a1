//! The SQLite store's disk work over a measured window, from the server's `/metrics`: how many
//! syncs of the write-ahead log and checkpoints it made and how many were slow. Every invite's
//! answer waits for a log sync, and a checkpoint syncs the database on the same disk, so a
//! stall of the disk shows here when it shows in the latency tail.

/// A Prometheus histogram as `/metrics` renders it: cumulative counts by upper bound (`le`, in
/// seconds, ascending), the count and the sum of everything observed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Buckets {
    pub le: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

impl Buckets {
    /// The histogram `name` in a `/metrics` text; empty when absent (nothing observed yet).
    pub fn parse(text: &str, name: &str) -> Buckets {
        let mut b = Buckets::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else { continue };
            let Some((key, value)) = rest.rsplit_once(' ') else { continue };
            match key {
                "_count" => b.count = value.parse().unwrap_or(0),
                "_sum" => b.sum = value.parse().unwrap_or(0.0),
                _ => {
                    let bound = key.strip_prefix("_bucket{le=\"").and_then(|k| k.strip_suffix("\"}"));
                    if let (Some(bound), Ok(n)) = (bound.and_then(|b| b.parse::<f64>().ok()), value.parse()) {
                        b.le.push((bound, n));
                    }
                }
            }
        }
        b.le.sort_by(|x, y| x.0.total_cmp(&y.0));
        b
    }

    /// What was observed between `before` and `self` (a later reading of the same histogram).
    pub fn since(&self, before: &Buckets) -> Buckets {
        let earlier = |bound: f64| before.le.iter().find(|(b, _)| *b == bound).map_or(0, |(_, n)| *n);
        Buckets {
            le: self.le.iter().map(|&(bound, n)| (bound, n.saturating_sub(earlier(bound)))).collect(),
            count: self.count.saturating_sub(before.count),
            sum: (self.sum - before.sum).max(0.0),
        }
    }

    /// Observations above `seconds`, which must be one of the bounds (`None` otherwise).
    pub fn over(&self, seconds: f64) -> Option<u64> {
        self.le.iter().find(|(b, _)| *b == seconds).map(|(_, n)| self.count.saturating_sub(*n))
    }

    /// `N what, mean X ms, a over 10 ms, b over 50 ms, c over 250 ms` (`?` for a bound the
    /// histogram lacks).
    pub fn describe(&self, what: &str) -> String {
        if self.count == 0 {
            return format!("0 {what}");
        }
        let mean = 1000.0 * self.sum / self.count as f64;
        let mut line = format!("{} {what}, mean {mean:.2} ms", self.count);
        for ms in [10, 50, 250] {
            let n = self.over(ms as f64 / 1000.0).map_or("?".to_owned(), |n| n.to_string());
            line.push_str(&format!(", {n} over {ms} ms"));
        }
        line
    }
}

/// The log syncs and checkpoints between two `/metrics` texts, as one line.
pub fn describe(before: &str, after: &str) -> String {
    let window = |name| Buckets::parse(after, name).since(&Buckets::parse(before, name));
    format!(
        "store disk work in the window: {}; {}",
        window("switchboard_store_log_sync_duration_seconds").describe("log syncs"),
        window("switchboard_store_checkpoint_duration_seconds").describe("checkpoints"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(count: u64, sum: f64, buckets: &[(&str, u64)]) -> String {
        let mut t = String::from("# TYPE switchboard_store_log_sync_duration_seconds histogram\n");
        for (le, n) in buckets {
            t.push_str(&format!("switchboard_store_log_sync_duration_seconds_bucket{{le=\"{le}\"}} {n}\n"));
        }
        t.push_str(&format!("switchboard_store_log_sync_duration_seconds_sum {sum}\n"));
        t.push_str(&format!("switchboard_store_log_sync_duration_seconds_count {count}\n"));
        t.push_str("switchboard_store_checkpoint_duration_seconds_count 3\n");
        t
    }

    #[test]
    fn a_window_counts_what_was_observed_in_it_and_what_was_slow() {
        let before = text(10, 0.02, &[("0.01", 10), ("0.05", 10), ("0.25", 10), ("+Inf", 10)]);
        let after = text(110, 0.52, &[("0.01", 105), ("0.05", 108), ("0.25", 109), ("+Inf", 110)]);
        let name = "switchboard_store_log_sync_duration_seconds";
        let w = Buckets::parse(&after, name).since(&Buckets::parse(&before, name));
        assert_eq!(w.count, 100);
        assert_eq!((w.over(0.01), w.over(0.05), w.over(0.25)), (Some(5), Some(2), Some(1)));
        assert_eq!(w.over(0.1), None);
        assert_eq!(w.describe("log syncs"), "100 log syncs, mean 5.00 ms, 5 over 10 ms, 2 over 50 ms, 1 over 250 ms");
    }

    #[test]
    fn a_histogram_not_yet_rendered_reads_as_nothing_observed() {
        let b = Buckets::parse("switchboard_calls_active 3\n", "switchboard_store_log_sync_duration_seconds");
        assert_eq!(b, Buckets::default());
        assert_eq!(b.describe("log syncs"), "0 log syncs");
        // Only the named histogram's lines are read.
        let other = Buckets::parse(&text(4, 0.1, &[]), "switchboard_store_checkpoint_duration_seconds");
        assert_eq!(other.count, 3);
    }
}
