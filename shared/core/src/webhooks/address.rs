//! Where a webhook may be sent: public addresses only, unless the operator allows private
//! ones. A subscriber must not turn the server into a client of its own network: loopback,
//! private ranges, link-local (which holds the cloud metadata service, 169.254.169.254) and
//! the rest of what is not the public internet are refused, whether the URL names the address
//! or a DNS name that resolves to it. A name is judged by every address it resolves to, and
//! the sender connects only to addresses judged here, so a name that changes its answer
//! between check and send (DNS rebinding) gains nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How long a name may take to resolve before it counts as not resolving.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{host} is {reason}: webhooks go to public addresses only")]
    Refused { host: String, reason: &'static str },
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Why `ip` is not a public address, or `None` when it is one.
pub fn not_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => not_public_v4(v4),
        IpAddr::V6(v6) => not_public_v6(v6),
    }
}

fn not_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (the metadata service lives there)")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else if ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0) {
        Some("a documentation, benchmarking or protocol address")
    } else {
        None
    }
}

fn not_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // An IPv4 address carried in IPv6 (mapped ::ffff:a.b.c.d, or NAT64 64:ff9b::/96) is
    // judged as itself.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return not_public_v4(v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [_, _, _, _, _, _, hi, lo] = segments;
        return not_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
        Some("a documentation address")
    } else if segments[..6] == [0, 0, 0, 0, 0, 0] {
        Some("an IPv4-compatible address")
    } else {
        None
    }
}

/// The addresses `host:port` resolves to, each judged: refused if any is not public (a name
/// that answers with one private address among public ones is refused whole), unless
/// `allow_private`.
pub async fn resolve_checked(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, AddressError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(_)) | Err(_) => return Err(AddressError::Unresolved(host.to_owned())),
        },
    };
    if addrs.is_empty() {
        return Err(AddressError::Unresolved(host.to_owned()));
    }
    if !allow_private && let Some(reason) = addrs.iter().find_map(|a| not_public(a.ip())) {
        return Err(AddressError::Refused { host: host.to_owned(), reason });
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(text: &str) -> Option<&'static str> {
        not_public(text.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_and_metadata_are_refused() {
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(judged(refused).is_some(), "{refused} passed");
        }
        for public in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1"] {
            assert_eq!(judged(public), None, "{public}");
        }
        assert!(judged("169.254.169.254").unwrap().contains("metadata"));
    }

    #[tokio::test]
    async fn names_and_literals_resolving_to_private_addresses_are_refused_unless_allowed() {
        for host in ["localhost", "127.0.0.1", "[::1]", "10.1.2.3", "169.254.169.254"] {
            let got = resolve_checked(host, 80, false).await;
            assert!(matches!(got, Err(AddressError::Refused { .. })), "{host}: {got:?}");
        }
        let allowed = resolve_checked("localhost", 8080, true).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback() && a.port() == 8080), "{allowed:?}");
        assert_eq!(
            resolve_checked("[::1]", 9, true).await.unwrap(),
            [SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], 9))]
        );
        let public = resolve_checked("93.184.215.14", 443, false).await.unwrap();
        assert_eq!(public, [SocketAddr::from(([93, 184, 215, 14], 443))]);
        let missing = resolve_checked("no-such-host.invalid", 80, false).await;
        assert_eq!(missing, Err(AddressError::Unresolved("no-such-host.invalid".into())));
    }
}
