//! The operator binary's library: configuration and the embedded runtime (HTTP app, job worker
//! and embedded store in one process), so tests start exactly what `optout serve` starts.

pub mod admin_url;
pub mod cmd_aws;
pub mod config;
pub mod embedded;
pub mod indexer_key;
