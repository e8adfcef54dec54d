//! The body of an SQS message to the embedding worker (`functions/embedder` hands
//! `record.body` to `EmbedJob::from_json`; the embedded mode's queue does the same). Invariants:
//! never a panic; a refusal says `malformed embed job: ` and why; an accepted job reads back from
//! its own JSON and has the id `embed-<case>-<generation>`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::model::EmbedJob;

fuzz_target!(|data: &[u8]| {
    // A queue body is text; bytes that are not UTF-8 arrive replaced.
    let body = String::from_utf8_lossy(data);
    match EmbedJob::from_json(&body) {
        Ok(job) => {
            let json = job.to_json();
            assert!(json.starts_with('{'), "{json:?}");
            assert_eq!(EmbedJob::from_json(&json).as_ref(), Ok(&job), "{json}");
            assert_eq!(
                job.id(),
                format!("embed-{}-{}", job.case_id, job.generation)
            );
        }
        Err(reason) => {
            let why = reason
                .strip_prefix("malformed embed job: ")
                .unwrap_or_else(|| panic!("{reason:?}"));
            assert!(!why.trim().is_empty(), "{reason:?}");
        }
    }
});
