//! The operator's commands on a deployed AWS stack, with the caller's own AWS credentials (the
//! SDK's chain: `AWS_PROFILE`, `AWS_ACCESS_KEY_ID`..., `~/.aws`; `--region` or the chain's region):
//!
//! - `optout aws init`: creates the two SSM SecureString parameters the stack reads (the signing
//!   key ring and the empty list of indexer keys) before the first `sam deploy` (CloudFormation
//!   cannot create SecureString parameters); `--rotate-signing-key` puts a new signing key first;
//! - `optout admin-url --aws`: mints an admin link with the stack's public URL and key ring;
//! - `optout indexer-key create|list|revoke --aws`: the stack's indexer keys.
//!
//! The AWS work is in `optout_aws::operator`; this module parses, prints and says what happened.
//! Secrets are printed only where the embedded commands print them (a new indexer key, once, on
//! stdout; an admin link); the key ring never is.

use std::io::Write;

use anyhow::{anyhow, bail};
use chrono::Utc;
use optout_aws::operator::stack::{self, StackOutputs};
use optout_aws::operator::{Operator, OperatorError, indexer_keys, key_ring};
use optout_core::indexer_keys::is_key_id;
use optout_core::signing::admin;

use crate::admin_url::AdminUrlArgs;
use crate::indexer_key::{IndexerKeyArgs, IndexerKeyCommand, write_table};

/// The parameter names of the template's defaults (`SigningKeysParameter`, `IndexerKeysParameter`).
pub const DEFAULT_SIGNING_KEYS_PARAMETER: &str = "/optout/signing-keys";
pub const DEFAULT_INDEXER_KEYS_PARAMETER: &str = "/optout/indexer-keys";
/// The stack name of samconfig.toml.
pub const DEFAULT_STACK: &str = "optout";

/// `--aws [--stack NAME] [--region R]`: which deployed stack a command works on.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsTarget {
    /// Work on the deployed AWS stack (its outputs and SSM parameters) with your AWS credentials
    /// (AWS_PROFILE, AWS_ACCESS_KEY_ID..., ~/.aws), instead of the embedded mode's data.
    #[arg(long = "aws", id = "aws", global = true)]
    pub enabled: bool,
    /// The CloudFormation stack (with --aws).
    #[arg(long, global = true, default_value = DEFAULT_STACK, requires = "aws")]
    pub stack: String,
    /// The stack's AWS region (with --aws) [default: AWS_REGION, or your AWS profile's region].
    #[arg(long, global = true, requires = "aws")]
    pub region: Option<String>,
}

impl Default for AwsTarget {
    fn default() -> Self {
        AwsTarget {
            enabled: false,
            stack: DEFAULT_STACK.to_owned(),
            region: None,
        }
    }
}

/// `optout aws ...`.
#[derive(Debug, Clone, clap::Args)]
pub struct AwsArgs {
    #[command(subcommand)]
    pub command: AwsCommand,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum AwsCommand {
    /// Create the stack's two SSM SecureString parameters if they do not exist: the signing key
    /// ring (one new key) and the indexer key list (`[]`). Run it before the first `sam deploy`
    /// (CloudFormation cannot create SecureString parameters). Existing parameters are left as
    /// they are. Never prints a secret.
    Init(InitArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// The signing key ring's parameter (the template's SigningKeysParameter).
    #[arg(long, default_value = DEFAULT_SIGNING_KEYS_PARAMETER)]
    pub signing_keys_parameter: String,
    /// The indexer keys' parameter (the template's IndexerKeysParameter).
    #[arg(long, default_value = DEFAULT_INDEXER_KEYS_PARAMETER)]
    pub indexer_keys_parameter: String,
    /// Encrypt new parameters with this customer managed KMS key, given by its ARN (the template's
    /// SecretsKmsKeyArn takes the same ARN) [default: SSM's AWS managed key aws/ssm].
    #[arg(long)]
    pub kms_key_id: Option<String>,
    /// Also put a new signing key first in an existing key ring; the two newest older keys stay
    /// (links they signed still verify), older ones are dropped.
    #[arg(long)]
    pub rotate_signing_key: bool,
    /// The AWS region [default: AWS_REGION, or your AWS profile's region].
    #[arg(long)]
    pub region: Option<String>,
}

/// Runs `optout aws ...`; the report goes to `out`.
pub async fn run(args: &AwsArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.command {
        AwsCommand::Init(init) => run_init(init, out).await,
    }
}

async fn run_init(args: &InitArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let op = Operator::connect(args.region.as_deref()).await?;
    let kms = args.kms_key_id.as_deref();
    let signing = &args.signing_keys_parameter;
    match key_ring::ensure(&op.ssm, signing, kms, args.rotate_signing_key, Utc::now()).await? {
        key_ring::Outcome::Created { key_id, version } => writeln!(
            out,
            "signing keys: created {signing} in {} (SecureString, version {version}) with key {key_id}",
            op.region
        )?,
        key_ring::Outcome::Kept { key_ids } => writeln!(
            out,
            "signing keys: {signing} exists in {} (keys {}); left as it is",
            op.region,
            key_ids.join(", ")
        )?,
        key_ring::Outcome::Rotated {
            key_id,
            kept,
            dropped,
            version,
        } => {
            writeln!(
                out,
                "signing keys: rotated {signing} in {} (version {version}): {key_id} signs now; {} still verify; {}",
                op.region,
                if kept.is_empty() {
                    "no older keys".to_owned()
                } else {
                    kept.join(", ")
                },
                if dropped.is_empty() {
                    "none dropped".to_owned()
                } else {
                    format!(
                        "dropped {} (links they signed no longer open)",
                        dropped.join(", ")
                    )
                }
            )?;
            eprintln!(
                "The functions read the key ring when they start: instances already running keep the old ring and refuse links signed with {key_id} until Lambda replaces them. To replace them now, update the functions' configuration (e.g. `sam deploy` with a changed parameter)."
            );
        }
    }
    let indexer = &args.indexer_keys_parameter;
    match indexer_keys::ensure_list(&op.ssm, indexer, kms).await? {
        indexer_keys::Outcome::Created { version } => writeln!(
            out,
            "indexer keys: created {indexer} in {} (SecureString, version {version}) with no key",
            op.region
        )?,
        indexer_keys::Outcome::Kept { keys } => writeln!(
            out,
            "indexer keys: {indexer} exists in {} ({keys} keys); left as it is",
            op.region
        )?,
    }
    eprintln!(
        "Deploy with SigningKeysParameter={signing} IndexerKeysParameter={indexer}{} (the template's defaults are {DEFAULT_SIGNING_KEYS_PARAMETER} and {DEFAULT_INDEXER_KEYS_PARAMETER}).",
        kms.map(|k| format!(" SecretsKmsKeyArn={k}"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The stack's outputs `names`, read with the operator's credentials.
async fn outputs<const N: usize>(
    op: &Operator,
    target: &AwsTarget,
    names: [&'static str; N],
) -> Result<[String; N], OperatorError> {
    let found = StackOutputs::read(&op.cloudformation, &op.region, &target.stack).await?;
    Ok(found.require(names)?.map(str::to_owned))
}

/// `optout admin-url --aws`: the link, on `out`, exactly as the embedded mode mints it (the
/// stack's `PublicUrl`, its key ring's first key); its expiry on stderr.
pub async fn admin_url(args: &AdminUrlArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (reviewer, ttl) = args.grant()?;
    let op = Operator::connect(args.aws.region.as_deref()).await?;
    let [public_url, parameter] = outputs(
        &op,
        &args.aws,
        [stack::PUBLIC_URL, stack::SIGNING_KEYS_PARAMETER],
    )
    .await?;
    let keys = key_ring::read(&op.ssm, &parameter).await?;
    let (url, expires) = admin::link(&keys, &public_url, &reviewer, ttl, Utc::now());
    writeln!(out, "{url}")?;
    eprintln!(
        "admin link for {} valid until {} (stack {}, signed with key {})",
        args.reviewer,
        expires.to_rfc3339(),
        args.aws.stack,
        keys.key_ids().first().copied().unwrap_or_default()
    );
    Ok(())
}

/// `optout indexer-key create|list|revoke --aws`: the embedded commands' output, on the stack's
/// `IndexerKeysParameter`.
pub async fn indexer_key(args: &IndexerKeyArgs, out: &mut impl Write) -> anyhow::Result<()> {
    // Checked before any AWS call: a bad name or id costs no round trip.
    let new_key = match &args.command {
        IndexerKeyCommand::Record { .. } => bail!(
            "`indexer-key record` only prints a record; with --aws use `indexer-key create --aws`, which adds the key to the stack's parameter"
        ),
        IndexerKeyCommand::Create {
            name,
            rate_per_minute,
            ..
        } => Some(
            optout_core::indexer_keys::generate(name, *rate_per_minute, Utc::now())
                .map_err(|e| anyhow!("{e}"))?,
        ),
        IndexerKeyCommand::Revoke { id, .. } if !is_key_id(id) => bail!(
            "not a key id: give the 12 letters or digits after `optk_` (as `indexer-key list --aws` shows them), never the whole key"
        ),
        _ => None,
    };
    let op = Operator::connect(args.aws.region.as_deref()).await?;
    let [parameter] = outputs(&op, &args.aws, [stack::INDEXER_KEYS_PARAMETER]).await?;
    match &args.command {
        IndexerKeyCommand::Create { .. } => {
            let Some((key, plain)) = new_key else {
                bail!("no key was made");
            };
            let version = match indexer_keys::add(&op.ssm, &parameter, key.clone()).await {
                Ok(v) => v,
                Err(e @ OperatorError::ConcurrentChange { .. }) => bail!(
                    "{e}. Key {} was not handed out: if `optout indexer-key list --aws` shows it, revoke it, then create another",
                    key.id
                ),
                Err(e) => return Err(e.into()),
            };
            writeln!(out, "{plain}")?;
            eprintln!(
                "Key {} made for {:?} ({} requests per minute) and added to {parameter} (version {version}); the api function accepts it within a minute. It is shown only now: give it to the indexer as `Authorization: Bearer <key>`.",
                key.id, key.name, key.rate_per_minute
            );
        }
        IndexerKeyCommand::List { .. } => {
            let list = indexer_keys::read(&op.ssm, &parameter).await?;
            write_table(out, &list.keys)?;
        }
        IndexerKeyCommand::Revoke { id, .. } => {
            match indexer_keys::revoke(&op.ssm, &parameter, id, Utc::now()).await? {
                indexer_keys::Revocation::Now(k) => {
                    writeln!(out, "revoked {}", crate::indexer_key::line(&k))?;
                    eprintln!(
                        "The api function reads {parameter} again every minute (OPTOUT_INDEXER_KEYS_REFRESH_SECS): the key is refused within that time."
                    );
                }
                indexer_keys::Revocation::Already(k) => {
                    writeln!(out, "already revoked {}", crate::indexer_key::line(&k))?
                }
                indexer_keys::Revocation::NotFound => {
                    bail!("no key with id {id:?} in {parameter}")
                }
            }
        }
        IndexerKeyCommand::Record { .. } => {}
    }
    Ok(())
}
