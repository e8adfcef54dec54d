//! The embedded system as the benches of this folder start it (`load_bench.rs`,
//! `indexer_http_bench.rs`, `hostile_images_bench.rs` include this file with `#[path]`, beside
//! `load.rs`): what `optout serve` starts, on a data directory and a free loopback port, and the
//! app over HTTP as their clients use it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::{System, run};
use optout_core::ports::{PhotoAnalyzer, SystemClock};
use serde_json::Value;

use crate::load::{Answer, Submitter};

/// The repository's root (where `.cache/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real face pipeline on the models of `.cache/models`.
pub fn face_analyzer() -> anyhow::Result<Arc<dyn PhotoAnalyzer>> {
    let engine = optout_face::FaceEngine::load(&root().join(".cache/models"))
        .context("face models: run scripts/setup-models")?;
    Ok(Arc::new(optout_face::FaceAnalyzer(engine.into())))
}

/// A running server.
pub struct Served {
    pub url: String,
    pub system: System,
    /// Tells the server to stop.
    pub stop: tokio::sync::watch::Sender<bool>,
    /// The server's task: HTTP app, job worker (with an analyzer), housekeeping.
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the embedded system on `data` as `optout serve` starts it; with `analyzer`, its job
/// worker embeds the photos.
pub async fn serve(
    data: &Path,
    analyzer: Option<Arc<dyn PhotoAnalyzer>>,
) -> anyhow::Result<Served> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    let args = ServeArgs {
        data: Some(data.to_owned()),
        desk: DeskArgs {
            public_url: Some(url.clone()),
            mail_from: Some("bench <desk@example.org>".into()),
            operator_name: Some("bench".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let config = args.sources_with_env(false)?.resolve(addr)?;
    let system = System::open(&config, Arc::new(SystemClock))?;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(run(system.clone(), listener, analyzer, rx));
    Ok(Served {
        url,
        system,
        stop,
        server,
    })
}

/// The app over HTTP.
#[derive(Clone)]
pub struct Http {
    pub client: reqwest::Client,
    pub url: String,
}

impl Submitter for Http {
    async fn post(&self, path: &str, body: &Value, key: Option<&str>) -> Answer {
        let start = Instant::now();
        let mut req = self.client.post(format!("{}{path}", self.url)).json(body);
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        let took = start.elapsed();
        let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, answer, took))
    }
}
