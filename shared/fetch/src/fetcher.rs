//! [`Fetcher`]: the HTTP client, the redirect loop and the body read under the limits.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use optout_core::ports::{FetchError, FetchedImage, LinkFetcher};
use optout_matcher::NormalizedUrl;
use reqwest::header::{self, HeaderValue};
use url::{Host, Url};

use crate::address::AddressPolicy;
use crate::content::{SNIFF_LEN, check_content_type, check_magic};
use crate::resolver::{VettingResolver, refusal_in};

/// The environment variable that turns the loopback test switch on in [`Fetcher::from_env`]
/// (value `1`), honoured only when the `loopback-for-tests` feature is compiled in.
pub const ALLOW_LOOPBACK_ENV: &str = "OPTOUT_FETCH_ALLOW_LOOPBACK";

/// The `User-Agent` of every request unless the configuration names another.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "optout-link-fetcher/",
    env!("CARGO_PKG_VERSION"),
    " (+image opt-out desk)"
);

/// The limits of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// The largest image, in bytes (default 10 MB). A larger `Content-Length` is refused
    /// before the body is read; a body that grows past it is refused as soon as it does.
    pub max_bytes: u64,
    /// The whole fetch: name resolution, connections, every redirect and the body (default
    /// 10 s).
    pub timeout: Duration,
    /// One connection (resolution, TCP, TLS), within `timeout` (default 5 s).
    pub connect_timeout: Duration,
    /// Redirects followed; one more is refused (default 3).
    pub max_redirects: usize,
    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub user_agent: String,
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 3,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

/// The HTTP client could not be built (a configuration that reqwest refuses, such as a
/// `User-Agent` that is not a header value, or a TLS set-up failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not build the link fetcher: {0}")]
pub struct BuildError(String);

/// Fetches the image behind a public link (the [`LinkFetcher`] port). See the crate's
/// documentation for what it refuses and why. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    config: Arc<FetchConfig>,
    policy: AddressPolicy,
}

impl Fetcher {
    /// The production fetcher: public addresses only.
    pub fn new(config: FetchConfig) -> Result<Self, BuildError> {
        Self::build(config, AddressPolicy::default())
    }

    /// [`Fetcher::new`] with the default limits, and the loopback test switch read from
    /// [`ALLOW_LOOPBACK_ENV`] (see [`Fetcher::from_env_with`]).
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_env_with(FetchConfig::default())
    }

    /// [`Fetcher::new`], except that `OPTOUT_FETCH_ALLOW_LOOPBACK=1` allows IPv4 loopback
    /// (`127.0.0.0/8`) when the `loopback-for-tests` feature is compiled in (the operator
    /// binary's integration tests). Without the feature the variable is ignored, with a
    /// warning in the log, and the fetcher is the production one.
    pub fn from_env_with(config: FetchConfig) -> Result<Self, BuildError> {
        let value = std::env::var(ALLOW_LOOPBACK_ENV).ok();
        let allow = loopback_from_env(value.as_deref(), cfg!(feature = "loopback-for-tests"));
        Self::build(
            config,
            AddressPolicy {
                allow_loopback_v4: allow,
            },
        )
    }

    /// A fetcher that also connects to IPv4 loopback (`127.0.0.0/8`), for tests that serve
    /// images from `127.0.0.1`. Private, link-local, IPv6 loopback and every other non-public
    /// address stay refused. Only a build with the `loopback-for-tests` feature (a test build)
    /// makes one; any other build answers an error, so that test harnesses compile in every
    /// build while the switch exists only in theirs.
    pub fn allowing_loopback_for_tests(config: FetchConfig) -> Result<Self, BuildError> {
        #[cfg(feature = "loopback-for-tests")]
        return Self::build(config, AddressPolicy::loopback_for_tests());
        #[cfg(not(feature = "loopback-for-tests"))]
        {
            let _ = config;
            Err(BuildError(
                "this build has no loopback-for-tests feature: loopback stays refused".into(),
            ))
        }
    }

    fn build(config: FetchConfig, policy: AddressPolicy) -> Result<Self, BuildError> {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("image/*"));
        // The size limit counts the bytes of the image, not of a compressed transfer.
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.as_str())
            .default_headers(headers)
            // Redirects are followed by hand, each target checked like the link itself.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            // No proxy from the environment (HTTP_PROXY...): the addresses checked are the
            // addresses connected to.
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { policy }))
            .connect_timeout(config.connect_timeout.min(config.timeout))
            .https_only(false)
            .build()
            .map_err(|e| BuildError(describe(&e.without_url())))?;
        Ok(Fetcher {
            client,
            config: Arc::new(config),
            policy,
        })
    }

    /// The limits this fetcher applies.
    pub fn config(&self) -> &FetchConfig {
        &self.config
    }

    /// Fetches the image behind `link`, a link as written (not normalised): what
    /// [`LinkFetcher::fetch`] does for a [`NormalizedUrl`]. A link that does not parse is
    /// refused.
    pub async fn fetch_link(&self, link: &str) -> Result<FetchedImage, FetchError> {
        match Url::parse(link) {
            Ok(url) => self.fetch_url(url).await,
            Err(e) => {
                tracing::info!(outcome = "refused", "link image not fetched: invalid link");
                Err(FetchError::Refused(format!("invalid link ({e})")))
            }
        }
    }

    /// Fetches the image behind `url`, logging its host and the outcome (never the link: the
    /// links of notices can be personal).
    pub async fn fetch_url(&self, url: Url) -> Result<FetchedImage, FetchError> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let result = match tokio::time::timeout(self.config.timeout, self.fetch_inner(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        };
        match &result {
            Ok(image) => tracing::info!(
                host,
                outcome = "fetched",
                bytes = image.bytes.len(),
                "link image fetched"
            ),
            Err(e) => tracing::info!(host, outcome = %e, "link image not fetched"),
        }
        result
    }

    async fn fetch_inner(&self, mut url: Url) -> Result<FetchedImage, FetchError> {
        let mut redirects = 0;
        loop {
            self.check_url(&url)?;
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(map_reqwest)?;
            let status = response.status();
            if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                let Some(location) = response.headers().get(header::LOCATION) else {
                    return Err(FetchError::Status(status.as_u16()));
                };
                if redirects >= self.config.max_redirects {
                    return Err(FetchError::Refused("too many redirects".into()));
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| FetchError::Refused("invalid redirect location".into()))?;
                tracing::debug!(
                    from = url.host_str().unwrap_or_default(),
                    to = next.host_str().unwrap_or_default(),
                    status = status.as_u16(),
                    "link redirects"
                );
                redirects += 1;
                url = next;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            let content_type = check_content_type(
                response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .map(HeaderValue::as_bytes),
            )?;
            let bytes = self.read_body(response, &content_type).await?;
            return Ok(FetchedImage {
                bytes,
                content_type,
                final_url: url.into(),
            });
        }
    }

    /// The checks on a link or a redirect's target before any connection: http(s), no
    /// credentials, a host, and an IP-literal host public (names are checked by the resolver).
    fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        let scheme = url.scheme();
        if scheme != "http" && scheme != "https" {
            return Err(FetchError::Refused(format!("scheme {}", short(scheme))));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Refused("credentials in the link".into()));
        }
        let refused = |r: crate::address::Refusal| FetchError::Refused(r.0);
        match url.host() {
            None => Err(FetchError::Refused("no host".into())),
            Some(Host::Ipv4(ip)) => self.policy.check(ip.into()).map_err(refused),
            Some(Host::Ipv6(ip)) => self.policy.check(ip.into()).map_err(refused),
            Some(Host::Domain(_)) => Ok(()),
        }
    }

    /// The body, at most `max_bytes` of it, starting like a raster image.
    async fn read_body(
        &self,
        mut response: reqwest::Response,
        content_type: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let max = self.config.max_bytes;
        if response.content_length().is_some_and(|len| len > max) {
            return Err(FetchError::TooLarge(max));
        }
        // What the server declared, up to the limit, and never more than 16 MiB ahead of the
        // bytes themselves (a limit configured very high is not allocated up front).
        let capacity = response.content_length().unwrap_or(0).min(max).min(1 << 24);
        let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut sniffed = false;
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest)? {
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(FetchError::TooLarge(max));
            }
            bytes.extend_from_slice(&chunk);
            if !sniffed && bytes.len() >= SNIFF_LEN {
                check_magic(&bytes, content_type)?;
                sniffed = true;
            }
        }
        if !sniffed {
            check_magic(&bytes, content_type)?;
        }
        Ok(bytes)
    }
}

#[async_trait]
impl LinkFetcher for Fetcher {
    async fn fetch(&self, url: &NormalizedUrl) -> Result<FetchedImage, FetchError> {
        self.fetch_link(url.as_str()).await
    }
}

/// Whether the loopback switch is on, given the environment variable's value and whether the
/// feature is compiled in. Logs a warning whenever the variable is set to something that does
/// not turn it on, and when it does.
fn loopback_from_env(value: Option<&str>, feature_compiled: bool) -> bool {
    match value.map(str::trim) {
        None | Some("" | "0") => false,
        Some("1") if feature_compiled => {
            tracing::warn!(
                "{ALLOW_LOOPBACK_ENV}=1: the link fetcher connects to 127.0.0.0/8 (a test build)"
            );
            true
        }
        Some("1") => {
            tracing::warn!(
                "{ALLOW_LOOPBACK_ENV}=1 ignored: this build has no loopback-for-tests feature; \
                 loopback addresses stay refused"
            );
            false
        }
        Some(_) => {
            tracing::warn!("{ALLOW_LOOPBACK_ENV} ignored: only 1 turns it on");
            false
        }
    }
}

/// A reqwest error as the port's error: a name the resolver refused is `Refused`, a timeout
/// `Timeout`, the rest `Network` (its causes, without the link).
fn map_reqwest(e: reqwest::Error) -> FetchError {
    if let Some(refusal) = refusal_in(&e) {
        return FetchError::Refused(refusal.0.clone());
    }
    if e.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Network(describe(&e.without_url()))
}

/// An error and its causes, `: `-separated.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// At most 16 characters of `s` (a scheme quoted in a refusal).
fn short(s: &str) -> &str {
    match s.char_indices().nth(16) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_env_switch_needs_the_feature_and_the_value_1() {
        for feature in [false, true] {
            for value in [
                None,
                Some(""),
                Some("0"),
                Some("true"),
                Some("yes"),
                Some("2"),
            ] {
                assert!(!loopback_from_env(value, feature), "{value:?} {feature}");
            }
        }
        assert!(!loopback_from_env(Some("1"), false));
        assert!(loopback_from_env(Some("1"), true));
        assert!(loopback_from_env(Some(" 1 "), true));
    }

    #[test]
    fn defaults() {
        let c = FetchConfig::default();
        assert_eq!(c.max_bytes, 10_485_760);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.max_redirects, 3);
        assert_eq!(
            c.user_agent,
            format!(
                "optout-link-fetcher/{} (+image opt-out desk)",
                env!("CARGO_PKG_VERSION")
            )
        );
        let f = Fetcher::new(c.clone()).unwrap();
        assert_eq!(f.config(), &c);
        assert_eq!(f.policy, AddressPolicy::default());
    }

    #[test]
    fn a_bad_user_agent_is_a_build_error() {
        let config = FetchConfig {
            user_agent: "bad\nagent".into(),
            ..FetchConfig::default()
        };
        assert!(Fetcher::new(config).is_err());
    }

    #[test]
    fn links_checked_before_connecting() {
        let f = Fetcher::new(FetchConfig::default()).unwrap();
        let check = |s: &str| f.check_url(&Url::parse(s).unwrap());
        let refused = |s: &str| Err(FetchError::Refused(s.into()));
        assert_eq!(check("https://example.com/a.jpg"), Ok(()));
        assert_eq!(check("http://8.8.8.8:8080/a.jpg"), Ok(()));
        assert_eq!(check("http://[2606:4700::1111]/a.jpg"), Ok(()));
        assert_eq!(check("ftp://example.com/a.jpg"), refused("scheme ftp"));
        assert_eq!(check("file:///etc/passwd"), refused("scheme file"));
        assert_eq!(check("gopher://example.com/"), refused("scheme gopher"));
        assert_eq!(
            check("http://user:pw@example.com/a.jpg"),
            refused("credentials in the link")
        );
        assert_eq!(
            check("http://user@example.com/a.jpg"),
            refused("credentials in the link")
        );
        assert_eq!(
            check("http://:pw@example.com/a.jpg"),
            refused("credentials in the link")
        );
        assert_eq!(
            check("http://10.0.0.1/"),
            refused("private address 10.0.0.1")
        );
        assert_eq!(
            check("http://0x7f.1/"),
            refused("loopback address 127.0.0.1")
        );
        assert_eq!(
            check("http://2130706433/"),
            refused("loopback address 127.0.0.1")
        );
        assert_eq!(
            check("http://0177.0.0.1/"),
            refused("loopback address 127.0.0.1")
        );
        assert_eq!(
            check("http://[::ffff:a9fe:a9fe]/"),
            refused("link-local address ::ffff:169.254.169.254")
        );
        assert_eq!(
            check("http://[fe80::1]/"),
            refused("link-local address fe80::1")
        );
    }

    #[test]
    fn describe_walks_the_causes_without_repeating() {
        let inner = std::io::Error::other("connection refused");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tcp connect error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(
            describe(&Outer(inner)),
            "tcp connect error: connection refused"
        );
    }
}
