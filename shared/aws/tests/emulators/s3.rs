use chrono::{Duration, Utc};
use optout_core::photo::{PhotoLimits, verify};
use optout_core::ports::*;
use reqwest::multipart::{Form, Part};

use crate::fixtures::*;

/// Posts a file with an upload form as a browser would (fields, then the file); `content_type`
/// replaces the form's `Content-Type` field when given.
async fn post(form: &UploadForm, bytes: Vec<u8>, content_type: Option<&str>) -> reqwest::Response {
    let mut mp = Form::new();
    for (k, v) in &form.fields {
        let v = if k == "Content-Type" {
            content_type.unwrap_or(v).to_owned()
        } else {
            v.clone()
        };
        mp = mp.text(k.clone(), v);
    }
    let part = Part::bytes(bytes)
        .file_name("photo.png")
        .mime_str(content_type.unwrap_or("image/png"))
        .unwrap();
    mp = mp.part(form.file_field.clone(), part);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    client.post(&form.url).multipart(mp).send().await.unwrap()
}

/// An upload form for `key` of at most `max` bytes, valid an hour, with no redirect.
/// Whether a stored photo passes the desk's verification (its bytes against its declared type).
fn passes_verification(p: &StoredPhoto) -> bool {
    verify(
        &p.bytes,
        p.declared_type.as_deref(),
        &PhotoLimits::default(),
    )
    .is_ok()
}

async fn form_for(ports: &optout_core::Ports, key: &str, max: u64) -> UploadForm {
    ports
        .photos
        .upload_form(UploadRequest {
            key,
            max_bytes: max,
            expires_at: Utc::now() + Duration::hours(1),
            redirect: None,
        })
        .await
        .unwrap()
}

async fn tag_state(s: &optout_aws::testing::Stack, key: &str) -> Option<String> {
    let out = s
        .clients
        .s3
        .get_object_tagging()
        .bucket(&s.config.photo_bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.tag_set()
        .iter()
        .find(|t| t.key() == "state")
        .map(|t| t.value().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn presigned_post_upload_read_claim_delete() {
    let s = stack("upload").await;
    let ports = s.ports();
    let key = upload_key();
    let form = ports
        .photos
        .upload_form(UploadRequest {
            key: &key,
            max_bytes: 100_000,
            expires_at: Utc::now() + Duration::hours(1),
            redirect: Some("http://127.0.0.1:9/uploaded"),
        })
        .await
        .unwrap();
    assert!(form.url.ends_with(&s.config.photo_bucket));
    let img = png(80, 90);
    let resp = post(&form, img.clone(), Some("image/png")).await;
    assert!(resp.status().is_redirection(), "status {}", resp.status());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/uploaded?"),
        "{location}"
    );
    assert!(location.contains("key="), "{location}");

    let photo = ports.photos.read(&key, 100_000).await.unwrap();
    assert_eq!(photo.bytes, img);
    assert_eq!(photo.declared_type.as_deref(), Some("image/png"));
    assert!(passes_verification(&photo));
    // S3 tags the object from the form's `tagging` field (in the signed policy); moto ignores the
    // field, so only check it where the store applied it.
    assert!(form.fields["tagging"].contains("<Value>unclaimed</Value>"));
    let tag = tag_state(&s, &key).await;
    assert!(
        tag.is_none() || tag.as_deref() == Some("unclaimed"),
        "{tag:?}"
    );

    ports.photos.claim(&key).await.unwrap();
    assert_eq!(tag_state(&s, &key).await.as_deref(), Some("claimed"));

    ports.photos.delete(&key).await.unwrap();
    assert!(matches!(
        ports.photos.read(&key, 100_000).await,
        Err(PhotoReadError::NotFound)
    ));
    ports.photos.delete(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_form_without_a_declared_type_lets_the_bytes_decide() {
    let s = stack("anytype").await;
    let ports = s.ports();
    let key = upload_key();
    let form = form_for(&ports, &key, 100_000).await;
    let resp = post(&form, png(70, 70), None).await;
    assert!(resp.status().is_success(), "status {}", resp.status());
    let photo = ports.photos.read(&key, 100_000).await.unwrap();
    assert_eq!(photo.declared_type, None);
    assert!(passes_verification(&photo));
}

#[tokio::test(flavor = "multi_thread")]
async fn too_big_wrong_type_and_missing_uploads_are_refused() {
    let s = stack("refused").await;
    let ports = s.ports();
    let max = 2_000;

    // Too big: refused by S3's policy check where the store enforces it, else by `read`.
    let key = upload_key();
    let form = form_for(&ports, &key, max).await;
    let big = png(300, 300);
    assert!(big.len() as u64 > max);
    let resp = post(&form, big, Some("image/png")).await;
    if resp.status().is_success() {
        assert!(matches!(
            ports.photos.read(&key, max).await,
            Err(PhotoReadError::TooLarge { max: 2_000 })
        ));
    }

    // Wrong type: refused by the policy, else by the verification of what `read` returns.
    let key = upload_key();
    let form = form_for(&ports, &key, max).await;
    let resp = post(
        &form,
        b"#!/bin/sh\necho hi\n".to_vec(),
        Some("text/x-shellscript"),
    )
    .await;
    if resp.status().is_success() {
        let p = ports.photos.read(&key, max).await.unwrap();
        assert!(!passes_verification(&p));
    }
    // An image body declared as another image type is refused by the verification.
    let key = upload_key();
    let form = form_for(&ports, &key, 100_000).await;
    assert!(
        post(&form, png(64, 64), Some("image/jpeg"))
            .await
            .status()
            .is_success()
    );
    let p = ports.photos.read(&key, 100_000).await.unwrap();
    assert!(!passes_verification(&p));

    // Missing object.
    assert!(matches!(
        ports.photos.read(&upload_key(), max).await,
        Err(PhotoReadError::NotFound)
    ));
}

/// A 9.5 MB photo (over the 6 MB a Lambda response may carry) is viewed straight from S3: the
/// presigned GET gives its exact bytes with the forced type, `no-store` and `inline`; a URL for
/// a photo that is not (or no longer) stored gives S3's 404, never another object.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_photo_is_viewed_by_presigned_get() {
    let s = stack("view").await;
    let ports = s.ports();
    let key = upload_key();
    let max = 10 * 1024 * 1024;
    let form = form_for(&ports, &key, max).await;
    let img = noisy_png(1780, 1780);
    assert!(
        img.len() > 9_400_000 && (img.len() as u64) < max,
        "{} bytes",
        img.len()
    );
    // A plain form: S3 stores the form's `image/*`, so the type the view answers with is the
    // forced one.
    let resp = post(&form, img.clone(), None).await;
    assert!(resp.status().is_success(), "status {}", resp.status());
    assert!(ports.photos.exists(&key).await.unwrap());

    let moto = optout_aws::testing::Emulators::shared().moto.endpoint();
    let origin = ports.photos.view_origin().await.unwrap();
    assert_eq!(origin.as_deref(), Some(moto.as_str()));
    let ttl = std::time::Duration::from_secs(60);
    let url = ports
        .photos
        .view_url(&key, "image/png", ttl)
        .await
        .unwrap()
        .expect("S3 gives view URLs");
    assert!(url.starts_with(&format!("{moto}/")), "{url}");
    let got = reqwest::get(&url).await.unwrap();
    assert_eq!(got.status(), 200);
    let h = got.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["cache-control"], "no-store, private");
    assert_eq!(h["content-disposition"], "inline");
    let body = got.bytes().await.unwrap();
    assert_eq!(body.len(), img.len());
    assert!(body == img, "the bytes differ");

    // Not stored: `exists` says so, and a URL made anyway finds nothing.
    let unknown = upload_key();
    assert!(!ports.photos.exists(&unknown).await.unwrap());
    let url = ports
        .photos
        .view_url(&unknown, "image/png", ttl)
        .await
        .unwrap()
        .unwrap();
    assert_nothing_at(&url).await;

    // Deleted after its URL was handed out (a decision): the URL stops giving the photo.
    let url = ports
        .photos
        .view_url(&key, "image/png", ttl)
        .await
        .unwrap()
        .unwrap();
    ports.photos.delete(&key).await.unwrap();
    assert!(!ports.photos.exists(&key).await.unwrap());
    assert_nothing_at(&url).await;
}

/// A view URL of a missing object gives an error and no photo. S3 answers 404 when the signer may
/// list the bucket (the api role may), else 403; moto answers 403 (it checks a signed URL for a
/// missing key as if it were an upload's).
async fn assert_nothing_at(url: &str) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status();
    let body = r.bytes().await.unwrap();
    assert!(
        matches!(status.as_u16(), 403 | 404),
        "a missing photo's URL answered {status}"
    );
    assert!(
        !body.starts_with(b"\x89PNG"),
        "a missing photo's URL gave an image"
    );
}
