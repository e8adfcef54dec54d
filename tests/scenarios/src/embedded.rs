//! The embedded mode: exactly what `optout serve` runs, on a fresh data directory and a free
//! port, driven over a real socket. Embedding jobs are run on demand by a worker on the same
//! queue (instead of the background worker) so scenarios are deterministic.

use std::sync::Arc;

use async_trait::async_trait;
use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::{System, run};
use optout_core::Desk;
use optout_core::ports::SystemClock;
use optout_embedded::queue::Step;
use optout_embedded::{Worker, WorkerConfig};
use tokio::sync::watch;

use crate::{Mode, Reply, Req, SentMail, analyzer};

pub struct Embedded {
    pub url: String,
    pub system: System,
    shutdown: watch::Sender<bool>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The settings the scenarios expect (the same in both modes).
pub fn desk_args() -> DeskArgs {
    DeskArgs {
        mail_from: Some("optout <desk@example.org>".into()),
        support_email: Some("privacy@example.org".into()),
        operator_name: Some("Example Search".into()),
        ..Default::default()
    }
}

impl Embedded {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("address");
        let url = format!("http://{addr}");
        let args = ServeArgs {
            data: Some(dir.path().to_owned()),
            desk: DeskArgs {
                public_url: Some(url.clone()),
                ..desk_args()
            },
            ..Default::default()
        };
        let config = args
            .sources_with_env(false)
            .and_then(|s| s.resolve(addr))
            .expect("configuration");
        let system = System::open(&config, Arc::new(SystemClock)).expect("embedded system");
        let (shutdown, rx) = watch::channel(false);
        // No analyzer: jobs wait for `run_jobs`.
        tokio::spawn(run(system.clone(), listener, None, rx));
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
        let mut files: Vec<_> = std::fs::read_dir(self.system.outbox())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
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
