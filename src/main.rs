//! `optout`: the operator binary.

mod cmd_check;
mod cmd_embed;
mod cmd_sync;

/// mimalloc: the face models load in ~30% less time than with glibc's allocator in a fresh
/// process (huge-page arenas, far fewer page faults); see shared/face/README.md.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use optout::config::ServeArgs;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "optout",
    version,
    about = "Image opt-out desk: run it, embed a photo, mint admin links"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web app, the embedding worker and the embedded store in one process.
    Serve {
        #[command(flatten)]
        args: ServeArgs,
        /// Directory of the prepared face models (made by scripts/setup-models).
        #[arg(long, env = "OPTOUT_MODEL_DIR")]
        model_dir: Option<PathBuf>,
    },
    /// Run the face pipeline on one image and print what it found.
    Embed(cmd_embed::EmbedArgs),
    /// Mint a signed, expiring admin link for a reviewer.
    AdminUrl(optout::admin_url::AdminUrlArgs),
    /// Make, list or revoke the indexer API keys of the embedded mode.
    IndexerKey(optout::indexer_key::IndexerKeyArgs),
    /// Check a photo (SHA-256, PDQ, every face) and links against the exclusion data, through the
    /// indexer API or a mirror. Exit status: 0 nothing excluded, 1 something excluded, 2 error.
    Check(cmd_check::CheckArgs),
    /// Create or update a local mirror of the exclusion data (for `check --mirror`).
    Sync(cmd_sync::SyncArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OPTOUT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { args, model_dir } => {
            let dir = model_dir.unwrap_or_else(optout_face::default_model_dir);
            let engine = optout_face::FaceEngine::load(&dir)?;
            optout::embedded::serve(
                args,
                Some(std::sync::Arc::new(optout_face::FaceAnalyzer(
                    engine.into(),
                ))),
            )
            .await
        }
        Command::Embed(args) => cmd_embed::run(&args),
        Command::AdminUrl(args) => optout::admin_url::run(&args),
        Command::IndexerKey(args) => {
            optout::indexer_key::run(&args, &mut std::io::stdout().lock()).await
        }
        Command::Check(args) => std::process::exit(cmd_check::run(args).await),
        Command::Sync(args) => cmd_sync::run(args).await,
    }
}
