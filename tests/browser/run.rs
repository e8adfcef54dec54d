//! Runs a journey script of this folder in headless Chromium (Debian's package) driven by
//! playwright-core (npm), both installed by `scripts/setup-browser`. Included by path in the
//! embedded mode's tests (`tests/app/main.rs`) and the AWS mode's
//! (`tests/scenarios/tests/browser_aws.rs`).

use std::path::{Path, PathBuf};

/// Chromium and playwright-core, found.
pub struct Browser {
    root: PathBuf,
    modules: PathBuf,
}

impl Browser {
    /// Finds them under the repository's `root` (before a test starts its app); panics with how
    /// to install them if either is missing.
    pub fn find(root: &Path) -> Browser {
        let modules = root.join(".cache/npm/node_modules");
        assert!(
            modules.join("playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
            "Chromium or playwright-core is missing: run scripts/setup-browser"
        );
        Browser {
            root: root.to_owned(),
            modules,
        }
    }

    /// Runs `tests/browser/{script}` with `args`, then the screenshot folder
    /// `target/screenshots/{shots}`, off the runtime's threads (the app under test runs on them).
    /// The journey must succeed and print `{journey} ok`; returns what it printed.
    pub async fn run(&self, script: &str, journey: &str, args: &[&str], shots: &str) -> String {
        let shots = self.root.join("target/screenshots").join(shots);
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        let mut node = std::process::Command::new("node");
        node.arg(self.root.join("tests/browser").join(script))
            .args(args)
            .arg(&shots)
            .env("NODE_PATH", &self.modules);
        let out = tokio::task::spawn_blocking(move || node.output().expect("node"))
            .await
            .expect("the journey ran");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{journey} failed:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains(&format!("{journey} ok")), "{stdout}");
        stdout
    }
}
