//! The rwhisk web UI: plain HTML, CSS and JavaScript modules under `assets/`, embedded in
//! the binary with `include_bytes!` and served at `/ui/` by [`router`]. There is no build
//! step: the files in `assets/` are what the browser runs.
//!
//! The page talks to the ordinary REST API (`/api/v1`) of the server that serves it, with
//! the user's key in a Basic `Authorization` header, and reads the unauthenticated
//! `GET /metrics`. Every response carries a Content-Security-Policy that allows scripts,
//! styles, images and connections from the page's own origin only, no inline script or
//! style, and no framing.
#![forbid(unsafe_code)]

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Where the UI is served.
pub const PREFIX: &str = "/ui";

/// The policy of every UI response: own origin only, no inline code, no frames, no forms
/// posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Embeds `assets/<path>` for each path.
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)) as &[u8])),*]
    };
}

/// Every file of the UI, by its path below `/ui/`.
const ASSETS: &[(&str, &[u8])] = assets![
    "index.html",
    "app.css",
    "icon.svg",
    "js/main.js",
    "js/api.js",
    "js/dom.js",
    "js/charts.js",
    "js/cron.js",
    "js/prom.js",
    "js/params.js",
    "js/views/settings.js",
    "js/views/dashboard.js",
    "js/views/actions.js",
    "js/views/invoke.js",
    "js/views/activations.js",
    "js/views/triggers.js",
    "js/views/rules.js",
    "js/views/alarms.js",
    "js/views/packages.js",
    "js/views/namespaces.js",
];

/// The embedded file at `path` (below `/ui/`; empty means `index.html`) and its content type.
pub fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    let path = if path.is_empty() { "index.html" } else { path };
    let (_, body) = ASSETS.iter().find(|(p, _)| *p == path)?;
    Some((body, content_type(path)?))
}

/// The paths of every embedded file.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(p, _)| *p)
}

fn content_type(path: &str) -> Option<&'static str> {
    Some(match path.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => return None,
    })
}

/// The routes `/ui` (redirects to `/ui/`), `/ui/` and `/ui/{file}`; `GET` and `HEAD`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(PREFIX, get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { serve("") }))
        .route(
            "/ui/{*path}",
            get(|axum::extract::Path(path): axum::extract::Path<String>| async move {
                serve(&path)
            }),
        )
}

fn serve(path: &str) -> Response {
    let Some((body, content_type)) = asset(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    let set = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        // The files change only with the binary; revalidating keeps an upgrade visible.
        (header::CACHE_CONTROL, "no-cache"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    fn text(path: &str) -> &'static str {
        std::str::from_utf8(asset(path).unwrap().0).unwrap()
    }

    #[tokio::test]
    async fn serves_files_with_types_and_policy() {
        let index = get("/ui/").await;
        assert_eq!(index.status(), StatusCode::OK);
        assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(
            index.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        assert_eq!(index.headers()["x-content-type-options"], "nosniff");
        let js = get("/ui/js/main.js").await;
        assert_eq!(
            js.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        let css = get("/ui/app.css").await;
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        let redirect = get("/ui").await;
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(redirect.headers()["location"], "/ui/");
        for missing in ["/ui/nope.js", "/ui/js/../index.html", "/ui/js/"] {
            assert_eq!(
                get(missing).await.status(),
                StatusCode::NOT_FOUND,
                "{missing}"
            );
        }
    }

    /// What the policy forbids must not be in the files: inline scripts, inline styles,
    /// event handler attributes, and anything from another origin.
    #[test]
    fn assets_need_nothing_the_policy_forbids() {
        let index = text("index.html");
        assert!(index.contains("<script type=\"module\" src=\"js/main.js\"></script>"));
        assert_eq!(index.matches("<script").count(), 1, "one script, by src");
        assert!(!index.contains("style="), "inline style in index.html");
        for path in paths() {
            let (body, _) = asset(path).unwrap();
            let s = String::from_utf8_lossy(body);
            for bad in [
                " onclick=",
                " onload=",
                "javascript:",
                "eval(",
                "new Function(",
            ] {
                assert!(!s.contains(bad), "{path} contains {bad}");
            }
            for attr in ["src=\"", "href=\""] {
                for (i, _) in s.match_indices(attr) {
                    let target = &s[i + attr.len()..];
                    assert!(
                        !target.starts_with("http") && !target.starts_with("//"),
                        "{path} loads from another origin"
                    );
                }
            }
            if path.ends_with(".css") {
                assert!(
                    !s.contains("@import") && !s.contains("url("),
                    "{path} loads a resource"
                );
            }
            if path.ends_with(".js") {
                assert!(!s.contains("innerHTML"), "{path} writes HTML from strings");
                for (i, _) in s.match_indices(" from '") {
                    let target = &s[i + 7..];
                    assert!(
                        target.starts_with("./") || target.starts_with("../"),
                        "{path} imports from elsewhere"
                    );
                }
            }
        }
    }

    /// Every module another module imports is embedded.
    #[test]
    fn imports_resolve() {
        for path in paths().filter(|p| p.ends_with(".js")) {
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            for line in text(path).lines() {
                let Some(rest) = line.split(" from '").nth(1) else {
                    continue;
                };
                let target = rest.split('\'').next().unwrap();
                let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
                for seg in target.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(asset(&resolved).is_some(), "{path} imports {target}");
            }
        }
    }
}
