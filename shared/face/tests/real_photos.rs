//! The pipeline on real photos (the fixtures fetched by `scripts/setup-models`).

mod common;

use common::*;
use image::imageops::{self, FilterType};
use optout_face::{FACE_MATCH_THRESHOLD, PDQ_MATCH_DISTANCE, QualityVerdict, pdq};
use optout_matcher::{FaceEmbedding, PdqHash, Similarity};

#[test]
fn one_face_on_each_portrait() {
    for name in PORTRAITS {
        let a = engine().analyze(&photo(&format!("{name}.jpg"))).unwrap();
        assert_eq!(a.faces.len(), 1, "{name}: {} faces", a.faces.len());
        assert_eq!(a.chosen_face, Some(0));
        assert_eq!(
            a.verdict,
            QualityVerdict::Ok,
            "{name}: {:?} (sharpness {})",
            a.verdict,
            a.faces[0].sharpness
        );
        let f = &a.faces[0];
        assert_eq!(f.embedding.as_slice().len(), 128);
        let norm: f32 = f
            .embedding
            .as_slice()
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(f.score > 0.8, "{name}: score {}", f.score);
        // landmarks inside the box, eyes above the mouth
        for p in f.landmarks {
            assert!(
                p[0] >= f.bbox.x - 5.0 && p[0] <= f.bbox.x + f.bbox.width + 5.0,
                "{name}: {p:?}"
            );
        }
        assert!(f.landmarks[0][1] < f.landmarks[3][1]);
    }
}

#[test]
fn several_faces_on_the_group_photo() {
    let a = engine().analyze(&photo("t1.jpg")).unwrap();
    assert!(a.faces.len() >= 5, "{} faces", a.faces.len());
    assert_eq!(a.verdict, QualityVerdict::SeveralFaces);
}

#[test]
fn no_face_on_a_gradient() {
    let img = image::RgbImage::from_fn(800, 600, |x, y| {
        image::Rgb([(x / 4) as u8, (y / 3) as u8, 128])
    });
    let a = engine().analyze(&jpeg(&img, 90)).unwrap();
    assert!(a.faces.is_empty());
    assert_eq!(a.chosen_face, None);
    assert_eq!(a.verdict, QualityVerdict::NoFace);
}

fn embedding(name: &str) -> FaceEmbedding {
    engine()
        .analyze(&photo(&format!("{name}.jpg")))
        .unwrap()
        .embedding()
        .expect("a face")
        .clone()
}

#[test]
fn threshold_separates_same_and_different_people() {
    let embs: Vec<(&str, FaceEmbedding)> = PORTRAITS.iter().map(|n| (*n, embedding(n))).collect();
    for (i, (a, ea)) in embs.iter().enumerate() {
        for (b, eb) in &embs[i + 1..] {
            let c = ea.similarity(eb);
            if SAME_PERSON.contains(&(*a, *b)) {
                assert!(
                    c >= FACE_MATCH_THRESHOLD,
                    "{a} ~ {b}: {c} below {FACE_MATCH_THRESHOLD}"
                );
            } else {
                assert!(
                    c < FACE_MATCH_THRESHOLD,
                    "{a} ~ {b}: {c} not below {FACE_MATCH_THRESHOLD}"
                );
            }
        }
    }
    // the six people of the group photo are all different people
    let group = engine().analyze(&photo("t1.jpg")).unwrap();
    for (i, a) in group.faces.iter().enumerate() {
        for b in &group.faces[i + 1..] {
            let c = a.embedding.similarity(&b.embedding);
            assert!(
                c < FACE_MATCH_THRESHOLD,
                "two people of the group photo at {c}"
            );
        }
        for (n, e) in &embs {
            let c = a.embedding.similarity(e);
            assert!(c < FACE_MATCH_THRESHOLD, "group face {i} ~ {n}: {c}");
        }
    }
}

#[test]
fn exif_rotated_copy_gives_the_same_embedding() {
    let upright = image::load_from_memory(&photo("person_b_2.jpg"))
        .unwrap()
        .into_rgb8();
    let upright_jpeg = jpeg(&upright, 95);
    // stored rotated 90 degrees clockwise; EXIF orientation 8 tells viewers to turn it back
    let stored = imageops::rotate90(&upright);
    let rotated = with_exif_orientation(&jpeg(&stored, 95), 8);
    let a = engine().analyze(&upright_jpeg).unwrap();
    let b = engine().analyze(&rotated).unwrap();
    assert_eq!((a.width, a.height), (b.width, b.height));
    assert_eq!(b.faces.len(), 1);
    let c = a.embedding().unwrap().similarity(b.embedding().unwrap());
    assert!(c > Similarity(0.97), "cosine upright vs EXIF-rotated {c}");
    // the same without the EXIF tag: the face is sideways and is not found the same way
    let (fa, fb) = (&a.faces[0].bbox, &b.faces[0].bbox);
    assert!(
        (fa.x - fb.x).abs() < 6.0 && (fa.y - fb.y).abs() < 6.0,
        "{fa:?} vs {fb:?}"
    );
    // and PDQ is taken on the upright pixels
    assert!(a.pdq.distance(&b.pdq) <= 16);
}

#[test]
fn pdq_survives_resize_and_reencode_but_not_a_different_photo() {
    let bytes = photo("person_a_2.jpg");
    let img = image::load_from_memory(&bytes).unwrap().into_rgb8();
    let small = imageops::resize(
        &img,
        img.width() / 2,
        img.height() / 2,
        FilterType::Triangle,
    );
    let copy = jpeg(&small, 70);
    let a = engine().analyze(&bytes).unwrap();
    let b = engine().analyze(&copy).unwrap();
    let near = a.pdq.distance(&b.pdq);
    assert!(near <= 16, "copy at distance {near}");
    assert_ne!(a.sha256, b.sha256);
    let other = engine().analyze(&photo("impostor_2.jpg")).unwrap();
    let far = a.pdq.distance(&other.pdq);
    assert!(
        far > 2 * PDQ_MATCH_DISTANCE,
        "unrelated photo at distance {far}"
    );
}

/// PDQ hashes of the fixtures computed with Facebook's reference implementation
/// (PyPI `pdqhash` 0.2.8, full resolution, luma 0.299/0.587/0.114; see README).
const PDQ_REFERENCE: [(&str, &str, u8); 6] = [
    (
        "person_a_1",
        "4c625f6d60b16882cfbf23968cc2c77d32391cc09f7d980c2d82e3ff319f4c62",
        100,
    ),
    (
        "person_a_2",
        "3487266e31c8e6d799d26389cedd0a68472d99982d63db2db4d078b7f33c0cc2",
        100,
    ),
    (
        "person_b_1",
        "b66ca22db394489669f3b798b6dcf6d81a699e6c49254c3470642da3373c958d",
        100,
    ),
    (
        "person_b_2",
        "e339a589de91e4decb89865897495e391a6c0a433d724925e12773eeaa974e16",
        100,
    ),
    (
        "impostor_1",
        "c47b262d9e5cc76339a61cd6cf27239664da6221871c86c97875781c3a2977d3",
        100,
    ),
    (
        "impostor_2",
        "e0cc9b683634c9dec9a3ecd771c80e07a65839c98e5793386ce1717318b93657",
        100,
    ),
];

#[test]
fn pdq_agrees_with_the_reference_implementation() {
    for (name, want, want_q) in PDQ_REFERENCE {
        let img = image::load_from_memory(&photo(&format!("{name}.jpg")))
            .unwrap()
            .into_rgb8();
        let (h, q) = pdq::pdq_rgb(&img);
        let want = PdqHash::from_hex(want).unwrap();
        let d = h.distance(&want);
        assert!(
            d <= 16,
            "{name}: {} is {d} bits from the reference {want}",
            h.to_hex()
        );
        assert!(q.abs_diff(want_q) <= 5, "{name}: quality {q} vs {want_q}");
        // the engine hashes the same pixels
        let a = engine().analyze(&photo(&format!("{name}.jpg"))).unwrap();
        assert!(a.pdq.distance(&want) <= 16);
    }
}

#[test]
fn blurred_face_is_reported() {
    let img = image::load_from_memory(&photo("person_b_1.jpg"))
        .unwrap()
        .into_rgb8();
    let blurred = imageops::blur(&img, 6.0);
    let a = engine().analyze(&jpeg(&blurred, 90)).unwrap();
    assert!(!a.faces.is_empty());
    assert_eq!(
        a.verdict,
        QualityVerdict::TooBlurred,
        "sharpness {}",
        a.faces[0].sharpness
    );
}

#[test]
fn small_face_is_reported() {
    let canvas = shrunk_onto(
        "person_b_1.jpg",
        10,
        (640, 480),
        [200, 200, 200],
        (300, 200),
    );
    let a = engine().analyze(&jpeg(&canvas, 95)).unwrap();
    if let Some(f) = a.chosen_face.map(|i| &a.faces[i]) {
        assert_eq!(a.verdict, QualityVerdict::FaceTooSmall, "face {:?}", f.bbox);
    } else {
        assert_eq!(a.verdict, QualityVerdict::NoFace);
    }
}

#[test]
fn hostile_inputs_give_errors_not_panics() {
    let good = photo("person_a_1.jpg");
    for cut in [0, 1, 2, 10, 100, 600, good.len() / 3, good.len() - 10] {
        let _ = engine().analyze(&good[..cut]);
    }
    let mut flipped = good.clone();
    for i in (200..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5A;
    }
    let _ = engine().analyze(&flipped);
    assert!(engine().analyze(b"").is_err());
    assert!(engine().analyze(b"%PDF-1.7 not an image").is_err());
    // a JPEG header claiming 65000 x 65000
    let mut huge = good.clone();
    if let Some(p) = huge
        .windows(2)
        .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
    {
        huge[p + 5..p + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
        assert!(engine().analyze(&huge).is_err());
    }
}

#[test]
fn adaptive_detection_finds_small_faces_and_keeps_portraits_on_the_small_detector() {
    use optout_face::{EngineOptions, FaceEngine};
    let fixed = |side| FaceEngine::load_with(&model_dir(), EngineOptions::fixed(side)).unwrap();
    let (d320, d640) = (fixed(320), fixed(640));
    assert!(engine().is_adaptive() && engine().detect_side() == 320);

    // A portrait: the 320 detector's answer stands.
    let portrait = photo("person_b_1.jpg");
    let a = engine().analyze(&portrait).unwrap();
    let small = d320.analyze(&portrait).unwrap();
    assert_eq!(a.faces[0].landmarks, small.faces[0].landmarks);

    // The same face, small, in a large picture: the 320 detector sees it at a few pixels, the
    // adaptive engine looks again at 640 (and on a crop around it) and finds it.
    let canvas = shrunk_onto(
        "person_b_1.jpg",
        4,
        (2400, 1800),
        [200, 200, 190],
        (1500, 900),
    );
    let bytes = jpeg(&canvas, 95);
    let a = engine().analyze(&bytes).unwrap();
    let big = d640.analyze(&bytes).unwrap();
    assert_eq!(a.faces.len(), 1, "adaptive: {:?}", a.faces);
    assert_eq!(big.faces.len(), 1, "640: {:?}", big.faces);
    let (fa, fb) = (&a.faces[0].bbox, &big.faces[0].bbox);
    assert!(
        (fa.x - fb.x).abs() < 8.0 && (fa.y - fb.y).abs() < 8.0,
        "{fa:?} vs {fb:?}"
    );
    assert!(fa.x > 1500.0 && fa.y > 900.0, "{fa:?}");
    // Seen small, the face still gives an embedding of the same person.
    let same = a
        .embedding()
        .unwrap()
        .similarity(engine().analyze(&portrait).unwrap().embedding().unwrap());
    assert!(same > FACE_MATCH_THRESHOLD, "cosine {same}");
}

/// A `w`x`h` PNG written row by row: a flat background with `face` pasted at (`x`, `y`).
fn big_png(w: u32, h: u32, face: &image::RgbImage, x: u32, y: u32) -> Vec<u8> {
    optout_core::testing::png_by_rows(w, h, |c, r| {
        if (x..x + face.width()).contains(&c) && (y..y + face.height()).contains(&r) {
            face.get_pixel(c - x, r - y).0
        } else {
            [200, 200, 190]
        }
    })
}

/// The portrait at its own size inside a 49-megapixel PNG (decoded reduced at 1/7 a side, the
/// face region again at the resolution the embedder needs) and inside a 12-megapixel JPEG
/// (reduced at 1/4 in the DCT domain): the same face, the same person, as on the portrait alone.
#[test]
fn a_face_in_a_very_large_photo_is_found_and_embedded_as_on_its_own() {
    let bytes = photo("person_b_1.jpg");
    let portrait = image::load_from_memory(&bytes).unwrap().into_rgb8();
    let alone = engine().analyze(&bytes).unwrap();
    let want = alone.embedding().unwrap();
    let (fx, fy) = (3100, 2500);

    let png = big_png(7000, 7000, &portrait, fx, fy);
    let a = engine().analyze(&png).unwrap();
    assert_eq!((a.width, a.height), (7000, 7000));
    assert_eq!(a.faces.len(), 1, "{:?}", a.faces);
    let f = &a.faces[0];
    let g = &alone.faces[0];
    assert!(
        (f.bbox.x - fx as f32 - g.bbox.x).abs() < 12.0
            && (f.bbox.y - fy as f32 - g.bbox.y).abs() < 12.0,
        "{:?} vs {:?} + ({fx}, {fy})",
        f.bbox,
        g.bbox
    );
    let c = a.embedding().unwrap().similarity(want);
    eprintln!(
        "49 MP PNG: cosine {c} to the portrait alone, box {:?}",
        f.bbox
    );
    assert!(
        c > Similarity(0.9),
        "49 MP PNG: cosine {c} to the portrait alone"
    );
    assert_eq!(a.verdict, QualityVerdict::Ok, "sharpness {}", f.sharpness);

    let mut canvas = image::RgbImage::from_pixel(4000, 3000, image::Rgb([200, 200, 190]));
    imageops::replace(&mut canvas, &portrait, 1700, 1100);
    let b = engine().analyze(&jpeg(&canvas, 92)).unwrap();
    assert_eq!(b.faces.len(), 1, "{:?}", b.faces);
    let c = b.embedding().unwrap().similarity(want);
    eprintln!("12 MP JPEG: cosine {c} to the portrait alone");
    assert!(
        c > Similarity(0.9),
        "12 MP JPEG: cosine {c} to the portrait alone"
    );
}
