//! Codec types for the VIC value formats that have no standard Rust type: IP
//! addresses and masks as raw bytes, IP networks, Go URLs, object references, Go time
//! strings, and primitive slices stored without their elements.
//!
//! ```
//! use vic_config::types::{Ip, IpMask, Timestamp};
//! let ip: Ip = "10.192.168.57".parse().unwrap();
//! assert_eq!(ip.octets(), [10, 192, 168, 57]);
//! assert_eq!(IpMask::v4_prefix(19).unwrap().to_string(), "ffffe000");
//! let t: Timestamp = "2009-11-10 23:00:00 +0000 UTC m=+0.000278696".parse().unwrap();
//! assert_eq!(t.to_string(), "2009-11-10 23:00:00 +0000 UTC");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::value::{decode_primitive_list, encode_primitive_list, parse_index};
use crate::{Decoder, Encoder, Error, KeyCtx, Locator, Secret, Value};

/// An IP address as VIC stores it: base64 of the raw bytes, in the 4-byte or the
/// 16-byte form it was written in (an IPv4 address in 16-byte form stays 16 bytes).
///
/// JSON: the usual text form (`10.192.168.57`, `::ffff:10.10.10.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ip {
    /// A 4-byte address.
    V4(Ipv4Addr),
    /// A 16-byte address (also IPv4-in-IPv6).
    V6(Ipv6Addr),
}

impl Default for Ip {
    fn default() -> Self {
        Ip::V4(Ipv4Addr::UNSPECIFIED)
    }
}

impl Ip {
    /// The raw bytes (4 or 16).
    pub fn octets(&self) -> Vec<u8> {
        match self {
            Ip::V4(a) => a.octets().to_vec(),
            Ip::V6(a) => a.octets().to_vec(),
        }
    }

    /// The address from 4 or 16 raw bytes.
    pub fn from_octets(raw: &[u8]) -> Option<Ip> {
        if let Ok(b) = <[u8; 4]>::try_from(raw) {
            return Some(Ip::V4(Ipv4Addr::from(b)));
        }
        <[u8; 16]>::try_from(raw)
            .ok()
            .map(|b| Ip::V6(Ipv6Addr::from(b)))
    }

    /// The standard library address; a 16-byte IPv4-mapped address becomes IPv4.
    pub fn to_ip_addr(&self) -> IpAddr {
        match self {
            Ip::V4(a) => IpAddr::V4(*a),
            Ip::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(*a)),
        }
    }
}

impl From<IpAddr> for Ip {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => Ip::V4(a),
            IpAddr::V6(a) => Ip::V6(a),
        }
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ip::V4(a) => a.fmt(f),
            Ip::V6(a) => a.fmt(f),
        }
    }
}

impl FromStr for Ip {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<IpAddr>().map(Ip::from)
    }
}

impl Serialize for Ip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn decode_base64(dec: &Decoder<'_>, ctx: &KeyCtx, text: &str) -> Result<Vec<u8>, Error> {
    STANDARD
        .decode(text.as_bytes())
        .map_err(|_| dec.invalid(ctx, "", text, "expected standard base64"))
}

impl Value for Ip {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        enc.put(ctx, "", STANDARD.encode(self.octets()))
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        let Some(text) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        let raw = decode_base64(dec, ctx, &text)?;
        *self = Ip::from_octets(&raw).ok_or_else(|| {
            dec.invalid(
                ctx,
                "",
                &text,
                "expected base64 of a 4- or 16-byte IP address",
            )
        })?;
        Ok(true)
    }
}

/// An IP mask as VIC stores it: base64 of the raw bytes (`///gAA==` is /19).
///
/// JSON: lower-case hex of the bytes, as Go prints masks (`ffffe000`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IpMask(pub Vec<u8>);

impl IpMask {
    /// A 4-byte mask of `prefix` leading ones (`None` past 32).
    pub fn v4_prefix(prefix: u8) -> Option<IpMask> {
        (prefix <= 32).then(|| {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpMask(bits.to_be_bytes().to_vec())
        })
    }

    /// The prefix length, when the mask is leading ones then zeros.
    pub fn prefix_len(&self) -> Option<u32> {
        let mut ones = 0;
        let mut seen_zero = false;
        for b in &self.0 {
            for i in (0..8).rev() {
                if b >> i & 1 == 1 {
                    if seen_zero {
                        return None;
                    }
                    ones += 1;
                } else {
                    seen_zero = true;
                }
            }
        }
        Some(ones)
    }
}

impl fmt::Display for IpMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl FromStr for IpMask {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("not a hex IP mask: {}", crate::error::quote(s));
        if s.len() % 2 != 0 || !s.is_ascii() {
            return Err(bad());
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| bad()))
            .collect::<Result<Vec<u8>, _>>()
            .map(IpMask)
    }
}

impl Serialize for IpMask {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpMask {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Value for IpMask {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        if self.0.is_empty() {
            // Go's nil mask: a nil byte slice writes nothing.
            return Ok(());
        }
        enc.put(ctx, "", STANDARD.encode(&self.0))
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        let Some(text) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        let raw = decode_base64(dec, ctx, &text)?;
        if raw.len() != 4 && raw.len() != 16 {
            return Err(dec.invalid(ctx, "", &text, "expected base64 of a 4- or 16-byte mask"));
        }
        self.0 = raw;
        Ok(true)
    }
}

/// An IP network: the address and the mask, each under a key of its own; either
/// may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IpNet {
    /// The address.
    pub ip: Option<Ip>,
    /// The mask.
    pub mask: Option<IpMask>,
}

crate::extra_config! { IpNet {
    ip: "IP",
    mask: "Mask",
}}

/// A Go `url.URL`: one key per component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Url {
    /// The scheme, e.g. `https`.
    pub scheme: String,
    /// The opaque part (`mailto:` style URLs).
    pub opaque: String,
    /// Host and port.
    pub host: String,
    /// Path, decoded.
    pub path: String,
    /// Path as encoded, when it differs from the default encoding.
    pub raw_path: String,
    /// Whether a `?` is written with an empty query.
    pub force_query: bool,
    /// Query, encoded, without the `?`.
    pub raw_query: String,
    /// Fragment, without the `#`.
    pub fragment: String,
}

crate::extra_config! { Url {
    scheme: "Scheme",
    opaque: "Opaque",
    host: "Host",
    path: "Path",
    raw_path: "RawPath",
    force_query: "ForceQuery",
    raw_query: "RawQuery",
    fragment: "Fragment",
}}

impl fmt::Display for Url {
    /// Roughly Go's `URL.String()`: `scheme://host/path?query#fragment`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.scheme.is_empty() {
            write!(f, "{}:", self.scheme)?;
        }
        if !self.opaque.is_empty() {
            f.write_str(&self.opaque)?;
        } else {
            if !self.scheme.is_empty() || !self.host.is_empty() {
                write!(f, "//{}", self.host)?;
            }
            f.write_str(&self.path)?;
        }
        if self.force_query || !self.raw_query.is_empty() {
            write!(f, "?{}", self.raw_query)?;
        }
        if !self.fragment.is_empty() {
            write!(f, "#{}", self.fragment)?;
        }
        Ok(())
    }
}

/// A managed object reference: its type and its ID, each under a key of its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectRef {
    /// The managed object type, e.g. `VirtualApp`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The managed object ID, e.g. `resgroup-v364`.
    pub value: String,
}

crate::extra_config! { ObjectRef {
    kind: "Type",
    value: "Value",
}}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

/// A Go time in its string form, `2009-11-10 23:00:00 +0000 UTC` (fraction of a
/// second when non-zero; a trailing monotonic-clock reading ` m=+0.000278696` is
/// accepted and dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the Unix epoch.
    pub unix_seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// Offset from UTC in seconds.
    pub offset_seconds: i32,
    /// Zone abbreviation as written (`UTC`, `PDT`, `+03`).
    pub zone: String,
}

impl Timestamp {
    /// A UTC time from Unix seconds and nanoseconds (nanoseconds past 10⁹ carry over).
    pub fn from_unix(unix_seconds: i64, nanos: u32) -> Self {
        Timestamp {
            unix_seconds: unix_seconds.saturating_add(i64::from(nanos / 1_000_000_000)),
            nanos: nanos % 1_000_000_000,
            offset_seconds: 0,
            zone: "UTC".to_owned(),
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits<T: FromStr>(s: &str, n: usize) -> Option<T> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl FromStr for Timestamp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |what: &str| {
            format!("expected a Go time like `2009-11-10 23:00:00 +0000 UTC` ({what})")
        };
        let mut parts = s.split(' ');
        let (Some(date), Some(time), Some(offset), Some(zone)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("too few parts"));
        };
        match parts.next() {
            None => {}
            Some(m) if m.starts_with("m=") && parts.next().is_none() => {}
            Some(_) => return Err(bad("unexpected trailing text")),
        }
        if zone.is_empty() {
            return Err(bad("no zone"));
        }
        // Date: [-]YYYY-MM-DD (years may have more digits).
        let (neg, date_body) = match date.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, date),
        };
        let mut dp = date_body.split('-');
        let (Some(ys), Some(ms), Some(ds), None) = (dp.next(), dp.next(), dp.next(), dp.next())
        else {
            return Err(bad("date"));
        };
        if ys.len() < 4 || ys.len() > 9 {
            return Err(bad("year"));
        }
        let year: i64 = digits(ys, ys.len()).ok_or_else(|| bad("year"))?;
        let year = if neg { -year } else { year };
        let month: u32 = digits(ms, 2).ok_or_else(|| bad("month"))?;
        let day: u32 = digits(ds, 2).ok_or_else(|| bad("day"))?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(bad("no such date"));
        }
        // Time: HH:MM:SS[.fraction]
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let mut tp = hms.split(':');
        let (Some(hs), Some(mis), Some(ss), None) = (tp.next(), tp.next(), tp.next(), tp.next())
        else {
            return Err(bad("time"));
        };
        let h: i64 = digits(hs, 2).ok_or_else(|| bad("hour"))?;
        let mi: i64 = digits(mis, 2).ok_or_else(|| bad("minute"))?;
        let sec: i64 = digits(ss, 2).ok_or_else(|| bad("second"))?;
        if h > 23 || mi > 59 || sec > 59 {
            return Err(bad("time out of range"));
        }
        let nanos = match frac {
            None => 0,
            Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
                let mut n: u32 = f.parse().map_err(|_| bad("fraction"))?;
                for _ in f.len()..9 {
                    n *= 10;
                }
                n
            }
            Some(_) => return Err(bad("fraction")),
        };
        // Offset: ±HHMM
        let (sign, off) = match offset.as_bytes().first() {
            Some(b'+') => (1, &offset[1..]),
            Some(b'-') => (-1, &offset[1..]),
            _ => return Err(bad("offset")),
        };
        let oh: i32 = digits(off.get(0..2).unwrap_or(""), 2).ok_or_else(|| bad("offset"))?;
        let om: i32 = digits(off.get(2..).unwrap_or(""), 2).ok_or_else(|| bad("offset"))?;
        if om > 59 {
            return Err(bad("offset"));
        }
        let offset_seconds = sign * (oh * 3600 + om * 60);
        let local = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec;
        Ok(Timestamp {
            unix_seconds: local - i64::from(offset_seconds),
            nanos,
            offset_seconds,
            zone: zone.to_owned(),
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self
            .unix_seconds
            .saturating_add(i64::from(self.offset_seconds));
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let secs = local.rem_euclid(86_400);
        if y < 0 {
            write!(f, "-{:04}", -y)?;
        } else {
            write!(f, "{y:04}")?;
        }
        write!(
            f,
            "-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos.min(999_999_999));
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        let (sign, off) = if self.offset_seconds < 0 {
            ('-', -i64::from(self.offset_seconds))
        } else {
            ('+', i64::from(self.offset_seconds))
        };
        write!(
            f,
            " {sign}{:02}{:02} {}",
            off / 3600,
            off / 60 % 60,
            self.zone
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Value for Timestamp {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        enc.put(ctx, "", self.to_string())
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        let Some(text) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        *self = text
            .parse()
            .map_err(|reason: String| dec.invalid(ctx, "", &text, &reason))?;
        Ok(true)
    }
}

/// A slice of primitives as found in VIC data: normally its elements, but the index
/// key may also be stored without the `key~` element list (VIC data in the field has
/// such withheld lists, e.g. `vic_machine_create_options`). Both forms round-trip.
///
/// JSON: the element array, or `{"last_index": N}` for a withheld list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StoredList<T> {
    /// The elements.
    Items(Vec<T>),
    /// Only the index key (last index) is stored; the elements were withheld.
    IndexOnly {
        /// The stored last index.
        last_index: u64,
    },
}

impl<T> Default for StoredList<T> {
    fn default() -> Self {
        StoredList::Items(Vec::new())
    }
}

impl<T> StoredList<T> {
    /// The elements, `None` when withheld.
    pub fn items(&self) -> Option<&[T]> {
        match self {
            StoredList::Items(v) => Some(v),
            StoredList::IndexOnly { .. } => None,
        }
    }
}

impl<T> From<Vec<T>> for StoredList<T> {
    fn from(v: Vec<T>) -> Self {
        StoredList::Items(v)
    }
}

impl<T: Value> Value for StoredList<T> {
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        match self {
            StoredList::Items(v) if v.is_empty() => Ok(()),
            StoredList::Items(v) if T::PRIMITIVE && !T::BYTE => encode_primitive_list(v, enc, ctx),
            StoredList::Items(v) => v.encode(enc, ctx),
            StoredList::IndexOnly { last_index } => enc.put(ctx, "", last_index.to_string()),
        }
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        if !T::PRIMITIVE || T::BYTE {
            let mut v = Vec::new();
            let found = v.decode(dec, ctx)?;
            if found {
                *self = StoredList::Items(v);
            }
            return Ok(found);
        }
        let Some(text) = dec.get(ctx, "")? else {
            return Ok(false);
        };
        let count = parse_index(dec, ctx, &text)?;
        *self = match decode_primitive_list(dec, ctx, count)? {
            Some(items) => StoredList::Items(items),
            None => StoredList::IndexOnly {
                last_index: count - 1,
            },
        };
        Ok(true)
    }
    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        loc.slice::<T>(ctx)
    }
}

impl<T: Value> Value for Secret<T> {
    const PRIMITIVE: bool = T::PRIMITIVE;
    fn to_text(&self) -> Result<String, String> {
        self.0.to_text()
    }
    fn from_text(text: &str) -> Result<Self, String> {
        T::from_text(text).map(Secret)
    }
    fn encode(&self, enc: &mut Encoder, ctx: &KeyCtx) -> Result<(), Error> {
        self.0.encode(enc, ctx)
    }
    fn decode(&mut self, dec: &mut Decoder<'_>, ctx: &KeyCtx) -> Result<bool, Error> {
        self.0.decode(dec, ctx)
    }
    fn locate(loc: &mut Locator<'_>, ctx: &KeyCtx) -> Result<(), Error> {
        T::locate(loc, ctx)
    }
}
