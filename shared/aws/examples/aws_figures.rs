//! Figures of the AWS runtime against the local emulators (issue 3): latency of a submission
//! (DSA notice: case + audit + idempotency transaction, job enqueued, receipt sent, flags recorded).
//!
//! `scripts/setup-emulators && cargo run --release -p optout-aws --features test-support --example aws_figures [N]`

use std::time::{Duration, Instant};

use optout_aws::testing::{Emulators, Stack};
use optout_core::Lang;
use optout_core::model::CaseKind;
use optout_core::service::{Desk, SubmissionInput};
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let t0 = Instant::now();
    let em = Emulators::start()?;
    println!("emulators up in {:?}", t0.elapsed());
    let stack = Stack::create(&em, "figures").await?;
    let desk = Desk::new(
        stack.ports(),
        KeyRing::generate("k1"),
        Settings::local("https://optout.example.org"),
    );
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 10 {
        let input = SubmissionInput {
            kind: Some(CaseKind::DsaNotice),
            lang: Lang::En,
            country: "DE".into(),
            first_name: "Erika".into(),
            last_name: "Mustermann".into(),
            email: "erika@example.org".into(),
            phone: "+49 30 1234 5678".into(),
            reason: "This image of me was published without my consent.".into(),
            good_faith: true,
            source_urls: vec![format!("https://images.example.com/{i}.jpg")],
            idempotency_key: Some(format!("figures-{i:08}")),
            ..Default::default()
        };
        let start = Instant::now();
        let out = desk.submit(input).await?;
        let took = start.elapsed();
        assert!(out.created && out.case.job_dispatched && out.case.receipt_sent);
        if i >= 10 {
            times.push(took); // the first ten warm the connections up
        }
    }
    times.sort();
    println!(
        "submission (DynamoDB Local + moto, {n} runs): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(&times, 0.50).as_secs_f64() * 1e3,
        pct(&times, 0.99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
    Ok(())
}
