//! Parsers for the value syntaxes of the config (addresses, ports, MACs, services).
//! Each returns, on failure, the problem and the hint for a [`super::ConfigError`].

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{Action, LogRate, PortRange, Proto, RateUnit, Service};

pub type Problem = (String, String);

fn bad(problem: impl Into<String>, hint: impl Into<String>) -> Problem {
    (problem.into(), hint.into())
}

pub fn parse_ipv4(text: &str) -> Result<Ipv4Addr, Problem> {
    text.parse::<Ipv4Addr>().map_err(|_| {
        bad(
            "is not an IPv4 address",
            "write it as four numbers 0-255, e.g. 10.98.98.10",
        )
    })
}

/// `addr/len` for IPv6; the prefix length is required.
pub fn parse_cidr6(text: &str) -> Result<ipnet::Ipv6Net, Problem> {
    let hint = "write the bridge's IPv6 address with its /64, e.g. \"fd98:98::1/64\"";
    let Some((addr, len)) = text.split_once('/') else {
        return Err(bad("has no prefix length", hint));
    };
    let Ok(addr) = addr.parse::<std::net::Ipv6Addr>() else {
        return Err(bad("is not an IPv6 address", hint));
    };
    match len
        .parse::<u8>()
        .ok()
        .and_then(|l| ipnet::Ipv6Net::new(addr, l).ok())
    {
        Some(net) => Ok(net),
        None => Err(bad(
            format!("has prefix length {len:?}, not a number from 0 to 128"),
            hint,
        )),
    }
}

/// `first-last`, two IPv4 addresses, the first not above the last.
pub fn parse_dhcp_range(text: &str) -> Result<super::DhcpRange, Problem> {
    let hint = "write the first and the last address of the pool, e.g. \"10.98.98.100-10.98.98.199\"";
    let Some((a, b)) = text.split_once('-') else {
        return Err(bad("is not a range of two addresses joined by '-'", hint));
    };
    let (Ok(first), Ok(last)) = (a.trim().parse::<Ipv4Addr>(), b.trim().parse::<Ipv4Addr>()) else {
        return Err(bad("is not a range of two IPv4 addresses joined by '-'", hint));
    };
    if first > last {
        return Err(bad(
            format!("starts at {first}, above its last address {last}"),
            format!("write the lower address first: \"{last}-{first}\""),
        ));
    }
    Ok(super::DhcpRange { first, last })
}

/// `a.b.c.d/len`; the prefix length is required.
pub fn parse_cidr(text: &str) -> Result<Ipv4Net, Problem> {
    let Some((addr, len)) = text.split_once('/') else {
        let example = match parse_ipv4(text) {
            Ok(ip) => format!("{ip}/24"),
            Err(_) => "10.98.98.1/24".into(),
        };
        return Err(bad(
            "has no prefix length",
            format!("write the address with its prefix length, e.g. {example}"),
        ));
    };
    parse_ipv4(addr).map_err(|(problem, _)| {
        bad(
            problem,
            "write four numbers 0-255 and a prefix length, e.g. 10.98.98.1/24",
        )
    })?;
    let len: u8 = len.parse().map_err(|_| {
        bad(
            "has a prefix length that is not a number",
            "use a prefix length from 0 to 32, e.g. /24",
        )
    })?;
    if len > 32 {
        return Err(bad(
            format!("has prefix length /{len}, IPv4 allows at most /32"),
            "use a prefix length from 0 to 32, e.g. /24",
        ));
    }
    text.parse::<Ipv4Net>()
        .map_err(|_| bad("is not an IPv4 address with prefix", "e.g. 10.98.98.1/24"))
}

/// A dotted netmask (`255.255.255.0`) to a prefix length; only contiguous masks.
pub fn parse_netmask(text: &str) -> Result<u8, Problem> {
    let mask = parse_ipv4(text)
        .map_err(|_| bad("is not a netmask", "write a dotted netmask such as 255.255.255.0"))?;
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(bad(
            "is not a contiguous netmask",
            "use a mask such as 255.255.255.0 (/24)",
        ));
    }
    Ok(len as u8)
}

pub fn parse_port(text: &str) -> Result<u16, Problem> {
    let n: u64 = text
        .trim()
        .parse()
        .map_err(|_| bad("is not a port number", "use a number from 1 to 65535"))?;
    if n == 0 || n > 65535 {
        return Err(bad("is out of range", "use a port from 1 to 65535"));
    }
    Ok(n as u16)
}

/// `80` or `8000-8099` (inclusive, first ≤ last).
pub fn parse_port_range(text: &str) -> Result<PortRange, Problem> {
    match text.split_once('-') {
        None => parse_port(text).map(PortRange::single),
        Some((a, b)) => {
            let first = parse_port(a)?;
            let last = parse_port(b)?;
            if first > last {
                return Err(bad(
                    format!("is a reversed port range ({first} > {last})"),
                    format!("write the lower port first: \"{last}-{first}\""),
                ));
            }
            Ok(PortRange { first, last })
        }
    }
}

/// `aa:bb:cc:dd:ee:ff` (also with `-`), unicast, not all-zero; returned lower-case.
pub fn parse_mac(text: &str) -> Result<String, Problem> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    let hint = "write six hex bytes, e.g. aa:cc:00:00:00:01";
    if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
        return Err(bad("is not a MAC address", hint));
    }
    let mut bytes = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        bytes[i] = u8::from_str_radix(p, 16).map_err(|_| bad("is not a MAC address", hint))?;
    }
    if bytes[0] & 1 == 1 {
        return Err(bad(
            "is a multicast MAC address, which no VM interface can own",
            "use a unicast address (even first byte), e.g. aa:cc:00:00:00:01",
        ));
    }
    if bytes == [0; 6] {
        return Err(bad("is the all-zero MAC address", hint));
    }
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":"))
}

pub fn parse_proto(text: &str) -> Result<Proto, Problem> {
    match text {
        "tcp" => Ok(Proto::Tcp),
        "udp" => Ok(Proto::Udp),
        "icmp" => Err(bad(
            "has no ports, so it cannot be forwarded",
            "use \"tcp\" or \"udp\"; to let ICMP through, list \"icmp\" in a policy's services",
        )),
        _ => Err(bad(
            "is not a protocol brouter can forward",
            "use \"tcp\" or \"udp\"",
        )),
    }
}

pub fn parse_action(text: &str) -> Result<Action, Problem> {
    match text {
        "accept" => Ok(Action::Accept),
        "drop" => Ok(Action::Drop),
        "reject" => Ok(Action::Reject),
        _ => Err(bad("is not an action", "use \"accept\", \"drop\" or \"reject\"")),
    }
}

/// `tcp/80`, `udp/53`, `udp/6000-6010`, `icmp`.
pub fn parse_service(text: &str) -> Result<Service, Problem> {
    let hint = "write a service as \"tcp/PORT\", \"udp/PORT\", \"tcp/FIRST-LAST\" or \"icmp\"";
    if text == "icmp" {
        return Ok(Service::Icmp);
    }
    let Some((proto, ports)) = text.split_once('/') else {
        return Err(bad("is not a service", hint));
    };
    if proto != "tcp" && proto != "udp" {
        return Err(bad(format!("has unknown protocol {proto:?}"), hint));
    }
    let ports = parse_port_range(ports).map_err(|(problem, port_hint)| {
        let hint = if ports.trim().parse::<u64>().is_err() && !ports.contains('-') {
            format!("write the port as a number, e.g. \"{proto}/80\"")
        } else {
            port_hint
        };
        (format!("has port {ports:?}, which {problem}"), hint)
    })?;
    match proto {
        "tcp" => Ok(Service::Tcp(ports)),
        "udp" => Ok(Service::Udp(ports)),
        _ => Err(bad(format!("has unknown protocol {proto:?}"), hint)),
    }
}

/// `5/minute`: a count of at least 1, a slash, and `second`, `minute` or `hour` — nft's
/// `limit rate` syntax.
pub fn parse_log_rate(text: &str) -> Result<LogRate, Problem> {
    let hint = "write a count per time unit, e.g. rate = \"5/minute\" (units: second, minute, hour)";
    let Some((count, unit)) = text.split_once('/') else {
        return Err(bad("is not a rate", hint));
    };
    let per = match unit.trim() {
        "second" => RateUnit::Second,
        "minute" => RateUnit::Minute,
        "hour" => RateUnit::Hour,
        other => return Err(bad(format!("has unknown time unit {other:?}"), hint)),
    };
    match count.trim().parse::<u32>() {
        Ok(count) if count >= 1 => Ok(LogRate { count, per }),
        _ => Err(bad(
            format!(
                "has count {:?}, which is not a whole number from 1 up",
                count.trim()
            ),
            hint,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netmask_to_prefix() {
        assert_eq!(parse_netmask("255.255.255.0").unwrap(), 24);
        assert_eq!(parse_netmask("255.255.0.0").unwrap(), 16);
        assert_eq!(parse_netmask("0.0.0.0").unwrap(), 0);
        assert!(parse_netmask("255.0.255.0").is_err());
    }

    #[test]
    fn macs_are_normalised() {
        assert_eq!(parse_mac("AA-CC-00-00-00-01").unwrap(), "aa:cc:00:00:00:01");
        assert!(parse_mac("01:00:5e:00:00:01").is_err());
        assert!(parse_mac("aa:cc:00:00:00").is_err());
    }

    #[test]
    fn services() {
        assert_eq!(
            parse_service("tcp/80").unwrap(),
            Service::Tcp(PortRange::single(80))
        );
        assert_eq!(
            parse_service("udp/6000-6010").unwrap(),
            Service::Udp(PortRange {
                first: 6000,
                last: 6010
            })
        );
        assert!(parse_service("tcp/http").is_err());
        assert!(parse_service("sctp/1").is_err());
    }

    #[test]
    fn log_rates() {
        let r = parse_log_rate("10/second").unwrap();
        assert_eq!((r.count, r.per), (10, RateUnit::Second));
        assert_eq!(parse_log_rate("5/minute").unwrap(), LogRate::DEFAULT);
        assert_eq!(parse_log_rate("1/hour").unwrap().to_string(), "1/hour");
        assert!(parse_log_rate("0/minute").is_err());
        assert!(parse_log_rate("5/day").is_err());
        assert!(parse_log_rate("5").is_err());
        assert!(parse_log_rate("-1/second").is_err());
    }
}
