//! The AWS adapters through the real SDK clients against local emulators (DynamoDB Local, moto),
//! on resources created from `infra/template.yaml`. Needs `scripts/setup-emulators` first.

mod decisions;
mod dynamo;
mod exclusions;
mod failure;
mod fixtures;
mod matcher_snapshots;
mod operator;
mod queue_mail;
mod s3;
mod template;
