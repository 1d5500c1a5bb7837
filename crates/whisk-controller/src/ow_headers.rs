//! `__ow_headers`: the request headers an action sees (web actions, and the rules of a
//! fired trigger). One rule for every path: a header that authenticated the request to
//! rwhisk never reaches an action, and so never a message or a record. Headers the action
//! handles itself pass as OpenWhisk passes them, including an `Authorization` of the
//! action's own scheme when whisk auth did not authenticate the call.

use axum::http::{header, HeaderMap, HeaderName};
use serde_json::{Map, Value};

/// The input key holding the request's headers.
pub(crate) const OW_HEADERS: &str = "__ow_headers";

/// The header a web action's `require-whisk-auth` secret is sent in.
pub(crate) const REQUIRE_WHISK_AUTH: HeaderName = HeaderName::from_static("x-require-whisk-auth");

/// Which of a request's headers authenticated it to rwhisk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UsedCredentials {
    /// `Authorization` held a whisk key (a subject's or an activation's) that authenticated.
    pub authorization: bool,
    /// `X-Require-Whisk-Auth` held the web action's secret and was checked.
    pub require_whisk_auth: bool,
}

impl UsedCredentials {
    fn consumed(&self, name: &HeaderName) -> bool {
        (self.authorization && name == header::AUTHORIZATION)
            || (self.require_whisk_auth && name == REQUIRE_WHISK_AUTH)
    }
}

/// The request headers with lowercase names, repeated ones joined with `, `, leaving out
/// those in `used`.
pub(crate) fn ow_headers(headers: &HeaderMap, used: UsedCredentials) -> Map<String, Value> {
    let mut m: Map<String, Value> = Map::new();
    for (k, v) in headers.iter().filter(|(k, _)| !used.consumed(k)) {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        let name = k.as_str().to_ascii_lowercase();
        let joined = match m.get(&name).and_then(Value::as_str) {
            Some(prev) => format!("{prev}, {v}"),
            None => v,
        };
        m.insert(name, Value::String(joined));
    }
    m
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn request() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        h.insert(REQUIRE_WHISK_AUTH, HeaderValue::from_static("s3cret"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h
    }

    #[test]
    fn leaves_out_what_authenticated() {
        let all = ow_headers(&request(), UsedCredentials::default());
        assert_eq!(all["authorization"], "Basic abc");
        assert_eq!(all["x-require-whisk-auth"], "s3cret");
        assert_eq!(all["x-a"], "1, 2");

        let used = UsedCredentials {
            authorization: true,
            require_whisk_auth: false,
        };
        let m = ow_headers(&request(), used);
        assert!(m.get("authorization").is_none());
        assert_eq!(m["x-require-whisk-auth"], "s3cret");

        let used = UsedCredentials {
            authorization: false,
            require_whisk_auth: true,
        };
        let m = ow_headers(&request(), used);
        assert_eq!(m["authorization"], "Basic abc");
        assert!(m.get("x-require-whisk-auth").is_none());
    }
}
