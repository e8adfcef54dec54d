//! `optout indexer-key create|list|revoke`: the indexer API keys of the embedded mode, kept in
//! its database (only the SHA-256 of each secret). A new key is printed once, to stdout; nothing
//! else ever prints a secret. With `--aws` the same commands work on a deployed stack's SSM
//! parameter (see [`crate::cmd_aws`]).

use anyhow::{Context, bail};
use optout_core::indexer_keys::DEFAULT_RATE_PER_MINUTE;
use optout_core::ports::{IndexerKey, SystemClock};
use optout_embedded::indexer_keys::{CreateKeyError, Revoked};
use optout_embedded::{Db, SqliteIndexerKeys};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct IndexerKeyArgs {
    #[command(subcommand)]
    pub command: IndexerKeyCommand,
    /// `--aws [--stack NAME] [--region R]`: create, list and revoke the keys of a deployed stack.
    #[command(flatten)]
    pub aws: crate::cmd_aws::AwsTarget,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum IndexerKeyCommand {
    /// Make a key and print it (once: only its hash is kept).
    Create {
        #[arg(long, env = "OPTOUT_DATA_DIR", default_value = "./data")]
        data: PathBuf,
        /// Who holds the key (e.g. the indexer cluster's name), 1-100 characters.
        #[arg(long)]
        name: String,
        /// Requests per minute the key may make (its bucket holds a minute's worth).
        #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
        rate_per_minute: u32,
    },
    /// Make a key without a database or AWS access; prints the key on the first line and the
    /// record to add to the JSON array of the `IndexerKeysParameter` SSM parameter on the second
    /// (only the SHA-256 of the secret). `create --aws` does this and adds the record itself.
    Record {
        /// Who holds the key (e.g. the indexer cluster's name), 1-100 characters.
        #[arg(long)]
        name: String,
        #[arg(long, default_value_t = DEFAULT_RATE_PER_MINUTE)]
        rate_per_minute: u32,
    },
    /// List the keys (ids, names, rates, dates; never secrets).
    List {
        #[arg(long, env = "OPTOUT_DATA_DIR", default_value = "./data")]
        data: PathBuf,
    },
    /// Revoke a key: it is refused from the next request on.
    Revoke {
        #[arg(long, env = "OPTOUT_DATA_DIR", default_value = "./data")]
        data: PathBuf,
        /// The key's id (the 12 characters after `optk_`).
        id: String,
    },
}

fn open(dir: &Path, create: bool) -> anyhow::Result<SqliteIndexerKeys> {
    let file = dir.join("optout.sqlite3");
    if create {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    } else if !file.exists() {
        bail!("no database in {} (is --data right?)", dir.display());
    }
    let db = Db::open(&file).context("opening the database")?;
    Ok(SqliteIndexerKeys::new(db, Arc::new(SystemClock)))
}

/// One key as `list` shows it (tab-separated; no secret).
pub(crate) fn line(k: &IndexerKey) -> String {
    let revoked = k
        .revoked_at
        .map_or_else(|| "-".to_owned(), |t| t.to_rfc3339());
    format!(
        "{}\t{}\t{}\t{}\t{}",
        k.id,
        k.rate_per_minute,
        k.created_at.to_rfc3339(),
        revoked,
        k.name
    )
}

/// The table `list` prints: a header and one [`line`] per key.
pub(crate) fn write_table(out: &mut impl Write, keys: &[IndexerKey]) -> std::io::Result<()> {
    writeln!(out, "id\trate_per_minute\tcreated_at\trevoked_at\tname")?;
    for k in keys {
        writeln!(out, "{}", line(k))?;
    }
    Ok(())
}

/// Runs the command; what is for the operator goes to `out`.
pub async fn run(args: &IndexerKeyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.command {
        IndexerKeyCommand::Create {
            data,
            name,
            rate_per_minute,
        } => {
            let keys = open(data, true)?;
            let (key, plain) = match keys.create(name, *rate_per_minute).await {
                Ok(k) => k,
                Err(CreateKeyError::Invalid(e)) => bail!("{e}"),
                Err(CreateKeyError::Store(e)) => return Err(e).context("storing the key"),
            };
            writeln!(out, "{plain}")?;
            eprintln!(
                "Key {} made for {:?} ({} requests per minute). It is shown only now: give it to the indexer as `Authorization: Bearer <key>`.",
                key.id, key.name, key.rate_per_minute
            );
        }
        IndexerKeyCommand::Record {
            name,
            rate_per_minute,
        } => {
            let (key, plain) =
                optout_core::indexer_keys::generate(name, *rate_per_minute, chrono::Utc::now())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            writeln!(out, "{plain}")?;
            writeln!(out, "{}", serde_json::to_string(&key)?)?;
        }
        IndexerKeyCommand::List { data } => {
            let keys = open(data, false)?
                .list()
                .await
                .context("reading the keys")?;
            write_table(out, &keys)?;
        }
        IndexerKeyCommand::Revoke { data, id } => {
            match open(data, false)?
                .revoke(id)
                .await
                .context("revoking the key")?
            {
                Revoked::Now(k) => writeln!(out, "revoked {}", line(&k))?,
                Revoked::Already(k) => writeln!(out, "already revoked {}", line(&k))?,
                Revoked::NotFound => bail!("no key with id {id:?}"),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use optout_core::indexer_keys::{PresentedKey, StaticIndexerKeys, authenticate};

    #[tokio::test]
    async fn a_record_authenticates_its_key_and_holds_no_secret() {
        let args = IndexerKeyArgs {
            command: IndexerKeyCommand::Record {
                name: "crawler-eu".into(),
                rate_per_minute: 600,
            },
            aws: Default::default(),
        };
        let mut out = Vec::new();
        run(&args, &mut out).await.unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let (plain, record) = (lines.next().unwrap(), lines.next().unwrap());
        let key: IndexerKey = serde_json::from_str(record).unwrap();
        assert_eq!(
            (key.name.as_str(), key.rate_per_minute),
            ("crawler-eu", 600)
        );
        let secret = plain.rsplit('_').next().unwrap();
        assert!(!record.contains(secret), "the record keeps only the hash");
        let store = StaticIndexerKeys(vec![key.clone()]);
        let found = authenticate(&store, plain).await.unwrap();
        assert_eq!(found.id, key.id);
        assert!(PresentedKey::parse(plain).is_ok());
        let bad = IndexerKeyArgs {
            command: IndexerKeyCommand::Record {
                name: String::new(),
                rate_per_minute: 600,
            },
            aws: Default::default(),
        };
        assert!(run(&bad, &mut Vec::new()).await.is_err());
    }
}
