//! Every transition of the state diagram, and every refusal, at unit level.

use chrono::{Duration, TimeZone};

use super::*;
use crate::model::{Country, Reason as Text};
use crate::model::{Email, Outcome, PersonName, Phone};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().unwrap()
}

fn policy() -> Policy {
    Policy {
        decision_due: Duration::days(30),
        complaint_window: Duration::days(183),
        retention: Duration::days(183),
        lapse_after: Duration::days(30),
    }
}

fn photo(key: &str) -> PhotoRef {
    PhotoRef {
        key: key.into(),
        content_type: "image/jpeg".into(),
        bytes: 1000,
        width: 400,
        height: 400,
        sha256: optout_matcher::Sha256([0xab; 32]),
        generation: 0,
    }
}

fn personal() -> Personal {
    Personal {
        first_name: PersonName::parse("Ana").unwrap(),
        last_name: PersonName::parse("Silva").unwrap(),
        email: Email::parse("ana@example.org").unwrap(),
        phone: Some(Phone::parse("+66 81 234 5678").unwrap()),
        country: Country::parse("TH").unwrap(),
        reason: Text::parse("These photos show me.").unwrap(),
    }
}

fn received(kind: CaseKind) -> Case {
    let request = NewRequest {
        id: CaseId::new(t0()),
        kind,
        lang: Lang::En,
        personal: personal(),
        photo: kind.takes_photo().then(|| PhotoRef {
            generation: 1,
            ..photo("uploads/first")
        }),
        source_urls: match kind.takes_links() {
            true => vec![SourceUrl::parse("https://example.org/a.jpg").unwrap()],
            false => Vec::new(),
        },
        consent: true,
        good_faith: true,
        exclude_faces: true,
    };
    Case::receive(request, t0(), &policy()).case
}

/// `case` once its outbox is done (as the dispatch after each step leaves it).
fn dispatched(mut case: Case) -> Case {
    case.pending.clear();
    case.job_dispatched = true;
    case.receipt_sent = true;
    case
}

fn statement() -> Statement {
    Statement {
        action: "a".into(),
        facts: "f".into(),
        automated: "m".into(),
        ground: "g".into(),
        redress: "r".into(),
    }
}

fn reviewer(name: &str) -> ReviewerName {
    ReviewerName::parse(name).unwrap()
}

fn decide(case: &Case, who: &str, input: DecisionInput) -> Command {
    Command::Decide {
        reviewer: reviewer(who),
        expected_version: case.version,
        input,
        statement: statement(),
        embedding_ready: true,
    }
}

fn approve(case: &Case) -> Command {
    decide(case, "alice", DecisionInput::Approve { note: None })
}

fn reject(case: &Case) -> Command {
    let input = DecisionInput::Reject {
        reason: RejectReason::NotIllegal,
        note: Some("no".into()),
    };
    decide(case, "alice", input)
}

fn better_photo(case: &Case) -> Command {
    let input = DecisionInput::BetterPhoto {
        code: Verdict::TooBlurred,
        note: None,
    };
    decide(case, "alice", input)
}

/// Applies `command` at `at` and expects it to be allowed.
fn step(case: &Case, command: Command, at: DateTime<Utc>) -> Case {
    let name = command.name();
    match case.apply(command, at, &policy()) {
        Ok(t) => t.case,
        Err(e) => panic!("{name} from {}: {e}", case.state),
    }
}

/// A face opt-out brought to `state` by the commands of the diagram (each step checked).
fn face_in(state: CaseState) -> Case {
    use CaseState::*;
    let c = dispatched(received(CaseKind::FaceOptOut));
    let at = t0() + Duration::minutes(1);
    let embedding = || step(&c, Command::StartEmbedding { generation: 1 }, at);
    let awaiting = || step(&embedding(), Command::Embedded { generation: 1 }, at);
    match state {
        Received => c,
        Embedding => embedding(),
        AwaitingReview => awaiting(),
        NeedsBetterPhoto => step(
            &embedding(),
            Command::PhotoUnusable {
                generation: 1,
                verdict: Verdict::NoFace,
            },
            at,
        ),
        Approved => {
            let a = awaiting();
            step(&a, approve(&a), at)
        }
        Rejected => {
            let a = awaiting();
            step(&a, reject(&a), at)
        }
        Withdrawn => step(&c, Command::Withdraw, at),
        Lapsed => step(
            &face_in(NeedsBetterPhoto),
            Command::Lapse,
            at + Duration::days(31),
        ),
        Erased => {
            let w = step(&c, Command::Withdraw, at);
            step(&w, Command::Erase, at + Duration::days(200))
        }
    }
}

/// The worker's step of a notice, each of its links fetched and hashed.
fn ready(case: &Case) -> Command {
    let hashed = LinkCheck::Hashed {
        sha256: optout_matcher::Sha256([0xcd; 32]),
        pdq: None,
        bytes: 2000,
    };
    Command::ReadyForReview {
        links: vec![hashed; case.source_urls.len()],
    }
}

/// One command of each kind that could apply to `case` (built from it, so that a refusal is
/// about the state, not a stale version or generation).
fn commands(case: &Case) -> Vec<Command> {
    let generation = case.photo_generation();
    vec![
        Command::StartEmbedding { generation },
        ready(case),
        Command::Embedded { generation },
        Command::PhotoUnusable {
            generation,
            verdict: Verdict::TooBlurred,
        },
        Command::ReplacePhoto {
            photo: photo("uploads/second"),
        },
        Command::ContinueAsImage,
        Command::Lapse,
        Command::Withdraw,
        Command::Complain {
            text: Text::parse("I disagree.").unwrap(),
        },
        approve(case),
        reject(case),
        better_photo(case),
        Command::Erase,
    ]
}

/// The diagram as a table: (from, command) → the state it leads to, for a face opt-out applied
/// a day after its decision (complaints open) and a year after (erasure due) — `None`: refused.
fn expected(from: CaseState, command: &Command, late: bool) -> Option<CaseState> {
    use CaseState::*;
    match (from, command) {
        (Erased, _) => None,
        (Received, Command::StartEmbedding { .. }) => Some(Embedding),
        (Embedding, Command::Embedded { .. }) => Some(AwaitingReview),
        (Embedding, Command::PhotoUnusable { .. }) => Some(NeedsBetterPhoto),
        (NeedsBetterPhoto, Command::ReplacePhoto { .. } | Command::ContinueAsImage) => {
            Some(Received)
        }
        (NeedsBetterPhoto, Command::Lapse) if late => Some(Lapsed),
        (Withdrawn | Rejected | Lapsed, Command::Withdraw) => None,
        (_, Command::Withdraw) => Some(Withdrawn),
        (Approved | Rejected, Command::Complain { .. }) if !late => Some(AwaitingReview),
        (AwaitingReview, Command::Decide { input, .. }) => Some(match input.outcome() {
            Outcome::Approved => Approved,
            Outcome::Rejected => Rejected,
            Outcome::BetterPhoto => NeedsBetterPhoto,
        }),
        (Approved | Rejected | Withdrawn | Lapsed, Command::Erase) if late => Some(Erased),
        _ => None,
    }
}

#[test]
fn every_state_and_command_follows_the_diagram() {
    let mut made = std::collections::HashSet::new();
    for from in CaseState::ALL {
        let case = face_in(from);
        assert_eq!(case.state, from);
        for late in [false, true] {
            let at = case.updated_at
                + if late {
                    Duration::days(365)
                } else {
                    Duration::days(1)
                };
            for command in commands(&case) {
                let name = command.name();
                let want = expected(from, &command, late);
                match (case.apply(command, at, &policy()), want) {
                    (Ok(t), Some(to)) => {
                        assert_eq!(t.case.state, to, "{name} from {from}");
                        assert_eq!(t.from, from);
                        assert!(
                            from.can_become(to),
                            "{name}: {from} -> {to} not in the diagram"
                        );
                        assert_eq!(t.case.version, case.version + 1, "{name}: one bump");
                        assert_eq!(t.audit.state, to);
                        assert_eq!(t.audit.case_id, case.id);
                        assert_eq!(t.audit.at, at);
                        assert_eq!(t.case.updated_at, at, "{name} is a real change");
                        made.insert((from, to));
                    }
                    (Err(e), None) => {
                        let allowed = matches!(
                            e,
                            DomainError::WrongState { .. }
                                | DomainError::Gone
                                | DomainError::Stale(_)
                                | DomainError::NotReady(_)
                        );
                        assert!(allowed, "{name} from {from}: unexpected refusal {e}");
                        if from == CaseState::Erased {
                            assert_eq!(e, DomainError::Gone);
                        }
                    }
                    (Ok(t), None) => {
                        panic!("{name} from {from} (late {late}) went to {}", t.case.state)
                    }
                    (Err(e), Some(to)) => {
                        panic!("{name} from {from} (late {late}) refused ({e}), expected {to}")
                    }
                }
            }
        }
    }
    // The notice's own step, which a face opt-out never makes.
    let notice = received(CaseKind::DsaNotice);
    let t = notice.apply(ready(&notice), t0(), &policy()).unwrap();
    made.insert((t.from, t.case.state));
    // Every arrow of the diagram is made by some command, and nothing else is allowed.
    for from in CaseState::ALL {
        for to in CaseState::ALL {
            assert_eq!(
                from.can_become(to),
                made.contains(&(from, to)),
                "{from} -> {to}: the diagram and the commands disagree"
            );
        }
    }
}

#[test]
fn a_new_case_is_received_with_its_photo_to_claim() {
    let c = received(CaseKind::FaceOptOut);
    assert_eq!((c.state, c.version), (CaseState::Received, 1));
    assert_eq!(c.due_at, t0() + Duration::days(30));
    assert_eq!(c.pending, vec![Effect::ClaimPhoto]);
    assert!(
        c.consent && !c.good_faith,
        "consent kept for a face opt-out only"
    );
    assert!(c.has_outbox());
    let n = received(CaseKind::DsaNotice);
    assert!(n.pending.is_empty());
    assert!(!n.consent && n.good_faith);
}

#[test]
fn worker_commands_about_an_older_photo_are_stale() {
    let c = face_in(CaseState::Embedding);
    for command in [
        Command::Embedded { generation: 2 },
        Command::PhotoUnusable {
            generation: 0,
            verdict: Verdict::NoFace,
        },
    ] {
        assert_eq!(
            c.apply(command, t0(), &policy()),
            Err(DomainError::Stale(CaseState::Embedding))
        );
    }
    let notice = received(CaseKind::DsaNotice);
    assert!(matches!(
        notice.apply(Command::StartEmbedding { generation: 0 }, t0(), &policy()),
        Err(DomainError::NotReady(_))
    ));
    let face = received(CaseKind::FaceOptOut);
    assert!(matches!(
        face.apply(ready(&face), t0(), &policy()),
        Err(DomainError::NotReady(_))
    ));
}

#[test]
fn an_unusable_photo_asks_for_another_and_a_new_one_starts_over() {
    let c = face_in(CaseState::NeedsBetterPhoto);
    assert_eq!(c.quality_issue, Some(Verdict::NoFace));
    assert!(c.pending.contains(&Effect::BetterPhotoMail));
    let t = c
        .apply(
            Command::ReplacePhoto {
                photo: photo("uploads/second"),
            },
            t0(),
            &policy(),
        )
        .unwrap();
    let n = &t.case;
    assert_eq!(
        n.photo.as_ref().map(|p| (p.key.as_str(), p.generation)),
        Some(("uploads/second", 2))
    );
    assert_eq!(n.quality_issue, None);
    assert!(!n.job_dispatched, "the new photo needs its job");
    assert_eq!(t.audit.actor, Actor::Requester);
    assert_eq!(
        t.scheduled,
        vec![
            Effect::ClaimPhoto,
            Effect::DeleteReplacedPhoto("uploads/first".into())
        ]
    );
}

#[test]
fn withdrawal_schedules_the_clean_up_and_its_confirmation() {
    let a = face_in(CaseState::Approved);
    let t = a.apply(Command::Withdraw, t0(), &policy()).unwrap();
    for e in [
        Effect::WithdrawExclusions,
        Effect::DeletePhoto,
        Effect::DeleteBiometrics,
        Effect::WithdrawnMail,
    ] {
        assert!(t.case.pending.contains(&e), "{e:?}");
    }
    // An approval whose entries were never written: the withdrawal cancels the write.
    assert!(!t.case.pending.contains(&Effect::WriteExclusions));
    assert_eq!(t.audit.actor, Actor::Requester);
}

#[test]
fn decisions_follow_their_rules() {
    let c = face_in(CaseState::AwaitingReview);
    // Another version than the reviewer saw.
    let mut stale = approve(&c);
    if let Command::Decide {
        expected_version, ..
    } = &mut stale
    {
        *expected_version -= 1;
    }
    assert_eq!(
        c.apply(stale, t0(), &policy()),
        Err(DomainError::Stale(CaseState::AwaitingReview))
    );
    // No embedding yet: no approval of a face opt-out.
    let mut unready = approve(&c);
    if let Command::Decide {
        embedding_ready, ..
    } = &mut unready
    {
        *embedding_ready = false;
    }
    assert!(matches!(
        c.apply(unready, t0(), &policy()),
        Err(DomainError::NotReady(_))
    ));
    // A notice has no photo to improve.
    let n = dispatched(received(CaseKind::DsaNotice));
    let n = step(&n, ready(&n), t0());
    assert_eq!(
        n.apply(better_photo(&n), t0(), &policy()),
        Err(DomainError::Invalid("decision"))
    );
    let approved = n.apply(approve(&n), t0(), &policy()).unwrap();
    assert_eq!(
        approved.scheduled,
        vec![
            Effect::WriteExclusions,
            Effect::DeletePhoto,
            Effect::DecisionMail
        ]
    );
    assert!(
        approved
            .audit
            .detail
            .as_deref()
            .unwrap()
            .contains("ground=dsa_art16")
    );
    assert_eq!(approved.audit.actor, Actor::Reviewer("alice".into()));
    assert_eq!(approved.audit.action, "decision:approved");
    let d = approved.case.decision.as_ref().unwrap();
    assert_eq!((d.outcome, d.on_complaint), (Outcome::Approved, false));
    // A rejection after an approval whose entries were never written: withdraw, not write.
    let rejected = face_in(CaseState::Rejected);
    assert!(rejected.pending.contains(&Effect::WithdrawExclusions));
    let asked = c.apply(better_photo(&c), t0(), &policy()).unwrap().case;
    assert_eq!(asked.quality_issue, Some(Verdict::TooBlurred));
    assert_eq!(asked.pending, vec![Effect::DecisionMail]);
}

#[test]
fn a_complaint_reopens_the_case_for_another_reviewer() {
    let a = face_in(CaseState::Approved);
    let at = a.updated_at + Duration::days(10);
    let text = Text::parse("That is not me.").unwrap();
    let t = a
        .apply(Command::Complain { text: text.clone() }, at, &policy())
        .unwrap();
    let c = &t.case;
    assert_eq!(c.state, CaseState::AwaitingReview);
    assert_eq!(c.due_at, at + Duration::days(30), "a new decision is due");
    assert_eq!(t.audit.detail.as_deref(), Some("contested=approved"));
    let open = c.open_complaint().unwrap();
    assert_eq!(
        (open.first_reviewer.as_str(), open.contested),
        ("alice", Outcome::Approved)
    );
    // The first reviewer cannot decide it; another can, and it is resolved.
    assert_eq!(
        c.apply(reject(c), at, &policy()),
        Err(DomainError::SameReviewer)
    );
    let input = DecisionInput::Reject {
        reason: RejectReason::NotTheRequester,
        note: None,
    };
    let d = c
        .apply(decide(c, "bob", input), at, &policy())
        .unwrap()
        .case;
    assert!(d.complaint.as_ref().unwrap().resolved_at.is_some());
    assert!(d.decision.as_ref().unwrap().on_complaint);
    assert!(d.pending.contains(&Effect::WithdrawExclusions));
    assert!(!d.pending.contains(&Effect::WriteExclusions));
    // One complaint per case, and none after the window.
    assert!(matches!(
        d.apply(Command::Complain { text: text.clone() }, at, &policy()),
        Err(DomainError::WrongState { .. })
    ));
    let late = a.updated_at + Duration::days(184);
    assert!(!a.complaint_open(late, &policy()));
    assert!(matches!(
        a.apply(Command::Complain { text }, late, &policy()),
        Err(DomainError::WrongState { .. })
    ));
}

#[test]
fn erasure_keeps_only_what_the_audit_needs_and_waits_for_the_retention_period() {
    let a = face_in(CaseState::Approved);
    assert!(matches!(
        a.apply(
            Command::Erase,
            a.updated_at + Duration::days(100),
            &policy()
        ),
        Err(DomainError::NotReady(_))
    ));
    let t = a
        .apply(
            Command::Erase,
            a.updated_at + Duration::days(184),
            &policy(),
        )
        .unwrap();
    let e = &t.case;
    assert_eq!(e.state, CaseState::Erased);
    assert!(e.personal.is_none() && e.source_urls.is_empty());
    assert!(e.decision.as_ref().unwrap().note.is_none());
    assert!(
        e.pending.contains(&Effect::DeleteBiometrics) && e.pending.contains(&Effect::DeletePhoto)
    );
    assert_eq!(t.audit.actor, Actor::System);
}

#[test]
fn recording_the_outbox_changes_no_state_and_only_its_own_version() {
    let mut c = face_in(CaseState::Approved);
    (c.job_dispatched, c.receipt_sent) = (false, false);
    let done = vec![Effect::DeletePhoto, Effect::DecisionMail];
    let record = |version| Command::RecordDispatch {
        version,
        job_enqueued: true,
        receipt_sent: true,
        done: done.clone(),
    };
    let later = c.updated_at + Duration::minutes(5);
    let t = c.apply(record(c.version), later, &policy()).unwrap();
    assert_eq!(t.case.state, CaseState::Approved);
    assert_eq!(
        t.case.updated_at, c.updated_at,
        "bookkeeping is not a change"
    );
    assert_eq!(t.case.pending, vec![Effect::WriteExclusions]);
    assert!(t.case.job_dispatched && t.case.receipt_sent);
    assert_eq!(
        t.audit.action,
        "job_enqueued,receipt_sent,photo_deleted,decision_sent"
    );
    assert_eq!(
        c.apply(record(c.version - 1), later, &policy()),
        Err(DomainError::Stale(CaseState::Approved))
    );
    // Nothing new to record is refused rather than written.
    let nothing = Command::RecordDispatch {
        version: t.case.version,
        job_enqueued: true,
        receipt_sent: true,
        done: Vec::new(),
    };
    assert!(matches!(
        t.case.apply(nothing, later, &policy()),
        Err(DomainError::NotReady(_))
    ));
}

#[test]
fn the_outbox_rule() {
    let mut c = received(CaseKind::DsaNotice);
    assert!(c.has_outbox(), "job and receipt");
    c.job_dispatched = true;
    c.receipt_sent = true;
    assert!(!c.has_outbox());
    c.pending.push(Effect::DecisionMail);
    assert!(c.has_outbox());
    c.pending.clear();
    c.job_dispatched = false;
    c.state = CaseState::AwaitingReview;
    assert!(!c.has_outbox(), "a job is only owed while received");
}

#[test]
fn decisions_parse() {
    assert_eq!(
        DecisionInput::parse("approve", None, None, Some("  ")).unwrap(),
        DecisionInput::Approve { note: None }
    );
    for (decision, reason, quality, note, field) in [
        ("reject", Some("nope"), None, None, "reason"),
        ("reject", Some("other"), None, None, "note"),
        ("better_photo", None, Some("x"), None, "quality"),
        ("delete", None, None, None, "decision"),
        ("approve", None, None, Some("a\u{7}b"), "note"),
    ] {
        assert_eq!(
            DecisionInput::parse(decision, reason, quality, note),
            Err(DomainError::Invalid(field)),
            "{decision} {reason:?} {quality:?}"
        );
    }
    assert!(DecisionInput::parse("reject", Some("not_illegal"), None, None).is_ok());
    assert!(parse_note(&"x".repeat(NOTE_MAX + 1)).is_err());
}
