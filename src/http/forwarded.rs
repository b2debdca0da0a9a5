//! Who the client is behind a reverse proxy: the proxies `--trust-proxy` names (addresses or
//! CIDR ranges) and the standard `X-Forwarded-For` rule. Each proxy appends the address it
//! got the request from, so reading the list from the right, every entry up to and including
//! the first that is not a trusted proxy was written by a proxy we trust; anything further
//! left came from the client and may be forged.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// An address range such as `10.0.0.0/8` or `fd00::/8`; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u32,
}

impl IpRange {
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address.to_canonical()) {
            (IpAddr::V4(base), IpAddr::V4(address)) => same_prefix(
                u32::from(base).into(),
                u32::from(address).into(),
                32,
                self.prefix,
            ),
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                same_prefix(u128::from(base), u128::from(address), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// True if the first `prefix` of the `bits` low bits of `a` and `b` agree.
fn same_prefix(a: u128, b: u128, bits: u32, prefix: u32) -> bool {
    let shift = bits - prefix;
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

impl FromStr for IpRange {
    type Err = ();

    fn from_str(text: &str) -> Result<IpRange, ()> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let base = address.parse::<IpAddr>().map_err(|_| ())?.to_canonical();
        let bits = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse::<u32>().map_err(|_| ())?
            }
            Some(_) => return Err(()),
        };
        if prefix > bits {
            return Err(());
        }
        Ok(IpRange { base, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed; none by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpRange>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpRange>) -> TrustedProxies {
        TrustedProxies(ranges)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(address))
    }

    /// The client of a request from `peer` with these `X-Forwarded-For` header values (every
    /// header line, in order, each possibly a comma list). A peer that is not a trusted proxy
    /// is the client itself. Otherwise the client is the right-most address that is not a
    /// trusted proxy; if all are trusted, the left-most. An entry that is not an address ends
    /// the walk at the last proxy that vouched for it, rather than skipping to what the client
    /// may have written further left.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded
            .into_iter()
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(address) = hop_address(hop) else {
                break;
            };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:80`) or in brackets, as some proxies write them.
fn hop_address(hop: &str) -> Option<IpAddr> {
    let bare = hop
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(hop);
    bare.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|item| item.parse().expect("range"))
                .collect(),
        )
    }

    #[test]
    fn ranges_parse_addresses_and_cidr_in_both_families() {
        let range = |text: &str| text.parse::<IpRange>();
        assert!(range("10.0.0.0/8").expect("v4").contains(ip("10.200.3.4")));
        assert!(!range("10.0.0.0/8").expect("v4").contains(ip("11.0.0.1")));
        assert!(range("10.1.2.3").expect("one").contains(ip("10.1.2.3")));
        assert!(!range("10.1.2.3").expect("one").contains(ip("10.1.2.4")));
        assert!(range("0.0.0.0/0").expect("all").contains(ip("203.0.113.9")));
        assert!(
            !range("0.0.0.0/0")
                .expect("all v4")
                .contains(ip("2001:db8::1"))
        );
        let v6 = range("2001:db8::/32").expect("v6");
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(range("::1/128").expect("v6 one").contains(ip("::1")));
        assert!(range("::/0").expect("all v6").contains(ip("fe80::1")));
        // A client seen through a dual-stack socket as ::ffff:a.b.c.d is the IPv4 address.
        assert!(
            range("192.0.2.0/24")
                .expect("v4")
                .contains(ip("::ffff:192.0.2.7"))
        );
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "localhost",
            "10.0.0/8",
            "",
        ] {
            assert!(range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_peer_that_is_not_a_trusted_proxy_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            trusted.client(ip("203.0.113.5"), ["1.2.3.4"]),
            ip("203.0.113.5")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), ["1.2.3.4"]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_client_is_the_right_most_address_not_trusted() {
        let trusted = proxies(&["10.0.0.0/8", "2001:db8::/32"]);
        let proxy = ip("10.0.0.1");
        assert_eq!(
            trusted.client(proxy, ["1.2.3.4, 198.51.100.7, 10.9.9.9"]),
            ip("198.51.100.7")
        );
        // Several header lines are one list, in order.
        assert_eq!(
            trusted.client(proxy, ["1.2.3.4", "198.51.100.7,10.1.1.1", "10.2.2.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client(proxy, ["198.51.100.7", "2001:db8::5"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client(proxy, ["2001:db8::5, 2001:db9::7"]),
            ip("2001:db9::7")
        );
        // Ports and brackets, as some proxies write them.
        assert_eq!(
            trusted.client(proxy, ["198.51.100.7:4711"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client(proxy, ["[2001:db9::7]:443", "[2001:db8::1]"]),
            ip("2001:db9::7")
        );
    }

    #[test]
    fn without_an_untrusted_hop_the_walk_stops_safely() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.1");
        assert_eq!(trusted.client(proxy, []), proxy, "no header");
        assert_eq!(trusted.client(proxy, [" , "]), proxy, "empty entries");
        assert_eq!(
            trusted.client(proxy, ["10.3.3.3, 10.2.2.2"]),
            ip("10.3.3.3"),
            "all trusted: the left-most"
        );
        // Garbage stops the walk at the proxy that passed it on: the forged address to its
        // left is never believed.
        assert_eq!(
            trusted.client(proxy, ["1.2.3.4, unknown, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        assert_eq!(trusted.client(proxy, ["1.2.3.4, not an address"]), proxy);
    }
}
