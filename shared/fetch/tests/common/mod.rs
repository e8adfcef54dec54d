//! A tiny image server on 127.0.0.1 for the fetcher's tests, and the bytes it serves.

#![allow(dead_code)] // each test binary uses part of it

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use optout_fetch::FetchConfig;

/// The start of a JPEG file (SOI, APP0 "JFIF"), some data, and EOI.
pub fn jpeg() -> Vec<u8> {
    let mut b = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00".to_vec();
    b.extend((0..200u8).map(|i| i.wrapping_mul(7)));
    b.extend_from_slice(b"\xff\xd9");
    b
}

/// A 1×1 PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";

/// An answer with this content type and body.
pub fn typed(content_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Serves `router` on 127.0.0.1 (a free port) for the rest of the test.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// Short limits, so that the tests of the limits are quick: 64 KiB, 2 s.
pub fn test_config() -> FetchConfig {
    FetchConfig {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        ..FetchConfig::default()
    }
}
