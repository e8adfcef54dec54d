//! The scenario suite against both modes: the same code, the same expectations.

use optout_scenarios::aws::Aws;
use optout_scenarios::embedded::Embedded;
use optout_scenarios::scenarios;

macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    scenarios::$name(&Embedded::start().await).await;
                }
            )*
        }
        mod aws {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    scenarios::$name(&Aws::start(stringify!($name)).await).await;
                }
            )*
        }
    };
}

both_modes!(
    public_pages,
    face_opt_out_to_approval,
    double_submit_makes_one_case,
    dsa_notice_withdrawn,
    bad_input_is_refused_whole,
    admin_links_and_csrf_are_checked,
    complaint_reopens_for_another_reviewer,
    withdrawal_stops_matching,
    indexer_api_over_http,
    reviewer_views_a_large_photo,
);
