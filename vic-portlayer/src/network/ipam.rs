//! IP address management: subnets, address ranges, and address spaces that hand
//! out addresses, ranges and subnets from a pool.
//!
//! An [`AddressSpace`] is a pool (a subnet or a range, IPv4 or IPv6) and the
//! reservations made in it. Reservations are exact: reserving something that
//! overlaps a reservation is refused, and so is releasing something that is not
//! wholly reserved. Nothing here does I/O.
//!
//! ```
//! use vic_portlayer::network::ipam::{AddressSpace, Subnet};
//! let bridge: Subnet = "172.16.0.0/12".parse()?;
//! let mut carve = AddressSpace::from_subnet(bridge);
//! let first = carve.reserve_next_subnet(16)?;
//! assert_eq!(first.to_string(), "172.16.0.0/16");
//! let mut hosts = AddressSpace::hosts(first);
//! hosts.reserve_address("172.16.0.1".parse().unwrap())?; // the gateway
//! assert_eq!(hosts.reserve_next()?.to_string(), "172.16.0.2");
//! # Ok::<(), vic_portlayer::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// An address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (32 bits).
    V4,
    /// IPv6 (128 bits).
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
}

fn to_num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_num(family: Family, n: u128) -> IpAddr {
    match family {
        // Callers keep IPv4 numbers below 2^32; the mask is a guard, not a conversion.
        Family::V4 => IpAddr::V4(Ipv4Addr::from((n & u128::from(u32::MAX)) as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// The number of addresses in a block of prefix `prefix` of `family`, minus one
/// (so that a /0 of IPv6 fits).
fn span_of(family: Family, prefix: u8) -> u128 {
    let host_bits = u32::from(family.bits() - prefix);
    if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    }
}

/// VIC's default bridge range, `172.16.0.0/12`.
pub const DEFAULT_BRIDGE_RANGE: Subnet = Subnet {
    addr: IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)),
    prefix: 12,
};

/// An IP subnet: a network address (host bits zero) and a prefix length.
///
/// Text and JSON form: `172.16.0.0/16`, `fd00::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// The subnet `addr/prefix`. A prefix longer than the family's width or host
    /// bits set in `addr` is [`Error::InvalidInput`].
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Subnet> {
        let family = Family::of(addr);
        if prefix > family.bits() {
            return Err(Error::InvalidInput(format!(
                "prefix /{prefix} is longer than an {} address",
                if family == Family::V4 { "IPv4" } else { "IPv6" }
            )));
        }
        let n = to_num(addr);
        if n & span_of(family, prefix) != 0 {
            let network = from_num(family, n & !span_of(family, prefix));
            return Err(Error::InvalidInput(format!(
                "{addr}/{prefix} has host bits set (the subnet is {network}/{prefix})"
            )));
        }
        Ok(Subnet { addr, prefix })
    }

    /// The subnet of prefix `prefix` that contains `addr` (host bits cleared).
    pub fn containing(addr: IpAddr, prefix: u8) -> Result<Subnet> {
        let family = Family::of(addr);
        if prefix > family.bits() {
            return Err(Error::InvalidInput(format!(
                "prefix /{prefix} is too long for {addr}"
            )));
        }
        let n = to_num(addr) & !span_of(family, prefix);
        Ok(Subnet {
            addr: from_num(family, n),
            prefix,
        })
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.addr)
    }

    /// The mask as raw bytes (4 or 16), as vic-config stores masks.
    pub fn mask_bytes(&self) -> Vec<u8> {
        let mask = !span_of(self.family(), self.prefix);
        match self.family() {
            Family::V4 => ((mask & u128::from(u32::MAX)) as u32)
                .to_be_bytes()
                .to_vec(),
            Family::V6 => mask.to_be_bytes().to_vec(),
        }
    }

    /// The first address (the network address).
    pub fn first(&self) -> IpAddr {
        self.addr
    }

    /// The last address (the IPv4 broadcast address).
    pub fn last(&self) -> IpAddr {
        from_num(
            self.family(),
            to_num(self.addr) + span_of(self.family(), self.prefix),
        )
    }

    /// Every address of the subnet as a range.
    pub fn range(&self) -> AddrRange {
        AddrRange {
            first: self.first(),
            last: self.last(),
        }
    }

    /// The addresses hosts may take: without the IPv4 network and broadcast
    /// addresses (for prefixes up to /30) or the IPv6 subnet-router anycast address
    /// (up to /127). `None` when nothing is left.
    pub fn hosts(&self) -> Option<AddrRange> {
        let first = to_num(self.addr);
        let last = first + span_of(self.family(), self.prefix);
        let (first, last) = match self.family() {
            Family::V4 if self.prefix <= 30 => (first + 1, last - 1),
            Family::V6 if self.prefix <= 127 => (first + 1, last),
            _ => (first, last),
        };
        (first <= last).then(|| AddrRange {
            first: from_num(self.family(), first),
            last: from_num(self.family(), last),
        })
    }

    /// The `n`th address of the subnet (`0` is the network address), if it is in it.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        (n <= span_of(self.family(), self.prefix))
            .then(|| from_num(self.family(), to_num(self.addr) + n))
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(ip) == self.family() && self.range().contains(ip)
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.range().overlaps(&other.range())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = || Error::InvalidInput(format!("{s:?} is not a subnet (address/prefix)"));
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        Subnet::new(addr, prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of addresses of one family.
///
/// Text and JSON form: `172.16.0.10-172.16.0.20`; a subnet (`172.16.0.0/24`) also
/// parses, as all of its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange {
    first: IpAddr,
    last: IpAddr,
}

impl AddrRange {
    /// The range `first..=last`. Mixed families or `first > last` is
    /// [`Error::InvalidInput`].
    pub fn new(first: IpAddr, last: IpAddr) -> Result<AddrRange> {
        if Family::of(first) != Family::of(last) {
            return Err(Error::InvalidInput(format!(
                "range {first}-{last} mixes IPv4 and IPv6"
            )));
        }
        if to_num(first) > to_num(last) {
            return Err(Error::InvalidInput(format!(
                "range {first}-{last} is reversed"
            )));
        }
        Ok(AddrRange { first, last })
    }

    /// A range of one address.
    pub fn single(ip: IpAddr) -> AddrRange {
        AddrRange {
            first: ip,
            last: ip,
        }
    }

    /// The first address.
    pub fn first(&self) -> IpAddr {
        self.first
    }

    /// The last address.
    pub fn last(&self) -> IpAddr {
        self.last
    }

    /// The address family.
    pub fn family(&self) -> Family {
        Family::of(self.first)
    }

    /// How many addresses the range holds (saturating at `u128::MAX`).
    pub fn len(&self) -> u128 {
        (to_num(self.last) - to_num(self.first)).saturating_add(1)
    }

    /// Always false: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        Family::of(ip) == self.family()
            && (to_num(self.first)..=to_num(self.last)).contains(&to_num(ip))
    }

    /// Whether `other` lies wholly inside this range.
    pub fn contains_range(&self, other: &AddrRange) -> bool {
        self.contains(other.first) && self.contains(other.last)
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &AddrRange) -> bool {
        self.family() == other.family()
            && to_num(self.first) <= to_num(other.last)
            && to_num(other.first) <= to_num(self.last)
    }

    fn nums(&self) -> (u128, u128) {
        (to_num(self.first), to_num(self.last))
    }
}

impl From<Subnet> for AddrRange {
    fn from(s: Subnet) -> AddrRange {
        s.range()
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}-{}", self.first, self.last)
        }
    }
}

impl FromStr for AddrRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<AddrRange> {
        let s = s.trim();
        if s.contains('/') {
            return Ok(s.parse::<Subnet>()?.range());
        }
        let bad = || Error::InvalidInput(format!("{s:?} is not an address range (first-last)"));
        match s.split_once('-') {
            Some((a, b)) => AddrRange::new(
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            ),
            None => Ok(AddrRange::single(s.parse().map_err(|_| bad())?)),
        }
    }
}

impl Serialize for AddrRange {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddrRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A pool of addresses and the reservations made in it.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressSpace {
    pool: AddrRange,
    /// Disjoint, non-adjacent reserved intervals, start → end (inclusive).
    reserved: BTreeMap<u128, u128>,
}

impl AddressSpace {
    /// A space over every address of `range`.
    pub fn from_range(range: AddrRange) -> AddressSpace {
        AddressSpace {
            pool: range,
            reserved: BTreeMap::new(),
        }
    }

    /// A space over every address of `subnet` (what carving subnets out of a larger
    /// one wants).
    pub fn from_subnet(subnet: Subnet) -> AddressSpace {
        AddressSpace::from_range(subnet.range())
    }

    /// A space over the host addresses of `subnet` (see [`Subnet::hosts`]); a subnet
    /// too small for hosts gives a space over all of its addresses.
    pub fn hosts(subnet: Subnet) -> AddressSpace {
        AddressSpace::from_range(subnet.hosts().unwrap_or_else(|| subnet.range()))
    }

    /// The pool.
    pub fn pool(&self) -> AddrRange {
        self.pool
    }

    /// Whether `ip` is in the pool.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.pool.contains(ip)
    }

    /// Whether `ip` is reserved.
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        self.contains(ip) && self.find_overlap(to_num(ip), to_num(ip)).is_some()
    }

    /// How many addresses are still free (saturating).
    pub fn free(&self) -> u128 {
        let used = self
            .reserved
            .iter()
            .fold(0u128, |acc, (s, e)| acc.saturating_add(e - s + 1));
        self.pool.len().saturating_sub(used)
    }

    /// The reservations, merged into maximal ranges, lowest first.
    pub fn reservations(&self) -> Vec<AddrRange> {
        let family = self.pool.family();
        self.reserved
            .iter()
            .map(|(s, e)| AddrRange {
                first: from_num(family, *s),
                last: from_num(family, *e),
            })
            .collect()
    }

    /// Reserves one address.
    pub fn reserve_address(&mut self, ip: IpAddr) -> Result<()> {
        self.reserve_range(AddrRange::single(ip))
    }

    /// Reserves every address of `range`; any of them outside the pool is
    /// [`Error::InvalidInput`], any already reserved is [`Error::Exists`].
    pub fn reserve_range(&mut self, range: AddrRange) -> Result<()> {
        self.check_inside(&range)?;
        let (s, e) = range.nums();
        if let Some((os, oe)) = self.find_overlap(s, e) {
            let family = self.pool.family();
            return Err(Error::Exists {
                kind: "address reservation",
                id: format!(
                    "{} (overlaps {range})",
                    AddrRange {
                        first: from_num(family, os.max(s)),
                        last: from_num(family, oe.min(e)),
                    }
                ),
            });
        }
        self.insert(s, e);
        Ok(())
    }

    /// Reserves every address of `subnet`.
    pub fn reserve_subnet(&mut self, subnet: Subnet) -> Result<()> {
        self.reserve_range(subnet.range())
    }

    /// Reserves and returns the lowest free address; none free is
    /// [`Error::InUse`] (the space is exhausted).
    pub fn reserve_next(&mut self) -> Result<IpAddr> {
        let pool = self.pool;
        self.reserve_next_within(&[pool])
    }

    /// Reserves and returns the lowest free address inside one of `ranges` (parts
    /// outside the pool are ignored); none free is [`Error::InUse`].
    pub fn reserve_next_within(&mut self, ranges: &[AddrRange]) -> Result<IpAddr> {
        let (ps, pe) = self.pool.nums();
        let mut ordered: Vec<(u128, u128)> = ranges
            .iter()
            .filter(|r| r.family() == self.pool.family())
            .map(|r| r.nums())
            .map(|(s, e)| (s.max(ps), e.min(pe)))
            .filter(|(s, e)| s <= e)
            .collect();
        ordered.sort_unstable();
        for (s, e) in ordered {
            if let Some(n) = self.first_free(s, e) {
                self.insert(n, n);
                return Ok(from_num(self.pool.family(), n));
            }
        }
        Err(self.exhausted())
    }

    /// Reserves and returns the lowest free, aligned subnet of prefix `prefix`
    /// wholly inside the pool; none free is [`Error::InUse`], a prefix shorter than
    /// the pool allows or longer than the family's width is [`Error::InvalidInput`].
    pub fn reserve_next_subnet(&mut self, prefix: u8) -> Result<Subnet> {
        let family = self.pool.family();
        if prefix > family.bits() {
            return Err(Error::InvalidInput(format!("prefix /{prefix} is too long")));
        }
        let span = span_of(family, prefix);
        let (ps, pe) = self.pool.nums();
        if span > pe - ps {
            return Err(Error::InvalidInput(format!(
                "a /{prefix} does not fit in {}",
                self.pool
            )));
        }
        // The lowest aligned start at or after `n`, if it exists.
        let align = |n: u128| -> Option<u128> {
            if n & span == 0 {
                Some(n)
            } else {
                (n | span).checked_add(1)
            }
        };
        let mut cand = align(ps);
        while let Some(s) = cand {
            let Some(e) = s.checked_add(span) else { break };
            if e > pe {
                break;
            }
            match self.find_overlap(s, e) {
                None => {
                    self.insert(s, e);
                    return Subnet::new(from_num(family, s), prefix);
                }
                Some((_, oe)) => cand = oe.checked_add(1).and_then(align),
            }
        }
        Err(self.exhausted())
    }

    /// Releases one reserved address.
    pub fn release_address(&mut self, ip: IpAddr) -> Result<()> {
        self.release_range(AddrRange::single(ip))
    }

    /// Releases every address of `range`; all of them must be reserved, else
    /// nothing is released and the answer is [`Error::NotFound`].
    pub fn release_range(&mut self, range: AddrRange) -> Result<()> {
        self.check_inside(&range)?;
        let (s, e) = range.nums();
        // Intervals are merged, so a wholly reserved range sits in one interval.
        let holder = self
            .reserved
            .range(..=s)
            .next_back()
            .map(|(a, b)| (*a, *b))
            .filter(|(_, b)| *b >= e);
        let Some((hs, he)) = holder else {
            return Err(Error::not_found("address reservation", range.to_string()));
        };
        self.reserved.remove(&hs);
        if hs < s {
            self.reserved.insert(hs, s - 1);
        }
        if e < he {
            self.reserved.insert(e + 1, he);
        }
        Ok(())
    }

    /// Releases every address of `subnet`.
    pub fn release_subnet(&mut self, subnet: Subnet) -> Result<()> {
        self.release_range(subnet.range())
    }

    fn check_inside(&self, range: &AddrRange) -> Result<()> {
        if !self.pool.contains_range(range) {
            return Err(Error::InvalidInput(format!(
                "{range} is outside the address space {}",
                self.pool
            )));
        }
        Ok(())
    }

    fn exhausted(&self) -> Error {
        Error::InUse {
            kind: "address space",
            id: self.pool.to_string(),
            by: "reservations (no free address or subnet of that size is left)".into(),
        }
    }

    /// The first reserved interval that overlaps `s..=e`.
    fn find_overlap(&self, s: u128, e: u128) -> Option<(u128, u128)> {
        if let Some((a, b)) = self.reserved.range(..=s).next_back() {
            if *b >= s {
                return Some((*a, *b));
            }
        }
        self.reserved.range(s..=e).next().map(|(a, b)| (*a, *b))
    }

    /// The lowest free number in `s..=e`.
    fn first_free(&self, s: u128, e: u128) -> Option<u128> {
        let mut n = s;
        loop {
            match self.find_overlap(n, n) {
                None => return Some(n),
                Some((_, oe)) => {
                    if oe >= e {
                        return None;
                    }
                    n = oe + 1;
                }
            }
        }
    }

    /// Inserts a free interval, merging it with adjacent ones.
    fn insert(&mut self, mut s: u128, mut e: u128) {
        if let Some((a, b)) = s
            .checked_sub(1)
            .and_then(|p| self.reserved.range(..=p).next_back())
            .map(|(a, b)| (*a, *b))
        {
            if b.checked_add(1) == Some(s) {
                self.reserved.remove(&a);
                s = a;
            }
        }
        if let Some(next) = e.checked_add(1) {
            if let Some(b) = self.reserved.remove(&next) {
                e = b;
            }
        }
        self.reserved.insert(s, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> Subnet {
        s.parse().unwrap()
    }

    #[test]
    fn subnets_parse_and_describe() {
        let s = net("172.16.0.0/16");
        assert_eq!(s.to_string(), "172.16.0.0/16");
        assert_eq!(s.last(), ip("172.16.255.255"));
        assert_eq!(s.mask_bytes(), vec![255, 255, 0, 0]);
        assert_eq!(s.hosts().unwrap().to_string(), "172.16.0.1-172.16.255.254");
        assert_eq!(s.nth(1), Some(ip("172.16.0.1")));
        assert_eq!(s.nth(1 << 16), None);
        assert!(s.contains(ip("172.16.3.4")));
        assert!(!s.contains(ip("172.17.0.0")));
        assert!(!s.contains(ip("::1")));
        assert!(matches!(
            "172.16.0.1/16".parse::<Subnet>(),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            "172.16.0.0/33".parse::<Subnet>(),
            Err(Error::InvalidInput(_))
        ));
        assert!("nonsense".parse::<Subnet>().is_err());
        assert_eq!(
            Subnet::containing(ip("10.1.2.3"), 8).unwrap(),
            net("10.0.0.0/8")
        );
        assert!(net("10.0.0.0/8").overlaps(&net("10.3.0.0/16")));
        assert!(!net("10.0.0.0/16").overlaps(&net("10.1.0.0/16")));
        let v6 = net("fd00::/64");
        assert_eq!(v6.hosts().unwrap().first(), ip("fd00::1"));
        assert_eq!(net("0.0.0.0/0").last(), ip("255.255.255.255"));
        assert_eq!(
            net("::/0").last(),
            ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        );
        assert_eq!(net("10.0.0.4/31").hosts().unwrap().len(), 2);
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"172.16.0.0/16\"");
        assert_eq!(serde_json::from_str::<Subnet>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Subnet>("\"1.2.3.4/8\"").is_err());
    }

    #[test]
    fn ranges_parse() {
        let r: AddrRange = "10.0.0.10-10.0.0.20".parse().unwrap();
        assert_eq!(r.len(), 11);
        assert_eq!(r.to_string(), "10.0.0.10-10.0.0.20");
        assert_eq!("10.0.0.0/30".parse::<AddrRange>().unwrap().len(), 4);
        assert_eq!("10.0.0.7".parse::<AddrRange>().unwrap().len(), 1);
        assert!("10.0.0.20-10.0.0.10".parse::<AddrRange>().is_err());
        assert!("10.0.0.1-::1".parse::<AddrRange>().is_err());
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<AddrRange>(&json).unwrap(), r);
    }

    #[test]
    fn ipam_next_free_and_release() {
        let mut a = AddressSpace::hosts(net("10.0.0.0/29")); // .1 - .6
        a.reserve_address(ip("10.0.0.1")).unwrap();
        assert_eq!(a.reserve_next().unwrap(), ip("10.0.0.2"));
        assert_eq!(a.reserve_next().unwrap(), ip("10.0.0.3"));
        a.release_address(ip("10.0.0.2")).unwrap();
        // The hole is reused first.
        assert_eq!(a.reserve_next().unwrap(), ip("10.0.0.2"));
        assert_eq!(a.free(), 3);
        for want in ["10.0.0.4", "10.0.0.5", "10.0.0.6"] {
            assert_eq!(a.reserve_next().unwrap(), ip(want));
        }
        let err = a.reserve_next().unwrap_err();
        assert!(
            matches!(
                err,
                Error::InUse {
                    kind: "address space",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(a.free(), 0);
        assert_eq!(a.reservations(), vec!["10.0.0.1-10.0.0.6".parse().unwrap()]);
    }

    #[test]
    fn ipam_errors_change_nothing() {
        let mut a = AddressSpace::hosts(net("10.0.0.0/24"));
        a.reserve_address(ip("10.0.0.1")).unwrap();
        let before = a.clone();
        // Double reservation.
        assert!(matches!(
            a.reserve_address(ip("10.0.0.1")),
            Err(Error::Exists { .. })
        ));
        assert!(matches!(
            a.reserve_range("10.0.0.0-10.0.0.5".parse().unwrap()),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            a.reserve_range("10.0.0.1-10.0.0.5".parse().unwrap()),
            Err(Error::Exists { .. })
        ));
        // Outside the space (and the network/broadcast addresses are not hosts).
        for bad in ["10.0.1.1", "10.0.0.0", "10.0.0.255", "fd00::1"] {
            assert!(
                matches!(a.reserve_address(ip(bad)), Err(Error::InvalidInput(_))),
                "{bad}"
            );
        }
        // Releasing what is not reserved.
        assert!(a
            .release_address(ip("10.0.0.2"))
            .unwrap_err()
            .is_not_found());
        assert!(a
            .release_range("10.0.0.1-10.0.0.2".parse().unwrap())
            .unwrap_err()
            .is_not_found());
        assert_eq!(a, before);
    }

    #[test]
    fn ipam_ranges_split_and_merge() {
        let mut a = AddressSpace::from_subnet(net("192.168.0.0/24"));
        a.reserve_range("192.168.0.10-192.168.0.20".parse().unwrap())
            .unwrap();
        a.reserve_range("192.168.0.21-192.168.0.30".parse().unwrap())
            .unwrap();
        assert_eq!(a.reservations().len(), 1, "adjacent ranges merge");
        // Part of a reservation can be released, which splits it.
        a.release_range("192.168.0.15-192.168.0.16".parse().unwrap())
            .unwrap();
        assert_eq!(
            a.reservations(),
            vec![
                "192.168.0.10-192.168.0.14".parse().unwrap(),
                "192.168.0.17-192.168.0.30".parse().unwrap()
            ]
        );
        assert!(a.is_reserved(ip("192.168.0.14")));
        assert!(!a.is_reserved(ip("192.168.0.15")));
        // A release spanning the hole is refused.
        assert!(a
            .release_range("192.168.0.14-192.168.0.17".parse().unwrap())
            .unwrap_err()
            .is_not_found());
        a.reserve_subnet(net("192.168.0.128/25")).unwrap();
        assert!(a.is_reserved(ip("192.168.0.255")));
        a.release_subnet(net("192.168.0.128/25")).unwrap();
        assert!(!a.is_reserved(ip("192.168.0.200")));
        // Next free within a limited set of ranges.
        let only: AddrRange = "192.168.0.12-192.168.0.18".parse().unwrap();
        assert_eq!(a.reserve_next_within(&[only]).unwrap(), ip("192.168.0.15"));
        assert_eq!(a.reserve_next_within(&[only]).unwrap(), ip("192.168.0.16"));
        assert!(matches!(
            a.reserve_next_within(&[only]),
            Err(Error::InUse { .. })
        ));
    }

    #[test]
    fn ipam_subnets_carved_from_a_range() {
        let mut bridge = AddressSpace::from_subnet(net("172.16.0.0/12"));
        assert_eq!(
            bridge.reserve_next_subnet(16).unwrap(),
            net("172.16.0.0/16")
        );
        bridge.reserve_subnet(net("172.18.0.0/16")).unwrap();
        assert_eq!(
            bridge.reserve_next_subnet(16).unwrap(),
            net("172.17.0.0/16")
        );
        assert_eq!(
            bridge.reserve_next_subnet(16).unwrap(),
            net("172.19.0.0/16")
        );
        // A smaller block fits into the next gap, aligned.
        assert_eq!(
            bridge.reserve_next_subnet(24).unwrap(),
            net("172.20.0.0/24")
        );
        assert_eq!(
            bridge.reserve_next_subnet(16).unwrap(),
            net("172.21.0.0/16")
        );
        assert!(matches!(
            bridge.reserve_subnet(net("172.16.5.0/24")),
            Err(Error::Exists { .. })
        ));
        bridge.release_subnet(net("172.17.0.0/16")).unwrap();
        assert_eq!(
            bridge.reserve_next_subnet(16).unwrap(),
            net("172.17.0.0/16")
        );
        // Exhaustion: 16 /16s in a /12.
        let mut n = 0;
        while bridge.reserve_next_subnet(16).is_ok() {
            n += 1;
        }
        assert_eq!(n, 10, "172.22 to 172.31 were left");
        assert!(matches!(
            bridge.reserve_next_subnet(16),
            Err(Error::InUse { .. })
        ));
        assert!(matches!(
            bridge.reserve_next_subnet(8),
            Err(Error::InvalidInput(_))
        ));
        // A whole-pool block.
        let mut small = AddressSpace::from_subnet(net("10.0.0.0/24"));
        assert_eq!(small.reserve_next_subnet(24).unwrap(), net("10.0.0.0/24"));
    }

    #[test]
    fn ipam_v6() {
        let mut a = AddressSpace::hosts(net("fd00:1::/120"));
        assert_eq!(a.reserve_next().unwrap(), ip("fd00:1::1"));
        a.reserve_address(ip("fd00:1::ff")).unwrap();
        assert!(a.reserve_address(ip("10.0.0.1")).is_err());
        let mut all = AddressSpace::from_subnet(net("::/0"));
        assert_eq!(all.reserve_next_subnet(64).unwrap(), net("::/64"));
        assert_eq!(all.reserve_next_subnet(64).unwrap(), net("0:0:0:1::/64"));
        // The pool's size saturates at u128::MAX (one short of 2^128).
        assert_eq!(all.free(), u128::MAX - (2u128 << 64));
    }
}
