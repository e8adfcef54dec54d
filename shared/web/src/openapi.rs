//! The OpenAPI 3.1 description of the JSON API, generated from the very types and handlers that
//! serve it, with the parsers' rules that attributes cannot say added by [`crate::schema_rules`].

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use optout_core::settings::Settings;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;
use crate::indexer::{self, schema};
use crate::respond;

/// The indexer's API key as a bearer token.
struct IndexerKeyScheme;

impl Modify for IndexerKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "indexer_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("optk_<id>_<secret>")
                    .description(Some(
                        "An indexer API key (`optout indexer-key create`); each key has its own rate limit.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "optout API", description = "Face opt-out, image opt-out and DSA notice requests: upload, submit, follow, withdraw. The search engine's indexer checks candidates against the exclusion table and follows its changes."),
    paths(
        api::create_upload, api::submit, api::status, api::withdraw, api::replace_photo,
        api::continue_as_image,
        api::complain,
        indexer::check, indexer::changes, indexer::snapshot
    ),
    components(schemas(
        api::UploadResponse,
        api::CaseRequest,
        api::CaseKindSchema,
        api::CaseResponse,
        api::PhotoRequest,
        api::ComplaintRequest,
        respond::ApiError,
        respond::ApiErrorBody,
        respond::ApiFieldError,
        schema::CheckRequest,
        schema::Candidate,
        schema::UrlCandidate,
        schema::Sha256Candidate,
        schema::PdqCandidate,
        schema::FaceCandidate,
        schema::CheckResponse,
        schema::CheckResult,
        schema::EntryKind,
        schema::EntryState,
        schema::EntryValue,
        schema::ExclusionEntry,
        schema::ChangesResponse,
        schema::Snapshot,
        schema::IndexerError,
        schema::IndexerErrorBody
    )),
    modifiers(&IndexerKeyScheme),
    tags(
        (name = "requests", description = "What a requester can do"),
        (name = "indexer", description = "What the search engine's indexer can do (API key required)")
    )
)]
pub struct ApiDoc;

/// The document of a desk with `settings` (whether a phone number is required), as JSON.
pub fn document(settings: &Settings) -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    crate::schema_rules::apply(&mut doc, settings);
    doc
}

/// `GET /openapi.json`.
pub async fn serve(State(state): State<crate::AppState>) -> impl IntoResponse {
    Json(document(&state.desk.settings))
}
