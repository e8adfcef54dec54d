use chrono::Utc;
use optout_core::Lang;
use optout_core::model::{CaseId, EmbedJob};
use optout_core::ports::*;

use crate::fixtures::*;

#[tokio::test(flavor = "multi_thread")]
async fn enqueue_and_receive() {
    let s = stack("enqueue").await;
    let job = EmbedJob {
        case_id: CaseId::new(Utc::now()),
        generation: 1,
    };
    s.ports().queue.enqueue(&job).await.unwrap();
    let out = s
        .clients
        .sqs
        .receive_message()
        .queue_url(&s.config.job_queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let bodies: Vec<EmbedJob> = out
        .messages()
        .iter()
        .map(|m| EmbedJob::from_json(m.body().unwrap()).unwrap())
        .collect();
    assert_eq!(bodies, vec![job]);
}

#[tokio::test(flavor = "multi_thread")]
async fn repeatedly_failed_job_moves_to_the_dead_letter_queue() {
    let s = stack("dlq").await;
    let sqs = &s.clients.sqs;
    let job = EmbedJob {
        case_id: CaseId::new(Utc::now()),
        generation: 1,
    };
    s.ports().queue.enqueue(&job).await.unwrap();
    // The template's redrive policy: maxReceiveCount 5. Receive without deleting (a failing handler).
    let mut receives = 0;
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&s.config.job_queue_url)
            .visibility_timeout(0)
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            break;
        }
        receives += 1;
    }
    assert_eq!(receives, 5);
    let dlq = s.name("EmbedDeadLetterQueue");
    let out = sqs
        .receive_message()
        .queue_url(dlq)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.messages().len(), 1);
    assert_eq!(
        EmbedJob::from_json(out.messages()[0].body().unwrap()).unwrap(),
        job
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_is_sent_through_ses() {
    let s = stack("mail").await;
    let to = format!("{}@example.org", s.prefix);
    let subject = format!("Receipt {}", s.prefix);
    let mail = Mail {
        to: to.clone(),
        subject: subject.clone(),
        text: "ได้รับคำขอแล้ว".into(),
        html: "<p>ได้รับคำขอแล้ว</p>".into(),
        lang: Lang::Th,
        tag: "receipt".into(),
        key: "test:receipt".into(),
        case_id: Some(CaseId::new(Utc::now())),
    };
    s.ports().mailer.send(&mail).await.unwrap();
    let data = optout_aws::testing::Emulators::shared()
        .moto_data()
        .await
        .unwrap();
    let text = data["ses"].to_string();
    assert!(
        text.contains(&to),
        "recipient not found in {}",
        &text[..text.len().min(2000)]
    );
    assert!(text.contains(&subject), "subject not found");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mail_ledger_lets_one_sender_send_each_message_once() {
    let s = stack("ledger").await;
    let ledger = s.ports().mail_ledger;
    let t = |secs: i64| chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap();
    let key = format!("{}:receipt", s.prefix);
    // Every claim here lasts two minutes.
    let claim = |who: &'static str, at: i64| ledger.claim(&key, Hold::new(who, t(at), t(at + 120)));
    assert_eq!(claim("a", 0).await.unwrap(), MailClaim::Claimed);
    assert_eq!(claim("b", 1).await.unwrap(), MailClaim::InFlight);
    // Only the holder gives a claim back.
    ledger.release(&key, "b").await.unwrap();
    assert_eq!(claim("b", 2).await.unwrap(), MailClaim::InFlight);
    ledger.release(&key, "a").await.unwrap();
    assert_eq!(claim("b", 3).await.unwrap(), MailClaim::Claimed);
    // b dies: once its claim ends, c takes it, sends and records it.
    assert_eq!(claim("c", 122).await.unwrap(), MailClaim::InFlight);
    assert_eq!(claim("c", 123).await.unwrap(), MailClaim::Claimed);
    ledger.mark_sent(&key, "c", t(124)).await.unwrap();
    for (who, at) in [("a", 125), ("c", 1000)] {
        assert_eq!(claim(who, at).await.unwrap(), MailClaim::Sent);
    }
    ledger.release(&key, "c").await.unwrap();
    assert_eq!(
        claim("d", 2000).await.unwrap(),
        MailClaim::Sent,
        "a sent message stays sent"
    );
    let other = format!("{}:decision:1", s.prefix);
    assert_eq!(
        ledger
            .claim(&other, Hold::new("a", t(0), t(120)))
            .await
            .unwrap(),
        MailClaim::Claimed
    );
}
