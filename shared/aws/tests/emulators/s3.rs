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
        .upload_form(
            &key,
            100_000,
            Utc::now() + Duration::hours(1),
            Some("http://127.0.0.1:9/uploaded"),
        )
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
    verify(
        &photo.bytes,
        photo.declared_type.as_deref(),
        &PhotoLimits::default(),
    )
    .unwrap();
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
    let form = ports
        .photos
        .upload_form(&key, 100_000, Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
    let resp = post(&form, png(70, 70), None).await;
    assert!(resp.status().is_success(), "status {}", resp.status());
    let photo = ports.photos.read(&key, 100_000).await.unwrap();
    assert_eq!(photo.declared_type, None);
    verify(&photo.bytes, None, &PhotoLimits::default()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn too_big_wrong_type_and_missing_uploads_are_refused() {
    let s = stack("refused").await;
    let ports = s.ports();
    let max = 2_000;

    // Too big: refused by S3's policy check where the store enforces it, else by `read`.
    let key = upload_key();
    let form = ports
        .photos
        .upload_form(&key, max, Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
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
    let form = ports
        .photos
        .upload_form(&key, max, Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
    let resp = post(
        &form,
        b"#!/bin/sh\necho hi\n".to_vec(),
        Some("text/x-shellscript"),
    )
    .await;
    if resp.status().is_success() {
        let p = ports.photos.read(&key, max).await.unwrap();
        assert!(
            verify(
                &p.bytes,
                p.declared_type.as_deref(),
                &PhotoLimits::default()
            )
            .is_err()
        );
    }
    // An image body declared as another image type is refused by the verification.
    let key = upload_key();
    let form = ports
        .photos
        .upload_form(&key, 100_000, Utc::now() + Duration::hours(1), None)
        .await
        .unwrap();
    assert!(
        post(&form, png(64, 64), Some("image/jpeg"))
            .await
            .status()
            .is_success()
    );
    let p = ports.photos.read(&key, 100_000).await.unwrap();
    assert!(
        verify(
            &p.bytes,
            p.declared_type.as_deref(),
            &PhotoLimits::default()
        )
        .is_err()
    );

    // Missing object.
    assert!(matches!(
        ports.photos.read(&upload_key(), max).await,
        Err(PhotoReadError::NotFound)
    ));
}
