//! S3 presigned POST (browser-based upload with a signed policy, AWS Signature Version 4).
//! The Rust SDK only presigns GET/PUT-style requests, so the policy is built and signed here.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The tag an upload carries until a case claims it (a lifecycle rule expires such objects).
pub const UNCLAIMED_TAGGING: &str =
    "<Tagging><TagSet><Tag><Key>state</Key><Value>unclaimed</Value></Tag></TagSet></Tagging>";

/// The `Content-Type` form field's default value: "an image, the bytes will tell which". A script
/// on the form page may replace it with the file's own type (anything starting with `image/`).
pub const ANY_IMAGE: &str = "image/*";

/// The credentials that sign a policy.
#[derive(Clone)]
pub struct SigningCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: Option<&'a str>,
}

/// What one upload form allows.
#[derive(Debug, Clone)]
pub struct PostPolicy<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub region: &'a str,
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub redirect: Option<&'a str>,
    /// `AES256` or `aws:kms`.
    pub server_side_encryption: &'a str,
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signing key of a day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The form fields of a signed upload policy (everything but the file), in the order S3 wants them
/// before the file.
pub fn sign_post(
    policy: &PostPolicy<'_>,
    creds: &SigningCredentials<'_>,
) -> BTreeMap<String, String> {
    let date = policy.now.format("%Y%m%d").to_string();
    let amz_date = policy.now.format("%Y%m%dT%H%M%SZ").to_string();
    let credential = format!(
        "{}/{date}/{}/s3/aws4_request",
        creds.access_key_id, policy.region
    );

    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    fields.insert("key".into(), policy.key.to_owned());
    fields.insert("Content-Type".into(), ANY_IMAGE.to_owned());
    fields.insert("tagging".into(), UNCLAIMED_TAGGING.to_owned());
    fields.insert(
        "x-amz-server-side-encryption".into(),
        policy.server_side_encryption.to_owned(),
    );
    if let Some(r) = policy.redirect {
        fields.insert("success_action_redirect".into(), r.to_owned());
    }
    fields.insert("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into());
    fields.insert("x-amz-credential".into(), credential.clone());
    fields.insert("x-amz-date".into(), amz_date.clone());
    if let Some(t) = creds.session_token {
        fields.insert("x-amz-security-token".into(), t.to_owned());
    }

    let mut conditions: Vec<Value> = vec![
        json!({ "bucket": policy.bucket }),
        json!({ "key": policy.key }),
        json!(["content-length-range", 1, policy.max_bytes]),
        json!(["starts-with", "$Content-Type", "image/"]),
        json!({ "tagging": UNCLAIMED_TAGGING }),
        json!({ "x-amz-server-side-encryption": policy.server_side_encryption }),
    ];
    if let Some(r) = policy.redirect {
        conditions.push(json!({ "success_action_redirect": r }));
    }
    conditions.push(json!({ "x-amz-algorithm": "AWS4-HMAC-SHA256" }));
    conditions.push(json!({ "x-amz-credential": credential }));
    conditions.push(json!({ "x-amz-date": amz_date }));
    if let Some(t) = creds.session_token {
        conditions.push(json!({ "x-amz-security-token": t }));
    }
    let doc = json!({
        "expiration": policy.expires_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "conditions": conditions,
    });
    let encoded = B64.encode(doc.to_string());
    let key = signing_key(creds.secret_access_key, &date, policy.region, "s3");
    let signature = hex::encode(hmac(&key, encoded.as_bytes()));
    fields.insert("policy".into(), encoded);
    fields.insert("x-amz-signature".into(), signature);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn signing_key_matches_the_aws_example() {
        // From AWS's "Examples of how to derive a signing key for Signature Version 4".
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(k),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn policy_holds_every_condition() {
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let p = PostPolicy {
            bucket: "photos",
            key: "uploads/abc",
            region: "eu-west-1",
            max_bytes: 1000,
            expires_at: now + chrono::Duration::hours(1),
            now,
            redirect: Some("https://desk.example/uploaded"),
            server_side_encryption: "AES256",
        };
        let c = SigningCredentials {
            access_key_id: "AKID",
            secret_access_key: "secret",
            session_token: Some("tok"),
        };
        let f = sign_post(&p, &c);
        assert_eq!(
            f["x-amz-credential"],
            "AKID/20260102/eu-west-1/s3/aws4_request"
        );
        assert_eq!(f["x-amz-date"], "20260102T030405Z");
        assert_eq!(f["x-amz-security-token"], "tok");
        let doc: Value = serde_json::from_slice(&B64.decode(&f["policy"]).unwrap()).unwrap();
        assert_eq!(doc["expiration"], "2026-01-02T04:04:05.000Z");
        let conds = doc["conditions"].as_array().unwrap();
        assert!(conds.contains(&json!(["content-length-range", 1, 1000])));
        assert!(conds.contains(&json!(["starts-with", "$Content-Type", "image/"])));
        assert!(conds.contains(&json!({"key": "uploads/abc"})));
        assert!(
            conds.contains(&json!({"success_action_redirect": "https://desk.example/uploaded"}))
        );
        assert!(conds.contains(&json!({"x-amz-security-token": "tok"})));
        // The signature is the HMAC of the base64 policy with the day's key.
        let key = signing_key("secret", "20260102", "eu-west-1", "s3");
        assert_eq!(
            f["x-amz-signature"],
            hex::encode(hmac(&key, f["policy"].as_bytes()))
        );
        // Every field sent is covered by a condition.
        for name in f
            .keys()
            .filter(|k| !matches!(k.as_str(), "policy" | "x-amz-signature"))
        {
            let covered = conds.iter().any(|c| {
                c.get(name).is_some()
                    || c.as_array()
                        .is_some_and(|a| a.get(1) == Some(&json!(format!("${name}"))))
            });
            assert!(covered, "field {name} not in the policy");
        }
    }
}
