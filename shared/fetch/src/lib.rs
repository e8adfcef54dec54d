//! optout-fetch: the image behind a link of a DSA notice, fetched so that the desk can hash it,
//! without letting a link reach what it must not (server-side request forgery).
//!
//! [`Fetcher`] implements the port [`optout_core::ports::LinkFetcher`]. A fetch:
//!
//! - follows **http and https** links only, **without credentials** (`user:pw@`); any port;
//! - connects to **public addresses only** ([`classify`] names the others: loopback, private,
//!   link-local, CGNAT, documentation and benchmarking ranges, `0/8`, `240/4`, multicast,
//!   broadcast, unique-local, site-local, and the IPv4-mapped, IPv4-compatible, NAT64, 6to4 and
//!   Teredo forms of them). An IP-literal host is checked before sending; a host name is
//!   resolved by the fetcher's own resolver, which checks **every** address and refuses the
//!   name if any one is not public, then hands the HTTP client exactly the addresses it
//!   checked, so DNS rebinding (one answer for the check, another for the connection) cannot
//!   happen;
//! - follows at most [`FetchConfig::max_redirects`] redirects (3) **by hand**, each target
//!   checked like the link itself;
//! - accepts `image/*` content types except SVG (script-capable, and not a raster the hashers
//!   read), and bodies that start with a raster format's magic number (JPEG, PNG, GIF, WebP,
//!   BMP, TIFF, ICO, AVIF/HEIF, JPEG XL, JPEG 2000), so a page sent as `image/jpeg` is refused;
//! - reads at most [`FetchConfig::max_bytes`] (10 MB): a larger `Content-Length` is refused
//!   before the body, a body that grows past it as soon as it does; and takes at most
//!   [`FetchConfig::timeout`] (10 s) in all: resolution, connections, redirects and body;
//! - sends no cookies and no credentials, uses no proxy from the environment, and says who it
//!   is ([`DEFAULT_USER_AGENT`], `Accept: image/*`);
//! - logs the link's host and the outcome only, never the link (links of notices can be
//!   personal).
//!
//! Errors are the port's [`FetchError`]: `Refused("private address 10.0.0.1")`,
//! `Refused("too many redirects")`, `Refused("scheme ftp")`, `Status(404)`, `Timeout`,
//! `TooLarge(limit)`, `NotImage(why)`, `Network(why)`.
//!
//! # The test switch
//!
//! Tests serve their images from `127.0.0.1`, which a fetcher refuses. The cargo feature
//! **`loopback-for-tests`** lets them through, and only when a test asks at run time:
//!
//! - `Fetcher::allowing_loopback_for_tests(config)` (exists only with the feature);
//! - [`Fetcher::from_env`] / [`Fetcher::from_env_with`] with
//!   **`OPTOUT_FETCH_ALLOW_LOOPBACK=1`** ([`ALLOW_LOOPBACK_ENV`]), for the operator binary's
//!   integration tests. Without the feature the variable is ignored, with a warning.
//!
//! Either way only IPv4 loopback, `127.0.0.0/8`, is allowed: never `::1` or a mapped form of
//! loopback, never a private or link-local address. The feature belongs in the
//! `[dev-dependencies]` of the crates that test with it, never in `[dependencies]`: production
//! builds do not have it, and there both ways are off whatever the environment says.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use optout_core::ports::LinkFetcher;
//! use optout_fetch::{FetchConfig, Fetcher};
//! use optout_matcher::NormalizedUrl;
//!
//! let fetcher = Fetcher::new(FetchConfig::default())?;
//! let link: NormalizedUrl = "https://example.com/photo.jpg".parse()?;
//! let image = fetcher.fetch(&link).await?;
//! println!("{} bytes of {}", image.bytes.len(), image.content_type);
//! # Ok(()) }
//! ```

mod address;
mod content;
mod fetcher;
mod resolver;

pub use address::{NonPublic, classify, is_public};
pub use fetcher::{ALLOW_LOOPBACK_ENV, BuildError, DEFAULT_USER_AGENT, FetchConfig, Fetcher};
pub use optout_core::ports::{FetchError, FetchedImage, LinkFetcher};
