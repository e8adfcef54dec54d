//! The fetcher against real HTTP servers on 127.0.0.1 (reached through the loopback test switch
//! where a test needs to be served), and the links it must refuse.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use common::{PNG, jpeg, serve, test_config, typed};
use futures_util::StreamExt;
use futures_util::stream;
use optout_fetch::{
    DEFAULT_USER_AGENT, FetchConfig, FetchError, FetchedImage, Fetcher, LinkFetcher,
};
use optout_matcher::NormalizedUrl;

fn loopback_fetcher() -> Fetcher {
    Fetcher::allowing_loopback_for_tests(test_config()).unwrap()
}

fn production_fetcher() -> Fetcher {
    Fetcher::new(test_config()).unwrap()
}

fn refused(reason: &str) -> Result<FetchedImage, FetchError> {
    Err(FetchError::Refused(reason.into()))
}

fn not_image(why: &str) -> Result<FetchedImage, FetchError> {
    Err(FetchError::NotImage(why.into()))
}

/// A redirect to `location` with `status`.
fn redirect(status: StatusCode, location: &str) -> Response {
    (status, [(header::LOCATION, location.to_owned())]).into_response()
}

/// A server whose `/` redirects (302) to `location`.
async fn redirecting_to(location: String) -> SocketAddr {
    serve(Router::new().route(
        "/",
        get(move || async move { redirect(StatusCode::FOUND, &location) }),
    ))
    .await
}

/// The common routes: images, redirect chains, wrong types, errors.
async fn image_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let end_hits = Arc::new(AtomicUsize::new(0));
    let hits = end_hits.clone();
    let router = Router::new()
        .route("/img.jpg", get(|| async { typed("image/jpeg", jpeg()) }))
        .route(
            "/img.png",
            get(|| async { typed("image/png; charset=binary", PNG.to_vec()) }),
        )
        .route(
            "/r/{n}",
            get(move |Path(n): Path<u32>| {
                let hits = hits.clone();
                async move {
                    if n == 0 {
                        hits.fetch_add(1, Ordering::SeqCst);
                        typed("image/jpeg", jpeg())
                    } else {
                        // Relative, as servers often write them.
                        redirect(StatusCode::FOUND, &format!("{}", n - 1))
                    }
                }
            }),
        )
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                redirect(StatusCode::from_u16(code).unwrap(), "/img.jpg")
            }),
        )
        .route(
            "/no-location",
            get(|| async { StatusCode::FOUND.into_response() }),
        )
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, "no such image").into_response() }),
        )
        .route(
            "/broken",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR.into_response() }),
        )
        .route(
            "/page.html",
            get(|| async { typed("text/html; charset=utf-8", b"<!doctype html><p>hi".to_vec()) }),
        )
        .route(
            "/drawing.svg",
            get(|| async {
                typed(
                    "image/svg+xml",
                    b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>"
                        .to_vec(),
                )
            }),
        )
        .route(
            "/lying.jpg",
            get(|| async {
                typed(
                    "image/jpeg",
                    b"<!doctype html><script>x()</script>".to_vec(),
                )
            }),
        )
        .route(
            "/untyped",
            get(|| async { Response::new(Body::from(jpeg())) }),
        )
        .route(
            "/octets",
            get(|| async { typed("application/octet-stream", jpeg()) }),
        )
        .route(
            "/empty.jpg",
            get(|| async { typed("image/jpeg", Vec::new()) }),
        )
        .route(
            "/png-as-jpeg",
            get(|| async { typed("image/jpeg", PNG.to_vec()) }),
        );
    (serve(router).await, end_hits)
}

#[tokio::test]
async fn an_image_is_fetched_with_its_type() {
    let (addr, _) = image_server().await;
    let fetcher = loopback_fetcher();
    let url = format!("http://{addr}/img.jpg");
    let image = fetcher.fetch_link(&url).await.unwrap();
    assert_eq!(
        image,
        FetchedImage {
            bytes: jpeg(),
            content_type: "image/jpeg".into(),
            final_url: url.clone(),
        }
    );
    // Through the port, with a normalised link.
    let link: NormalizedUrl = format!("http://{addr}/img.png").parse().unwrap();
    let image = fetcher.fetch(&link).await.unwrap();
    assert_eq!(image.bytes, PNG);
    assert_eq!(image.content_type, "image/png; charset=binary");
    assert_eq!(image.final_url, link.as_str());
}

/// A raster labelled as another raster is still an image (see `content.rs`): accepted, with the
/// type as sent.
#[tokio::test]
async fn a_raster_under_another_raster_type_is_accepted() {
    let (addr, _) = image_server().await;
    let image = loopback_fetcher()
        .fetch_link(&format!("http://{addr}/png-as-jpeg"))
        .await
        .unwrap();
    assert_eq!(
        (image.bytes.as_slice(), image.content_type.as_str()),
        (PNG, "image/jpeg")
    );
}

#[tokio::test]
async fn three_redirects_are_followed_and_a_fourth_is_refused() {
    let (addr, end_hits) = image_server().await;
    let fetcher = loopback_fetcher();
    let image = fetcher
        .fetch_link(&format!("http://{addr}/r/3"))
        .await
        .unwrap();
    assert_eq!(image.bytes, jpeg());
    assert_eq!(image.final_url, format!("http://{addr}/r/0"));
    assert_eq!(end_hits.load(Ordering::SeqCst), 1);

    assert_eq!(
        fetcher.fetch_link(&format!("http://{addr}/r/4")).await,
        refused("too many redirects")
    );
    // The fifth address was never asked for.
    assert_eq!(end_hits.load(Ordering::SeqCst), 1);

    // The limit is the configuration's.
    let strict = Fetcher::allowing_loopback_for_tests(FetchConfig {
        max_redirects: 0,
        ..test_config()
    })
    .unwrap();
    assert_eq!(
        strict.fetch_link(&format!("http://{addr}/r/1")).await,
        refused("too many redirects")
    );
    assert!(
        strict
            .fetch_link(&format!("http://{addr}/r/0"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn every_redirect_status_is_followed_and_one_without_location_is_a_status() {
    let (addr, _) = image_server().await;
    let fetcher = loopback_fetcher();
    for code in [301, 302, 303, 307, 308] {
        let image = fetcher
            .fetch_link(&format!("http://{addr}/status/{code}"))
            .await
            .unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(image.final_url, format!("http://{addr}/img.jpg"), "{code}");
    }
    // 300 and 304 are not redirects to follow.
    for code in [300, 304] {
        assert_eq!(
            fetcher
                .fetch_link(&format!("http://{addr}/status/{code}"))
                .await,
            Err(FetchError::Status(code)),
        );
    }
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://{addr}/no-location"))
            .await,
        Err(FetchError::Status(302))
    );
}

/// A redirect to a non-public address is refused before any connection, with the loopback
/// switch on: it lets 127.0.0.0/8 through and nothing else.
#[tokio::test]
async fn redirects_to_non_public_addresses_are_refused_even_with_the_switch() {
    // A server on [::1] with the image, where IPv6 is available: were [::1] allowed, the fetch
    // would succeed rather than be refused.
    let v6_port = match tokio::net::TcpListener::bind("[::1]:0").await {
        Ok(listener) => {
            let port = listener.local_addr().unwrap().port();
            let router =
                Router::new().route("/img.jpg", get(|| async { typed("image/jpeg", jpeg()) }));
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            port
        }
        Err(_) => 9,
    };
    let fetcher = loopback_fetcher();
    for (location, reason) in [
        (
            "http://10.0.0.1/img.jpg".to_owned(),
            "private address 10.0.0.1",
        ),
        (
            "http://192.168.1.1/".to_owned(),
            "private address 192.168.1.1",
        ),
        (
            "http://172.16.5.4:8080/".to_owned(),
            "private address 172.16.5.4",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "link-local address 169.254.169.254",
        ),
        (
            format!("http://[::1]:{v6_port}/img.jpg"),
            "loopback address ::1",
        ),
        (
            "http://[::ffff:10.0.0.1]/".to_owned(),
            "private address ::ffff:10.0.0.1",
        ),
        (
            "http://[::ffff:127.0.0.1]/".to_owned(),
            "loopback address ::ffff:127.0.0.1",
        ),
        (
            "http://[fd00::1]/".to_owned(),
            "unique-local address fd00::1",
        ),
        ("http://[fe80::1]/".to_owned(), "link-local address fe80::1"),
        (
            "http://100.64.0.1/".to_owned(),
            "shared (CGNAT) address 100.64.0.1",
        ),
        ("http://0.0.0.0/".to_owned(), "unspecified address 0.0.0.0"),
        ("http://0xa.0.0.1/".to_owned(), "private address 10.0.0.1"),
        ("ftp://example.com/img.jpg".to_owned(), "scheme ftp"),
        ("file:///etc/passwd".to_owned(), "scheme file"),
        (
            "http://user:secret@example.com/img.jpg".to_owned(),
            "credentials in the link",
        ),
    ] {
        let addr = redirecting_to(location.clone()).await;
        assert_eq!(
            fetcher.fetch_link(&format!("http://{addr}/")).await,
            refused(reason),
            "{location}"
        );
    }
    // The [::1] server itself is refused too, when asked for directly.
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://[::1]:{v6_port}/img.jpg"))
            .await,
        refused("loopback address ::1")
    );
    // An absolute redirect to another loopback port is allowed by the switch.
    let (img, _) = image_server().await;
    let addr = redirecting_to(format!("http://{img}/img.jpg")).await;
    assert!(fetcher.fetch_link(&format!("http://{addr}/")).await.is_ok());
}

/// Without the switch, every spelling of loopback is refused (while the same links fetch with
/// it on, so it is the address that is refused, not a missing server).
#[tokio::test]
async fn loopback_is_refused_without_the_switch() {
    let (addr, _) = image_server().await;
    let port = addr.port();
    let production = production_fetcher();
    let with_switch = loopback_fetcher();
    let v4 = "loopback address 127.0.0.1";
    for (link, reason, served_with_switch) in [
        (format!("http://127.0.0.1:{port}/img.jpg"), v4, true),
        (format!("http://127.1:{port}/img.jpg"), v4, true),
        (format!("http://0x7f.0.0.1:{port}/img.jpg"), v4, true),
        (format!("http://0177.0.0.1:{port}/img.jpg"), v4, true),
        (format!("http://2130706433:{port}/img.jpg"), v4, true),
        (format!("http://127.0.0.1.:{port}/img.jpg"), v4, true),
        (
            format!("http://[::1]:{port}/img.jpg"),
            "loopback address ::1",
            false,
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/img.jpg"),
            "loopback address ::ffff:127.0.0.1",
            false,
        ),
        (
            format!("http://0.0.0.0:{port}/img.jpg"),
            "unspecified address 0.0.0.0",
            false,
        ),
        (
            format!("http://[::]:{port}/img.jpg"),
            "unspecified address ::",
            false,
        ),
    ] {
        assert_eq!(
            production.fetch_link(&link).await,
            refused(reason),
            "{link}"
        );
        if let Ok(normalized) = link.parse::<NormalizedUrl>() {
            assert_eq!(
                production.fetch(&normalized).await,
                refused(reason),
                "{link}"
            );
        }
        let with = with_switch.fetch_link(&link).await;
        if served_with_switch {
            assert_eq!(with.map(|i| i.bytes), Ok(jpeg()), "{link}");
        } else {
            assert_eq!(with, refused(reason), "{link}");
        }
    }
    // A name is refused by the resolver: `localhost` resolves to loopback.
    let link = format!("http://localhost:{port}/img.jpg");
    match production.fetch_link(&link).await {
        Err(FetchError::Refused(reason)) => {
            assert!(reason.starts_with("loopback address "), "{reason}")
        }
        other => panic!("{link}: {other:?}"),
    }
    let normalized: NormalizedUrl = link.parse().unwrap();
    assert!(matches!(
        production.fetch(&normalized).await,
        Err(FetchError::Refused(_))
    ));
}

#[tokio::test]
async fn what_is_not_a_raster_image_is_refused() {
    let (addr, _) = image_server().await;
    let fetcher = loopback_fetcher();
    let fetcher = &fetcher;
    let get = |path: &str| {
        let link = format!("http://{addr}{path}");
        async move { fetcher.fetch_link(&link).await }
    };
    assert_eq!(get("/page.html").await, not_image("content type text/html"));
    assert_eq!(
        get("/drawing.svg").await,
        not_image("content type image/svg+xml (SVG is not a raster image and can carry scripts)")
    );
    assert_eq!(
        get("/lying.jpg").await,
        not_image("the bytes are not an image (sent as image/jpeg)")
    );
    assert_eq!(
        get("/empty.jpg").await,
        not_image("the bytes are not an image (sent as image/jpeg)")
    );
    assert_eq!(get("/untyped").await, not_image("no content type"));
    assert_eq!(
        get("/octets").await,
        not_image("content type application/octet-stream")
    );
}

#[tokio::test]
async fn error_statuses_are_reported() {
    let (addr, _) = image_server().await;
    let fetcher = loopback_fetcher();
    assert_eq!(
        fetcher.fetch_link(&format!("http://{addr}/missing")).await,
        Err(FetchError::Status(404))
    );
    assert_eq!(
        fetcher.fetch_link(&format!("http://{addr}/broken")).await,
        Err(FetchError::Status(500))
    );
}

#[tokio::test]
async fn links_that_are_not_http_or_carry_credentials_are_refused() {
    let (addr, _) = image_server().await;
    let fetcher = loopback_fetcher();
    assert_eq!(
        fetcher.fetch_link("ftp://example.com/img.jpg").await,
        refused("scheme ftp")
    );
    assert_eq!(
        fetcher.fetch_link(&format!("ftp://{addr}/img.jpg")).await,
        refused("scheme ftp")
    );
    assert_eq!(
        fetcher
            .fetch_link("data:image/png;base64,iVBORw0KGgo=")
            .await,
        refused("scheme data")
    );
    // The server would answer: credentials are refused, not sent.
    for userinfo in ["user:pw@", "user@", ":pw@"] {
        assert_eq!(
            fetcher
                .fetch_link(&format!("http://{userinfo}{addr}/img.jpg"))
                .await,
            refused("credentials in the link"),
            "{userinfo}"
        );
    }
    assert!(matches!(
        fetcher.fetch_link("not a link").await,
        Err(FetchError::Refused(reason)) if reason.starts_with("invalid link")
    ));
}

/// The requests say who sends them and carry no cookie, even one the server set.
#[tokio::test]
async fn requests_carry_the_agent_and_no_cookie() {
    let seen: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let s1 = seen.clone();
    let s2 = seen.clone();
    let router = Router::new()
        .route(
            "/start",
            get(move |h: HeaderMap| async move {
                s1.lock().unwrap().push(h);
                (
                    StatusCode::FOUND,
                    [
                        (header::LOCATION, "/img.jpg"),
                        (header::SET_COOKIE, "session=abc; Path=/"),
                    ],
                )
                    .into_response()
            }),
        )
        .route(
            "/img.jpg",
            get(move |h: HeaderMap| async move {
                s2.lock().unwrap().push(h);
                typed("image/jpeg", jpeg())
            }),
        );
    let addr = serve(router).await;
    loopback_fetcher()
        .fetch_link(&format!("http://{addr}/start"))
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for h in seen.iter() {
        assert_eq!(h[header::USER_AGENT], DEFAULT_USER_AGENT);
        assert_eq!(h[header::ACCEPT], "image/*");
        assert!(h.get(header::COOKIE).is_none(), "{h:?}");
        assert!(h.get(header::AUTHORIZATION).is_none(), "{h:?}");
        assert!(h.get(header::REFERER).is_none(), "{h:?}");
    }
    assert!(DEFAULT_USER_AGENT.starts_with("optout-link-fetcher/"));
}

/// A body stream: `head`, then `forever` (chunks of 8 KiB without end, counted) or nothing
/// more, ever (a stalled server).
fn stalling_body(head: Vec<u8>) -> Body {
    let rest = stream::pending::<Result<Bytes, Infallible>>();
    Body::from_stream(stream::iter([Ok::<_, Infallible>(Bytes::from(head))]).chain(rest))
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_before_the_body() {
    let max = test_config().max_bytes;
    let router = Router::new()
        .route(
            "/declared-too-large",
            get(move || async move {
                // Declares one byte too many, sends the start, then stalls: only a refusal
                // from the header answers before the time limit.
                Response::builder()
                    .header(header::CONTENT_TYPE, "image/jpeg")
                    .header(header::CONTENT_LENGTH, max + 1)
                    .body(stalling_body(jpeg()))
                    .unwrap()
            }),
        )
        .route(
            "/exactly-the-limit",
            get(move || async move {
                let mut body = jpeg();
                body.resize(max as usize, 0);
                typed("image/jpeg", body)
            }),
        )
        .route(
            "/one-byte-over",
            get(move || async move {
                let mut body = jpeg();
                body.resize(max as usize + 1, 0);
                typed("image/jpeg", body)
            }),
        );
    let addr = serve(router).await;
    let fetcher = loopback_fetcher();
    // Reading the body would end in `Timeout`: the server never sends the rest.
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://{addr}/declared-too-large"))
            .await,
        Err(FetchError::TooLarge(max))
    );
    let image = fetcher
        .fetch_link(&format!("http://{addr}/exactly-the-limit"))
        .await
        .unwrap();
    assert_eq!(image.bytes.len() as u64, max);
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://{addr}/one-byte-over"))
            .await,
        Err(FetchError::TooLarge(max))
    );
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_refused_without_reading_the_rest() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let router = Router::new().route(
        "/endless.jpg",
        get(move || {
            let counter = counter.clone();
            async move {
                // No Content-Length: chunked, and without end.
                let head = stream::iter([Ok::<_, Infallible>(Bytes::from(jpeg()))]);
                let endless = stream::repeat_with(move || {
                    counter.fetch_add(8192, Ordering::SeqCst);
                    Ok::<_, Infallible>(Bytes::from(vec![0u8; 8192]))
                });
                Response::builder()
                    .header(header::CONTENT_TYPE, "image/jpeg")
                    .body(Body::from_stream(head.chain(endless)))
                    .unwrap()
            }
        }),
    );
    let addr = serve(router).await;
    let max = 256 * 1024;
    let fetcher = Fetcher::allowing_loopback_for_tests(FetchConfig {
        max_bytes: max,
        ..test_config()
    })
    .unwrap();
    // Reading the rest would end in `Timeout`: there is no end.
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://{addr}/endless.jpg"))
            .await,
        Err(FetchError::TooLarge(max))
    );
    // The server stops once the connection is dropped: what it sent is the limit plus what
    // the sockets' buffers held, far from endless.
    let mut last = sent.load(Ordering::SeqCst);
    let mut settled = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last {
            settled = true;
            break;
        }
        last = now;
    }
    assert!(settled, "the server still sends ({last} bytes)");
    assert!(last < 32 * 1024 * 1024, "{last} bytes sent");
}

#[tokio::test]
async fn a_stalling_server_times_out() {
    let router = Router::new()
        .route(
            "/slow-headers",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                typed("image/jpeg", jpeg())
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                Response::builder()
                    .header(header::CONTENT_TYPE, "image/jpeg")
                    .body(stalling_body(jpeg()))
                    .unwrap()
            }),
        )
        .route(
            "/lying-then-stalling.jpg",
            get(|| async {
                // Refused from its first bytes: waiting for the rest would end in `Timeout`.
                Response::builder()
                    .header(header::CONTENT_TYPE, "image/jpeg")
                    .body(stalling_body(b"<!doctype html><html><body>".to_vec()))
                    .unwrap()
            }),
        )
        .route(
            "/slow-hop/{n}",
            get(|Path(n): Path<u32>| async move {
                // Each hop well within the limit, the chain over it.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if n == 0 {
                    typed("image/jpeg", jpeg())
                } else {
                    redirect(StatusCode::FOUND, &format!("{}", n - 1))
                }
            }),
        );
    let addr = serve(router).await;
    let fetcher = Fetcher::allowing_loopback_for_tests(FetchConfig {
        timeout: Duration::from_millis(500),
        ..test_config()
    })
    .unwrap();
    for path in ["/slow-headers", "/slow-body", "/slow-hop/3"] {
        let started = Instant::now();
        assert_eq!(
            fetcher.fetch_link(&format!("http://{addr}{path}")).await,
            Err(FetchError::Timeout),
            "{path}"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{path}: {took:?}"
        );
    }
    assert_eq!(
        fetcher
            .fetch_link(&format!("http://{addr}/lying-then-stalling.jpg"))
            .await,
        not_image("the bytes are not an image (sent as image/jpeg)")
    );
    // One slow hop alone is within the limit.
    assert!(
        fetcher
            .fetch_link(&format!("http://{addr}/slow-hop/0"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_closed_port_is_a_network_error_without_the_link() {
    // A port that was free a moment ago.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    match loopback_fetcher()
        .fetch_link(&format!("http://127.0.0.1:{port}/secret-name.jpg"))
        .await
    {
        Err(FetchError::Network(why)) => {
            assert!(
                !why.contains("secret-name") && !why.contains("http://"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
}
