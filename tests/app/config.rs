//! `optout serve` as an operator starts it: the shared configuration from flags, environment and a
//! config file; a bad value stops start-up with a message that names it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The `optout` binary with none of the desk's variables from the test's own environment.
fn optout() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optout"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPTOUT_") && k != "OPTOUT_MODEL_DIR" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A config file holding `lines` (deleted when dropped).
fn config_file(lines: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, lines.as_bytes()).unwrap();
    f
}

/// Runs `optout serve ARGS` expecting it to refuse to start; returns its stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let out = optout()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success(), "started with {args:?} {env:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_value_stops_start_up_and_is_named() {
    let file = config_file("OPTOUT_DECISION_DAYS=0\n");
    let file = file.path().to_str().unwrap();
    for (args, env, name) in [
        (vec!["--config", file], vec![], "OPTOUT_DECISION_DAYS"),
        (
            vec![],
            vec![("OPTOUT_SUPPORT_EMAIL", "nobody")],
            "OPTOUT_SUPPORT_EMAIL",
        ),
        (vec!["--public-url", "ftp://x"], vec![], "OPTOUT_PUBLIC_URL"),
        (
            vec!["--set", "OPTOUT_UPLOAD_LINK_MINUTES=2"],
            vec![],
            "OPTOUT_UPLOAD_LINK_MINUTES",
        ),
        (vec!["--set", "OPTOUT_NO_SUCH=1"], vec![], "OPTOUT_NO_SUCH"),
        (vec![], vec![("RUST_LOG", "info,[[")], "RUST_LOG"),
    ] {
        let err = refused(&args, &env);
        assert!(err.contains(name), "{args:?} {env:?}: {err}");
    }
}

#[test]
fn the_config_file_configures_the_desk() {
    let file = config_file(
        "# the operator's settings\nOPTOUT_OPERATOR_NAME=\"Example Search\"\nOPTOUT_SUPPORT_EMAIL=help@example.org\nOPTOUT_LISTEN=127.0.0.1:0\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let mut child = optout()
        .args(["serve", "--data"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(file.path())
        // A flag wins over the file.
        .args(["--operator-name", "Example Search Engine"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("optout serve did not say where it runs");
        if let Some(rest) = line.strip_prefix("optout is running at ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    let page = reqwest::blocking_get(&format!("{url}/"));
    let _ = child.kill();
    let _ = child.wait();
    let page = page.unwrap();
    assert!(page.contains("Example Search Engine"), "{page}");
    assert!(page.contains("mailto:help@example.org"), "{page}");
}

mod reqwest {
    /// A GET on a plain thread (the test has no runtime).
    pub fn blocking_get(url: &str) -> Result<String, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            ::reqwest::get(url)
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())
        })
    }
}
