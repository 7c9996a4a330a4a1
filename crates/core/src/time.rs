//! Domain time: milliseconds since the Unix epoch, given to the core by the engine's clock.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The last millisecond Graph's `DateTimeOffset` writes: 9999-12-31T23:59:59.999Z.
    pub const LATEST: Timestamp = Timestamp(253_402_300_799_999);

    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    pub fn plus_secs(self, s: i64) -> Timestamp {
        self.plus_millis(s.saturating_mul(1000))
    }

    /// RFC 3339 in UTC with milliseconds, as Graph writes `DateTimeOffset`.
    pub fn to_rfc3339(self) -> String {
        const UTC_MILLIS: &[time::format_description::FormatItem<'_>] =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
        // Saturated to the years `time` represents (±9999): a domain clock never gets there.
        let nanos = i128::from(self.0) * 1_000_000;
        let bound = if nanos < 0 { time::PrimitiveDateTime::MIN } else { time::PrimitiveDateTime::MAX };
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(bound.assume_utc());
        at.format(UTC_MILLIS).unwrap_or_default()
    }

    /// Reads a Graph `DateTimeOffset` (ISO 8601: `2019-09-09T14:33:30.8546353-07:00`), to the
    /// millisecond. A time without an offset is read as UTC: the Graph SDKs write a naive
    /// `datetime` that way, and Graph accepts it. `None` when `raw` is not such a time.
    pub fn parse_rfc3339(raw: &str) -> Option<Timestamp> {
        use time::format_description::well_known::Rfc3339;
        const NAIVE: &[time::format_description::FormatItem<'_>] =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
        let at = time::OffsetDateTime::parse(raw, &Rfc3339)
            .or_else(|_| time::PrimitiveDateTime::parse(raw, NAIVE).map(time::PrimitiveDateTime::assume_utc))
            .ok()?;
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok().map(Timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_millis() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(1_764_137_045_123).to_rfc3339(), "2025-11-26T06:04:05.123Z");
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp::LATEST.to_rfc3339(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Timestamp(Timestamp::LATEST.0 + 1).to_rfc3339(), "9999-12-31T23:59:59.999Z");
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
