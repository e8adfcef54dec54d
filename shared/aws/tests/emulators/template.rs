use optout_aws::testing::{emulators_root, template};
use serde_json::json;

#[test]
fn template_has_the_promised_properties() {
    let t = template().unwrap();
    let r = &t["Resources"];
    assert_eq!(
        r["EmbedQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"],
        json!(5)
    );
    let bucket = &r["PhotoBucket"]["Properties"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            bucket["PublicAccessBlockConfiguration"][k],
            json!(true),
            "{k}"
        );
    }
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    assert!(rules.iter().any(|r| r["TagFilters"][0]
        == json!({"Key": "state", "Value": "unclaimed"})
        && r["ExpirationInDays"] == json!(1)));
    for table in ["CasesTable", "PersonalTable"] {
        let p = &r[table]["Properties"];
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            json!(true)
        );
        assert_eq!(p["SSESpecification"]["SSEEnabled"], json!(true));
        assert_eq!(
            p["TimeToLiveSpecification"]["AttributeName"],
            json!("expires_at")
        );
    }
    for f in ["ApiFunction", "EmbedderFunction"] {
        assert_eq!(
            r[f]["Properties"]["Architectures"],
            json!(null),
            "set in Globals"
        );
        assert_eq!(r[f]["Metadata"]["BuildMethod"], json!("rust-cargolambda"));
    }
    assert_eq!(t["Globals"]["Function"]["Architectures"], json!(["arm64"]));
    assert_eq!(
        t["Globals"]["Function"]["Runtime"],
        json!("provided.al2023")
    );
    // No wildcard actions in the functions' policies.
    let text = t.to_string();
    assert!(
        !text.contains("\"dynamodb:*\"")
            && !text.contains("\"sqs:*\"")
            && !text.contains("\"s3:*\",\"Effect\":\"Allow\"")
    );
}

#[test]
fn exclusion_table_snapshots_and_indexer_keys_are_least_privilege() {
    let t = template().unwrap();
    let r = &t["Resources"];
    let table = &r["ExclusionsTable"]["Properties"];
    assert_eq!(table["BillingMode"], json!("PAY_PER_REQUEST"));
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        json!(true)
    );
    assert_eq!(table["SSESpecification"]["SSEEnabled"], json!(true));
    assert_eq!(
        table["GlobalSecondaryIndexes"],
        json!(null),
        "the feed is read from the base table"
    );

    let rules = r["PhotoBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    assert!(rules.iter().any(|x| x["Prefix"] == json!("snapshots/")
        && x["ExpirationInDays"] == json!(1)
        && x["Status"] == json!("Enabled")));

    let env = &r["ApiFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(
        env["OPTOUT_EXCLUSIONS_TABLE"],
        json!({"Ref": "ExclusionsTable"})
    );
    assert_eq!(
        env["OPTOUT_INDEXER_KEYS_PARAMETER"],
        json!({"Ref": "IndexerKeysParameter"})
    );

    let statements = |role: &str| -> Vec<serde_json::Value> {
        r[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .clone()
    };
    let api = statements("ApiFunctionRole");
    let on_table: Vec<&serde_json::Value> = api
        .iter()
        .filter(|st| st["Resource"].to_string().contains("ExclusionsTable"))
        .collect();
    assert_eq!(on_table.len(), 1);
    assert_eq!(
        on_table[0]["Action"],
        json!([
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem"
        ])
    );
    let snapshots = api
        .iter()
        .find(|st| st["Sid"] == json!("Snapshots"))
        .unwrap();
    assert_eq!(snapshots["Action"], json!(["s3:GetObject", "s3:PutObject"]));
    assert!(snapshots["Resource"].to_string().contains("/snapshots/*"));
    let secrets = api.iter().find(|st| st["Sid"] == json!("Secrets")).unwrap();
    assert!(
        secrets["Resource"]
            .to_string()
            .contains("IndexerKeysParameter")
    );
    // KMS only for a customer managed key, and only that key.
    for role in ["ApiFunctionRole", "EmbedderFunctionRole"] {
        let text = serde_json::Value::Array(statements(role)).to_string();
        assert!(!text.contains("alias/aws/ssm"), "{role}");
        assert!(!text.contains("\"kms:*\""), "{role}");
    }
}

#[test]
fn template_passes_cfn_lint() {
    let lint = emulators_root().join(".venv-emulators/bin/cfn-lint");
    if !lint.is_file() {
        eprintln!("cfn-lint not installed (scripts/setup-emulators); skipped");
        return;
    }
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml");
    let out = std::process::Command::new(lint).arg(file).output().unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a first `sam build` / `sam deploy` on a new account needs of the template.
#[test]
fn template_builds_and_deploys_as_the_readme_says() {
    let t = template().unwrap();
    let r = &t["Resources"];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Each function builds from its own crate (the workspace root's default member is the
    // operator binary, which has no `api` binary), and the crate has that binary.
    for (f, bin) in [
        ("ApiFunction", "api"),
        ("EmbedderFunction", "embedder"),
        ("HousekeeperFunction", "housekeeper"),
    ] {
        let uri = r[f]["Properties"]["CodeUri"].as_str().unwrap();
        assert_eq!(uri, format!("../functions/{bin}"), "{f}");
        assert_eq!(r[f]["Metadata"]["BuildProperties"]["Binary"], json!(bin));
        let manifest =
            std::fs::read_to_string(root.join("infra").join(uri).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{f}: no bin {bin}"
        );
        // No reserved concurrency: a new account (10 concurrent executions) refuses any.
        assert!(
            r[f]["Properties"]
                .get("ReservedConcurrentExecutions")
                .is_none(),
            "{f}"
        );
    }
    // SQS: visibility timeout at least six times the embedder's timeout plus its batching window.
    let embedder = &r["EmbedderFunction"]["Properties"];
    let timeout = embedder["Timeout"].as_i64().unwrap();
    let window = embedder["Events"]["Jobs"]["Properties"]["MaximumBatchingWindowInSeconds"]
        .as_i64()
        .unwrap();
    let visibility = r["EmbedQueue"]["Properties"]["VisibilityTimeout"]
        .as_i64()
        .unwrap();
    assert!(
        visibility >= 6 * timeout + window,
        "{visibility} < 6 x {timeout} + {window}"
    );
    // Access logs: no path or query (tokens), no IP address or user agent (personal data).
    let format = r["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
        .as_str()
        .unwrap();
    for forbidden in [
        "$context.path",
        "$context.identity",
        "querystring",
        "userAgent",
        "sourceIp",
    ] {
        assert!(!format.contains(forbidden), "{forbidden} in {format}");
    }
    serde_json::from_str::<serde_json::Value>(format).expect("the access log format is JSON");
    // Every function reads the shared configuration from the template's parameters.
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    for var in optout_core::config::VARS {
        assert!(
            env.get(var.name).is_some(),
            "{} not set by the template",
            var.name
        );
    }
    // Outputs the operator commands and the README use.
    for o in [
        "ApiUrl",
        "PublicUrl",
        "SigningKeysParameter",
        "IndexerKeysParameter",
        "DkimRecord1",
        "DkimRecord2",
        "DkimRecord3",
    ] {
        assert!(t["Outputs"].get(o).is_some(), "output {o}");
    }
}

/// The template's parameter defaults make a valid configuration of the desk (read by the same code
/// as the functions), apart from the public URL, which defaults to the API's own.
#[tokio::test]
async fn template_defaults_are_a_valid_configuration() {
    let stack = optout_aws::testing::Stack::create(
        optout_aws::testing::Emulators::shared(),
        "tpl-defaults",
    )
    .await
    .unwrap();
    let d = &stack.desk;
    assert_eq!(d.settings.operator_name, "optout");
    assert_eq!(d.settings.decision_due, chrono::Duration::days(30));
    assert_eq!(d.settings.contact_email, "no-reply@optout.example.org");
    assert_eq!(
        stack.env.get("OPTOUT_PUBLIC_URL").map(String::as_str),
        Some("")
    );
}
