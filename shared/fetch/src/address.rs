//! Which addresses the fetcher may connect to: public unicast addresses only.
//!
//! [`classify`] names why an address is not public, or says `None` for a public one. IPv4 is a
//! list of the special-purpose ranges (RFC 6890 and its updates). IPv6 is an allow-list: only
//! global unicast (`2000::/3`) can be public, less its special blocks; outside it only the
//! forms that carry an IPv4 address (IPv4-mapped, NAT64) are judged, by the address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not public (the fetcher never connects to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NonPublic {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8` other than `0.0.0.0` ("this network").
    ThisNetwork,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    SharedCgnat,
    /// `169.254.0.0/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Everything else that is not public unicast: `240.0.0.0/4`, `192.0.0.0/24`,
    /// `192.88.99.0/24`, IPv6 outside `2000::/3` not named above (IPv4-compatible `::a.b.c.d`,
    /// local-use NAT64 `64:ff9b:1::/48`, discard `100::/64`...), the IETF block `2001::/23`
    /// and Teredo `2001::/32` (a tunnel to a host behind a NAT).
    Reserved,
    /// `fc00::/7` (unique local, IPv6's private addresses).
    UniqueLocal,
    /// `fec0::/10` (deprecated site-local).
    SiteLocal,
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NonPublic::Unspecified => "unspecified",
            NonPublic::ThisNetwork => "this-network",
            NonPublic::Loopback => "loopback",
            NonPublic::Private => "private",
            NonPublic::SharedCgnat => "shared (CGNAT)",
            NonPublic::LinkLocal => "link-local",
            NonPublic::Documentation => "documentation",
            NonPublic::Benchmarking => "benchmarking",
            NonPublic::Multicast => "multicast",
            NonPublic::Broadcast => "broadcast",
            NonPublic::Reserved => "reserved",
            NonPublic::UniqueLocal => "unique-local",
            NonPublic::SiteLocal => "site-local",
        })
    }
}

/// Why `ip` is not public, or `None` when the fetcher may connect to it.
pub fn classify(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether the fetcher may connect to `ip` (no test switch considered).
pub fn is_public(ip: IpAddr) -> bool {
    classify(ip).is_none()
}

fn classify_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, c, _] = ip.octets();
    let class = if ip.is_unspecified() {
        NonPublic::Unspecified
    } else if a == 0 {
        NonPublic::ThisNetwork
    } else if a == 127 {
        NonPublic::Loopback
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        NonPublic::Private
    } else if a == 100 && (64..=127).contains(&b) {
        NonPublic::SharedCgnat
    } else if a == 169 && b == 254 {
        NonPublic::LinkLocal
    } else if matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)) {
        NonPublic::Documentation
    } else if a == 198 && (b == 18 || b == 19) {
        NonPublic::Benchmarking
    } else if matches!((a, b, c), (192, 0, 0) | (192, 88, 99)) {
        // IETF protocol assignments; the deprecated 6to4 relay anycast.
        NonPublic::Reserved
    } else if ip.is_broadcast() {
        NonPublic::Broadcast
    } else if (224..=239).contains(&a) {
        NonPublic::Multicast
    } else if a >= 240 {
        NonPublic::Reserved
    } else {
        return None;
    };
    Some(class)
}

/// The IPv4 address in the two 16-bit groups `hi`, `lo`.
fn v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

fn classify_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some(NonPublic::Unspecified);
    }
    if ip.is_loopback() {
        return Some(NonPublic::Loopback);
    }
    // IPv4-mapped `::ffff:a.b.c.d`: a dual-stack socket connects to the IPv4 address itself.
    if let Some(mapped) = ip.to_ipv4_mapped() {
        return classify_v4(mapped);
    }
    // IPv4-compatible `::a.b.c.d` (deprecated by RFC 4291): named by its IPv4 address when that
    // is not public, and never connected to anyway.
    if s[..6] == [0; 6] {
        return Some(classify_v4(v4(s[6], s[7])).unwrap_or(NonPublic::Reserved));
    }
    // NAT64 well-known prefix `64:ff9b::/96` (RFC 6052): a NAT64 gateway connects to the IPv4
    // address in the last 32 bits, so that address decides.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(v4(s[6], s[7]));
    }
    let class = if s[0] & 0xfe00 == 0xfc00 {
        NonPublic::UniqueLocal
    } else if s[0] & 0xffc0 == 0xfe80 {
        NonPublic::LinkLocal
    } else if s[0] & 0xffc0 == 0xfec0 {
        NonPublic::SiteLocal
    } else if s[0] & 0xff00 == 0xff00 {
        NonPublic::Multicast
    } else if s[0] & 0xe000 != 0x2000 {
        // Not global unicast: local-use NAT64 (64:ff9b:1::/48), discard-only (100::/64),
        // the rest of ::/8, unassigned space...
        NonPublic::Reserved
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        NonPublic::Documentation
    } else if s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0 {
        NonPublic::Benchmarking
    } else if s[0] == 0x2001 && s[1] == 0 {
        // Teredo (RFC 4380): server IPv4 in bits 32..64, the client's IPv4 inverted in the last
        // 32. Never connected to (a tunnel into a NAT); named by an embedded non-public IPv4.
        let client = v4(!s[6], !s[7]);
        let server = v4(s[2], s[3]);
        classify_v4(client)
            .or_else(|| classify_v4(server))
            .unwrap_or(NonPublic::Reserved)
    } else if s[0] == 0x2001 && s[1] < 0x0200 {
        // The rest of the IETF protocol assignments block 2001::/23 (ORCHID, AMT...).
        NonPublic::Reserved
    } else if s[0] == 0x2002 {
        // 6to4 (RFC 3056): the IPv4 address of the site in bits 16..48 decides.
        return classify_v4(v4(s[1], s[2]));
    } else {
        return None;
    };
    Some(class)
}

/// An address or link the fetcher refuses, and why, in a few words ("private address
/// 10.0.0.1"). It is also the error the resolver hands to reqwest, found again in the error's
/// chain of causes so that a refused name is reported as `FetchError::Refused`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// What a fetcher connects to: public addresses, and in a test build whose test asked for it,
/// IPv4 loopback too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AddressPolicy {
    /// `127.0.0.0/8` allowed (only ever set when the `loopback-for-tests` feature is compiled
    /// in and a test or `OPTOUT_FETCH_ALLOW_LOOPBACK=1` asked for it).
    pub(crate) allow_loopback_v4: bool,
}

impl AddressPolicy {
    /// The loopback switch on: 127.0.0.0/8 allowed (plain IPv4 only: not `::1`, not
    /// `::ffff:127.0.0.1`), nothing else.
    #[cfg(feature = "loopback-for-tests")]
    pub(crate) fn loopback_for_tests() -> Self {
        AddressPolicy {
            allow_loopback_v4: true,
        }
    }

    /// `Ok` when the fetcher may connect to `ip`.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            None => Ok(()),
            Some(NonPublic::Loopback)
                if cfg!(feature = "loopback-for-tests")
                    && self.allow_loopback_v4
                    && matches!(ip, IpAddr::V4(v4) if v4.is_loopback()) =>
            {
                Ok(())
            }
            Some(class) => Err(Refusal(format!("{class} address {ip}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> Option<NonPublic> {
        classify(s.parse().unwrap())
    }

    /// Each IPv4 range: its first and last address, and a public neighbour where it has one.
    #[test]
    fn ipv4_ranges() {
        use NonPublic::*;
        for (ip, want) in [
            ("0.0.0.0", Some(Unspecified)),
            ("0.0.0.1", Some(ThisNetwork)),
            ("0.255.255.255", Some(ThisNetwork)),
            ("1.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(Private)),
            ("10.0.0.1", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.0", Some(Loopback)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.255", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.254", Some(LinkLocal)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("192.0.0.0", Some(Reserved)),
            ("192.0.0.255", Some(Reserved)),
            ("192.0.1.0", None),
            ("192.0.2.0", Some(Documentation)),
            ("192.0.2.255", Some(Documentation)),
            ("192.0.3.0", None),
            ("192.88.99.1", Some(Reserved)),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(Private)),
            ("192.168.255.255", Some(Private)),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(Benchmarking)),
            ("198.19.255.255", Some(Benchmarking)),
            ("198.20.0.0", None),
            ("198.51.100.0", Some(Documentation)),
            ("198.51.100.255", Some(Documentation)),
            ("203.0.113.0", Some(Documentation)),
            ("203.0.113.255", Some(Documentation)),
            ("203.0.114.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.0", Some(Reserved)),
            ("255.255.255.254", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("8.8.8.8", None),
            ("93.184.216.34", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    /// Every non-public IPv4 address, and a public one, in each IPv6 form that carries an IPv4
    /// address: mapped, compatible, NAT64, 6to4 and Teredo.
    #[test]
    fn ipv6_forms_of_ipv4() {
        use NonPublic::*;
        let samples = [
            ("0.1.2.3", Some(ThisNetwork)),
            ("10.0.0.1", Some(Private)),
            ("100.64.0.1", Some(SharedCgnat)),
            ("127.0.0.1", Some(Loopback)),
            ("169.254.169.254", Some(LinkLocal)),
            ("172.16.0.1", Some(Private)),
            ("192.0.2.1", Some(Documentation)),
            ("192.168.1.1", Some(Private)),
            ("198.18.0.1", Some(Benchmarking)),
            ("224.0.0.1", Some(Multicast)),
            ("240.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Broadcast)),
            ("8.8.8.8", None),
        ];
        for (v4_text, want) in samples {
            let v4: Ipv4Addr = v4_text.parse().unwrap();
            let [a, b, c, d] = v4.octets();
            let hi = u16::from_be_bytes([a, b]);
            let lo = u16::from_be_bytes([c, d]);
            let mapped = v4.to_ipv6_mapped();
            let compatible = Ipv6Addr::new(0, 0, 0, 0, 0, 0, hi, lo);
            let nat64 = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo);
            let six_to_four = Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1);
            // Teredo: the client's address inverted; a public server (65.54.227.120).
            let teredo_client = Ipv6Addr::new(0x2001, 0, 0x4136, 0xe378, 0x8000, 0x63bf, !hi, !lo);
            // Teredo: the non-public IPv4 as the server, a public client (8.8.8.8).
            let teredo_server = Ipv6Addr::new(0x2001, 0, hi, lo, 0, 0, !0x0808, !0x0808);
            assert_eq!(classify(mapped.into()), want, "{mapped}");
            assert_eq!(classify(nat64.into()), want, "{nat64}");
            assert_eq!(classify(six_to_four.into()), want, "{six_to_four}");
            // Compatible and Teredo addresses are never public, named by their IPv4 if not.
            let or_reserved = Some(want.unwrap_or(Reserved));
            assert_eq!(classify(compatible.into()), or_reserved, "{compatible}");
            assert_eq!(
                classify(teredo_client.into()),
                or_reserved,
                "{teredo_client}"
            );
            assert_eq!(
                classify(teredo_server.into()),
                or_reserved,
                "{teredo_server}"
            );
        }
        // As written in links.
        assert_eq!(class("::ffff:127.0.0.1"), Some(Loopback));
        assert_eq!(class("::ffff:7f00:1"), Some(Loopback));
        assert_eq!(class("::ffff:169.254.169.254"), Some(LinkLocal));
        assert_eq!(class("::ffff:10.1.2.3"), Some(Private));
        assert_eq!(class("::ffff:8.8.8.8"), None);
        assert_eq!(class("::10.0.0.1"), Some(Private));
        assert_eq!(class("::8.8.8.8"), Some(Reserved));
        assert_eq!(class("64:ff9b::10.0.0.1"), Some(Private));
        assert_eq!(class("64:ff9b::a9fe:a9fe"), Some(LinkLocal));
        assert_eq!(class("64:ff9b::8.8.8.8"), None);
        assert_eq!(class("64:ff9b:1::8.8.8.8"), Some(Reserved));
        assert_eq!(class("2002:c0a8:0101::1"), Some(Private));
        assert_eq!(class("2002:7f00:1::"), Some(Loopback));
        assert_eq!(class("2002:0808:0808::1"), None);
    }

    /// The IPv6 ranges of its own.
    #[test]
    fn ipv6_ranges() {
        use NonPublic::*;
        for (ip, want) in [
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            // IPv4-compatible 0.0.0.2.
            ("::2", Some(ThisNetwork)),
            ("100::1", Some(Reserved)),
            ("fc00::", Some(UniqueLocal)),
            ("fd12:3456:789a::1", Some(UniqueLocal)),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UniqueLocal)),
            ("fe80::", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("febf:ffff::1", Some(LinkLocal)),
            ("fec0::", Some(SiteLocal)),
            ("fec0::1", Some(SiteLocal)),
            ("feff:ffff::1", Some(SiteLocal)),
            ("ff00::", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(Multicast)),
            ("2001:db8::", Some(Documentation)),
            ("2001:db8:ffff:ffff::1", Some(Documentation)),
            ("3fff::1", Some(Documentation)),
            ("3fff:fff::1", Some(Documentation)),
            ("3fff:1000::1", None),
            ("2001:2::1", Some(Benchmarking)),
            ("2001:2:0:ffff::1", Some(Benchmarking)),
            ("2001:2:1::1", Some(Reserved)),
            ("2001:10::1", Some(Reserved)),
            ("2001:1ff::1", Some(Reserved)),
            ("2001:200::1", None),
            ("1fff:ffff::1", Some(Reserved)),
            ("4000::1", Some(Reserved)),
            ("5f00::1", Some(Reserved)),
            ("e000::1", Some(Reserved)),
            ("2001:4860:4860::8888", None),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
        ] {
            assert_eq!(class(ip), want, "{ip}");
        }
    }

    #[test]
    fn refusals_name_the_class_and_the_address() {
        let policy = AddressPolicy::default();
        for (ip, reason) in [
            ("10.0.0.1", "private address 10.0.0.1"),
            ("169.254.169.254", "link-local address 169.254.169.254"),
            ("127.0.0.1", "loopback address 127.0.0.1"),
            ("::1", "loopback address ::1"),
            ("::ffff:127.0.0.1", "loopback address ::ffff:127.0.0.1"),
            ("fd00::1", "unique-local address fd00::1"),
            ("100.64.0.1", "shared (CGNAT) address 100.64.0.1"),
        ] {
            assert_eq!(
                policy.check(ip.parse().unwrap()),
                Err(Refusal(reason.into())),
                "{ip}"
            );
        }
        assert_eq!(policy.check("8.8.8.8".parse().unwrap()), Ok(()));
        assert!(is_public("2001:4860:4860::8888".parse().unwrap()));
        assert!(!is_public("192.168.0.1".parse().unwrap()));
    }

    /// The test switch lets plain IPv4 loopback through, nothing else.
    #[cfg(feature = "loopback-for-tests")]
    #[test]
    fn the_loopback_switch_allows_ipv4_loopback_only() {
        let policy = AddressPolicy::loopback_for_tests();
        for ip in ["127.0.0.1", "127.0.0.2", "127.255.255.254"] {
            assert_eq!(policy.check(ip.parse().unwrap()), Ok(()), "{ip}");
        }
        for ip in [
            "::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::127.0.0.1",
            "2002:7f00:1::1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "fe80::1",
            "fd00::1",
            "0.0.0.0",
            "::",
            "100.64.0.1",
        ] {
            assert!(policy.check(ip.parse().unwrap()).is_err(), "{ip}");
        }
    }
}
