//! Two reviewers deciding the same case at the same instant, in the embedded mode: the decision
//! forms of both are posted together to the router `optout serve` runs (in process, both
//! requests released by one barrier). Exactly one decision wins, the other gets the 409 "Already
//! decided" page, the audit trail holds one decision, and the outbox holds exactly one decision
//! email, also after the relay has gone over the case.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Request};
use optout_core::EmbedJobs;
use optout_core::model::{CaseId, EmbedJob};
use optout_core::ports::{AnalyzerError, JobHandler, PhotoAnalyzer, PhotoFindings};
use serde_json::json;
use tower::ServiceExt;

use crate::common::{TestClock, hidden_inputs};
use crate::properties::Harness;

/// DSA notices are never analysed; a face pipeline is still part of the job handler.
struct NoPipeline;

impl PhotoAnalyzer for NoPipeline {
    fn analyze(&self, _: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        Err(AnalyzerError::Failed(
            "no face pipeline in this test".into(),
        ))
    }
}

/// The `csrf` and `version` hidden fields of a reviewer's case page.
fn decision_form(h: &Harness, cookie: &str, id: &str) -> (String, String) {
    let page = h.get(
        &format!("/admin/cases/{id}"),
        &[("cookie", HeaderValue::from_str(cookie).expect("cookie"))],
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let fields = hidden_inputs(&page.text());
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {name} on the case page"))
    };
    (get("csrf"), get("version"))
}

fn decision(
    cookie: &str,
    id: &str,
    form: &(String, String),
    fields: &[(&str, &str)],
) -> Request<Body> {
    let mut all = vec![("csrf", form.0.as_str()), ("version", form.1.as_str())];
    all.extend_from_slice(fields);
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish();
    Request::post(format!("/admin/cases/{id}/decide"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(Body::from(body))
        .expect("request")
}

#[test]
fn of_two_reviewers_deciding_at_once_exactly_one_wins_and_one_email_goes_out() {
    let clock = TestClock::new();
    let h = Harness::with_clock(Arc::new(clock.clone()));
    let jobs = EmbedJobs {
        desk: h.system.desk.clone(),
        analyzer: Arc::new(NoPipeline),
        fetcher: Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    };
    let alice = h.login("alice");
    let bob = h.login("bob");
    for round in 0..6usize {
        let r = h.post_json(
            "/v1/cases",
            &json!({
                "kind": "dsa_notice", "lang": "en", "country": "TH", "first_name": "Somchai",
                "last_name": "Jaidee", "email": format!("race{round}@example.org"),
                "phone": "+66812345678", "good_faith": true,
                "reason": "These photos of me were published without my consent.",
                "source_urls": [format!("https://images.example.com/race{round}.jpg")],
            }),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let doc: serde_json::Value = serde_json::from_slice(&r.body).expect("case");
        let id = doc["id"].as_str().expect("id").to_owned();
        let case_id = CaseId::parse(&id).expect("ULID");
        h.rt.block_on(jobs.handle(&EmbedJob {
            case_id,
            generation: 0,
        }))
        .expect("the notice's job");

        let a_form = decision_form(&h, &alice, &id);
        let b_form = decision_form(&h, &bob, &id);
        let first = if round % 2 == 0 {
            vec![("decision", "approve")]
        } else {
            vec![("decision", "reject"), ("reason", "not_illegal")]
        };
        let a_req = decision(&alice, &id, &a_form, &first);
        let b_req = decision(
            &bob,
            &id,
            &b_form,
            &[("decision", "reject"), ("reason", "not_the_requester")],
        );
        let (a, b) = h.rt.block_on(async {
            let barrier = Arc::new(tokio::sync::Barrier::new(2));
            let send = |req: Request<Body>| {
                let (app, barrier) = (h.app.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let r = app.oneshot(req).await.unwrap_or_else(|e| match e {});
                    let status = r.status().as_u16();
                    let body = axum::body::to_bytes(r.into_body(), usize::MAX)
                        .await
                        .expect("body");
                    (status, String::from_utf8_lossy(&body).into_owned())
                })
            };
            let (a, b) = (send(a_req), send(b_req));
            (a.await.expect("task"), b.await.expect("task"))
        });
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [303, 409], "round {round}: {a:?} / {b:?}");
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert!(loser.contains("Already decided"), "round {round}: {loser}");

        let audit =
            h.rt.block_on(h.system.desk.ports.cases.audit_trail(case_id))
                .expect("audit");
        assert_eq!(
            audit
                .iter()
                .filter(|e| e.action.starts_with("decision:"))
                .count(),
            1,
            "round {round}: {audit:?}"
        );
        // Every round adds a receipt and one decision email.
        let (_, mails) = h.written();
        assert_eq!(
            mails,
            2 * (round + 1),
            "round {round}: receipt + one decision email"
        );
        clock.advance(h.system.desk.settings.relay_grace + chrono::Duration::seconds(1));
        h.rt.block_on(h.system.desk.housekeep(100))
            .expect("housekeeping");
        let (_, mails) = h.written();
        assert_eq!(
            mails,
            2 * (round + 1),
            "round {round}: the relay sent a decision email again"
        );
    }
}
