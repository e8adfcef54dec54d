//! Atomicity in the embedded mode: a failure inside the write leaves nothing behind; a failure
//! after it (the mail step) leaves a consistent case that the relay finishes, also after a restart.

use crate::common::*;
use serde_json::{Value, json};

fn notice() -> Value {
    json!({
        "kind": "dsa_notice", "country": "DE", "first_name": "Anna", "last_name": "Schmidt",
        "email": "anna@example.org", "phone": "+4930123456", "good_faith": true,
        "reason": "These images are published without my consent.",
        "source_urls": ["https://images.example.com/a.jpg"]
    })
}

#[tokio::test]
async fn a_failure_inside_the_write_leaves_nothing() {
    let app = TestApp::start().await;
    let db = rusqlite_open(&app.dir);
    // Inject a failure between the case row and its audit event, inside the transaction.
    db.execute_batch(
        "CREATE TRIGGER inject BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    )
    .unwrap();
    let c = app.client();
    let post = || {
        c.post(format!("{}/v1/cases", app.url))
            .header("idempotency-key", "atomic-key-01")
            .json(&notice())
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "30");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        !body.to_string().contains("injected"),
        "causes are logged, not shown"
    );
    for t in ["cases", "personal", "audit", "idempotency", "jobs"] {
        assert_eq!(app.count(t), 0, "{t} half-written");
    }
    assert!(app.outbox().is_empty());
    // The same request retried once the failure is gone makes exactly one case.
    db.execute_batch("DROP TRIGGER inject;").unwrap();
    assert_eq!(post().await.unwrap().status(), 201);
    assert_eq!(post().await.unwrap().status(), 200);
    assert_eq!(app.count("cases"), 1);
    assert_eq!(app.count("jobs"), 1);
    assert_eq!(app.outbox().len(), 1);
}

#[tokio::test]
async fn a_failed_receipt_is_sent_by_the_relay_after_a_restart() {
    let app = TestApp::start().await;
    let outbox = app.dir.join("outbox");
    // Break the outbox: the mail step fails after the case was written.
    std::fs::remove_dir_all(&outbox).unwrap();
    std::fs::write(&outbox, b"not a directory").unwrap();
    let r = app
        .client()
        .post(format!("{}/v1/cases", app.url))
        .json(&notice())
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "the case is stored with its job; the receipt follows"
    );
    assert_eq!(app.count("cases"), 1);
    assert_eq!(app.count("jobs"), 1);
    let pending: i64 = rusqlite_open(&app.dir)
        .query_row("SELECT undispatched FROM cases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pending, 1);
    // A case changed a moment ago is left to the request dispatching it.
    assert_eq!(app.system.desk.relay(10).await.unwrap(), 0);
    let dir = app.dir.clone();
    let tmp = app.stop().await;
    std::fs::remove_file(&outbox).unwrap();
    // At start the relay finishes what was interrupted (once the case has settled: the relay
    // leaves cases changed in the last minute to the request dispatching them).
    let later = TestClock::new();
    later.advance(chrono::Duration::minutes(2));
    let app = TestApp::start_in(
        &dir,
        Setup {
            clock: std::sync::Arc::new(later),
            ..Setup::default()
        },
    )
    .await;
    let mut sent = Vec::new();
    for _ in 0..50 {
        sent = app.outbox();
        if !sent.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(sent.len(), 1, "the relay sent the receipt");
    assert!(eml_subject(&sent[0]).contains("We received your request"));
    let pending: i64 = rusqlite_open(&app.dir)
        .query_row("SELECT undispatched FROM cases", [], |r| r.get(0))
        .unwrap();
    assert_eq!(pending, 0);
    app.stop().await;
    drop(tmp);
}
