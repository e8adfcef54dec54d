//! The AWS mode: the functions' code on the AWS adapters, against DynamoDB Local and moto.
//!
//! - requests: API Gateway HTTP API (payload 2.0) events, deserialised by `lambda_http` and served
//!   by its adapter around the api function's router, exactly as `lambda_http::run` does; the
//!   answer is the Lambda response document API Gateway would turn into HTTP;
//! - embedding jobs: messages received from the SQS queue, handed to the embedder function's batch
//!   handler as an SQS event; the messages it does not report as failed are deleted, as the Lambda
//!   event source mapping does (the failed ones come back after the visibility timeout);
//! - housekeeping: the housekeeper function's handler.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::Service;
use lambda_http::{Adapter, Context, LambdaEvent};
use optout_aws::testing::{Emulators, Stack, http_api_event};
use optout_core::EmbedJobs;
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use optout_core::{Desk, Ports};
use serde_json::{Value, json};

use crate::{Mode, Reply, Req, SentMail, analyzer};

/// The public URL the desk believes it is served on (API Gateway's custom domain).
pub const PUBLIC_URL: &str = "https://optout.example.org";

pub struct Aws {
    pub stack: Stack,
    pub desk: Desk,
    app: axum::Router,
    indexer_key: String,
}

/// The settings the scenarios expect (the same in both modes).
/// Read through the shared configuration, as the functions read their environment.
pub fn settings() -> Settings {
    let env = [
        (optout_core::config::PUBLIC_URL, PUBLIC_URL),
        (optout_core::config::MAIL_FROM, "optout <desk@example.org>"),
        (optout_core::config::SUPPORT_EMAIL, "privacy@example.org"),
        (optout_core::config::OPERATOR_NAME, "Example Search"),
    ];
    let mut s = optout_core::config::DeskConfig::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("the scenarios' settings")
    .settings;
    // Housekeeping runs only when a scenario calls it (no background loop in this mode), right
    // after the failure it should repair: no grace for requests in flight.
    s.relay_grace = chrono::Duration::zero();
    s
}

impl Aws {
    /// A stack of its own (tables, bucket, queues, SES identity from the template) on the
    /// emulators shared by the test binary.
    pub async fn start(tag: &str) -> Self {
        Self::start_on(Emulators::shared(), tag).await
    }

    pub async fn start_on(emulators: &Emulators, tag: &str) -> Self {
        Self::start_with(emulators, tag, |_| {}).await
    }

    /// Like [`Aws::start_on`], with the ports changed by `adjust` first (failure injection).
    pub async fn start_with(
        emulators: &Emulators,
        tag: &str,
        adjust: impl FnOnce(&mut Ports),
    ) -> Self {
        let stack = Stack::create(emulators, tag)
            .await
            .expect("stack from the template");
        let mut ports = stack.ports();
        adjust(&mut ports);
        let desk = Desk::new(ports, KeyRing::generate("k1"), settings());
        // Indexer keys as in production: records in an SSM parameter (refreshed every second here).
        let (record, key) =
            optout_core::indexer_keys::generate("scenario-indexer", 6000, chrono::Utc::now())
                .expect("an indexer key");
        let parameter = format!("/{}/indexer-keys", stack.prefix);
        stack
            .clients
            .ssm
            .put_parameter()
            .name(&parameter)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .value(serde_json::to_string(&[record]).expect("key record"))
            .overwrite(true)
            .send()
            .await
            .expect("the indexer keys parameter");
        let mut config = stack.config.clone();
        config.indexer_keys = Some(optout_aws::config::SecretSource::Parameter(parameter));
        config.indexer_keys_refresh = std::time::Duration::from_secs(1);
        let indexer = optout_aws::runtime::indexer_ports(
            &desk.ports,
            &config,
            stack.desk.matching,
            &stack.clients,
        )
        .expect("indexer ports");
        let sessions = optout_aws::runtime::reviewer_sessions(&config, &stack.clients);
        let app = optout_api_fn::app(desk.clone(), indexer, sessions);
        Aws {
            stack,
            desk,
            app,
            indexer_key: key,
        }
    }

    /// The API Gateway v2 event of `req`.
    fn event(req: &Req) -> Value {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let method = req.method.as_str();
        let id = format!("req-{n}");
        http_api_event(method, &req.path, &req.headers, &req.body, "scenario", &id)
    }
}

#[async_trait]
impl Mode for Aws {
    fn name(&self) -> &'static str {
        "aws"
    }

    fn desk(&self) -> &Desk {
        &self.desk
    }

    async fn indexer_key(&self) -> String {
        self.indexer_key.clone()
    }

    async fn send(&self, req: Req) -> Reply {
        let event: LambdaRequest =
            serde_json::from_value(Self::event(&req)).expect("a valid API Gateway v2 event");
        // The adapter's future holds the response body, which is `Send` but not `Sync`: run it
        // to completion on a blocking thread of the runtime and take back only the document.
        let app = self.app.clone();
        let handle = tokio::runtime::Handle::current();
        let doc = tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let mut adapter = Adapter::from(app);
                let response = adapter
                    .call(LambdaEvent::new(event, Context::default()))
                    .await
                    .expect("the router never fails");
                serde_json::to_value(&response).expect("Lambda response document")
            })
        })
        .await
        .expect("the request ran");
        let mut headers: Vec<(String, String)> = doc["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(multi) = doc["multiValueHeaders"].as_object() {
            for (k, vs) in multi {
                for v in vs.as_array().into_iter().flatten() {
                    let pair = (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned());
                    if !headers.contains(&pair) {
                        headers.push(pair);
                    }
                }
            }
        }
        for c in doc["cookies"].as_array().into_iter().flatten() {
            headers.push(("set-cookie".into(), c.as_str().unwrap_or("").to_owned()));
        }
        let body = match doc["body"].as_str() {
            None => Vec::new(),
            Some(b) if doc["isBase64Encoded"] == json!(true) => B64.decode(b).expect("base64 body"),
            Some(b) => b.as_bytes().to_vec(),
        };
        Reply {
            status: doc["statusCode"].as_u64().expect("statusCode") as u16,
            headers,
            body,
        }
    }

    async fn run_jobs(&self) -> usize {
        let sqs = &self.stack.clients.sqs;
        let queue = &self.stack.config.job_queue_url;
        let handler = EmbedJobs {
            desk: self.desk.clone(),
            analyzer: analyzer(),
            fetcher: std::sync::Arc::new(crate::serve::LocalLinks::new()),
        };
        let mut done = 0;
        loop {
            let received = sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .expect("SQS receive");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return done;
            }
            let records: Vec<Value> = messages
                .iter()
                .map(|m| {
                    let attributes: serde_json::Map<String, Value> = m
                        .attributes
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                        .collect();
                    json!({
                        "messageId": m.message_id,
                        "receiptHandle": m.receipt_handle,
                        "body": m.body,
                        "attributes": attributes,
                        "messageAttributes": {},
                        "md5OfBody": m.md5_of_body,
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:jobs",
                        "awsRegion": "eu-west-1"
                    })
                })
                .collect();
            let event: SqsEvent =
                serde_json::from_value(json!({ "Records": records })).expect("SQS event");
            let response = optout_embedder_fn::handle_batch(event, &handler).await;
            let failed: HashSet<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            for m in &messages {
                if failed.contains(m.message_id().unwrap_or_default()) {
                    continue;
                }
                sqs.delete_message()
                    .queue_url(queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("SQS delete");
                done += 1;
            }
            if !failed.is_empty() {
                return done;
            }
        }
    }

    async fn housekeep(&self) {
        // The housekeeper function's handler, as its schedule invokes it, under its lease.
        let lease = optout_aws::DynamoLease::new(
            self.stack.clients.dynamodb.clone(),
            self.stack.name("CasesTable"),
        );
        let report = optout_housekeeper_fn::run(&self.desk, &lease)
            .await
            .expect("housekeeping");
        assert!(!report.skipped, "no other run holds the lease");
    }

    async fn mails_to(&self, to: &str) -> Vec<SentMail> {
        // Everything moto recorded, from the mail endpoint of this stack.
        let endpoint = self
            .stack
            .config
            .endpoints
            .sesv2
            .clone()
            .expect("the SES endpoint is the emulator's");
        let data: Value = reqwest::get(format!("{endpoint}/moto-api/data.json"))
            .await
            .expect("moto answers")
            .json()
            .await
            .expect("moto's recorded data");
        data["ses"]["Message"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| SentMail {
                to: m["destinations"]["ToAddresses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect(),
                subject: m["subject"].as_str().unwrap_or_default().to_owned(),
                html: m["body"].as_str().unwrap_or_default().to_owned(),
            })
            .filter(|m| m.to.iter().any(|a| a == to))
            .collect()
    }

    fn email(&self, who: &str) -> String {
        format!("{who}.{}@example.org", self.stack.prefix)
    }
}
