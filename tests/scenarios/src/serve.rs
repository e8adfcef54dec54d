//! What `optout serve` starts, in process, on a free port and a given data directory: the
//! scenarios' embedded mode and the app tests (`tests/app/common.rs`, which include this file by
//! path) start it the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::{System, run};
use optout_core::ports::{
    Clock, FetchError, FetchedImage, LinkFetcher, PhotoAnalyzer, SystemClock,
};
use tokio::sync::watch;

/// The desk settings of the tests (flags of `optout serve`, checked by the shared configuration;
/// the AWS mode's are the same).
pub fn desk_args() -> DeskArgs {
    DeskArgs {
        mail_from: Some("optout <desk@example.org>".into()),
        support_email: Some("privacy@example.org".into()),
        operator_name: Some("Example Search".into()),
        ..Default::default()
    }
}

/// The link fetcher of the tests: the real one with its test switch on (IPv4 loopback allowed,
/// so that tests serve images from `127.0.0.1`), for links on this machine only. The test
/// machine reaches no web site, so any other link is refused at once rather than left to time out
/// (the links of most tests are made up).
pub struct LocalLinks(optout_fetch::Fetcher);

impl LocalLinks {
    pub fn new() -> Self {
        let config = optout_fetch::FetchConfig {
            timeout: std::time::Duration::from_secs(5),
            ..Default::default()
        };
        LocalLinks(
            optout_fetch::Fetcher::allowing_loopback_for_tests(config)
                .expect("a test build has the fetcher's loopback-for-tests feature"),
        )
    }
}

impl Default for LocalLinks {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl LinkFetcher for LocalLinks {
    async fn fetch(&self, url: &optout_matcher::NormalizedUrl) -> Result<FetchedImage, FetchError> {
        match url::Url::parse(url.as_str()) {
            Ok(u) if u.host_str() == Some("127.0.0.1") => self.0.fetch(url).await,
            _ => Err(FetchError::Network(
                "the test machine reaches no web site".into(),
            )),
        }
    }
}

/// How a test starts it: desk settings, a face pipeline (none: no worker runs, jobs wait in the
/// queue), a clock and a link fetcher. The default: [`desk_args`], no pipeline, the system clock,
/// [`LocalLinks`].
pub struct Setup {
    pub desk: DeskArgs,
    pub analyzer: Option<Arc<dyn PhotoAnalyzer>>,
    pub clock: Arc<dyn Clock>,
    pub fetcher: Arc<dyn LinkFetcher>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            desk: desk_args(),
            analyzer: None,
            clock: Arc::new(SystemClock),
            fetcher: Arc::new(LocalLinks::new()),
        }
    }
}

/// A running `optout serve`.
pub struct Serving {
    pub url: String,
    pub system: System,
    /// Tells the server to stop.
    pub shutdown: watch::Sender<bool>,
    /// The server's task; it ends once told to stop.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts `optout serve` on `data` as `setup` says (public URL: where it listens).
pub async fn serve(data: &Path, setup: Setup) -> Serving {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("address");
    let url = format!("http://{addr}");
    let args = ServeArgs {
        data: Some(data.to_owned()),
        desk: DeskArgs {
            public_url: Some(url.clone()),
            ..setup.desk
        },
        ..Default::default()
    };
    let config = args
        .sources_with_env(false)
        .and_then(|s| s.resolve(addr))
        .expect("configuration");
    let mut system = System::open(&config, setup.clock).expect("embedded system");
    system.fetcher = setup.fetcher;
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(run(system.clone(), listener, setup.analyzer, rx));
    Serving {
        url,
        system,
        shutdown,
        task,
    }
}

/// The `.eml` files of an outbox, oldest first.
pub fn eml_files(outbox: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(outbox)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A web site on `127.0.0.1` serving `files` (path, content type, body), as the sites the links
/// of a DSA notice point to. Returns its base URL (`http://127.0.0.1:PORT`); it serves until the
/// test's runtime ends.
pub async fn serve_files(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    let mut app = axum::Router::new();
    for (path, content_type, body) in files {
        app = app.route(
            path,
            axum::routing::get(move || {
                let body = body.clone();
                async move { ([(axum::http::header::CONTENT_TYPE, content_type)], body) }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}
