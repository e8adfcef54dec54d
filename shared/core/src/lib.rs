//! optout-core: the domain of the opt-out desk and the rules that hold in every runtime.
//!
//! - [`model`]: parsed, always-valid field types (email, phone, country, ...) and the case model;
//! - [`photo`]: verification of an uploaded photo (sniffed type, size, pixels, every pixel decoded under limits);
//! - [`pixels`] and [`decode_gate`]: decoding photos reduced (never more pixels than needed), and
//!   the limit on decodes at once;
//! - [`verdict`]: whether a photo can be used for a face opt-out, and if not, why;
//! - [`ports`]: one small trait per capability (case store, photo store, job queue, mailer, clock);
//! - [`signing`]: HMAC-signed, expiring tokens (status links, upload policies) with key rotation;
//! - [`i18n`] and [`mail`]: the texts of the product in English and Thai, and the emails built from them;
//! - [`service`]: the use cases (submit, status, withdraw, embedding jobs) on top of the ports;
//! - [`exclusions`]: the indexer's side of the exclusion table (batch checks, change feed, snapshot);
//! - [`indexer_keys`]: the indexer's API keys (format, generation, constant-time verification).

pub mod config;
pub mod countries;
pub mod decode_gate;
pub mod embedding;
pub mod error;
pub mod exclusions;
pub mod i18n;
pub mod indexer_keys;
pub mod mail;
pub mod model;
pub mod photo;
pub mod pixels;
pub mod ports;
pub mod review;
pub mod send_once;
pub mod service;
pub mod settings;
pub mod signing;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upload_check;
pub mod verdict;

pub use error::{FieldError, FieldErrors};
pub use i18n::Lang;
pub use verdict::Verdict;
