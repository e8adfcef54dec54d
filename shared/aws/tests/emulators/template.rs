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
