//! What `optout serve` starts, in process, on a free port and a given data directory: the
//! scenarios' embedded mode and the app tests (`tests/app/common.rs`, which include this file by
//! path) start it the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::{System, run};
use optout_core::ports::{Clock, PhotoAnalyzer, SystemClock};
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

/// How a test starts it: desk settings, a face pipeline (none: no worker runs, jobs wait in the
/// queue) and a clock. The default: [`desk_args`], no pipeline, the system clock.
pub struct Setup {
    pub desk: DeskArgs,
    pub analyzer: Option<Arc<dyn PhotoAnalyzer>>,
    pub clock: Arc<dyn Clock>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            desk: desk_args(),
            analyzer: None,
            clock: Arc::new(SystemClock),
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
    let system = System::open(&config, setup.clock).expect("embedded system");
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
