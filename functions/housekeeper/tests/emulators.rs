//! The housekeeping handler on the AWS adapters against the local emulators (DynamoDB Local,
//! moto): a receipt that SES could not take at submission is sent by the next run; a closed case
//! is erased once its retention period has ended. Needs `scripts/setup-emulators` first.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use optout_aws::DynamoLease;
use optout_aws::testing::{Emulators, Stack};
use optout_core::model::{CaseKind, CaseState};
use optout_core::ports::{Clock, Mail, MailError, Mailer};
use optout_core::ports::{Hold, Lease};
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use optout_core::{Desk, SubmissionInput};
use optout_housekeeper_fn::{LEASE, LEASE_FOR, Report, run};

fn lease(stack: &Stack) -> DynamoLease {
    DynamoLease::new(stack.clients.dynamodb.clone(), stack.name("CasesTable"))
}

/// Failure injection: SES refusing every message as if it were down.
struct MailDown;

#[async_trait]
impl Mailer for MailDown {
    async fn send(&self, _: &Mail) -> Result<(), MailError> {
        Err(MailError::Unavailable("injected: SES down".into()))
    }
}

#[derive(Clone)]
struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn notice(email: &str) -> SubmissionInput {
    SubmissionInput {
        kind: Some(CaseKind::DsaNotice),
        country: "DE".into(),
        first_name: "Anna".into(),
        last_name: "Schmidt".into(),
        email: email.into(),
        phone: "+4930123456".into(),
        reason: "These images of me are published without my consent.".into(),
        good_faith: true,
        source_urls: vec!["https://images.example.com/a.jpg".into()],
        ..Default::default()
    }
}

async fn ses_text() -> String {
    Emulators::shared().moto_data().await.unwrap()["ses"].to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_receipt_ses_refused_is_sent_by_the_next_run() {
    let stack = Stack::create(Emulators::shared(), "hk-mail").await.unwrap();
    let keys = KeyRing::generate("k1");
    let mut settings = Settings::local("https://optout.example.org");
    // The next run comes at once here, not minutes later: no grace for requests in flight.
    settings.relay_grace = chrono::Duration::zero();
    let email = format!("{}@example.org", stack.prefix);

    let mut ports = stack.ports();
    ports.mailer = Arc::new(MailDown);
    let down = Desk::new(ports, keys.clone(), settings.clone());
    let submitted = down.submit(notice(&email)).await.unwrap();
    assert!(!submitted.case.receipt_sent);
    assert!(
        !ses_text().await.contains(&email),
        "nothing reached SES yet"
    );

    let desk = Desk::new(stack.ports(), keys, settings);
    let report = run(&desk, &lease(&stack)).await.unwrap();
    assert!(report.relayed >= 1, "{report:?}");
    assert!(ses_text().await.contains(&email), "the receipt reached SES");
    let case = stored(&desk, submitted.case.id).await;
    assert!(case.receipt_sent);

    // Nothing is left: the next run finds nothing of this case to do.
    let again = desk.ports.cases.undispatched(1000).await.unwrap();
    assert!(again.iter().all(|c| c.id != case.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawn_case_is_erased_after_the_retention_period() {
    let stack = Stack::create(Emulators::shared(), "hk-ret").await.unwrap();
    let clock = TestClock(Arc::new(Mutex::new(Utc::now())));
    let mut ports = stack.ports();
    ports.clock = Arc::new(clock.clone());
    let settings = Settings::local("https://optout.example.org");
    let retention = settings.retention;
    let desk = Desk::new(ports, KeyRing::generate("k1"), settings);

    let email = format!("{}@example.org", stack.prefix);
    let submitted = desk.submit(notice(&email)).await.unwrap();
    let token = submitted.status_url.rsplit('/').next().unwrap().to_owned();
    desk.withdraw(&token).await.unwrap();

    // Within the retention period nothing is erased.
    let report = run(&desk, &lease(&stack)).await.unwrap();
    assert_eq!(report.erased, 0, "{report:?}");

    *clock.0.lock().unwrap() += retention + Duration::days(1);
    let report: Report = run(&desk, &lease(&stack)).await.unwrap();
    assert_eq!(report.erased, 1, "{report:?}");
    let case = stored(&desk, submitted.case.id).await;
    assert_eq!(case.state, CaseState::Erased);
    assert!(case.personal.is_none());
    assert!(case.source_urls.is_empty());
    let trail = desk.ports.cases.audit_trail(case.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        &actions[actions.len() - 2..],
        ["erased", "biometrics_deleted,photo_deleted"],
        "{actions:?}"
    );
    assert!(
        !format!("{trail:?}").contains("Schmidt"),
        "the audit keeps no personal data"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_run_at_a_time() {
    let stack = Stack::create(Emulators::shared(), "hk-lease")
        .await
        .unwrap();
    let desk = stack.local_desk();
    let l = lease(&stack);
    let now = Utc::now();

    // A run of another invocation holds the lease: this one does nothing.
    assert!(
        l.acquire(LEASE, Hold::new("other", now, now + LEASE_FOR))
            .await
            .unwrap()
    );
    let report = run(&desk, &l).await.unwrap();
    assert!(report.skipped, "{report:?}");
    // Only the holder gives it back.
    l.release(LEASE, "someone-else").await.unwrap();
    assert!(run(&desk, &l).await.unwrap().skipped);
    l.release(LEASE, "other").await.unwrap();
    let report = run(&desk, &l).await.unwrap();
    assert!(!report.skipped, "{report:?}");
    // A run gives the lease back when it ends.
    assert!(
        l.acquire(LEASE, Hold::new("next", now, now + LEASE_FOR))
            .await
            .unwrap()
    );
    l.release(LEASE, "next").await.unwrap();

    // A holder that died: its lease expires and the next run takes over.
    let earlier = now - LEASE_FOR - Duration::seconds(1);
    assert!(
        l.acquire(LEASE, Hold::new("dead", earlier, earlier + LEASE_FOR))
            .await
            .unwrap()
    );
    assert!(!run(&desk, &l).await.unwrap().skipped);

    // Two runs at the same moment: exactly one works.
    let (a, b) = tokio::join!(run(&desk, &l), run(&desk, &l));
    let skipped = [a.unwrap().skipped, b.unwrap().skipped];
    assert_eq!(skipped.iter().filter(|s| **s).count(), 1, "{skipped:?}");
}

/// The case as stored.
async fn stored(desk: &Desk, id: optout_core::model::CaseId) -> optout_core::model::Case {
    desk.ports.cases.get_case(id).await.unwrap().unwrap()
}
