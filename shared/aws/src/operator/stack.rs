//! The outputs of a deployed stack (CloudFormation `DescribeStacks`): where the operator's commands
//! find the public URL and the names of the two SSM parameters, so they need only the stack's name.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;

use super::{Call, OperatorError, call_error};

/// The public URL of the desk (admin links start with it).
pub const PUBLIC_URL: &str = "PublicUrl";
/// The name of the signing key ring's SSM parameter.
pub const SIGNING_KEYS_PARAMETER: &str = "SigningKeysParameter";
/// The name of the indexer keys' SSM parameter.
pub const INDEXER_KEYS_PARAMETER: &str = "IndexerKeysParameter";

/// A stack's status and outputs.
#[derive(Debug, Clone)]
pub struct StackOutputs {
    pub stack: String,
    pub status: String,
    outputs: BTreeMap<String, String>,
}

impl StackOutputs {
    /// Reads the outputs of the stack `stack` (a name or an id).
    pub async fn read(
        cfn: &aws_sdk_cloudformation::Client,
        region: &str,
        stack: &str,
    ) -> Result<Self, OperatorError> {
        let call = Call {
            action: "cloudformation:DescribeStacks",
            resource: stack,
        };
        let out = match cfn.describe_stacks().stack_name(stack).send().await {
            Ok(out) => out,
            // DescribeStacks has no modelled "not found": it answers ValidationError "Stack with
            // id X does not exist".
            Err(e)
                if e.code() == Some("ValidationError")
                    && e.message().is_some_and(|m| m.contains("does not exist")) =>
            {
                return Err(not_found(stack, region));
            }
            Err(e) => return Err(call_error(&call, e)),
        };
        let Some(found) = out.stacks().first() else {
            return Err(not_found(stack, region));
        };
        let outputs = found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        Ok(StackOutputs {
            stack: stack.to_owned(),
            status: found
                .stack_status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "status unknown".to_owned()),
            outputs,
        })
    }

    /// The value of one output.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.outputs
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// The values of the outputs `names`, or an error naming every one that is missing.
    pub fn require<const N: usize>(
        &self,
        names: [&'static str; N],
    ) -> Result<[&str; N], OperatorError> {
        let missing: Vec<&'static str> = names
            .iter()
            .copied()
            .filter(|n| self.get(n).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(OperatorError::MissingOutputs {
                stack: self.stack.clone(),
                status: self.status.clone(),
                missing,
            });
        }
        Ok(names.map(|n| self.get(n).unwrap_or_default()))
    }
}

fn not_found(stack: &str, region: &str) -> OperatorError {
    OperatorError::StackNotFound {
        stack: stack.to_owned(),
        region: region.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_output() {
        let s = StackOutputs {
            stack: "optout".into(),
            status: "UPDATE_COMPLETE".into(),
            outputs: BTreeMap::from([
                (PUBLIC_URL.to_owned(), "https://desk.example".to_owned()),
                (SIGNING_KEYS_PARAMETER.to_owned(), " ".to_owned()),
            ]),
        };
        assert_eq!(s.require([PUBLIC_URL]).unwrap(), ["https://desk.example"]);
        let e = s
            .require([PUBLIC_URL, SIGNING_KEYS_PARAMETER, INDEXER_KEYS_PARAMETER])
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("no output SigningKeysParameter, IndexerKeysParameter"),
            "{msg}"
        );
        assert!(msg.contains("older template"), "{msg}");
    }
}
