//! The OpenAPI 3.1 description of the JSON API, generated from the very types and handlers that
//! serve it.

use axum::Json;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use crate::api;
use crate::respond;

#[derive(OpenApi)]
#[openapi(
    info(title = "optout API", description = "Face opt-out and DSA notice requests: upload, submit, follow, withdraw."),
    paths(api::create_upload, api::submit, api::status, api::withdraw, api::replace_photo),
    components(schemas(
        api::UploadResponse,
        api::CaseRequest,
        api::CaseKindSchema,
        api::CaseResponse,
        api::PhotoRequest,
        respond::ApiError,
        respond::ApiErrorBody,
        respond::ApiFieldError
    )),
    tags((name = "requests", description = "What a requester can do"))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> impl IntoResponse {
    Json(document())
}
