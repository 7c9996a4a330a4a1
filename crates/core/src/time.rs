//! Domain time: milliseconds since the Unix epoch, given to the core by the engine's clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    pub fn plus_secs(self, s: i64) -> Timestamp {
        self.plus_millis(s.saturating_mul(1000))
    }

    /// RFC 3339 in UTC with milliseconds, as Graph writes `DateTimeOffset`.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
    }

    /// Reads a Graph `DateTimeOffset` (ISO 8601: `2019-09-09T14:33:30.8546353-07:00`), to the
    /// millisecond. A time without an offset is read as UTC: the Graph SDKs write a naive
    /// `datetime` that way, and Graph accepts it. `None` when `raw` is not such a time.
    pub fn parse_rfc3339(raw: &str) -> Option<Timestamp> {
        let (date, time) = raw.split_once(['T', 't'])?;
        let mut date_parts = date.splitn(3, '-');
        let year: i64 = digits(date_parts.next()?, 4)?;
        let month: u32 = digits(date_parts.next()?, 2)?;
        let day: u32 = digits(date_parts.next()?, 2)?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let (clock, offset_minutes) = match time.find(['Z', 'z', '+', '-']) {
            None => (time, 0),
            Some(at) => {
                let (clock, zone) = time.split_at(at);
                let offset = match zone {
                    "Z" | "z" => 0,
                    _ => {
                        let (hours, minutes) = zone[1..].split_once(':')?;
                        let (hours, minutes): (i64, i64) = (digits(hours, 2)?, digits(minutes, 2)?);
                        if hours > 23 || minutes > 59 {
                            return None;
                        }
                        let sign = if zone.starts_with('-') { -1 } else { 1 };
                        sign * (hours * 60 + minutes)
                    }
                };
                (clock, offset)
            }
        };
        let (hms, fraction) = match clock.split_once('.') {
            Some((hms, fraction)) if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) => {
                (hms, fraction)
            }
            Some(_) => return None,
            None => (clock, ""),
        };
        let mut hms_parts = hms.splitn(3, ':');
        let hour: i64 = digits(hms_parts.next()?, 2)?;
        let minute: i64 = digits(hms_parts.next()?, 2)?;
        let second: i64 = digits(hms_parts.next()?, 2)?;
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
        let secs =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
        Some(Timestamp(secs * 1000 + millis))
    }
}

/// Exactly `len` ASCII digits.
fn digits<T: std::str::FromStr>(s: &str, len: usize) -> Option<T> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A civil date to days since 1970-01-01 (Howard Hinnant's algorithm, the inverse of
/// [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_764_137_045_123).to_rfc3339(), "2025-11-26T06:04:05.123Z");
    }

    #[test]
    fn reads_date_times_with_and_without_offsets() {
        let utc = Timestamp(1_764_137_045_123);
        for raw in [
            "2025-11-26T06:04:05.123Z",
            "2025-11-26T06:04:05.1234567Z",
            "2025-11-25T23:04:05.123-07:00",
            "2025-11-26T07:34:05.123+01:30",
            "2025-11-26T06:04:05.123",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(raw), Some(utc), "{raw}");
        }
        assert_eq!(
            Timestamp::parse_rfc3339("2024-02-29T00:00:00Z").map(Timestamp::to_rfc3339).as_deref(),
            Some("2024-02-29T00:00:00.000Z")
        );
        assert_eq!(Timestamp::parse_rfc3339("1969-12-31T23:59:59Z"), Some(Timestamp(-1000)));
        for raw in [
            "not a date",
            "",
            "2025-11-26",
            "2025-11-26T06:04",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-11-26T24:00:00Z",
            "2025-11-26T06:04:05.Z",
            "2025-11-26T06:04:05+7",
            "2025-11-26T06:04:05Zjunk",
            "+2025-11-26T06:04:05Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(raw), None, "{raw}");
        }
    }
}
