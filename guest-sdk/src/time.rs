//! [`Timestamp`]: milliseconds since the Unix epoch, shown as RFC 3339 UTC.

use std::fmt;

use serde::{Serialize, Serializer};

/// A point in time with millisecond precision (milliseconds since the Unix epoch, UTC).
///
/// It serializes as an RFC 3339 UTC string with milliseconds, `2026-01-11T19:30:00.000Z`,
/// which is also its [`Display`](fmt::Display) form.
///
/// # Examples
///
/// ```
/// use sluice_sdk::Timestamp;
///
/// let t = Timestamp::from_millis(1_768_159_800_123);
/// assert_eq!(t.to_rfc3339(), "2026-01-11T19:30:00.123Z");
/// assert_eq!(t.to_rfc3339_seconds(), "2026-01-11T19:30:00Z");
/// assert_eq!(sluice_sdk::json!({ "at": t }).to_string(), r#"{"at":"2026-01-11T19:30:00.123Z"}"#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    millis: u64,
}

impl Timestamp {
    /// The host's current time.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let started = sluice_sdk::Timestamp::now();
    /// sluice_sdk::log(sluice_sdk::Level::Info, format!("started at {started}"));
    /// ```
    pub fn now() -> Self {
        Self::from_millis(crate::sys::now())
    }

    /// The time `millis` milliseconds after the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// let epoch = sluice_sdk::Timestamp::from_millis(0);
    /// assert_eq!(epoch.to_string(), "1970-01-01T00:00:00.000Z");
    /// ```
    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(sluice_sdk::Timestamp::from_millis(42).as_millis(), 42);
    /// ```
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// RFC 3339 UTC with milliseconds: `2026-01-11T19:30:00.123Z`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = sluice_sdk::Timestamp::from_millis(1_768_159_800_000);
    /// assert_eq!(t.to_rfc3339(), "2026-01-11T19:30:00.000Z");
    /// ```
    pub fn to_rfc3339(self) -> String {
        Rfc3339::new(self, true).as_str().to_owned()
    }

    /// RFC 3339 UTC at whole seconds (milliseconds dropped): `2026-01-11T19:30:00Z`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = sluice_sdk::Timestamp::from_millis(1_768_159_800_999);
    /// assert_eq!(t.to_rfc3339_seconds(), "2026-01-11T19:30:00Z");
    /// ```
    pub fn to_rfc3339_seconds(self) -> String {
        Rfc3339::new(self, false).as_str().to_owned()
    }
}

/// RFC 3339 text in a buffer on the stack: every event a stream maps serializes its
/// timestamp, and `format!` would cost several allocations each time.
struct Rfc3339 {
    /// Up to a 9-digit year (`u64` milliseconds reach year 584,556,019), then
    /// `-MM-DDThh:mm:ss.mmmZ`.
    bytes: [u8; 32],
    len: usize,
}

impl Rfc3339 {
    fn new(timestamp: Timestamp, with_millis: bool) -> Self {
        let seconds = timestamp.millis / 1000;
        let of_day = seconds % 86_400;
        let (year, month, day) = civil_from_days(seconds / 86_400);
        let mut text = Self {
            bytes: [0; 32],
            len: 0,
        };
        text.number(year, 4);
        text.byte(b'-');
        text.number(month, 2);
        text.byte(b'-');
        text.number(day, 2);
        text.byte(b'T');
        text.number(of_day / 3600, 2);
        text.byte(b':');
        text.number(of_day / 60 % 60, 2);
        text.byte(b':');
        text.number(of_day % 60, 2);
        if with_millis {
            text.byte(b'.');
            text.number(timestamp.millis % 1000, 3);
        }
        text.byte(b'Z');
        text
    }

    fn byte(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    /// `n` in decimal, zero-padded to at least `width` digits.
    fn number(&mut self, mut n: u64, width: usize) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for _ in digits.len() - start..width {
            self.byte(b'0');
        }
        for &digit in &digits[start..] {
            self.byte(digit);
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Proleptic Gregorian date of `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`,
/// restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Rfc3339::new(*self, true).as_str())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Rfc3339::new(*self, true).as_str())
    }
}

impl From<Timestamp> for u64 {
    fn from(timestamp: Timestamp) -> Self {
        timestamp.millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_formats_as_1970() {
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(0).to_rfc3339_seconds(),
            "1970-01-01T00:00:00Z"
        );
    }

    #[test]
    fn milliseconds_are_zero_padded() {
        assert_eq!(
            Timestamp::from_millis(7).to_rfc3339(),
            "1970-01-01T00:00:00.007Z"
        );
        assert_eq!(
            Timestamp::from_millis(1_070).to_rfc3339(),
            "1970-01-01T00:00:01.070Z"
        );
    }

    #[test]
    fn leap_days_and_year_ends_are_right() {
        // 2024-02-29T23:59:59.999Z
        assert_eq!(
            Timestamp::from_millis(1_709_251_199_999).to_rfc3339(),
            "2024-02-29T23:59:59.999Z"
        );
        // 2024-03-01T00:00:00Z
        assert_eq!(
            Timestamp::from_millis(1_709_251_200_000).to_rfc3339(),
            "2024-03-01T00:00:00.000Z"
        );
        // 2000-02-29 (divisible by 400) and 2100-03-01 (2100 is not a leap year).
        assert_eq!(
            Timestamp::from_millis(951_782_400_000).to_rfc3339_seconds(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_millis(4_107_542_400_000).to_rfc3339_seconds(),
            "2100-03-01T00:00:00Z"
        );
        // 1999-12-31T23:59:59Z
        assert_eq!(
            Timestamp::from_millis(946_684_799_000).to_rfc3339_seconds(),
            "1999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn the_documents_heartbeat_time_formats_at_seconds() {
        assert_eq!(
            Timestamp::from_millis(1_768_159_800_000).to_rfc3339_seconds(),
            "2026-01-11T19:30:00Z"
        );
    }

    #[test]
    fn serializes_as_an_rfc3339_string() {
        let json = serde_json::to_string(&Timestamp::from_millis(1_768_159_800_123)).unwrap();
        assert_eq!(json, r#""2026-01-11T19:30:00.123Z""#);
    }

    #[test]
    fn the_text_matches_zero_padded_formatting_up_to_the_largest_timestamp() {
        let reference = |millis: u64, with_millis: bool| {
            let seconds = millis / 1000;
            let of_day = seconds % 86_400;
            let (year, month, day) = civil_from_days(seconds / 86_400);
            let (h, m, s) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
            let fraction = if with_millis {
                format!(".{:03}", millis % 1000)
            } else {
                String::new()
            };
            format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
        };
        let mut millis = 7u64;
        let mut samples = vec![0, 999, 1000, 253_402_300_799_999, u64::MAX];
        for _ in 0..2000 {
            millis = millis
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            samples.push(millis >> (millis % 24));
        }
        for millis in samples {
            let t = Timestamp::from_millis(millis);
            assert_eq!(t.to_rfc3339(), reference(millis, true), "{millis}");
            assert_eq!(t.to_rfc3339_seconds(), reference(millis, false), "{millis}");
        }
    }

    #[test]
    fn every_day_of_a_span_round_trips_through_a_date_counter() {
        // Walk day by day from 1970 to 2100 and check the date advances by exactly one day.
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..(130 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let month_len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ][m as usize - 1];
            d += 1;
            if d > month_len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
