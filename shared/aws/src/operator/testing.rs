//! Test support for the operator's commands: one moto server per test process (CloudFormation and
//! SSM are all they need), clients for it, and stacks with chosen outputs.

use std::sync::OnceLock;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use serde_json::{Map, Value, json};

use super::Operator;
use crate::testing::{Emulator, HarnessError, start_moto};

/// The region of the tests.
pub const REGION: &str = "us-east-1";

/// The moto server shared by the tests of this process, started on first use.
pub fn moto() -> &'static Emulator {
    static MOTO: OnceLock<Emulator> = OnceLock::new();
    MOTO.get_or_init(|| match start_moto() {
        Ok(m) => m,
        Err(e) => panic!("moto: {e}"),
    })
}

/// The SDK configuration of the tests: moto's endpoint, test credentials, [`REGION`].
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::config::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "optout-tests"))
        .load()
        .await
}

/// The operator's clients on the shared moto server.
pub async fn operator() -> Operator {
    match Operator::from_sdk(&sdk_config(&moto().endpoint()).await) {
        Ok(op) => op,
        Err(e) => panic!("operator clients: {e}"),
    }
}

/// SSM parameter `name` as stored: its (decrypted) value, version and type.
pub async fn stored_parameter(op: &Operator, name: &str) -> (String, i64, String) {
    let out = op
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .expect("GetParameter");
    let p = out.parameter().expect("the parameter");
    (
        p.value().unwrap_or_default().to_owned(),
        p.version(),
        p.r#type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
    )
}

/// Creates the stack `name` with the outputs given (and one SSM String parameter, as a stack
/// needs a resource), as `sam deploy` of the template would leave them for the operator.
pub async fn create_stack(
    op: &Operator,
    name: &str,
    outputs: &[(&str, &str)],
) -> Result<(), HarnessError> {
    let outputs: Map<String, Value> = outputs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!({ "Value": v })))
        .collect();
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": { "Name": format!("/{name}/marker"), "Type": "String", "Value": "deployed" }
            }
        }
    });
    if !outputs.is_empty() {
        template["Outputs"] = Value::Object(outputs);
    }
    op.cloudformation
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .send()
        .await
        .map_err(|e| {
            HarnessError::Create(name.to_owned(), crate::error::describe("CreateStack", &e))
        })?;
    Ok(())
}
