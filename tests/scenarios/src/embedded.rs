//! The embedded mode: exactly what `optout serve` runs, on a fresh data directory and a free
//! port, driven over a real socket. Embedding jobs are run on demand by a worker on the same
//! queue (instead of the background worker) so scenarios are deterministic.

use async_trait::async_trait;
use optout::embedded::System;
use optout_core::Desk;
use optout_embedded::queue::Step;
use optout_embedded::{Worker, WorkerConfig};
use tokio::sync::watch;

use crate::serve::{Serving, Setup, eml_files, serve};
use crate::{Mode, Reply, Req, SentMail, analyzer};

pub struct Embedded {
    pub url: String,
    pub system: System,
    shutdown: watch::Sender<bool>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Embedded {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // No analyzer: jobs wait for `run_jobs`.
        let Serving {
            url,
            system,
            shutdown,
            ..
        } = serve(dir.path(), Setup::default()).await;
        Embedded {
            url,
            system,
            shutdown,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            _dir: dir,
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

#[async_trait]
impl Mode for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    fn desk(&self) -> &Desk {
        &self.system.desk
    }

    async fn indexer_key(&self) -> String {
        let (_, plain) = self
            .system
            .indexer_keys
            .create("scenario-indexer", 6000)
            .await
            .expect("an indexer key");
        plain
    }

    async fn send(&self, req: Req) -> Reply {
        let mut r = self
            .client
            .request(req.method, format!("{}{}", self.url, req.path));
        for (k, v) in &req.headers {
            r = r.header(k, v);
        }
        let resp = r.body(req.body).send().await.expect("the app answers");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = resp.bytes().await.expect("body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn run_jobs(&self) -> usize {
        let worker = Worker {
            queue: self.system.queue.clone(),
            handler: self.system.embed_jobs(analyzer()),
            config: WorkerConfig::default(),
        };
        let mut done = 0;
        loop {
            match worker.step().await.expect("queue") {
                Step::Idle => return done,
                Step::Done(_) => done += 1,
                Step::Retry(_) | Step::Failed(_) => {}
            }
        }
    }

    async fn housekeep(&self) {
        self.system.desk.housekeep(100).await.expect("housekeeping");
    }

    async fn mails_to(&self, to: &str) -> Vec<SentMail> {
        eml_files(&self.system.outbox())
            .iter()
            .filter_map(|p| {
                let raw = std::fs::read(p).ok()?;
                let msg = mail_parser::MessageParser::default().parse(&raw)?;
                let recipients: Vec<String> = msg
                    .to()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.address().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(SentMail {
                    to: recipients,
                    subject: msg.subject().unwrap_or_default().to_owned(),
                    html: msg.body_html(0).map(|h| h.into_owned()).unwrap_or_default(),
                })
            })
            .filter(|m| m.to.iter().any(|a| a == to))
            .collect()
    }

    fn email(&self, who: &str) -> String {
        format!("{who}@example.org")
    }
}
