//! Shared by the api function's test binaries.

/// The variables of a function whose AWS endpoints are a closed port: enough for routes that
/// touch no store.
pub fn closed_port_env() -> std::collections::HashMap<String, String> {
    [
        ("OPTOUT_CASES_TABLE", "cases"),
        ("OPTOUT_PERSONAL_TABLE", "personal"),
        ("OPTOUT_BIOMETRICS_TABLE", "biometrics"),
        ("OPTOUT_PHOTO_BUCKET", "photos"),
        ("OPTOUT_JOB_QUEUE_URL", "http://127.0.0.1:9/queue/jobs"),
        ("OPTOUT_MAIL_FROM", "desk@example.org"),
        ("OPTOUT_PUBLIC_URL", "https://optout.example.org"),
        (
            "OPTOUT_SIGNING_KEYS",
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
