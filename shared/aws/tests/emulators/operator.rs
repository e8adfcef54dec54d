//! The operator's work on a deployed stack (`optout_aws::operator`) against moto: stack outputs,
//! the signing key ring and the indexer keys in SSM SecureString parameters, and the errors an
//! operator reads (missing stack, outputs, parameters; a concurrent writer; refused permissions,
//! through a local server answering AWS's error documents).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_ssm::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ssm::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ssm::error::BoxError;
use chrono::Utc;
use optout_aws::SsmIndexerKeys;
use optout_aws::operator::parameter::{self, Created};
use optout_aws::operator::stack::{self, StackOutputs};
use optout_aws::operator::testing::{
    REGION, create_stack, moto, operator, sdk_config, stored_parameter,
};
use optout_aws::operator::{Operator, OperatorError, indexer_keys, key_ring};
use optout_aws::testing::unique_prefix;
use optout_aws::{Secret, operator::indexer_keys::Revocation};
use optout_core::indexer_keys::{AuthError, authenticate, generate};
use optout_core::model::ReviewerName;
use optout_core::signing::admin;

/// Parameter names unique to one test.
fn names(tag: &str) -> (String, String) {
    let p = unique_prefix(tag);
    (format!("/{p}/signing-keys"), format!("/{p}/indexer-keys"))
}

#[tokio::test]
async fn operator_init_creates_both_parameters_once() {
    let op = operator().await;
    let (signing, indexer) = names("init");
    let now = Utc::now();

    let first = key_ring::ensure(&op.ssm, &signing, None, false, now)
        .await
        .unwrap();
    let key_ring::Outcome::Created { key_id, version } = first else {
        panic!("{first:?}")
    };
    assert_eq!(version, 1);
    assert_eq!(key_id, format!("k{}", now.format("%Y%m%d")));
    let (spec, _, kind) = stored_parameter(&op, &signing).await;
    assert_eq!(kind, "SecureString");
    let ring = optout_core::signing::KeyRing::parse(&spec).unwrap();
    assert_eq!(ring.key_ids(), [key_id.as_str()]);

    // Idempotent: an existing ring is read, checked and left as it is.
    let again = key_ring::ensure(&op.ssm, &signing, None, false, now)
        .await
        .unwrap();
    assert_eq!(
        again,
        key_ring::Outcome::Kept {
            key_ids: vec![key_id.clone()]
        }
    );
    assert_eq!(
        stored_parameter(&op, &signing).await,
        (spec, 1, "SecureString".into())
    );

    assert_eq!(
        indexer_keys::ensure_list(&op.ssm, &indexer, None)
            .await
            .unwrap(),
        indexer_keys::Outcome::Created { version: 1 }
    );
    assert_eq!(
        stored_parameter(&op, &indexer).await,
        ("[]".into(), 1, "SecureString".into())
    );
    assert_eq!(
        indexer_keys::ensure_list(&op.ssm, &indexer, None)
            .await
            .unwrap(),
        indexer_keys::Outcome::Kept { keys: 0 }
    );
    assert_eq!(
        stored_parameter(&op, &indexer).await.1,
        1,
        "not written again"
    );
}

#[tokio::test]
async fn operator_rotation_keeps_three_keys_and_old_links_verify() {
    let op = operator().await;
    let (signing, _) = names("rotate");
    let now = Utc::now();
    // Rotating a missing ring makes it.
    assert!(matches!(
        key_ring::ensure(&op.ssm, &signing, None, true, now)
            .await
            .unwrap(),
        key_ring::Outcome::Created { .. }
    ));
    let first = key_ring::read(&op.ssm, &signing).await.unwrap();
    let reviewer = ReviewerName::parse("alice").unwrap();
    let (link, _) = admin::link(
        &first,
        "https://desk.example",
        &reviewer,
        chrono::Duration::hours(8),
        now,
    );
    let token = link.split("token=").nth(1).unwrap().to_owned();

    for (round, expected_keys) in [(1, 2), (2, 3), (3, 3)] {
        let out = key_ring::ensure(&op.ssm, &signing, None, true, now)
            .await
            .unwrap();
        let key_ring::Outcome::Rotated {
            key_id,
            kept,
            dropped,
            version,
        } = out
        else {
            panic!("{out:?}")
        };
        assert_eq!(version, 1 + round);
        let ring = key_ring::read(&op.ssm, &signing).await.unwrap();
        assert_eq!(ring.key_ids().len(), expected_keys);
        assert_eq!(ring.key_ids()[0], key_id, "the new key signs");
        assert_eq!(kept.len(), expected_keys - 1);
        // The first key's link verifies while it is kept, and no longer once dropped.
        let verified = admin::verify_link(&ring, &token, now);
        if round < 3 {
            assert!(dropped.is_empty());
            assert_eq!(verified.unwrap().reviewer, reviewer);
        } else {
            assert_eq!(dropped, first.key_ids());
            assert!(verified.is_err());
        }
    }
}

#[tokio::test]
async fn operator_reads_stack_outputs_and_names_what_is_missing() {
    let op = operator().await;
    let name = unique_prefix("stack");
    create_stack(
        &op,
        &name,
        &[
            (stack::PUBLIC_URL, "https://desk.example"),
            (stack::SIGNING_KEYS_PARAMETER, "/x/signing-keys"),
            (stack::INDEXER_KEYS_PARAMETER, "/x/indexer-keys"),
        ],
    )
    .await
    .unwrap();
    let out = StackOutputs::read(&op.cloudformation, REGION, &name)
        .await
        .unwrap();
    assert_eq!(
        out.require([stack::PUBLIC_URL, stack::SIGNING_KEYS_PARAMETER])
            .unwrap(),
        ["https://desk.example", "/x/signing-keys"]
    );

    let missing = format!("{name}-none");
    let e = StackOutputs::read(&op.cloudformation, REGION, &missing)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, OperatorError::StackNotFound { stack, region } if *stack == missing && region == REGION),
        "{e:?}"
    );

    let old = unique_prefix("oldstack");
    create_stack(&op, &old, &[(stack::PUBLIC_URL, "https://desk.example")])
        .await
        .unwrap();
    let e = StackOutputs::read(&op.cloudformation, REGION, &old)
        .await
        .unwrap()
        .require([stack::PUBLIC_URL, stack::SIGNING_KEYS_PARAMETER])
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("no output SigningKeysParameter"), "{msg}");
    assert!(msg.contains("CREATE_COMPLETE"), "{msg}");

    let (signing, indexer) = names("missing");
    let e = key_ring::read(&op.ssm, &signing).await.unwrap_err();
    assert!(e.to_string().contains("run `optout aws init`"), "{e}");
    let e = indexer_keys::read(&op.ssm, &indexer).await.unwrap_err();
    assert!(matches!(e, OperatorError::ParameterMissing { .. }), "{e:?}");
}

#[tokio::test]
async fn operator_indexer_keys_round_trip_through_the_functions_reader() {
    let op = operator().await;
    let (_, indexer) = names("keys");
    indexer_keys::ensure_list(&op.ssm, &indexer, None)
        .await
        .unwrap();
    let now = Utc::now();
    let (a, a_plain) = generate("crawler-eu", 600, now).unwrap();
    let (b, b_plain) = generate("crawler-us", 60, now).unwrap();
    assert_eq!(
        indexer_keys::add(&op.ssm, &indexer, a.clone())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        indexer_keys::add(&op.ssm, &indexer, b.clone())
            .await
            .unwrap(),
        3
    );

    let list = indexer_keys::read(&op.ssm, &indexer).await.unwrap();
    assert_eq!(list.keys, vec![a.clone(), b.clone()], "stored in order");
    assert_eq!(list.version(), 3);
    let (stored, _, kind) = stored_parameter(&op, &indexer).await;
    assert_eq!(kind, "SecureString");
    for plain in [&a_plain, &b_plain] {
        let secret = plain.rsplit('_').next().unwrap();
        assert!(!stored.contains(secret), "only hashes are stored");
    }

    // The api function's own reader accepts both keys.
    let reader = SsmIndexerKeys::new(op.ssm.clone(), &indexer, Duration::from_secs(60));
    assert_eq!(authenticate(&reader, &a_plain).await.unwrap().id, a.id);
    assert_eq!(authenticate(&reader, &b_plain).await.unwrap().id, b.id);

    let later = now + chrono::Duration::minutes(5);
    let Revocation::Now(revoked) = indexer_keys::revoke(&op.ssm, &indexer, &a.id, later)
        .await
        .unwrap()
    else {
        panic!("not revoked")
    };
    assert_eq!(revoked.revoked_at, Some(later));
    assert!(matches!(
        indexer_keys::revoke(&op.ssm, &indexer, &a.id, Utc::now())
            .await
            .unwrap(),
        Revocation::Already(k) if k.revoked_at == Some(later)
    ));
    assert_eq!(
        indexer_keys::revoke(&op.ssm, &indexer, "zzzzzzzzzzzz", Utc::now())
            .await
            .unwrap(),
        Revocation::NotFound
    );
    assert_eq!(
        stored_parameter(&op, &indexer).await.1,
        4,
        "one write for one revocation"
    );

    // A reader started after the revocation (as the function after its refresh) refuses it.
    let reader = SsmIndexerKeys::new(op.ssm.clone(), &indexer, Duration::from_secs(60));
    assert!(matches!(
        authenticate(&reader, &a_plain).await,
        Err(AuthError::Refused)
    ));
    assert_eq!(authenticate(&reader, &b_plain).await.unwrap().id, b.id);
}

#[tokio::test]
async fn operator_detects_a_concurrent_change() {
    let op = operator().await;
    let (_, indexer) = names("race");
    indexer_keys::ensure_list(&op.ssm, &indexer, None)
        .await
        .unwrap();
    let now = Utc::now();
    let mine = indexer_keys::read(&op.ssm, &indexer).await.unwrap();
    // Someone else adds a key between this read and the write below.
    let (theirs, _) = generate("theirs", 60, now).unwrap();
    indexer_keys::add(&op.ssm, &indexer, theirs).await.unwrap();
    let (key, _) = generate("mine", 60, now).unwrap();
    let e = mine.save(&op.ssm, &[key]).await.unwrap_err();
    assert!(
        matches!(
            e,
            OperatorError::ConcurrentChange {
                read: 1,
                written: 3,
                now: 3,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("changed by someone else"), "{e}");
}

/// Records the operation and body of every SSM request.
#[derive(Debug, Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, String)>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request();
        let target = req.headers().get("x-amz-target").unwrap_or_default();
        let body = req.body().bytes().unwrap_or_default();
        self.0.lock().unwrap().push((
            target.to_owned(),
            String::from_utf8_lossy(body).into_owned(),
        ));
        Ok(())
    }
}

impl Recorder {
    fn puts(&self) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t.ends_with(".PutParameter"))
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn operator_rewrites_keep_the_customer_kms_key() {
    let sdk = sdk_config(&moto().endpoint()).await;
    let rec = Recorder::default();
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::config::Builder::from(&sdk)
            .interceptor(rec.clone())
            .build(),
    );
    let (signing, indexer) = names("kms");
    let key = "alias/optout-test";
    indexer_keys::ensure_list(&ssm, &indexer, Some(key))
        .await
        .unwrap();
    let (k, _) = generate("crawler", 60, Utc::now()).unwrap();
    indexer_keys::add(&ssm, &indexer, k).await.unwrap();
    let puts = rec.puts();
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert_eq!(puts[0]["KeyId"], key);
    assert_eq!(puts[1]["KeyId"], key, "the rewrite names the same key");
    assert_eq!(puts[1]["Type"], "SecureString");
    assert_eq!(puts[1]["Overwrite"], true);
    assert!(puts[1]["Value"].as_str().unwrap().contains("crawler"));

    // A ring on SSM's own key is rewritten without naming a key.
    key_ring::ensure(&ssm, &signing, None, false, Utc::now())
        .await
        .unwrap();
    key_ring::ensure(&ssm, &signing, None, true, Utc::now())
        .await
        .unwrap();
    // Creating (twice: the rotation tries to create first, which an existing ring refuses) and
    // rewriting.
    let puts = rec.puts();
    assert_eq!(puts.len(), 5, "{puts:?}");
    assert_eq!(puts[4]["Overwrite"], true);
    assert!(
        puts[2..].iter().all(|p| p.get("KeyId").is_none()),
        "{puts:?}"
    );
    let meta = parameter::metadata(&ssm, &signing).await.unwrap();
    assert_eq!(meta.customer_key(), None);
    let meta = parameter::metadata(&ssm, &indexer).await.unwrap();
    assert_eq!(meta.customer_key(), Some(key));
}

#[tokio::test]
async fn operator_refuses_bad_contents_without_quoting_them() {
    let op = operator().await;
    let (signing, indexer) = names("corrupt");
    let pasted = r#"[{"id":"k1","name":"x","secret_sha256":"hunter2-pasted-secret","rate_per_minute":1,"created_at":"2026-01-01T00:00:00Z","revoked_at":null}]"#;
    assert_eq!(
        parameter::create(&op.ssm, &indexer, &Secret::new(pasted), None, "test")
            .await
            .unwrap(),
        Created::Created { version: 1 }
    );
    let e = indexer_keys::read(&op.ssm, &indexer).await.unwrap_err();
    assert!(matches!(e, OperatorError::Invalid { .. }), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    // `init` checks an existing list too.
    assert!(
        indexer_keys::ensure_list(&op.ssm, &indexer, None)
            .await
            .is_err()
    );

    parameter::create(
        &op.ssm,
        &signing,
        &Secret::new("k1:too-short-secret"),
        None,
        "test",
    )
    .await
    .unwrap();
    let e = key_ring::ensure(&op.ssm, &signing, None, false, Utc::now())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a signing key ring"), "{e}");
    assert!(!e.to_string().contains("too-short-secret"), "{e}");

    // A plain String parameter is read (with a warning) but never rewritten as it is.
    let (plain, _) = names("plain");
    op.ssm
        .put_parameter()
        .name(&plain)
        .value("[]")
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    let (k, _) = generate("crawler", 60, Utc::now()).unwrap();
    let e = indexer_keys::add(&op.ssm, &plain, k).await.unwrap_err();
    assert!(matches!(e, OperatorError::NotSecure { .. }), "{e:?}");
    assert_eq!(stored_parameter(&op, &plain).await.1, 1, "not written");
}

/// A local endpoint answering every call with AWS's error document for `code` (JSON for SSM,
/// XML for CloudFormation), as AWS answers a caller without the permission.
async fn refusing_endpoint(code: &'static str, message: &'static str) -> String {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move |headers: HeaderMap| async move {
        if headers.contains_key("x-amz-target") {
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                serde_json::json!({ "__type": code, "message": message }).to_string(),
            )
                .into_response()
        } else {
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/xml")],
                format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
                ),
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn operator_names_the_refused_iam_action() {
    let endpoint = refusing_endpoint(
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/k1",
    )
    .await;
    let op = Operator::from_sdk(&sdk_config(&endpoint).await).unwrap();
    let e = key_ring::read(&op.ssm, "/optout/signing-keys")
        .await
        .unwrap_err();
    let OperatorError::AccessDenied {
        action, resource, ..
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (action.as_str(), resource.as_str()),
        ("kms:Decrypt", "/optout/signing-keys")
    );

    let endpoint = refusing_endpoint("AccessDenied", "Access denied").await;
    let op = Operator::from_sdk(&sdk_config(&endpoint).await).unwrap();
    let e = StackOutputs::read(&op.cloudformation, REGION, "optout")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("needs cloudformation:DescribeStacks on optout"),
        "{msg}"
    );
    let e = indexer_keys::ensure_list(&op.ssm, "/optout/indexer-keys", None)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("needs ssm:PutParameter on /optout/indexer-keys"),
        "{e}"
    );

    let endpoint = refusing_endpoint(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    .await;
    let op = Operator::from_sdk(&sdk_config(&endpoint).await).unwrap();
    let e = indexer_keys::read(&op.ssm, "/optout/indexer-keys")
        .await
        .unwrap_err();
    assert!(matches!(e, OperatorError::BadCredentials(_)), "{e:?}");
}
