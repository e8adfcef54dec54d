//! The scenario suite against both modes: the same code, the same expectations. Every log line
//! the system writes meanwhile is captured, and each test ends by looking in all of them for
//! every personal value the scenarios submitted ([`privacy`]).

use optout_scenarios::aws::Aws;
use optout_scenarios::embedded::Embedded;
use optout_scenarios::privacy::{self, Watched};
use optout_scenarios::scenarios;

macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    privacy::capture();
                    scenarios::$name(&Watched(&Embedded::start().await)).await;
                    privacy::assert_no_personal_data_logged();
                }
            )*
        }
        mod aws {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    privacy::capture();
                    scenarios::$name(&Watched(&Aws::start(stringify!($name)).await)).await;
                    privacy::assert_no_personal_data_logged();
                }
            )*
        }
    };
}

both_modes!(
    public_pages,
    face_opt_out_to_approval,
    double_submit_makes_one_case,
    replays_are_scoped_to_their_request,
    concurrent_submissions_send_one_receipt,
    dsa_notice_withdrawn,
    bad_input_is_refused_whole,
    admin_links_and_csrf_are_checked,
    sign_out_revokes_the_session,
    complaint_reopens_for_another_reviewer,
    withdrawal_stops_matching,
    indexer_api_over_http,
    reviewer_views_a_large_photo,
    image_opt_out_excludes_copies,
    face_request_without_a_face_continues_as_image,
    dsa_links_become_images,
);

/// The capture sees a line logged from any thread, and the scan finds a value in it whatever
/// its case (the value is not one the scenarios submit, so the other tests' scans ignore it).
#[test]
fn the_log_scan_finds_a_value_in_a_captured_line() {
    privacy::capture();
    std::thread::spawn(|| {
        tracing::warn!(target: "optout_scenarios::self_test", who = "Marker-Person-3141", "a line the scan must see");
    })
    .join()
    .expect("thread");
    let values = std::collections::BTreeSet::from(["marker-person-3141".to_owned()]);
    let leaks = privacy::find_leaks(&privacy::logs(), &values);
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].1.contains("a line the scan must see"), "{leaks:?}");
}
