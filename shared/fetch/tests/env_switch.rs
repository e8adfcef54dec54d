//! `Fetcher::from_env`: `OPTOUT_FETCH_ALLOW_LOOPBACK=1` turns the loopback switch on in a build
//! with the `loopback-for-tests` feature (this one), and a proxy named in the environment is
//! not used. One test in its own binary: it sets environment variables, which no other thread
//! may read meanwhile.

mod common;

use optout_fetch::{ALLOW_LOOPBACK_ENV, FetchError, Fetcher};

use axum::Router;
use axum::routing::get;
use common::{jpeg, serve, test_config, typed};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_env_switch_allows_loopback_and_no_proxy_is_used() {
    // SAFETY: the only test of this binary, run before any runtime thread exists; the runtimes
    // below are built after each change.
    unsafe {
        std::env::set_var(ALLOW_LOOPBACK_ENV, "1");
        // A proxy that would swallow every request, were the fetcher to use one.
        for proxy in [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            std::env::set_var(proxy, "http://127.0.0.1:9");
        }
    }
    let addr = runtime().block_on(async {
        let addr =
            serve(Router::new().route("/img.jpg", get(|| async { typed("image/jpeg", jpeg()) })))
                .await;
        let fetcher = Fetcher::from_env_with(test_config()).unwrap();
        let image = fetcher
            .fetch_link(&format!("http://{addr}/img.jpg"))
            .await
            .unwrap();
        assert_eq!(image.bytes, jpeg());
        // Loopback only: IPv6 loopback and private addresses stay refused.
        assert_eq!(
            fetcher.fetch_link("http://[::1]/img.jpg").await,
            Err(FetchError::Refused("loopback address ::1".into()))
        );
        assert_eq!(
            fetcher.fetch_link("http://10.0.0.1/img.jpg").await,
            Err(FetchError::Refused("private address 10.0.0.1".into()))
        );
        // Defaults otherwise.
        assert_eq!(Fetcher::from_env().unwrap().config().max_redirects, 3);
        addr
    });

    for value in [None, Some("0"), Some("yes")] {
        // SAFETY: the runtime of the previous round is gone; no other thread runs.
        unsafe {
            match value {
                None => std::env::remove_var(ALLOW_LOOPBACK_ENV),
                Some(v) => std::env::set_var(ALLOW_LOOPBACK_ENV, v),
            }
        }
        runtime().block_on(async {
            let fetcher = Fetcher::from_env_with(test_config()).unwrap();
            assert_eq!(
                fetcher.fetch_link(&format!("http://{addr}/img.jpg")).await,
                Err(FetchError::Refused("loopback address 127.0.0.1".into())),
                "{value:?}"
            );
        });
    }
}
