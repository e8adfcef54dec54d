//! The embedded mode's configuration: the desk's shared settings ([`DeskConfig`], read by the same
//! code as in AWS) plus what only this runtime has (listen address, data directory, signing keys).
//!
//! Every value comes, first found wins, from its flag (`--operator-name ...` or
//! `--set NAME=value`), its environment variable, the config file (`--config FILE` or
//! `OPTOUT_CONFIG`: `NAME=value` lines, the format of systemd's `EnvironmentFile=`), or its default.

use anyhow::{Context, bail};
use optout_core::config::{self as shared, DeskConfig};
use optout_core::signing::KeyRing;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The listen address.
pub const LISTEN: &str = "OPTOUT_LISTEN";
/// The data directory.
pub const DATA_DIR: &str = "OPTOUT_DATA_DIR";
/// The signing key ring (a secret).
pub const SIGNING_KEYS: &str = "OPTOUT_SIGNING_KEYS";
/// The prepared face models.
pub const MODEL_DIR: &str = "OPTOUT_MODEL_DIR";
/// The config file.
pub const CONFIG_FILE: &str = "OPTOUT_CONFIG";

/// The embedded mode's own variables, beside the shared ones ([`shared::VARS`]).
const OWN_VARS: &[&str] = &[LISTEN, DATA_DIR, SIGNING_KEYS, MODEL_DIR];

/// The sender of a local run's emails, when none is configured.
const LOCAL_MAIL_FROM: &str = "optout <desk@localhost>";

/// `optout serve` options: where to listen and keep data, and the desk's settings.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [env: OPTOUT_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory that holds everything: database, photos, outbox, generated keys
    /// [env: OPTOUT_DATA_DIR] [default: ./data].
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub desk: DeskArgs,
}

/// [`DeskArgs`] with one optional text flag per shared setting of `flags`: each
/// `doc field => VARIABLE`, and [`DeskArgs::named_flags`] pairing them with their variables.
macro_rules! desk_args {
    ($($(#[doc = $doc:literal])+ $field:ident => $var:expr,)+) => {
        /// The desk's settings as flags (each also an environment variable and a config-file line;
        /// see the README's Configuration table). Values are checked by
        /// [`DeskConfig::from_lookup`], the same code the AWS functions run.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct DeskArgs {
            /// A config file of `NAME=value` lines (any variable of the README's Configuration table).
            #[arg(long = "config", env = CONFIG_FILE)]
            pub config: Option<PathBuf>,
            /// Any setting as `NAME=value` (repeatable), e.g. `--set OPTOUT_DECISION_DAYS=14`.
            #[arg(long = "set", value_name = "NAME=VALUE")]
            pub set: Vec<String>,
            /// Signing keys `ID:BASE64URL_SECRET[,ID:SECRET...]` (the first signs; all verify). In
            /// the embedded mode a key is generated and kept in DIR/keys/signing.keys when this is
            /// not set.
            #[arg(long, env = SIGNING_KEYS, hide_env_values = true)]
            pub signing_keys: Option<String>,
            $(
                $(#[doc = $doc])+
                #[arg(long)]
                pub $field: Option<String>,
            )+
        }

        impl DeskArgs {
            /// Each flag with the variable it sets.
            fn named_flags(&self) -> Vec<(&'static str, &Option<String>)> {
                vec![$(($var, &self.$field),)+ (SIGNING_KEYS, &self.signing_keys)]
            }
        }
    };
}

desk_args! {
    /// Public base URL used in emails and redirects [env: OPTOUT_PUBLIC_URL] [default: http://LISTEN].
    public_url => shared::PUBLIC_URL,
    /// Name the desk signs its pages and emails with [env: OPTOUT_OPERATOR_NAME].
    operator_name => shared::OPERATOR_NAME,
    /// Support address shown on every public page and email [env: OPTOUT_SUPPORT_EMAIL].
    support_email => shared::SUPPORT_EMAIL,
    /// Sender of the emails [env: OPTOUT_MAIL_FROM].
    mail_from => shared::MAIL_FROM,
    /// Whether the phone number is required: true or false [env: OPTOUT_PHONE_REQUIRED].
    phone_required => shared::PHONE_REQUIRED,
    /// Days until a decision is due [env: OPTOUT_DECISION_DAYS].
    decision_days => shared::DECISION_DAYS,
    /// Days personal data is kept after a decision [env: OPTOUT_RETENTION_DAYS].
    retention_days => shared::RETENTION_DAYS,
    /// Days a request waits for a usable photo before it lapses [env: OPTOUT_LAPSE_DAYS].
    lapse_days => shared::LAPSE_DAYS,
    /// Reviewers who get the daily list of cases due within 48 hours and overdue, comma-separated
    /// [env: OPTOUT_REVIEWER_EMAILS].
    reviewer_emails => shared::REVIEWER_EMAILS,
    /// The hour of the day (UTC, 0-23) from which that list goes out [env: OPTOUT_DIGEST_HOUR].
    digest_hour => shared::DIGEST_HOUR,
    /// Days a status link stays valid [env: OPTOUT_STATUS_LINK_DAYS].
    status_link_days => shared::STATUS_LINK_DAYS,
    /// PDQ hashes within this Hamming distance (bits) of an exclusion entry match, 0-64
    /// [env: OPTOUT_PDQ_RADIUS].
    pdq_radius => shared::PDQ_RADIUS,
    /// Face embeddings at or above this cosine similarity to an exclusion entry match (the default
    /// is the value calibrated for the bundled models; see the README) [env: OPTOUT_FACE_THRESHOLD].
    face_threshold => shared::FACE_THRESHOLD,
}

/// Where each value comes from, first found wins: flags, the environment, the config file.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    flags: HashMap<String, String>,
    file: HashMap<String, String>,
    /// Whether the process environment is read (tests turn it off).
    env: bool,
}

impl Sources {
    /// The value of `name`, if set anywhere (blank counts as unset).
    pub fn get(&self, name: &str) -> Option<String> {
        let nonblank = |v: &String| !v.trim().is_empty();
        self.flags
            .get(name)
            .filter(|v| nonblank(v))
            .cloned()
            .or_else(|| {
                self.env
                    .then(|| std::env::var(name).ok())
                    .flatten()
                    .filter(nonblank)
            })
            .or_else(|| self.file.get(name).filter(|v| nonblank(v)).cloned())
    }
}

/// Whether `name` is a variable this runtime reads.
fn known(name: &str) -> bool {
    OWN_VARS.contains(&name) || shared::VARS.iter().any(|v| v.name == name)
}

impl ServeArgs {
    /// The sources of every value, reading the config file (if any) once.
    pub fn sources(&self) -> anyhow::Result<Sources> {
        self.sources_with_env(true)
    }

    /// [`ServeArgs::sources`] without the process environment (tests: only flags and the file).
    pub fn sources_with_env(&self, env: bool) -> anyhow::Result<Sources> {
        let mut flags = HashMap::new();
        for set in &self.desk.set {
            let Some((k, v)) = set.split_once('=') else {
                bail!("--set {set:?}: expected NAME=value");
            };
            let k = k.trim();
            if !known(k) {
                bail!("--set {k}: not a setting (see the README's Configuration table)");
            }
            flags.insert(k.to_owned(), v.to_owned());
        }
        for (name, value) in self.desk.named_flags() {
            if let Some(v) = value {
                flags.insert(name.to_owned(), v.clone());
            }
        }
        if let Some(l) = &self.listen {
            flags.insert(LISTEN.to_owned(), l.clone());
        }
        if let Some(d) = &self.data {
            flags.insert(DATA_DIR.to_owned(), d.display().to_string());
        }
        let file = match &self.desk.config {
            Some(path) => read_config_file(path)?,
            None => HashMap::new(),
        };
        Ok(Sources { flags, file, env })
    }
}

/// Reads a config file; an unknown name is an error (a typo would otherwise be silently ignored).
fn read_config_file(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    let pairs = shared::parse_env_file(&text)
        .map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?;
    let mut out = HashMap::new();
    for (k, v) in pairs {
        if !known(&k) {
            bail!(
                "config file {}: {k} is not a setting (see the README's Configuration table)",
                path.display()
            );
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// Everything the embedded mode runs with, resolved and checked.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    pub data: PathBuf,
    pub desk: DeskConfig,
    signing_keys: Option<String>,
}

impl Sources {
    /// The address to listen on (`OPTOUT_LISTEN`, default 127.0.0.1:8080).
    pub fn listen(&self) -> anyhow::Result<SocketAddr> {
        let v = self
            .get(LISTEN)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        v.trim().parse().with_context(|| {
            format!("invalid value of {LISTEN}: {v:?} is not an IP address and port")
        })
    }

    /// The data directory (`OPTOUT_DATA_DIR`, default `./data`).
    pub fn data_dir(&self) -> PathBuf {
        self.get(DATA_DIR)
            .map_or_else(|| PathBuf::from("./data"), PathBuf::from)
    }

    /// The prepared face models (`OPTOUT_MODEL_DIR`), if configured.
    pub fn model_dir(&self) -> Option<PathBuf> {
        self.get(MODEL_DIR).map(PathBuf::from)
    }

    /// The whole configuration of a server listening on `addr` (the default public URL is
    /// `http://ADDR`, the default sender a local address).
    pub fn resolve(&self, addr: SocketAddr) -> anyhow::Result<EmbeddedConfig> {
        let local_url = format!("http://{addr}");
        let desk = DeskConfig::from_lookup(|name| {
            self.get(name).or_else(|| match name {
                shared::PUBLIC_URL => Some(local_url.clone()),
                shared::MAIL_FROM => Some(LOCAL_MAIL_FROM.to_owned()),
                _ => None,
            })
        })?;
        Ok(EmbeddedConfig {
            data: self.data_dir(),
            desk,
            signing_keys: self.get(SIGNING_KEYS),
        })
    }
}

impl EmbeddedConfig {
    /// Whether signing keys exist: configured, or generated before in the data directory.
    pub fn has_keys(&self) -> bool {
        self.signing_keys.is_some() || self.data.join("keys/signing.keys").exists()
    }

    /// The signing keys: from the configuration, or (embedded mode) generated once and kept in
    /// `DIR/keys/signing.keys` (mode 0600).
    pub fn keys(&self) -> anyhow::Result<KeyRing> {
        if let Some(spec) = &self.signing_keys {
            return KeyRing::parse(spec).context(SIGNING_KEYS);
        }
        let dir = &self.data;
        let path = dir.join("keys").join("signing.keys");
        if path.exists() {
            let spec = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            return KeyRing::parse(spec.trim())
                .with_context(|| format!("{} is corrupt", path.display()));
        }
        let ring = KeyRing::generate(&format!("k{}", chrono::Utc::now().format("%Y%m%d")));
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        write_private(&path, &ring.to_spec())?;
        tracing::info!(path = %path.display(), "generated a signing key for the embedded mode");
        Ok(ring)
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    /// A config file of `lines`, in a directory that lives as long as the guard.
    fn config_file(lines: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("optout.env");
        std::fs::write(&file, lines).unwrap();
        (dir, file)
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_in() {
        let (_dir, file) = config_file(
            "# test\nOPTOUT_OPERATOR_NAME=From File\nOPTOUT_DECISION_DAYS=20\nOPTOUT_LISTEN=127.0.0.1:9999\n",
        );
        let args = ServeArgs {
            desk: DeskArgs {
                config: Some(file),
                decision_days: Some("10".into()),
                set: vec!["OPTOUT_SUPPORT_EMAIL=help@example.org".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let src = args.sources_with_env(false).unwrap();
        assert_eq!(src.listen().unwrap().port(), 9999);
        let cfg = src.resolve(addr()).unwrap();
        let s = &cfg.desk.settings;
        assert_eq!(s.operator_name, "From File");
        assert_eq!(s.decision_due, chrono::Duration::days(10));
        assert_eq!(s.contact_email, "help@example.org");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(cfg.desk.mail_from, LOCAL_MAIL_FROM);
        assert_eq!(cfg.data, PathBuf::from("./data"));
    }

    #[test]
    fn errors_name_the_setting() {
        let args = ServeArgs {
            desk: DeskArgs {
                retention_days: Some("0".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = args
            .sources_with_env(false)
            .unwrap()
            .resolve(addr())
            .unwrap_err();
        assert!(e.to_string().contains("OPTOUT_RETENTION_DAYS"), "{e}");

        let args = ServeArgs {
            listen: Some("localhost".into()),
            ..Default::default()
        };
        let e = args.sources_with_env(false).unwrap().listen().unwrap_err();
        assert!(e.to_string().contains("OPTOUT_LISTEN"), "{e}");

        let args = ServeArgs {
            desk: DeskArgs {
                set: vec!["OPTOUT_DECISON_DAYS=3".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let e = args.sources_with_env(false).unwrap_err();
        assert!(e.to_string().contains("OPTOUT_DECISON_DAYS"), "{e}");
    }

    #[test]
    fn an_unknown_name_in_the_file_is_refused() {
        let (_dir, file) = config_file("OPTOUT_CONTACT_MAIL=a@b.org\n");
        let args = ServeArgs {
            desk: DeskArgs {
                config: Some(file),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = args.sources_with_env(false).unwrap_err();
        assert!(e.to_string().contains("OPTOUT_CONTACT_MAIL"), "{e}");
    }
}
