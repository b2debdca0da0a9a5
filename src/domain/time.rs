//! Time as EmoteChat keeps it: whole milliseconds since the Unix epoch, written as RFC 3339,
//! and in the date forms of mail and HTTP headers. Uses std only (no time crate).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time in whole milliseconds since the Unix epoch, UTC: how the database stores
/// time, shown to clients as RFC 3339 with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Timestamp {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn plus_minutes(self, minutes: u32) -> Timestamp {
        Timestamp(self.0 + i64::from(minutes) * 60_000)
    }

    pub fn plus_days(self, days: u32) -> Timestamp {
        self.plus_minutes(days * 24 * 60)
    }

    /// Splits into calendar fields (UTC): year, month, day, hour, minute, second, millisecond,
    /// and the weekday (0 = Monday).
    fn civil(self) -> Civil {
        let millis = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day % 3600 / 60,
            second: of_day % 60,
            millis,
            // 1970-01-01 was a Thursday (3 when Monday is 0).
            weekday: (days + 3).rem_euclid(7),
        }
    }

    /// The date form of RFC 5322 (e-mail `Date:` header), always in UTC.
    pub fn to_rfc5322(self) -> String {
        format!("{} +0000", self.day_and_time())
    }

    /// The HTTP `Date:` form (RFC 9110 IMF-fixdate), e.g. `Thu, 26 Nov 2026 11:41:34 GMT`.
    pub fn to_http_date(self) -> String {
        format!("{} GMT", self.day_and_time())
    }

    /// `Thu, 26 Nov 2026 11:41:34`: the part the mail and HTTP date forms share.
    fn day_and_time(self) -> String {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let c = self.civil();
        format!(
            "{}, {:02} {} {} {:02}:{:02}:{:02}",
            DAYS[c.weekday as usize],
            c.day,
            MONTHS[(c.month - 1) as usize],
            c.year,
            c.hour,
            c.minute,
            c.second
        )
    }

    /// RFC 3339 written digit by digit: every message of a history page carries one or two,
    /// and going through `format!` cost more than the rest of the JSON. `None` for a year
    /// outside 0–9999, which `Display` writes the slow way.
    fn rfc3339(self) -> Option<[u8; 24]> {
        let c = self.civil();
        if !(0..=9999).contains(&c.year) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        put(0, 4, c.year);
        put(5, 2, c.month);
        put(8, 2, c.day);
        put(11, 2, c.hour);
        put(14, 2, c.minute);
        put(17, 2, c.second);
        put(20, 3, c.millis);
        Some(out)
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-26T11:41:34.512Z`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.rfc3339() {
            // Only ASCII digits and separators were written.
            return f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?);
        }
        let c = self.civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.rfc3339() {
            Some(text) => serializer
                .serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?),
            None => serializer.collect_str(self),
        }
    }
}

struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    weekday: i64,
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn timestamps_written_digit_by_digit_match_the_formatted_ones() {
        let formatted = |t: Timestamp| {
            let c = t.civil();
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
            )
        };
        // Every day of four centuries, at a time that moves through all digit positions.
        for day in -146_097..146_097_i64 {
            let t = Timestamp(day * 86_400_000 + (day.rem_euclid(86_400_000) * 7_919) % 86_400_000);
            assert_eq!(t.to_string(), formatted(t));
            assert_eq!(
                serde_json::to_string(&t).expect("json"),
                format!("\"{}\"", formatted(t))
            );
        }
        let year_10000 = Timestamp(253_402_300_800_000);
        assert_eq!(year_10000.to_string(), "10000-01-01T00:00:00.000Z");
        assert_eq!(
            serde_json::to_string(&year_10000).expect("json"),
            "\"10000-01-01T00:00:00.000Z\""
        );
    }

    #[test]
    fn timestamps_format_as_rfc3339_with_millis() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_795_693_294_512).to_string(),
            "2026-11-26T11:41:34.512Z"
        );
        // a leap day, and a date before the epoch
        assert_eq!(
            Timestamp(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn timestamps_format_for_mail_headers() {
        assert_eq!(
            Timestamp(1_795_693_294_512).to_rfc5322(),
            "Thu, 26 Nov 2026 11:41:34 +0000"
        );
        assert_eq!(Timestamp(0).to_rfc5322(), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(Timestamp(0).to_http_date(), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
