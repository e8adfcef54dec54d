//! The only way a host name becomes addresses for the fetcher's connections.
//!
//! reqwest asks [`VettingResolver`] for the addresses of every host name it connects to (IP
//! literals do not come here: the fetcher checks them before sending). It resolves the name,
//! checks every address, and hands reqwest exactly the addresses it checked, so that what was
//! checked is what is connected to: a second, different answer from DNS (rebinding) is never
//! asked for. If any address is not public the whole name is refused (see [`vet`]).

use std::io;
use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::address::{AddressPolicy, Refusal};

/// A `reqwest` resolver that returns only vetted addresses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VettingResolver {
    pub(crate) policy: AddressPolicy,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: reqwest puts the link's port (or the scheme's) in its place.
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let vetted = vet(found, policy)?;
            let addrs: Addrs = Box::new(vetted.into_iter());
            Ok(addrs)
        })
    }
}

/// The addresses a name resolved to, when every one of them may be connected to.
///
/// A name with any non-public address is refused outright rather than filtered down to its
/// public addresses: a public site has no reason to publish a private address, a mixed answer
/// is the shape of a rebinding or SSRF attempt, and refusing says so ("private address
/// 10.0.0.1") where filtering would turn it into a confusing connection failure or a success
/// that depends on which record came first.
pub(crate) fn vet(
    found: impl IntoIterator<Item = SocketAddr>,
    policy: AddressPolicy,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let mut vetted = Vec::new();
    for addr in found {
        policy.check(addr.ip())?;
        if !vetted.contains(&addr) {
            vetted.push(addr);
        }
    }
    if vetted.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the name has no address").into());
    }
    Ok(vetted)
}

/// The refusal in an error's chain of causes, if the resolver refused a name.
pub(crate) fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        cause = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
            .collect()
    }

    #[test]
    fn a_name_with_any_non_public_address_is_refused() {
        let policy = AddressPolicy::default();
        let public = addrs(&["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]);
        assert_eq!(vet(public.clone(), policy).unwrap(), public);
        // Duplicates go.
        let twice = addrs(&["93.184.216.34", "93.184.216.34"]);
        assert_eq!(vet(twice, policy).unwrap(), addrs(&["93.184.216.34"]));
        for (list, reason) in [
            (
                &["93.184.216.34", "10.0.0.1"][..],
                "private address 10.0.0.1",
            ),
            (&["169.254.169.254"], "link-local address 169.254.169.254"),
            (
                &["fd00::1", "93.184.216.34"],
                "unique-local address fd00::1",
            ),
            (
                &["::ffff:192.168.0.1"],
                "private address ::ffff:192.168.0.1",
            ),
        ] {
            let err = vet(addrs(list), policy).unwrap_err();
            assert_eq!(
                err.downcast_ref::<Refusal>(),
                Some(&Refusal(reason.into())),
                "{list:?}"
            );
        }
        let none = vet(Vec::new(), policy).unwrap_err();
        assert!(none.downcast_ref::<Refusal>().is_none());
    }

    /// The resolver itself, on the one name every machine has: loopback, so refused.
    #[tokio::test]
    async fn the_resolver_refuses_localhost() {
        let resolver = VettingResolver {
            policy: AddressPolicy::default(),
        };
        let Err(err) = resolver.resolve(Name::from_str("localhost").unwrap()).await else {
            panic!("localhost resolved");
        };
        let refusal = refusal_in(&*err).expect("a refusal");
        assert!(refusal.0.starts_with("loopback address "), "{refusal}");
    }

    #[test]
    fn the_refusal_is_found_in_a_chain() {
        #[derive(Debug)]
        struct Wrapper(Box<dyn std::error::Error + Send + Sync>);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&*self.0)
            }
        }
        let chain = Wrapper(Box::new(Wrapper(Box::new(Refusal("x".into())))));
        assert_eq!(refusal_in(&chain), Some(&Refusal("x".into())));
        let other = Wrapper(Box::new(io::Error::other("y")));
        assert_eq!(refusal_in(&other), None);
    }
}
