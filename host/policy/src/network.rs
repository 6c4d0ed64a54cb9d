//! Network patterns: `[scheme://]host[:port]` for plugin traffic and communicator targets,
//! `addr[:port]` for HTTP server binds.
//!
//! A host is a name (`deb.debian.org`), every name below a domain (`*.example.com`, which does
//! not match `example.com` itself), an IP address, a CIDR block (`10.0.0.0/8`), or `*`. A port is
//! a number, a range (`8000-9000`) or `*`; a missing port or scheme means any. Names match
//! names and addresses match addresses: the check does no resolution (it is pure), so a caller
//! that connects to a name it resolved checks the name it was given.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where a plugin may connect (`https://deb.debian.org:443`, `10.0.0.0/8:22`, `*.example.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkPattern {
    text: String,
    scheme: Option<String>,
    host: HostPattern,
    ports: PortRange,
}

/// The host part of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    Any,
    /// One name, lowercase, without a trailing dot.
    Name(String),
    /// Every name strictly below this domain (`*.example.com`).
    Subdomains(String),
    /// An address or a block of them.
    Net(IpNet),
}

/// An IP address and a prefix length: `10.0.0.0/8`, or a single address at its full length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// An inclusive port range; `*` is `0-65535`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Where a plugin's HTTP server may listen (`127.0.0.1`, `0.0.0.0:8000-9000`, `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindPattern {
    text: String,
    addr: HostPattern,
    ports: PortRange,
}

impl NetworkPattern {
    pub fn parse(text: &str) -> Result<NetworkPattern, String> {
        let trimmed = text.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (Some(parse_scheme(scheme)?), rest),
            None => (None, trimmed),
        };
        let (host, port) = split_host_port(rest)?;
        Ok(NetworkPattern {
            text: trimmed.to_string(),
            scheme,
            host: HostPattern::parse(host)?,
            ports: port.map_or(Ok(PortRange::ANY), PortRange::parse)?,
        })
    }

    /// `*`: every scheme, host and port.
    pub fn any() -> NetworkPattern {
        NetworkPattern {
            text: "*".into(),
            scheme: None,
            host: HostPattern::Any,
            ports: PortRange::ANY,
        }
    }

    pub fn scheme(&self) -> Option<&str> {
        self.scheme.as_deref()
    }

    pub fn host(&self) -> &HostPattern {
        &self.host
    }

    pub fn ports(&self) -> PortRange {
        self.ports
    }

    /// A pattern with a scheme matches only uses of that scheme; one without matches any
    /// (including a plain TCP connection, `None`).
    pub fn matches(&self, scheme: Option<&str>, host: &str, port: u16) -> bool {
        let scheme_ok = match (&self.scheme, scheme) {
            (None, _) => true,
            (Some(want), Some(got)) => want.eq_ignore_ascii_case(got),
            (Some(_), None) => false,
        };
        scheme_ok && self.host.matches(host) && self.ports.contains(port)
    }

    /// Whether everything `other` allows, this allows too.
    pub fn covers(&self, other: &NetworkPattern) -> bool {
        let scheme_ok = match (&self.scheme, &other.scheme) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        scheme_ok && self.host.covers(&other.host) && self.ports.covers(other.ports)
    }
}

impl fmt::Display for NetworkPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl BindPattern {
    pub fn parse(text: &str) -> Result<BindPattern, String> {
        let trimmed = text.trim();
        if trimmed.contains("://") {
            return Err(format!(
                "{text:?}: an HTTP bind pattern is addr[:port], without a scheme"
            ));
        }
        let (host, port) = split_host_port(trimmed)?;
        let addr = HostPattern::parse(host)?;
        if let HostPattern::Name(_) | HostPattern::Subdomains(_) = addr {
            return Err(format!(
                "{text:?}: an HTTP bind pattern takes an IP address, a CIDR block or *, not a name"
            ));
        }
        Ok(BindPattern {
            text: trimmed.to_string(),
            addr,
            ports: port.map_or(Ok(PortRange::ANY), PortRange::parse)?,
        })
    }

    /// `*`: any address, any port.
    pub fn any() -> BindPattern {
        BindPattern {
            text: "*".into(),
            addr: HostPattern::Any,
            ports: PortRange::ANY,
        }
    }

    pub fn matches(&self, addr: SocketAddr) -> bool {
        let ip_ok = match &self.addr {
            HostPattern::Any => true,
            HostPattern::Net(net) => net.contains(addr.ip().to_canonical()),
            HostPattern::Name(_) | HostPattern::Subdomains(_) => false,
        };
        ip_ok && self.ports.contains(addr.port())
    }

    pub fn covers(&self, other: &BindPattern) -> bool {
        self.addr.covers(&other.addr) && self.ports.covers(other.ports)
    }
}

impl fmt::Display for BindPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_scheme(scheme: &str) -> Result<String, String> {
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        Ok(scheme.to_ascii_lowercase())
    } else {
        Err(format!("{scheme:?} is not a URL scheme"))
    }
}

/// `host:port`, `[v6]:port`, `[v6/len]`, or a bare IPv6 address or block (no port).
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let end = inner
            .find(']')
            .ok_or_else(|| format!("{text:?}: no closing ]"))?;
        let after = &inner[end + 1..];
        return match after.strip_prefix(':') {
            Some(port) => Ok((&inner[..end], Some(port))),
            None if after.is_empty() => Ok((&inner[..end], None)),
            None => Err(format!("{text:?}: expected :port after ]")),
        };
    }
    if text.matches(':').count() > 1 {
        return Ok((text, None));
    }
    Ok(match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern, String> {
        if text == "*" {
            return Ok(HostPattern::Any);
        }
        if let Some(domain) = text.strip_prefix("*.") {
            return Ok(HostPattern::Subdomains(parse_name(domain, text)?));
        }
        if let Some((addr, prefix)) = text.split_once('/') {
            if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "{text:?}: a pattern is [scheme://]host[:port] (a host may be a CIDR block), without a path"
                ));
            }
            return IpNet::parse(addr, prefix).map(HostPattern::Net);
        }
        if let Ok(addr) = text.parse::<IpAddr>() {
            return Ok(HostPattern::Net(IpNet::single(addr)));
        }
        parse_name(text, text).map(HostPattern::Name)
    }

    pub fn matches(&self, host: &str) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        match (self, host.parse::<IpAddr>()) {
            (HostPattern::Any, _) => true,
            (HostPattern::Net(net), Ok(addr)) => net.contains(addr.to_canonical()),
            (HostPattern::Name(name), Err(_)) => canonical_name(host) == *name,
            (HostPattern::Subdomains(domain), Err(_)) => canonical_name(host)
                .strip_suffix(domain.as_str())
                .is_some_and(|label| label.len() > 1 && label.ends_with('.')),
            _ => false,
        }
    }

    fn covers(&self, other: &HostPattern) -> bool {
        match (self, other) {
            (HostPattern::Any, _) => true,
            (_, HostPattern::Any) => false,
            (HostPattern::Name(a), HostPattern::Name(b)) => a == b,
            (HostPattern::Subdomains(_), HostPattern::Name(b)) => self.matches(b),
            (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => a == b || self.matches(b),
            (HostPattern::Net(a), HostPattern::Net(b)) => a.covers(b),
            _ => false,
        }
    }
}

fn canonical_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_name(name: &str, whole: &str) -> Result<String, String> {
    let name = canonical_name(name);
    let valid = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if valid {
        Ok(name)
    } else if whole.contains('*') {
        Err(format!(
            "{whole:?}: a wildcard is allowed only as a whole host (*) or a leading *."
        ))
    } else {
        Err(format!(
            "{whole:?} is not a host name, an IP address or a CIDR block"
        ))
    }
}

impl IpNet {
    fn single(addr: IpAddr) -> IpNet {
        let addr = addr.to_canonical();
        IpNet {
            addr,
            prefix: max_prefix(addr),
        }
    }

    fn parse(addr: &str, prefix: &str) -> Result<IpNet, String> {
        let whole = format!("{addr}/{prefix}");
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{whole:?}: {addr:?} is not an IP address"))?;
        let max = max_prefix(addr);
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("{whole:?}: the prefix length must be 0 to {max}"))?;
        let net = IpNet { addr, prefix };
        let base = net.network();
        if base != addr {
            return Err(format!(
                "{whole:?} has bits set past its prefix; did you mean {base}/{prefix}?"
            ));
        }
        Ok(net)
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    fn mask(&self) -> u128 {
        let width = u32::from(max_prefix(self.addr));
        let prefix = u32::from(self.prefix);
        if prefix == 0 {
            0
        } else {
            (u128::MAX << (128 - prefix)) >> (128 - width)
        }
    }

    fn network(&self) -> IpAddr {
        let bits = Self::bits(self.addr) & self.mask();
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4((bits as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(bits.into()),
        }
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.addr.is_ipv4() == addr.is_ipv4()
            && Self::bits(addr) & self.mask() == Self::bits(self.addr)
    }

    fn covers(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

impl PortRange {
    pub const ANY: PortRange = PortRange {
        first: 0,
        last: u16::MAX,
    };

    fn parse(text: &str) -> Result<PortRange, String> {
        if text == "*" {
            return Ok(PortRange::ANY);
        }
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("{text:?} is not a port, a range like 8000-9000, or *"))
        };
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(text)?, port(text)?),
        };
        if first > last {
            return Err(format!("port range {text:?} ends before it starts"));
        }
        Ok(PortRange { first, last })
    }

    pub fn contains(self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }

    fn covers(self, other: PortRange) -> bool {
        self.first <= other.first && other.last <= self.last
    }
}

/// `host:port` as a denial shows it, IPv6 addresses bracketed.
pub(crate) fn endpoint(scheme: Option<&str>, host: &str, port: u16) -> String {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{host}:{port}"),
        None => format!("{host}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(text: &str) -> NetworkPattern {
        NetworkPattern::parse(text).unwrap()
    }

    #[test]
    fn parses_every_form() {
        let full = p("https://deb.debian.org:443");
        assert_eq!(full.scheme(), Some("https"));
        assert_eq!(full.host(), &HostPattern::Name("deb.debian.org".into()));
        assert_eq!(
            full.ports(),
            PortRange {
                first: 443,
                last: 443
            }
        );
        assert_eq!(p("ssh://10.0.0.0/8:22").ports().first, 22);
        assert_eq!(p("192.168.0.0/16").ports(), PortRange::ANY);
        assert_eq!(
            p("*.example.com:443").host(),
            &HostPattern::Subdomains("example.com".into())
        );
        assert_eq!(p("127.0.0.1:*").ports(), PortRange::ANY);
        assert_eq!(p("*:*").host(), &HostPattern::Any);
        assert_eq!(p("[::1]:22").ports().first, 22);
        assert!(matches!(p("fd00::/8").host(), HostPattern::Net(_)));
        assert_eq!(p("0.0.0.0:8000-9000").ports().last, 9000);
        assert_eq!(
            p("Deb.Debian.ORG.").host(),
            &HostPattern::Name("deb.debian.org".into())
        );
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let err = |text: &str| NetworkPattern::parse(text).unwrap_err();
        assert!(
            err("10.0.0.5/8").contains("did you mean 10.0.0.0/8?"),
            "{}",
            err("10.0.0.5/8")
        );
        assert!(err("10.0.0.0/33").contains("prefix length must be 0 to 32"));
        assert!(err("host:70000").contains("is not a port"));
        assert!(err("host:9000-8000").contains("ends before it starts"));
        assert!(err("a.*.example.com").contains("wildcard"));
        assert!(err("exa mple.com").contains("not a host name"));
        assert!(err("1http://x").contains("not a URL scheme"));
        assert!(err("https://x.org/path/more").contains("without a path"));
        assert!(err("[::1").contains("no closing ]"));
    }

    #[test]
    fn cidr_matching() {
        let net = p("10.0.0.0/8:22");
        assert!(net.matches(None, "10.0.0.5", 22));
        assert!(net.matches(Some("ssh"), "10.255.255.255", 22));
        assert!(!net.matches(None, "11.0.0.1", 22));
        assert!(!net.matches(None, "10.0.0.5", 23));
        assert!(!net.matches(None, "ten.example.com", 22));
        // An IPv4-mapped IPv6 address is the IPv4 address it carries.
        assert!(net.matches(None, "::ffff:10.1.2.3", 22));
        assert!(net.matches(None, "[::ffff:10.1.2.3]", 22));
        let v6 = p("fd00::/8");
        assert!(v6.matches(None, "fd12::1", 443));
        assert!(!v6.matches(None, "fe80::1", 443));
        assert!(!v6.matches(None, "10.0.0.1", 443));
        assert!(p("0.0.0.0/0").matches(None, "203.0.113.9", 1));
        assert!(!p("0.0.0.0/0").matches(None, "::1", 1));
        assert!(p("192.168.1.7").matches(None, "192.168.1.7", 80));
        assert!(!p("192.168.1.7").matches(None, "192.168.1.8", 80));
    }

    #[test]
    fn wildcard_and_scheme_matching() {
        let sub = p("*.example.com:443");
        assert!(sub.matches(Some("https"), "api.example.com", 443));
        assert!(sub.matches(None, "a.b.example.com", 443));
        assert!(sub.matches(None, "API.Example.com.", 443));
        assert!(!sub.matches(None, "example.com", 443));
        assert!(!sub.matches(None, "badexample.com", 443));
        assert!(!sub.matches(None, "api.example.com", 80));
        let https = p("https://deb.debian.org:443");
        assert!(https.matches(Some("https"), "deb.debian.org", 443));
        assert!(https.matches(Some("HTTPS"), "deb.debian.org", 443));
        assert!(!https.matches(Some("http"), "deb.debian.org", 443));
        assert!(!https.matches(None, "deb.debian.org", 443));
        assert!(!https.matches(Some("https"), "debian.org", 443));
        assert!(p("*").matches(Some("gopher"), "anything", 7));
    }

    #[test]
    fn port_ranges() {
        let range = p("0.0.0.0/0:8000-9000");
        assert!(range.matches(None, "1.2.3.4", 8000));
        assert!(range.matches(None, "1.2.3.4", 9000));
        assert!(!range.matches(None, "1.2.3.4", 7999));
        assert!(!range.matches(None, "1.2.3.4", 9001));
    }

    #[test]
    fn covering() {
        assert!(p("*").covers(&p("https://a.org:443")));
        assert!(!p("https://a.org:443").covers(&p("*")));
        assert!(p("10.0.0.0/8:22").covers(&p("10.1.0.0/16:22")));
        assert!(p("10.0.0.0/8:*").covers(&p("10.1.2.3:22")));
        assert!(!p("10.0.0.0/8:22").covers(&p("0.0.0.0/0:22")));
        assert!(!p("10.1.0.0/16").covers(&p("10.0.0.0/8")));
        assert!(p("*.example.com").covers(&p("*.api.example.com")));
        assert!(p("*.example.com").covers(&p("api.example.com:443")));
        assert!(!p("*.example.com").covers(&p("example.com")));
        assert!(!p("api.example.com").covers(&p("*.example.com")));
        assert!(p("a.org:8000-9000").covers(&p("a.org:8080-8090")));
        assert!(!p("a.org:8000-9000").covers(&p("a.org:7000-8080")));
        assert!(p("a.org").covers(&p("https://a.org:443")));
        assert!(!p("https://a.org").covers(&p("a.org")));
        assert!(!p("10.0.0.0/8").covers(&p("fd00::/8")));
    }

    #[test]
    fn binds() {
        let b = |t: &str| BindPattern::parse(t).unwrap();
        let addr = |t: &str| t.parse::<SocketAddr>().unwrap();
        assert!(b("127.0.0.1").matches(addr("127.0.0.1:8080")));
        assert!(!b("127.0.0.1").matches(addr("0.0.0.0:8080")));
        assert!(b("0.0.0.0:8000-9000").matches(addr("0.0.0.0:8500")));
        assert!(!b("0.0.0.0:8000-9000").matches(addr("0.0.0.0:9500")));
        assert!(!b("0.0.0.0:8000-9000").matches(addr("127.0.0.1:8500")));
        assert!(b("*").matches(addr("[::]:1")));
        assert!(b("[::1]:8080").matches(addr("[::1]:8080")));
        assert!(b("*").covers(&b("127.0.0.1:80")));
        assert!(!b("127.0.0.1").covers(&b("0.0.0.0")));
        assert!(
            BindPattern::parse("localhost")
                .unwrap_err()
                .contains("not a name")
        );
        assert!(
            BindPattern::parse("http://127.0.0.1")
                .unwrap_err()
                .contains("scheme")
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(endpoint(None, "10.0.0.5", 22), "10.0.0.5:22");
        assert_eq!(endpoint(Some("https"), "a.org", 443), "https://a.org:443");
        assert_eq!(endpoint(None, "::1", 22), "[::1]:22");
    }
}
