//! optout-web: the one HTTP app of optout, an [`axum::Router`] served by `lambda_http` in AWS and
//! by a plain listener in the embedded mode.
//!
//! - HTML: `/` (landing), `/opt-out` (face opt-out: photo, then details), `/dsa` (DSA notice),
//!   `/status/{token}` (status, withdrawal, complaint), `/uploads` (the embedded mode's upload receiver);
//! - the review desk under `/admin` (signed admin links, session cookie, CSRF-protected decisions);
//! - JSON: `/v1/...` described by `/openapi.json`; `/healthz`;
//! - the indexer API under `/v1/exclusions/` (API keys, rate limits; see [`indexer`]).

mod admin;
mod admin_pages;
mod api;
mod cookies;
mod csp;
mod forms;
pub mod indexer;
mod json_body;
mod lang;
pub mod openapi;
mod pages;
mod reject;
mod respond;
mod schema_rules;
mod uploads;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
pub use csp::{CONTENT_SECURITY_POLICY, csp_with_image_origin};

/// The API's body reader and request types, for the fuzz targets (`fuzz/`): not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::{CaseRequest, PhotoRequest};
    pub use crate::json_body::parse as parse_json_body;
}
use http::HeaderValue;
use http::header;
pub use indexer::IndexerApi;
use optout_core::Desk;
use optout_core::ports::{ReviewerSessions, UploadSink};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub desk: Desk,
    /// The receiver of upload forms that point at the app itself (embedded mode only).
    pub uploads: Option<Arc<dyn UploadSink>>,
    /// The indexer API: exclusion checks, change feed, snapshots, keys and rate limits.
    pub indexer: Arc<IndexerApi>,
    /// Reviewers' sign-outs: the sessions they revoke are refused.
    pub sessions: Arc<dyn ReviewerSessions>,
}

/// The largest form or JSON body accepted (a DSA notice with 20 long URLs fits easily).
pub const FORM_BODY_MAX: usize = 256 * 1024;

/// The whole app.
pub fn router(state: AppState) -> Router {
    let site = pages::Site {
        operator: state.desk.settings.operator_name.clone(),
        support_email: state.desk.settings.contact_email.clone(),
    };
    let upload_max = state.desk.settings.photo.max_bytes as usize + uploads::MULTIPART_OVERHEAD;
    let html_and_api = Router::new()
        .route("/", get(forms::landing))
        .route("/opt-out", get(forms::face_page).post(forms::face_submit))
        .route(
            "/image-opt-out",
            get(forms::image_page).post(forms::image_submit),
        )
        .route("/dsa", get(forms::dsa_page).post(forms::dsa_submit))
        .route("/status/{token}", get(forms::status_page))
        .route("/status/{token}/withdraw", post(forms::withdraw))
        .route(
            "/status/{token}/continue-as-image",
            post(forms::continue_as_image),
        )
        .route(
            "/status/{token}/photo",
            get(forms::better_photo_page).post(forms::better_photo_submit),
        )
        .route(
            "/status/{token}/complaint",
            get(forms::complaint_page).post(forms::complaint_submit),
        )
        .route("/admin", get(admin::queue))
        .route("/admin/login", get(admin::login))
        .route("/admin/logout", post(admin::logout))
        .route("/admin/cases/{id}", get(admin::case_page))
        .route("/admin/cases/{id}/photo", get(admin::photo))
        .route("/admin/cases/{id}/decide", post(admin::decide))
        .route("/healthz", get(|| async { "ok" }))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/uploads", post(api::create_upload))
        .route("/v1/cases", post(api::submit))
        .route("/v1/status/{token}", get(api::status))
        .route("/v1/status/{token}/withdraw", post(api::withdraw))
        .route("/v1/status/{token}/photo", post(api::replace_photo))
        .route(
            "/v1/status/{token}/continue-as-image",
            post(api::continue_as_image),
        )
        .route("/v1/status/{token}/complaint", post(api::complain))
        .layer(DefaultBodyLimit::max(FORM_BODY_MAX));
    let upload = Router::new()
        .route("/uploads", post(uploads::receive))
        .layer(DefaultBodyLimit::max(upload_max));
    let indexer = Router::new()
        .route("/v1/exclusions/check", post(indexer::check))
        .route("/v1/exclusions/changes", get(indexer::changes))
        .route("/v1/exclusions/snapshot", get(indexer::snapshot))
        .layer(DefaultBodyLimit::max(indexer::CHECK_BODY_MAX));
    html_and_api
        .merge(upload)
        .merge(indexer)
        // Unknown routes and methods in the shape of the surface asked (JSON under /v1/).
        .fallback(reject::not_found)
        .method_not_allowed_fallback(reject::method_not_allowed)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // Status links carry their token in the path: never leak it in a Referer.
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        // Every page's footer names the operator and the support address (pages::Site).
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let site = site.clone();
                async move { pages::with_site(site, next.run(req)).await }
            },
        ))
        .with_state(state)
}
