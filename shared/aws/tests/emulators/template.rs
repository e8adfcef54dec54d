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
