//! The api binary started as Lambda starts it, against a local Runtime API: a missing or invalid
//! setting gets every request a clear 500 and a log line naming the variable, never a hang.

use optout_aws::lambda_api::LocalRuntimeApi;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

fn event(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

/// Runs the binary with `env`, hands it the healthz event twice and returns the two outcomes and
/// what it logged.
async fn run(env: HashMap<String, String>) -> (Vec<Result<serde_json::Value, String>>, String) {
    let ev = event("apigw-http-get-healthz.json");
    let mut api = LocalRuntimeApi::start(vec![ev.clone(), ev]).await.unwrap();
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .env_clear()
        .envs(env)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "optout-api")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdin(Stdio::null())
        .stdout(log.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..2 {
        match api.outcome(Duration::from_secs(20)).await {
            Some(Ok(body)) => outcomes.push(Ok(serde_json::from_str(&body).unwrap())),
            Some(Err(body)) => outcomes.push(Err(body)),
            None => {
                let _ = child.kill();
                panic!("the function did not answer within 20 s");
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    (outcomes, std::fs::read_to_string(log.path()).unwrap())
}

fn assert_misconfigured(outcomes: &[Result<serde_json::Value, String>], log: &str, var: &str) {
    for o in outcomes {
        let r = o
            .as_ref()
            .expect("an HTTP response, not an invocation error");
        assert_eq!(r["statusCode"], 500, "{r}");
        let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "misconfigured", "{body}");
    }
    // Logged at start and for each request, naming the variable.
    let lines: Vec<_> = log.lines().filter(|l| l.contains(var)).collect();
    assert!(lines.len() >= 3, "{var} not named in the log:\n{log}");
}

#[tokio::test]
async fn a_missing_setting_answers_500_and_names_it() {
    let mut env = common::closed_port_env();
    env.remove("OPTOUT_CASES_TABLE");
    let (outcomes, log) = run(env).await;
    assert_misconfigured(&outcomes, &log, "OPTOUT_CASES_TABLE");
}

#[tokio::test]
async fn an_invalid_desk_setting_answers_500_and_names_it() {
    let mut env = common::closed_port_env();
    env.insert("OPTOUT_DECISION_DAYS".into(), "a month".into());
    let (outcomes, log) = run(env).await;
    assert_misconfigured(&outcomes, &log, "OPTOUT_DECISION_DAYS");
    // The secret never reaches the log.
    assert!(!log.contains("AAAAAAAAAAAAAAAA"), "{log}");
}

#[tokio::test]
async fn an_invalid_log_filter_answers_500_and_names_it() {
    let mut env = common::closed_port_env();
    env.insert("RUST_LOG".into(), "info,[[".into());
    let (outcomes, log) = run(env).await;
    assert_misconfigured(&outcomes, &log, "RUST_LOG");
}

#[tokio::test]
async fn a_configured_function_serves() {
    let (outcomes, _) = run(common::closed_port_env()).await;
    for o in &outcomes {
        let r = o.as_ref().unwrap();
        assert_eq!(r["statusCode"], 200, "{r}");
    }
}
