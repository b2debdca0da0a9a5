//! Addresses to listen on, as the operator writes them: an IPv4 address, an IPv6 address in
//! brackets, or a host name, each with a port (`127.0.0.1:8080`, `[::]:8080`,
//! `localhost:8080`). A host name is checked for its form here and resolved only when the
//! server binds, which listens on the first of its addresses that can be bound (the order is
//! the system resolver's), so `localhost` works on a machine without IPv6 as well as on one
//! that lists `::1` first. Uses std only.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// Where to listen: an IP address or a host name, and a port (0 picks a free one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    host: Host,
    port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

impl ListenAddr {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host name, when the address is one rather than an IP address.
    pub fn host_name(&self) -> Option<&str> {
        match &self.host {
            Host::Name(name) => Some(name),
            Host::Ip(_) => None,
        }
    }
}

impl FromStr for ListenAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<ListenAddr, String> {
        let refuse = || {
            format!(
                "'{text}' is not IP:PORT, [IPv6]:PORT or HOST:PORT (such as 127.0.0.1:8080, \
                 [::]:8080 or localhost:8080)"
            )
        };
        let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
            let (ip, port) = bracketed.split_once("]:").ok_or_else(refuse)?;
            let ip: Ipv6Addr = ip.parse().map_err(|_| refuse())?;
            (Host::Ip(IpAddr::V6(ip)), port)
        } else {
            let (host, port) = text.rsplit_once(':').ok_or_else(refuse)?;
            // An IPv6 address without brackets cannot be told from its port.
            if host.contains(':') {
                return Err(refuse());
            }
            let host = match host.parse::<std::net::Ipv4Addr>() {
                Ok(ip) => Host::Ip(IpAddr::V4(ip)),
                Err(_) if is_host_name(host) => Host::Name(host.to_ascii_lowercase()),
                Err(_) => return Err(refuse()),
            };
            (host, port)
        };
        let port = if port.bytes().all(|b| b.is_ascii_digit()) {
            port.parse::<u16>().map_err(|_| refuse())?
        } else {
            return Err(refuse());
        };
        Ok(ListenAddr { host, port })
    }
}

/// A DNS name as RFC 1123 allows one: dot-separated labels of letters, digits and hyphens, no
/// label empty, longer than 63 or starting or ending with a hyphen, 253 characters at most;
/// not all digits and dots (that would be a mistyped IPv4 address).
fn is_host_name(name: &str) -> bool {
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    (1..=253).contains(&name.len())
        && name.split('.').all(label_ok)
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => write!(f, "{}", SocketAddr::new(*ip, self.port)),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// An IP address is itself; a host name resolves through the system resolver, at the moment
/// the address is used.
impl ToSocketAddrs for ListenAddr {
    type Iter = std::vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        match &self.host {
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)].into_iter()),
            Host::Name(name) => Ok((name.as_str(), self.port)
                .to_socket_addrs()?
                .collect::<Vec<_>>()
                .into_iter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> ListenAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn ip_addresses_of_both_families_and_host_names_are_accepted() {
        for (text, shown) in [
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("0.0.0.0:0", "0.0.0.0:0"),
            ("[::]:8080", "[::]:8080"),
            ("[::1]:0", "[::1]:0"),
            ("[2001:db8::7]:65535", "[2001:db8::7]:65535"),
            ("localhost:8080", "localhost:8080"),
            ("Chat.Example.ORG:443", "chat.example.org:443"),
            ("pi-4.local.:1", "pi-4.local.:1"),
        ] {
            assert_eq!(parsed(text).to_string(), shown, "{text}");
        }
        assert_eq!(parsed("[::1]:0").port(), 0);
        assert_eq!(parsed("localhost:80").host_name(), Some("localhost"));
        assert_eq!(parsed("[::1]:80").host_name(), None);
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_forms_that_work() {
        for bad in [
            "",
            "localhost",
            "8080",
            ":8080",
            "::1:8080",
            "[::1]",
            "[::1]8080",
            "[127.0.0.1]:80",
            "[::g]:80",
            "127.0.0.1:65536",
            "127.0.0.1:-1",
            "127.0.0.1:+80",
            "127.0.0.1:",
            "256.0.0.1:80",
            "1.2.3:80",
            "-bad.example:80",
            "bad-.example:80",
            "a..b:80",
            "under_score:80",
            "white space:80",
            "http://localhost:80",
        ] {
            let reason = bad.parse::<ListenAddr>().expect_err(bad);
            assert!(reason.contains("[::]:8080"), "{reason}");
        }
        let long_label = format!("{}.example:80", "a".repeat(64));
        assert!(long_label.parse::<ListenAddr>().is_err());
        let long_name = format!("{}:80", vec!["a".repeat(63); 4].join("."));
        assert!(long_name.parse::<ListenAddr>().is_err());
    }

    #[test]
    fn an_ip_address_resolves_to_itself_and_localhost_through_the_resolver() {
        let addrs: Vec<SocketAddr> = parsed("[::1]:9").to_socket_addrs().expect("ip").collect();
        assert_eq!(addrs, vec!["[::1]:9".parse().expect("addr")]);
        let local: Vec<SocketAddr> = parsed("localhost:9")
            .to_socket_addrs()
            .expect("localhost resolves")
            .collect();
        assert!(!local.is_empty());
        assert!(local.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
    }
}
