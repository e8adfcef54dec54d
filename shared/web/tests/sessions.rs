//! Reviewers' sessions: signing out revokes them on the server (every session of the reviewer
//! issued until then, on any device), every desk page has a sign-out button, a forged cookie
//! sent before the valid one does not lock the reviewer out, and a sign-out record that cannot
//! be read never opens the desk.

mod common;

use async_trait::async_trait;
use axum::body::Body;
use chrono::{DateTime, Duration, Utc};
use common::{App, PUBLIC_URL, Reply};
use http::Method;
use optout_core::model::ReviewerName;
use optout_core::ports::{ReviewerSessions, StoreError};
use optout_core::signing::admin;
use optout_embedded::SqliteReviewerSessions;
use std::sync::Arc;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// Opens an admin link of `reviewer`; returns the session cookie (`optout_admin=...`).
async fn login(app: &App, reviewer: &str) -> String {
    let now = app.desk.ports.clock.now();
    let (link, _) = admin::link(
        &app.desk.keys,
        PUBLIC_URL,
        &ReviewerName::parse(reviewer).unwrap(),
        Duration::hours(8),
        now,
    );
    let r = app.get(link.strip_prefix(PUBLIC_URL).unwrap(), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let set = r.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn admin_get(app: &App, cookie: &str, path: &str) -> Reply {
    app.get(path, &[("cookie", cookie)]).await
}

/// The CSRF token of the page's sign-out form.
fn logout_csrf(page: &str) -> String {
    let form = &page[page.find("id=\"logout\"").expect("a sign-out form")..];
    assert!(form.starts_with("id=\"logout\" method=\"post\" action=\"/admin/logout\""));
    let v = &form[form.find("name=\"csrf\" value=\"").unwrap() + 19..];
    v[..v.find('"').unwrap()].to_owned()
}

async fn logout(app: &App, cookie: &str, csrf: &str) -> Reply {
    app.send(
        Method::POST,
        "/admin/logout",
        &[("cookie", cookie), FORM],
        format!("csrf={csrf}"),
    )
    .await
}

#[tokio::test]
async fn signing_out_revokes_every_session_of_the_reviewer_on_the_server() {
    let app = App::new();
    let laptop = login(&app, "alice").await;
    app.clock.advance(Duration::seconds(1));
    let phone = login(&app, "alice").await;
    let bob = login(&app, "bob").await;

    let page = admin_get(&app, &laptop, "/admin").await;
    assert_eq!(page.status, 200);
    let r = logout(&app, &laptop, &logout_csrf(&page.body)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("You are signed out."));
    let cleared = r.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("optout_admin=;") && cleared.contains("Max-Age=0"));

    // The old cookie (kept by whoever copied it) and the other device's are refused.
    for cookie in [&laptop, &phone] {
        for path in ["/admin", "/admin/cases/01JCASE0000000000000000000"] {
            assert_eq!(admin_get(&app, cookie, path).await.status, 403, "{path}");
        }
        let r = app
            .send(
                Method::POST,
                "/admin/cases/01JCASE0000000000000000000/decide",
                &[("cookie", cookie.as_str()), FORM],
                "decision=approve&version=1",
            )
            .await;
        assert_eq!(r.status, 403);
    }
    // Another reviewer is not concerned; the next sign-in works.
    assert_eq!(admin_get(&app, &bob, "/admin").await.status, 200);
    app.clock.advance(Duration::milliseconds(1));
    let again = login(&app, "alice").await;
    assert_eq!(admin_get(&app, &again, "/admin").await.status, 200);
    assert_eq!(admin_get(&app, &laptop, "/admin").await.status, 403);

    // What the embedded store holds: the time, for alice only.
    let store = SqliteReviewerSessions::new(app.db.clone());
    let alice = store
        .revoked_until(&ReviewerName::parse("alice").unwrap())
        .await
        .unwrap();
    assert!(alice.is_some());
    let bob_name = ReviewerName::parse("bob").unwrap();
    assert_eq!(store.revoked_until(&bob_name).await.unwrap(), None);
}

#[tokio::test]
async fn signing_out_needs_the_sessions_own_csrf_token() {
    let app = App::new();
    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    let bobs_csrf = logout_csrf(&admin_get(&app, &bob, "/admin").await.body);
    for csrf in ["", "forged", bobs_csrf.as_str()] {
        let r = logout(&app, &alice, csrf).await;
        assert_eq!(r.status, 403, "{csrf:?}");
        assert!(r.headers.get("set-cookie").is_none());
    }
    let r = app
        .send(
            Method::POST,
            "/admin/logout",
            &[("cookie", alice.as_str())],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(admin_get(&app, &alice, "/admin").await.status, 200);
}

#[tokio::test]
async fn every_desk_page_has_a_sign_out_button() {
    let app = App::new();
    let case = app
        .send(
            Method::POST,
            "/v1/cases",
            &[("content-type", "application/json")],
            serde_json::json!({
                "kind": "dsa_notice", "country": "TH", "first_name": "Somchai",
                "last_name": "Jaidee", "email": "somchai@example.org", "phone": "+66812345678",
                "reason": "These images show me without my consent.", "good_faith": true,
                "source_urls": ["https://images.example.com/a.jpg"],
            })
            .to_string(),
        )
        .await;
    assert_eq!(case.status, 201, "{}", case.body);
    let id = case.json()["id"].as_str().unwrap().to_owned();
    let cookie = login(&app, "alice").await;
    for path in ["/admin".to_owned(), format!("/admin/cases/{id}")] {
        let page = admin_get(&app, &cookie, &path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(page.body.contains(">Sign out</button>"), "{path}");
        assert!(!logout_csrf(&page.body).is_empty());
    }
    let page = admin_get(&app, &cookie, &format!("/admin/cases/{id}")).await;
    let r = logout(&app, &cookie, &logout_csrf(&page.body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(admin_get(&app, &cookie, "/admin").await.status, 403);
}

#[tokio::test]
async fn a_forged_cookie_before_the_valid_one_does_not_lock_the_reviewer_out() {
    let app = App::new();
    let valid = login(&app, "alice").await;
    let token = valid.strip_prefix("optout_admin=").unwrap();
    let forged = "optout_admin=k1.9999999999.cmV2aWV3OmFsaWNlOjA.AAAA";
    let one_header = format!("{forged}; lang=th; {valid}");
    assert_eq!(admin_get(&app, &one_header, "/admin").await.status, 200);
    let r = app
        .get("/admin", &[("cookie", forged), ("cookie", valid.as_str())])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(admin_get(&app, forged, "/admin").await.status, 403);

    // A revoked session first, then a fresh one: the fresh one is used, and its CSRF token.
    let page = admin_get(&app, &valid, "/admin").await;
    assert_eq!(
        logout(&app, &valid, &logout_csrf(&page.body)).await.status,
        200
    );
    app.clock.advance(Duration::milliseconds(1));
    let fresh = login(&app, "alice").await;
    let both = format!("{forged}; optout_admin={token}; {fresh}");
    let page = admin_get(&app, &both, "/admin").await;
    assert_eq!(page.status, 200);
    let csrf = logout_csrf(&page.body);
    assert_eq!(
        csrf,
        admin::csrf(&app.desk.keys, fresh.strip_prefix("optout_admin=").unwrap())
    );
    assert_eq!(logout(&app, &both, &csrf).await.status, 200);
    assert_eq!(admin_get(&app, &both, "/admin").await.status, 403);
}

/// Sign-outs that cannot be read (failure injection).
struct Unreadable;

#[async_trait]
impl ReviewerSessions for Unreadable {
    async fn revoke(&self, _: &ReviewerName, _: DateTime<Utc>) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected".into()))
    }
    async fn revoked_until(&self, _: &ReviewerName) -> Result<Option<DateTime<Utc>>, StoreError> {
        Err(StoreError::Unavailable("injected".into()))
    }
}

#[tokio::test]
async fn sign_outs_that_cannot_be_read_never_open_the_desk() {
    let app = App::with_sessions(|_| Arc::new(Unreadable));
    let cookie = login(&app, "alice").await;
    let r = admin_get(&app, &cookie, "/admin").await;
    assert_eq!(r.status, 503);
    assert!(r.headers.contains_key("retry-after"));
    assert!(!r.body.contains("Signed in as"));
}
