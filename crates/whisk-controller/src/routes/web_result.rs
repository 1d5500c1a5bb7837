//! A web action's result as an HTTP response (reference §6.7): `.json`, `.html`, `.svg` and
//! `.text` send one value; `.http` reads `{statusCode, headers, body}` and base64-decodes
//! bodies of binary content types.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use whisk_types::action::looks_like_base64;

use crate::error::ApiError;

/// The extension of a web action URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Extension {
    Http,
    Json,
    Html,
    Svg,
    Text,
}

impl Extension {
    /// Splits `name.ext` when `ext` is known; `.http` otherwise.
    pub fn split(segment: &str) -> (&str, Self) {
        for (suffix, ext) in [
            (".http", Extension::Http),
            (".json", Extension::Json),
            (".html", Extension::Html),
            (".svg", Extension::Svg),
            (".text", Extension::Text),
        ] {
            if let Some(name) = segment.strip_suffix(suffix) {
                if !name.is_empty() {
                    return (name, ext);
                }
            }
        }
        (segment, Extension::Http)
    }
}

fn bad(text: &str) -> ApiError {
    ApiError::BadRequest(text.to_owned())
}

const NOT_HTTP: &str = "Response is not valid 'message/http'.";
const MISSING_PROPERTY: &str = "Response does not include requested property.";

/// The lowercase `type/subtype` of a content type, or `None` when it is not one.
pub(crate) fn media_type(content_type: &str) -> Option<String> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let (t, s) = essence.split_once('/')?;
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    (token(t) && token(s)).then_some(essence)
}

/// JSON-family media types.
pub(crate) fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json") || media == "text/json"
}

/// Media types whose bodies are bytes rather than text.
pub(crate) fn is_binary(media: &str) -> bool {
    let text = media.starts_with("text/")
        || is_json(media)
        || media.ends_with("+xml")
        || matches!(
            media,
            "application/xml"
                | "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/yaml"
                | "application/x-yaml"
        );
    !text
}

fn typed(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = (status, body.into()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// The response for a result (already the `error` value for application errors). The
/// whole result is used: OpenWhisk 1.0 dropped projections (the path after the extension
/// goes to the action as `__ow_path` instead). `.html`, `.svg` and `.text` send the
/// result's `body` field, else their own (`html`, `svg`, `text`), or a non-object result
/// itself, as OpenWhisk's transcoders do.
///
/// # Errors
/// 400 or 404 with OpenWhisk's texts when the result does not fit the extension.
pub(crate) fn render(ext: Extension, result: &Value) -> Result<Response, ApiError> {
    let field = |name: &str| -> Option<&Value> {
        match result {
            Value::Object(fields) => fields.get("body").or_else(|| fields.get(name)),
            other => Some(other),
        }
    };
    match ext {
        Extension::Http => http(result),
        Extension::Json => match result {
            Value::Object(_) | Value::Array(_) => Ok(typed(
                StatusCode::OK,
                "application/json",
                result.to_string(),
            )),
            _ => Err(bad("Response is not valid 'application/json'.")),
        },
        Extension::Html | Extension::Svg => {
            let (name, ct, what) = if ext == Extension::Html {
                ("html", "text/html; charset=UTF-8", "text/html")
            } else {
                ("svg", "image/svg+xml", "image/svg+xml")
            };
            match field(name) {
                Some(Value::String(s)) => Ok(typed(StatusCode::OK, ct, s.clone())),
                _ => Err(bad(&format!("Response is not valid '{what}'."))),
            }
        }
        Extension::Text => {
            let text = match field("text") {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Object(_) | Value::Array(_))) => {
                    serde_json::to_string_pretty(v).unwrap_or_default()
                }
                Some(other) => other.to_string(),
                None => return Err(ApiError::NotFoundText(MISSING_PROPERTY.into())),
            };
            Ok(typed(StatusCode::OK, "text/plain; charset=UTF-8", text))
        }
    }
}

/// `.http`: `{statusCode, headers, body}`.
fn http(result: &Value) -> Result<Response, ApiError> {
    let Value::Object(obj) = result else {
        return Err(bad(NOT_HTTP));
    };
    let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad(NOT_HTTP))?;
                let values: Vec<&Value> = match v {
                    Value::Array(items) => items.iter().collect(),
                    other => vec![other],
                };
                for v in values {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err(bad(NOT_HTTP)),
                    };
                    let value = HeaderValue::from_str(&text).map_err(|_| bad(NOT_HTTP))?;
                    headers.push((name.clone(), value));
                }
            }
        }
        Some(_) => return Err(bad(NOT_HTTP)),
    }
    let status = match obj.get("statusCode") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| bad(NOT_HTTP))?),
        Some(Value::String(s)) => Some(s.trim().parse::<u64>().map_err(|_| bad(NOT_HTTP))?),
        Some(_) => return Err(bad(NOT_HTTP)),
    };
    let status = status
        .map(|s| {
            u16::try_from(s)
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .ok_or_else(|| bad(NOT_HTTP))
        })
        .transpose()?;
    let declared = headers
        .iter()
        .find(|(n, _)| n == header::CONTENT_TYPE)
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (bytes, default_type): (Vec<u8>, &str) = match obj.get("body") {
        None | Some(Value::Null) => (Vec::new(), "text/html"),
        Some(Value::String(s)) => {
            let ct = declared.clone().unwrap_or_else(|| "text/html".into());
            let media = media_type(&ct)
                .ok_or_else(|| bad("Response did not specify a known content-type."))?;
            let engine = base64::engine::general_purpose::STANDARD;
            let bytes = if is_binary(&media) {
                engine.decode(s.trim()).map_err(|_| bad(NOT_HTTP))?
            } else if is_json(&media) && looks_like_base64(s) {
                engine
                    .decode(s.trim())
                    .unwrap_or_else(|_| s.as_bytes().to_vec())
            } else {
                s.as_bytes().to_vec()
            };
            (bytes, "text/html")
        }
        Some(other) => {
            if let Some(ct) = &declared {
                let media = media_type(ct)
                    .ok_or_else(|| bad("Response did not specify a known content-type."))?;
                if !is_json(&media) {
                    return Err(bad(
                        "Response type in header did not match generated content type.",
                    ));
                }
            }
            (other.to_string().into_bytes(), "application/json")
        }
    };
    let status = status.unwrap_or(if bytes.is_empty() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    });
    let empty = bytes.is_empty();
    let mut resp = (status, Body::from(bytes)).into_response();
    let h = resp.headers_mut();
    for (name, value) in headers {
        h.append(name, value);
    }
    if !empty && !h.contains_key(header::CONTENT_TYPE) {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(default_type));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn body(r: Response) -> (u16, Option<String>, Vec<u8>) {
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let b = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, b.to_vec())
    }

    fn err(ext: Extension, v: Value) -> String {
        render(ext, &v).unwrap_err().to_string()
    }

    #[tokio::test]
    async fn http_results() {
        let (s, ct, b) = body(
            render(
                Extension::Http,
                &json!({"statusCode": 201, "headers": {"X-A": ["1", 2]}, "body": "<p>hi</p>"}),
            )
            .unwrap(),
        )
        .await;
        assert_eq!(
            (s, ct.as_deref(), b.as_slice()),
            (201, Some("text/html"), &b"<p>hi</p>"[..])
        );
        let png = render(
            Extension::Http,
            &json!({"headers": {"Content-Type": "image/png"}, "body": "iVBORw=="}),
        )
        .unwrap();
        let (s, _, b) = body(png).await;
        assert_eq!((s, b), (200, vec![0x89, b'P', b'N', b'G']));
        let (s, ct, b) = body(render(Extension::Http, &json!({"body": {"a": 1}})).unwrap()).await;
        assert_eq!(
            (s, ct.as_deref(), b),
            (200, Some("application/json"), b"{\"a\":1}".to_vec())
        );
        let (s, _, b) = body(render(Extension::Http, &json!({})).unwrap()).await;
        assert_eq!((s, b.len()), (204, 0));
        let (s, _, _) = body(render(Extension::Http, &json!({"statusCode": "404"})).unwrap()).await;
        assert_eq!(s, 404);
        assert_eq!(err(Extension::Http, json!([1])), NOT_HTTP);
        assert_eq!(err(Extension::Http, json!({"statusCode": "x"})), NOT_HTTP);
        assert_eq!(
            err(Extension::Http, json!({"headers": {"a": {}}})),
            NOT_HTTP
        );
        assert_eq!(
            err(
                Extension::Http,
                json!({"headers": {"content-type": "text/plain"}, "body": {"a": 1}})
            ),
            "Response type in header did not match generated content type."
        );
        assert_eq!(
            err(
                Extension::Http,
                json!({"headers": {"content-type": "nonsense"}, "body": "x"})
            ),
            "Response did not specify a known content-type."
        );
    }

    #[tokio::test]
    async fn other_extensions() {
        let (s, ct, b) = body(render(Extension::Json, &json!({"a": 1})).unwrap()).await;
        assert_eq!(
            (s, ct.as_deref(), b),
            (200, Some("application/json"), b"{\"a\":1}".to_vec())
        );
        assert_eq!(
            err(Extension::Json, json!("x")),
            "Response is not valid 'application/json'."
        );
        let (_, ct, b) = body(render(Extension::Html, &json!({"html": "<b/>"})).unwrap()).await;
        assert_eq!(
            (ct.unwrap().starts_with("text/html"), b),
            (true, b"<b/>".to_vec())
        );
        let (_, ct, _) = body(render(Extension::Svg, &json!({"body": "<svg/>"})).unwrap()).await;
        assert_eq!(ct.as_deref(), Some("image/svg+xml"));
        let (_, _, b) = body(render(Extension::Text, &json!({"text": {"a": 1}})).unwrap()).await;
        assert_eq!(b, b"{\n  \"a\": 1\n}".to_vec());
        assert_eq!(err(Extension::Text, json!({})), MISSING_PROPERTY);
        // `body` wins over the extension's own field; a non-object result is itself.
        let (_, _, b) = body(
            render(
                Extension::Html,
                &json!({"html": "<i>html</i>", "body": "<b>body</b>"}),
            )
            .unwrap(),
        )
        .await;
        assert_eq!(b, b"<b>body</b>".to_vec());
        let (_, _, b) = body(render(Extension::Text, &json!(5)).unwrap()).await;
        assert_eq!(b, b"5".to_vec());
        let (_, _, b) = body(render(Extension::Text, &json!({"text": null})).unwrap()).await;
        assert_eq!(b, b"null".to_vec());
        assert_eq!(
            err(Extension::Html, json!({"other": "<b/>"})),
            "Response is not valid 'text/html'."
        );
    }

    #[test]
    fn media_types() {
        assert_eq!(
            media_type("Text/HTML; charset=utf-8").as_deref(),
            Some("text/html")
        );
        assert!(media_type("nonsense").is_none());
        assert!(is_binary("image/png") && is_binary("application/octet-stream"));
        assert!(!is_binary("image/svg+xml") && !is_binary("application/json"));
        assert_eq!(Extension::split("a.json"), ("a", Extension::Json));
        assert_eq!(Extension::split(".json"), (".json", Extension::Http));
    }
}
