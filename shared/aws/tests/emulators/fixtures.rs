use chrono::{DateTime, Utc};
use optout_aws::testing::{Emulators, Stack};
use optout_core::Lang;
use optout_core::case::NewRequest;
use optout_core::model::*;
use optout_core::settings::Settings;
use optout_core::signing::random_token;

pub async fn stack(tag: &str) -> Stack {
    Stack::create(Emulators::shared(), tag)
        .await
        .expect("stack from the template")
}

pub fn upload_key() -> String {
    format!("uploads/{}", random_token())
}

pub fn personal() -> Personal {
    Personal {
        first_name: PersonName::parse("Somchai").unwrap(),
        last_name: PersonName::parse("Jaidee").unwrap(),
        email: Email::parse("somchai@example.org").unwrap(),
        phone: Some(Phone::parse("+66 81 234 5678").unwrap()),
        country: Country::parse("TH").unwrap(),
        reason: Reason::parse("Please remove my face from the index.").unwrap(),
    }
}

/// A face opt-out received at `now` (due 30 days later) with nothing scheduled on its outbox:
/// the tests set the flags and effects they are about.
pub fn case_at(now: DateTime<Utc>) -> Case {
    let request = NewRequest {
        id: CaseId::new(now),
        kind: CaseKind::FaceOptOut,
        lang: Lang::En,
        personal: personal(),
        photo: Some(PhotoRef {
            key: upload_key(),
            content_type: "image/png".into(),
            bytes: 1234,
            width: 100,
            height: 120,
            sha256: "ab".repeat(32).parse().unwrap(),
            generation: 1,
        }),
        source_urls: vec![],
        consent: true,
        good_faith: false,
        exclude_faces: false,
    };
    let policy = Settings::local("https://optout.example.org").policy();
    let mut case = Case::receive(request, now, &policy).case;
    case.pending.clear();
    case
}

pub fn case() -> Case {
    case_at(Utc::now())
}

pub fn audit(case: &Case, action: &str) -> AuditEvent {
    AuditEvent {
        case_id: case.id,
        at: Utc::now(),
        actor: Actor::System,
        action: action.into(),
        state: case.state,
        detail: None,
    }
}

/// A small valid PNG.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 3) as u8, (y * 5) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A PNG of `w`×`h` pixels of noise: it barely compresses (about 3 bytes a pixel), so its size
/// is set by its dimensions (1780×1780 is about 9.5 MB).
pub fn noisy_png(w: u32, h: u32) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let img = image::RgbImage::from_fn(w, h, |_, _| {
        // xorshift64: cheap, deterministic noise.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let [a, b, c, ..] = state.to_le_bytes();
        image::Rgb([a, b, c])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}
