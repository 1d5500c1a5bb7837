//! The web UI (issue 12) against the real server with real containers: the assets and
//! their headers on both listeners, then the end-to-end walk-through in headless Chromium
//! (`crates/whisk-ui/tests/browser/ui.test.mjs`, driven by playwright-core from npm, which
//! `npm ci` installs here). Screenshots of every screen land in `target/ui-screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::{bin_dir, Server};

const C_IMAGE: &str = "whisk/example-c";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser walk-through; it takes well under a minute on these machines.
const BROWSER_DEADLINE: Duration = Duration::from_secs(240);

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../whisk-ui/tests/browser")
}

#[tokio::test]
async fn ui_is_served_on_both_listeners_with_its_policy() {
    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let insecure = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for base in [s.base(), s.https_base()] {
        let r = insecure.get(format!("{base}/ui")).send().await.unwrap();
        assert_eq!(r.status(), 308, "{base}/ui");
        assert_eq!(r.headers()["location"], "/ui/");
        for (path, ty) in [
            ("/ui/", "text/html; charset=utf-8"),
            ("/ui/js/main.js", "text/javascript; charset=utf-8"),
            ("/ui/app.css", "text/css; charset=utf-8"),
            ("/ui/icon.svg", "image/svg+xml"),
        ] {
            let r = insecure.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), 200, "{base}{path}");
            assert_eq!(r.headers()["content-type"], ty, "{path}");
            let csp = r.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"));
            assert!(!csp.contains("unsafe-inline") && !csp.contains("http"));
        }
        let missing = insecure
            .get(format!("{base}/ui/x.js"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }
}

/// The pure modules (Prometheus parsing and quantiles, cron preview, dashboard figures)
/// under `node --test`; no browser, no server.
#[test]
fn ui_modules_unit_tests() {
    let out = std::process::Command::new("node")
        .args(["--test", "unit.test.mjs"])
        .current_dir(browser_dir())
        .output()
        .expect("node (Node.js) is needed for the UI tests");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn ui_walk_through_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: scripts/setup-host.sh installs Debian's chromium"
    );
    let image = std::process::Command::new("docker")
        .args(["image", "inspect", C_IMAGE])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("docker");
    assert!(image.success(), "{C_IMAGE} is missing: run make sdk-images");

    let dir = browser_dir();
    let npm = tokio::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&dir)
        .status()
        .await
        .expect("npm (Node.js) is needed for the browser tests");
    assert!(npm.success(), "npm ci in {}", dir.display());

    let s = Server::start_with(&["--stem-cells", "0"]).await;
    let shots = bin_dir().parent().unwrap().join("ui-screenshots");
    let mut node = tokio::process::Command::new("node")
        .arg("ui.test.mjs")
        .current_dir(&dir)
        .env("RWHISK_URL", s.base())
        .env("RWHISK_HTTPS_URL", s.https_base())
        .env("RWHISK_KEY", &s.key)
        .env("RWHISK_IMAGE", C_IMAGE)
        .env("CHROMIUM", CHROMIUM)
        .env("SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let status = tokio::time::timeout(BROWSER_DEADLINE, node.wait())
        .await
        .unwrap_or_else(|_| panic!("the browser test ran past {BROWSER_DEADLINE:?}"))
        .unwrap();
    assert!(
        status.success(),
        "the browser walk-through failed (output above); whiskd log:\n{}",
        s.log()
    );
    for name in ["02-settings", "04-invoke", "05-activation", "14-dashboard"] {
        let png = shots.join(format!("{name}.png"));
        assert!(
            std::fs::metadata(&png).is_ok_and(|m| m.len() > 0),
            "{}",
            png.display()
        );
    }
}
