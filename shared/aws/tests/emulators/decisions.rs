//! Two reviewers deciding the same case at the same moment, on DynamoDB Local and moto's SES:
//! exactly one decision is written (a conditional write on the case's version), the other is
//! told the case was already decided, the audit trail holds one decision, and the requester gets
//! exactly one decision email, also after the relay has run over the case.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use optout_core::EmbedJobs;
use optout_core::Lang;
use optout_core::model::{Case, CaseId, CaseKind, CaseState, EmbedJob, RejectReason, ReviewerName};
use optout_core::ports::{AnalyzerError, Clock, JobHandler, PhotoAnalyzer, PhotoFindings};
use optout_core::signing::KeyRing;
use optout_core::{DecisionInput, ReviewError};
use optout_core::{Desk, SubmissionInput};
use serde_json::Value;

use crate::fixtures::*;

/// A clock the test moves by hand (past the relay's grace period).
#[derive(Clone)]
struct HandClock(Arc<Mutex<DateTime<Utc>>>);

impl Clock for HandClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// DSA notices are never analysed; a face pipeline is still part of the job handler.
struct NoPipeline;

impl PhotoAnalyzer for NoPipeline {
    fn analyze(&self, _: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        Err(AnalyzerError::Failed(
            "no face pipeline in this test".into(),
        ))
    }
}

/// The emails moto's SES took for `to`, by subject.
async fn mails_to(to: &str) -> Vec<String> {
    let data: Value = optout_aws::testing::Emulators::shared()
        .moto_data()
        .await
        .expect("moto's recorded data");
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a.as_str() == Some(to))
        })
        .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Case `id` as the desk's store has it.
async fn stored_case(desk: &Desk, id: CaseId) -> Case {
    desk.ports
        .cases
        .get_case(id)
        .await
        .expect("store")
        .expect("case")
}

/// A DSA notice of `email`, submitted and through its (embedding) job: awaiting review.
async fn case_awaiting_review(desk: &Desk, email: &str) -> (CaseId, u64) {
    let submitted = desk
        .submit(SubmissionInput {
            kind: Some(CaseKind::DsaNotice),
            lang: Lang::En,
            country: "TH".into(),
            first_name: "Somchai".into(),
            last_name: "Jaidee".into(),
            email: email.into(),
            phone: "+66 81 234 5678".into(),
            reason: "These photos of me were published without my consent.".into(),
            good_faith: true,
            source_urls: vec!["https://images.example.com/race.jpg".into()],
            ..Default::default()
        })
        .await
        .expect("a DSA notice");
    let id = submitted.case.id;
    let jobs = EmbedJobs {
        desk: desk.clone(),
        analyzer: Arc::new(NoPipeline),
        fetcher: Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    };
    jobs.handle(&EmbedJob {
        case_id: id,
        generation: 0,
    })
    .await
    .expect("the notice's job");
    let case = stored_case(desk, id).await;
    assert_eq!(case.state, CaseState::AwaitingReview);
    (id, case.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_reviewers_deciding_at_once_exactly_one_wins_and_one_email_goes_out() {
    let s = stack("decide-race").await;
    let clock = HandClock(Arc::new(Mutex::new(Utc::now())));
    let mut ports = s.ports();
    ports.clock = Arc::new(clock.clone());
    let desk = Desk::new(ports, KeyRing::generate("k1"), s.desk.settings.clone());
    let alice = ReviewerName::parse("alice").expect("name");
    let bob = ReviewerName::parse("bob").expect("name");

    for round in 0..4 {
        let email = format!("race{round}.{}@example.org", s.prefix);
        let (id, version) = case_awaiting_review(&desk, &email).await;
        assert_eq!(
            mails_to(&email).await.len(),
            1,
            "round {round}: the receipt"
        );

        // Both decisions leave at the same instant (same version seen by both reviewers).
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let decide = |who: ReviewerName, input: DecisionInput| {
            let (desk, barrier) = (desk.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                desk.decide(id, &who, version, input).await
            })
        };
        let approve = if round % 2 == 0 {
            DecisionInput::Approve { note: None }
        } else {
            DecisionInput::Reject {
                reason: RejectReason::NotIllegal,
                note: None,
            }
        };
        let a = decide(alice.clone(), approve);
        let b = decide(
            bob.clone(),
            DecisionInput::Reject {
                reason: RejectReason::NotTheRequester,
                note: Some("second reviewer".into()),
            },
        );
        let (a, b) = (a.await.expect("task"), b.await.expect("task"));
        let (won, lost) = match (&a, &b) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w.clone(), l),
            _ => panic!("round {round}: exactly one decision must win: {a:?} / {b:?}"),
        };
        assert!(
            matches!(lost, ReviewError::AlreadyDecided(st) if *st == won.state),
            "round {round}: the loser is told the case was decided: {lost:?}"
        );

        let stored = stored_case(&desk, id).await;
        assert_eq!(stored.state, won.state, "round {round}");
        assert_eq!(
            stored.decision.as_ref().map(|d| d.reviewer.clone()),
            won.decision.as_ref().map(|d| d.reviewer.clone()),
            "round {round}: the stored decision is the winner's"
        );
        let audit = desk.ports.cases.audit_trail(id).await.expect("audit");
        let decisions: Vec<_> = audit
            .iter()
            .filter(|e| e.action.starts_with("decision:"))
            .collect();
        assert_eq!(decisions.len(), 1, "round {round}: {audit:?}");

        // Exactly one decision email, also once the relay has looked at the case.
        assert_eq!(
            mails_to(&email).await.len(),
            2,
            "round {round}: receipt + one decision email"
        );
        {
            let mut now = clock.0.lock().unwrap_or_else(|e| e.into_inner());
            *now += desk.settings.relay_grace + Duration::seconds(1);
        }
        desk.housekeep(100).await.expect("housekeeping");
        assert_eq!(
            mails_to(&email).await.len(),
            2,
            "round {round}: the relay sent a decision email again"
        );
    }
}
