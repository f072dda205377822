//! `xsd:dateTime` text (RFC 3339) to and from [`SystemTime`]: what
//! [`DateTime`] holds, as a point in time.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use vim25_core::date_time::{format, parse};
//!
//! let t = parse("2026-11-23T13:00:00.5+01:00").unwrap();
//! assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_795_435_200_500));
//! assert_eq!(format(t).unwrap(), "2026-11-23T12:00:00.5Z");
//! ```

use crate::types::DateTime;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an `xsd:dateTime` / RFC 3339 timestamp (`2026-11-23T12:00:00.123Z`,
/// `2026-11-23T13:00:00+01:00`; without an offset it is read as UTC). Years have
/// exactly four digits; fractions beyond nanoseconds are dropped; a leap second
/// (`:60`) is the first second of the next minute. `None` when `s` is not one.
pub fn parse(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| digits(s, from, len);
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Nanosecond precision: further digits are dropped.
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - kept.len() as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (digits(rest, 1, 2)?, digits(rest, 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    })
}

/// `t` in UTC, in the form [`parse`] reads back to exactly `t`:
/// `2026-11-23T12:00:00Z`, with a fraction (nanoseconds, trailing zeros dropped)
/// when `t` has one. `None` when `t` falls outside the years 0000 to 9999, which
/// four-digit years cannot write.
pub fn format(t: SystemTime) -> Option<String> {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).ok()?;
            match d.subsec_nanos() {
                0 => (secs.checked_neg()?, 0),
                n => ((-secs).checked_sub(1)?, 1_000_000_000 - n),
            }
        }
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

impl DateTime {
    /// The point in time this text names (see [`parse`]); `None` when it is not an
    /// `xsd:dateTime`.
    pub fn to_system_time(&self) -> Option<SystemTime> {
        parse(self.as_str())
    }

    /// `t` as UTC text (see [`format()`]); `None` outside the years 0000 to 9999.
    pub fn from_system_time(t: SystemTime) -> Option<DateTime> {
        format(t).map(DateTime)
    }
}

/// The number written with exactly `len` decimal digits at `from`.
fn digits(s: &str, from: usize, len: usize) -> Option<i64> {
    let part = s.get(from..from + len)?;
    part.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| part.parse().ok())?
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's
/// algorithm: years start in March so the leap day comes last).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of the `days`th day after 1970-01-01 (the inverse
/// of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
