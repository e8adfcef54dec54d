//! Writes small seed corpora into `fuzz/corpus/<target>/` (a few valid values per target, which
//! the fuzzer mutates): `cargo run --example seeds` in `fuzz/` (scripts/fuzz does it). Files that
//! exist are left alone. The corpora are not committed (`/fuzz/corpus` is ignored).

use chrono::Duration;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};
use optout_core::model::ReviewerName;
use optout_core::signing::{KeyRing, admin, scope};
use optout_fuzz::{SPEC_K0, SPEC_K1, now};
use std::path::{Path, PathBuf};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    if !path.exists() {
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn texts(corpus: &Path, target: &str, values: &[String]) {
    let dir = corpus.join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (i, v) in values.iter().enumerate() {
        write(&dir, &format!("seed-{i:02}"), v.as_bytes());
    }
}

fn owned(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// `w`×`h` pixels of `channels` samples with some structure, so that encoders emit real data:
/// gradients, or for wide pictures (which must stay under `-max_len`) 64×16 blocks.
fn pixels(w: u32, h: u32, channels: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * channels) as usize);
    for y in 0..h {
        for x in 0..w {
            for c in 0..channels {
                let v = if w > 1000 {
                    x / 64 * 40 + y / 16 * 30 + c * 50
                } else {
                    x * 7 + y * 3 + c * 50
                };
                out.push((v % 256) as u8);
            }
        }
    }
    out
}

fn jpeg(w: u32, h: u32, gray: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let (px, ct) = if gray {
        (pixels(w, h, 1), ExtendedColorType::L8)
    } else {
        (pixels(w, h, 3), ExtendedColorType::Rgb8)
    };
    JpegEncoder::new_with_quality(&mut out, 60)
        .write_image(&px, w, h, ct)
        .expect("jpeg");
    out
}

fn png(w: u32, h: u32, ct: ExtendedColorType, channels: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&pixels(w, h, channels), w, h, ct)
        .expect("png");
    out
}

fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(&pixels(w, h, 3), w, h, ExtendedColorType::Rgb8)
        .expect("webp");
    out
}

fn main() {
    let corpus = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus"));

    texts(
        &corpus,
        "model_fields",
        &owned(&[
            "Somchai",
            "  Ann-Marie O'Neil ",
            "Ann.B+x@Example.COM",
            "nok@ตัวอย่าง.ไทย",
            "a@xn--fsq.com",
            "+66 81 234 5678",
            "0049 (30) 1234-5678",
            "th",
            "This image of me was published without my consent.\r\nPlease remove it.",
            "https://images.example.com/a/b.jpg?utm_source=x&id=3#top",
            "HTTP://Example.COM:80/a/../b/%7e/",
            "https://[::1]:8443/ภาพ.jpg",
            "01JDQ8Z4M5N6P7Q8R9S0T1V2W3",
            "face_opt_out",
            "awaiting_review",
            "not_the_requester",
            "alice@example.org",
            "1735689600000000000-01JDQ8Z4M5N6P7Q8R9S0T1V2W3",
            "optk_abcdef012345_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ]),
    );

    texts(
        &corpus,
        "url_normalize",
        &owned(&[
            "https://example.com/a/b.jpg",
            "https://example.com/a/b.jpg?b=2&a=1&fbclid=x",
            "HTTPS://Example.COM:443/a/./c/../d/%7E%41%2f?UTM_source=y#frag",
            "http://xn--fsq.example/%E0%B8%A0.jpg",
            "http://ตัวอย่าง.ไทย/ภาพ.jpg?q=ข",
            "http://192.168.0.1:8080/",
            "http://[2001:db8::1]/x",
            "https://example.com.//x//",
            "  https://example.com/a?k  ",
        ]),
    );

    let body = r#"{"kind": "dsa_notice", "lang": "en", "country": "DE", "first_name": "Erika", "last_name": "Mustermann", "email": "erika@example.org", "phone": "+49 30 1234 5678", "reason": "This image of me was published without my consent.", "good_faith": true, "source_urls": ["https://images.example.com/a/b.jpg"]}"#;
    texts(
        &corpus,
        "json_case_body",
        &[
            body.to_owned(),
            r#"{"kind": "face_opt_out", "country": "th", "first_name": "สมชาย", "last_name": "ใจดี", "email": "nok@ตัวอย่าง.ไทย", "reason": "Please remove my face from the index.", "consent": true, "upload_key": "uploads/AAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(),
            r#"{"upload_key": "uploads/AAAAAAAAAAAAAAAAAAAAAA"}"#.to_owned(),
            r#"{"kind": 1, "name": [null, 2.5e3, {"x": false}]}"#.to_owned(),
            "[\"dsa_notice\"]".to_owned(),
        ],
    );

    texts(
        &corpus,
        "sqs_body",
        &owned(&[
            r#"{"case_id":"01JDQ8Z4M5N6P7Q8R9S0T1V2W3","generation":1}"#,
            r#"{"case_id":"01JDQ8Z4M5N6P7Q8R9S0T1V2W4","generation":4294967295,"extra":[1]}"#,
            r#"{"case_id":"not-a-case","generation":"x"}"#,
        ]),
    );

    let both = KeyRing::parse(&format!("{SPEC_K1},{SPEC_K0}")).expect("ring");
    let k0 = KeyRing::parse(SPEC_K0).expect("k0");
    let later = now() + Duration::days(7);
    let reviewer = ReviewerName::parse("alice@example.org").expect("reviewer");
    let (link, _) = admin::link(&both, "https://x", &reviewer, Duration::days(7), now());
    let link_token = link.rsplit_once("token=").expect("token").1.to_owned();
    let grant = admin::verify_link(&both, &link_token, now()).expect("grant");
    let session = admin::session_token(&both, &grant, now());
    texts(
        &corpus,
        "admin_tokens",
        &[
            both.sign(scope::STATUS, "01JDQ8Z4M5N6P7Q8R9S0T1V2W3", later),
            k0.sign(scope::STATUS, "01JDQ8Z4M5N6P7Q8R9S0T1V2W3", later),
            both.sign(scope::UPLOAD, "uploads/AAAAAAAAAAAAAAAAAAAAAA", later),
            link_token,
            session.clone(),
            format!("{session}\n{}", admin::csrf(&both, &session)),
            "30m".into(),
            "8h".into(),
            "30d".into(),
            "3600s".into(),
            format!("{SPEC_K1}, {SPEC_K0}"),
            "k2:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=".into(),
        ],
    );

    let dir = corpus.join("image_header");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    write(&dir, "seed-jpeg-64", &jpeg(64, 64, false));
    write(&dir, "seed-jpeg-gray-96x64", &jpeg(96, 64, true));
    write(&dir, "seed-jpeg-wide", &jpeg(2000, 64, false));
    for (name, w, h, color, channels) in [
        ("seed-png-rgb-64", 64, 64, ExtendedColorType::Rgb8, 3),
        ("seed-png-rgba-64", 64, 80, ExtendedColorType::Rgba8, 4),
        ("seed-png-gray-64", 70, 64, ExtendedColorType::L8, 1),
        ("seed-png-wide", 2000, 64, ExtendedColorType::Rgb8, 3),
    ] {
        write(&dir, name, &png(w, h, color, channels));
    }
    write(&dir, "seed-webp-lossless-64", &webp(64, 64));
    write(&dir, "seed-webp-lossless-wide", &webp(2000, 64));
    for entry in std::fs::read_dir(&dir).expect("list") {
        let path = entry.expect("entry").path();
        let len = std::fs::metadata(&path).expect("size").len();
        assert!(
            len <= 65536,
            "{} is {len} bytes (over -max_len)",
            path.display()
        );
    }
    println!("seeds written under {}", corpus.display());
}
