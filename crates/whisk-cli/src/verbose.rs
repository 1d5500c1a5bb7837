//! `--verbose`: prints each HTTP request and response to stdout in the Go CLI's layout.
//! Bodies are cut at 1000 bytes unless `--debug` is also given; the `Authorization` value is
//! masked.

use std::io::Write;

use serde_json::{Map, Value};
use whisk_client::header::{HeaderMap, AUTHORIZATION};
use whisk_client::{Method, Observer, StatusCode, Url};

/// Bodies longer than this are truncated in verbose output.
const BODY_LIMIT: usize = 1000;

/// The `--verbose` observer.
#[derive(Debug, Clone, Copy)]
pub struct Verbose {
    /// Print whole bodies (`--debug`).
    pub full: bool,
}

impl Verbose {
    fn body(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        if !self.full && text.len() > BODY_LIMIT {
            let mut cut = BODY_LIMIT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}...", &text[..cut])
        } else {
            text.into_owned()
        }
    }
}

fn headers_json(headers: &HeaderMap) -> String {
    let mut m: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let shown = if name == AUTHORIZATION {
            "Basic ********".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        let entry = m
            .entry(canonical(name.as_str()))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            items.push(Value::String(shown));
        }
    }
    crate::json::pretty(&Value::Object(m), crate::json::Shape::Any)
}

/// `content-type` → `Content-Type`, as Go shows header names.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl Observer for Verbose {
    fn request(&self, method: &Method, url: &Url, headers: &HeaderMap, body: Option<&[u8]>) {
        let mut s = format!("REQUEST:\n[{method}]\t{url}\n");
        if !headers.is_empty() {
            s.push_str("Req Headers\n");
            s.push_str(&headers_json(headers));
        }
        if let Some(b) = body {
            s.push_str("Req Body\n");
            s.push_str(&self.body(b));
            s.push('\n');
        }
        let _ = std::io::stdout().write_all(s.as_bytes());
    }

    fn response(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) {
        let mut s = format!("RESPONSE:Got response with code {}\n", status.as_u16());
        if !headers.is_empty() {
            s.push_str("Resp Headers\n");
            s.push_str(&headers_json(headers));
        }
        s.push_str(&format!("Response body size is {} bytes\n", body.len()));
        s.push_str(&format!("Response body received:\n{}\n", self.body(body)));
        let _ = std::io::stdout().write_all(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use whisk_client::header::{HeaderValue, CONTENT_TYPE};

    use super::*;

    #[test]
    fn headers_are_masked_and_canonical() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic c2VjcmV0"));
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let s = headers_json(&h);
        assert!(!s.contains("c2VjcmV0"), "{s}");
        assert!(
            s.contains("\"Content-Type\": [\n        \"application/json\""),
            "{s}"
        );
    }

    #[test]
    fn bodies_are_cut() {
        let v = Verbose { full: false };
        let long = vec![b'x'; 1500];
        assert_eq!(v.body(&long).len(), BODY_LIMIT + 3);
        assert_eq!(Verbose { full: true }.body(&long).len(), 1500);
        assert_eq!(v.body(b"[\"guest\"]"), "[\"guest\"]");
    }
}
