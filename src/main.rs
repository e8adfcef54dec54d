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
        /// Directory of the prepared face models (made by scripts/setup-models)
        /// [env: OPTOUT_MODEL_DIR] [default: .cache/models].
        #[arg(long)]
        model_dir: Option<PathBuf>,
    },
    /// Run the face pipeline on one image and print what it found.
    Embed(cmd_embed::EmbedArgs),
    /// Mint a signed, expiring admin link for a reviewer (embedded mode, or a stack with --aws).
    AdminUrl(optout::admin_url::AdminUrlArgs),
    /// Make, list or revoke the indexer API keys (embedded mode, or a stack with --aws).
    IndexerKey(optout::indexer_key::IndexerKeyArgs),
    /// Prepare an AWS account for the stack: `optout aws init` (with your AWS credentials).
    Aws(optout::cmd_aws::AwsArgs),
    /// Check a photo (SHA-256, PDQ, every face) and links against the exclusion data, through the
    /// indexer API or a mirror. Exit status: 0 nothing excluded, 1 something excluded, 2 error.
    Check(cmd_check::CheckArgs),
    /// Create or update a local mirror of the exclusion data (for `check --mirror`).
    Sync(cmd_sync::SyncArgs),
}

/// Starts the log on stderr with the filter of `RUST_LOG` (default `info`), the variable the AWS
/// functions read too. An invalid filter stops the program with a message naming it.
fn init_logging() -> anyhow::Result<()> {
    let name = optout_core::config::LOG_FILTER;
    let wanted = std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&wanted)
        .map_err(|e| anyhow::anyhow!("invalid value of {name}: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging()?;
    match Cli::parse().command {
        Command::Serve { args, model_dir } => {
            optout::embedded::serve(args, |sources| {
                let dir = model_dir
                    .or_else(|| sources.model_dir())
                    .unwrap_or_else(optout_face::default_model_dir);
                let engine = optout_face::FaceEngine::load(&dir)?;
                let analyzer: std::sync::Arc<dyn optout_core::ports::PhotoAnalyzer> =
                    std::sync::Arc::new(optout_face::FaceAnalyzer(engine.into()));
                Ok(Some(analyzer))
            })
            .await
        }
        Command::Embed(args) => cmd_embed::run(&args),
        Command::AdminUrl(args) if args.aws.enabled => {
            optout::cmd_aws::admin_url(&args, &mut std::io::stdout().lock()).await
        }
        Command::AdminUrl(args) => optout::admin_url::run(&args),
        Command::IndexerKey(args) if args.aws.enabled => {
            optout::cmd_aws::indexer_key(&args, &mut std::io::stdout().lock()).await
        }
        Command::Aws(args) => optout::cmd_aws::run(&args, &mut std::io::stdout().lock()).await,
        Command::IndexerKey(args) => {
            optout::indexer_key::run(&args, &mut std::io::stdout().lock()).await
        }
        Command::Check(args) => std::process::exit(cmd_check::run(args).await),
        Command::Sync(args) => cmd_sync::run(args).await,
    }
}
