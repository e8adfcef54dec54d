//! The `--aws` commands of the built `optout` binary against moto (CloudFormation + SSM), with
//! the caller's credentials taken from the environment as the SDK's chain reads them:
//! `optout aws init`, `optout admin-url --aws`, `optout indexer-key create|list|revoke --aws`,
//! and the errors an operator gets for a missing stack, outputs, parameter or region.

use std::time::Duration;

use optout_aws::SsmIndexerKeys;
use optout_aws::operator::testing::{REGION, create_stack, moto, operator, stored_parameter};
use optout_aws::operator::{Operator, stack};
use optout_aws::testing::unique_prefix;
use optout_core::indexer_keys::{AuthError, authenticate};
use optout_core::signing::{KeyRing, admin};

use crate::common::output_of;

/// Runs `optout` with only the AWS settings given here (test credentials, moto's endpoint, the
/// region), none of the caller's; `drop` removes some of them. Returns status, stdout, stderr.
async fn optout(args: &[&str], drop: &[&str]) -> (i32, String, String) {
    optout_with(args, drop, &[]).await
}

/// [`optout`] with some variables set to other values.
async fn optout_with(args: &[&str], drop: &[&str], set: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_optout"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("OPTOUT_") {
            cmd.env_remove(k);
        }
    }
    let settings = [
        ("AWS_ENDPOINT_URL", moto().endpoint()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        // No instance metadata, no profile files of the machine running the tests.
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_CONFIG_FILE", "/nonexistent/aws-config".to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials".to_owned(),
        ),
        ("RUST_LOG", "warn".to_owned()),
    ];
    for (k, v) in settings {
        if !drop.contains(&k) {
            cmd.env(k, v);
        }
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    output_of(cmd).await
}

/// The value and version of SecureString parameter `name`.
async fn value(op: &Operator, name: &str) -> (String, i64) {
    let (value, version, kind) = stored_parameter(op, name).await;
    assert_eq!(kind, "SecureString");
    (value, version)
}

/// Makes stack `name` as `sam deploy` leaves it, naming the two parameters.
async fn deploy_stack(op: &Operator, name: &str, signing: &str, indexer: &str) {
    let outputs = [
        (stack::PUBLIC_URL, "https://desk.example.org"),
        (stack::SIGNING_KEYS_PARAMETER, signing),
        (stack::INDEXER_KEYS_PARAMETER, indexer),
    ];
    create_stack(op, name, &outputs).await.unwrap();
}

/// Asserts that no secret of a key ring spec (`ID:SECRET,...`) is in `out` or `err`.
fn assert_no_secret_in(spec: &str, out: &str, err: &str) {
    for s in spec.split(',').map(|e| e.split_once(':').unwrap().1) {
        assert!(!out.contains(s) && !err.contains(s), "a secret was printed");
    }
}

#[tokio::test]
async fn aws_init_admin_url_and_indexer_keys_end_to_end() {
    let op = operator().await;
    let p = unique_prefix("e2e");
    let (signing, indexer) = (format!("/{p}/signing-keys"), format!("/{p}/indexer-keys"));
    let init = [
        "aws",
        "init",
        "--signing-keys-parameter",
        &signing,
        "--indexer-keys-parameter",
        &indexer,
    ];

    // init creates both parameters, and prints no secret.
    let (code, out, err) = optout(&init, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("signing keys: created {signing}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("indexer keys: created {indexer}")),
        "{out}"
    );
    let (spec, v1) = value(&op, &signing).await;
    assert_eq!(KeyRing::parse(&spec).unwrap().key_ids().len(), 1);
    assert_no_secret_in(&spec, &out, &err);
    assert_eq!(value(&op, &indexer).await, ("[]".to_owned(), 1));

    // Idempotent: said so, nothing written.
    let (code, out, err) = optout(&init, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("signing keys: {signing} exists")),
        "{out}"
    );
    assert!(out.contains("left as it is"), "{out}");
    assert_eq!(value(&op, &signing).await, (spec.clone(), v1));
    assert_eq!(value(&op, &indexer).await.1, 1);

    // The stack as `sam deploy` leaves it.
    let name = unique_prefix("stack");
    deploy_stack(&op, &name, &signing, &indexer).await;

    // admin-url --aws: a link that verifies with the key ring read back from SSM.
    let (code, link, err) = optout(
        &[
            "admin-url",
            "--aws",
            "--stack",
            &name,
            "--reviewer",
            "alice",
            "--ttl",
            "2h",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let link = link.trim().to_owned();
    let token = link
        .strip_prefix("https://desk.example.org/admin/login?token=")
        .unwrap_or_else(|| panic!("{link}"));
    let ring = KeyRing::parse(&value(&op, &signing).await.0).unwrap();
    let grant = admin::verify_link(&ring, token, chrono::Utc::now()).unwrap();
    assert_eq!(grant.reviewer.to_string(), "alice");
    let left = grant.expires - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(110) && left <= chrono::Duration::hours(2));
    assert!(err.contains("admin link for alice valid until"), "{err}");

    // indexer-key create --aws: the key once on stdout; the function's reader accepts it.
    let aws = ["--aws", "--stack", name.as_str()];
    let create = [
        &["indexer-key", "create"][..],
        &aws,
        &["--name", "crawler-eu", "--rate-per-minute", "120"],
    ]
    .concat();
    let (code, out, err) = optout(&create, &[]).await;
    assert_eq!(code, 0, "{err}");
    let key = out.trim().to_owned();
    assert_eq!(out.lines().count(), 1, "{out}");
    let id = key.strip_prefix("optk_").unwrap()[..12].to_owned();
    let secret = key.rsplit('_').next().unwrap().to_owned();
    assert!(err.contains(&format!("Key {id} made")), "{err}");
    assert!(!err.contains(&secret), "{err}");
    let reader = SsmIndexerKeys::new(op.ssm.clone(), &indexer, Duration::from_secs(60));
    assert_eq!(authenticate(&reader, &key).await.unwrap().id, id);

    // list: ids, names, rates, dates; never a secret.
    let list = [&["indexer-key", "list"][..], &aws].concat();
    let (code, out, err) = optout(&list, &[]).await;
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = row.split('\t').collect();
    assert_eq!(
        (cols[1], cols[3], cols[4]),
        ("120", "-", "crawler-eu"),
        "{row}"
    );
    assert!(!out.contains(&secret) && !err.contains(&secret));
    let stored = value(&op, &indexer).await.0;
    assert!(!stored.contains(&secret), "only the hash is stored");

    // revoke: by id; the function's next read refuses the key.
    let revoke = [&["indexer-key", "revoke"][..], &aws, &[id.as_str()]].concat();
    let (code, out, err) = optout(&revoke, &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("revoked {id}")), "{out}");
    let reader = SsmIndexerKeys::new(op.ssm.clone(), &indexer, Duration::from_secs(60));
    assert!(matches!(
        authenticate(&reader, &key).await,
        Err(AuthError::Refused)
    ));
    let (code, out, _) = optout(&list, &[]).await;
    assert_eq!(code, 0);
    let row = out.lines().find(|l| l.starts_with(&id)).unwrap();
    assert_ne!(row.split('\t').nth(3), Some("-"), "{row}");
    let (code, out, _) = optout(&revoke, &[]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("already revoked {id}")), "{out}");

    // Rotation: a new key signs, the link minted before still opens.
    let rotate = [&init[..], &["--rotate-signing-key"]].concat();
    let (code, out, err) = optout(&rotate, &[]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("signing keys: rotated {signing}")),
        "{out}"
    );
    let (spec, v) = value(&op, &signing).await;
    assert_eq!(v, v1 + 1);
    assert_no_secret_in(&spec, &out, &err);
    let ring = KeyRing::parse(&spec).unwrap();
    assert_eq!(ring.key_ids().len(), 2);
    assert!(admin::verify_link(&ring, token, chrono::Utc::now()).is_ok());
}

#[tokio::test]
async fn aws_commands_fail_precisely() {
    let op = operator().await;
    let missing = unique_prefix("nostack");
    let admin = |stack: &str| {
        [
            "admin-url",
            "--aws",
            "--stack",
            stack,
            "--reviewer",
            "alice",
        ]
        .map(str::to_owned)
    };
    let run = |args: [String; 6]| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        optout(&args, &[]).await
    };

    let (code, out, err) = run(admin(&missing)).await;
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(
        err.contains(&format!(
            "no CloudFormation stack named {missing:?} in {REGION}"
        )),
        "{err}"
    );

    // A stack deployed from a template without the outputs.
    let old = unique_prefix("oldstack");
    create_stack(
        &op,
        &old,
        &[(stack::PUBLIC_URL, "https://desk.example.org")],
    )
    .await
    .unwrap();
    let (code, _, err) = run(admin(&old)).await;
    assert_ne!(code, 0);
    assert!(err.contains("no output SigningKeysParameter"), "{err}");
    assert!(err.contains("older template"), "{err}");
    let (code, _, err) = optout(&["indexer-key", "list", "--aws", "--stack", &old], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no output IndexerKeysParameter"), "{err}");

    // A stack whose parameters were never made.
    let fresh = unique_prefix("noinit");
    let (signing, indexer) = (
        format!("/{fresh}/signing-keys"),
        format!("/{fresh}/indexer-keys"),
    );
    deploy_stack(&op, &fresh, &signing, &indexer).await;
    let (code, _, err) = run(admin(&fresh)).await;
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("SSM parameter {signing} does not exist")),
        "{err}"
    );
    assert!(err.contains("run `optout aws init`"), "{err}");
    let create = [
        "indexer-key",
        "create",
        "--aws",
        "--stack",
        &fresh,
        "--name",
        "crawler",
    ];
    let (code, out, err) = optout(&create, &[]).await;
    assert_ne!(code, 0);
    assert!(out.is_empty(), "no key is handed out: {out}");
    assert!(
        err.contains(&format!("SSM parameter {indexer} does not exist")),
        "{err}"
    );

    // No region anywhere; no credentials anywhere.
    let (code, _, err) = optout(
        &admin(&fresh).each_ref().map(String::as_str),
        &["AWS_REGION"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("no AWS region configured: pass --region"),
        "{err}"
    );
    let (code, _, err) = optout_with(
        &["indexer-key", "list", "--aws", "--stack", &fresh],
        &[],
        &[("AWS_REGION", "")],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("no AWS region configured"), "{err}");
    let (code, _, err) = optout(
        &[
            "indexer-key",
            "list",
            "--aws",
            "--stack",
            &fresh,
            "--region",
            "eu west",
        ],
        &[],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("invalid AWS region \"eu west\""), "{err}");
    let (code, _, err) = optout(
        &["indexer-key", "list", "--aws", "--stack", &fresh],
        &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    )
    .await;
    assert_ne!(code, 0);
    assert!(err.contains("no AWS credentials"), "{err}");

    // Mistakes caught before any call: flags of the AWS mode without --aws, a whole key given to
    // revoke (never echoed), `record` with --aws.
    let (code, _, err) = optout(&["admin-url", "--reviewer", "alice", "--stack", "x"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("--aws"), "{err}");
    let whole = format!("optk_abcdefabcdef_{}", "5ec7e7".repeat(10) + "abcd");
    let (code, _, err) = optout(
        &["indexer-key", "revoke", "--aws", "--stack", &fresh, &whole],
        &[],
    )
    .await;
    assert_ne!(code, 0);
    assert!(
        err.contains("not a key id") && !err.contains("5ec7e7"),
        "{err}"
    );
    let (code, _, err) = optout(&["indexer-key", "record", "--aws", "--name", "x"], &[]).await;
    assert_ne!(code, 0);
    assert!(err.contains("create --aws"), "{err}");
}
