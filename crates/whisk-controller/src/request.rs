//! Reading requests by hand: percent-decoding, query parameters with OpenWhisk's texts, the
//! list parameters of §4.0 and bodies under a size limit. Parsing here (not in axum
//! extractors) keeps every failure in the `ApiError` shape.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;

use crate::error::ApiError;

/// Largest page of a list, and what `limit=0` means.
pub const MAX_LIST_LIMIT: u64 = 200;
/// Page size when `limit` is absent.
pub const DEFAULT_LIST_LIMIT: u64 = 30;

/// Decodes `%XX` escapes (and `+` as a space when asked, for query strings). Broken escapes
/// stay as they are; bytes that are not UTF-8 become U+FFFD.
pub(crate) fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                    }
                    _ => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded query parameters of a request, in order.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k, true), percent_decode(v, true))
            })
            .collect();
        Self { pairs }
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The first value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true/false`, `yes/no`, `on/off`, `1/0`, any case).
    ///
    /// # Errors
    /// 400 for any other value.
    pub fn bool(&self, name: &'static str, default: bool) -> Result<bool, ApiError> {
        let Some(v) = self.get(name) else {
            return Ok(default);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(ApiError::MalformedQuery {
                name,
                message: format!("'{v}' is not a valid Boolean value"),
            }),
        }
    }
}

/// `skip`, `limit` and `count` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListParams {
    pub skip: u64,
    pub limit: u64,
    pub count: bool,
}

/// Reads the common list parameters with the texts of reference §4.0.
///
/// # Errors
/// 400 for a non-integer or out-of-range `limit` or `skip`, or a bad `count`.
pub(crate) fn list_params(q: &Query, collection: &str) -> Result<ListParams, ApiError> {
    let integer = |name: &'static str, v: &str| {
        v.trim()
            .parse::<i64>()
            .map_err(|_| ApiError::MalformedQuery {
                name,
                message: format!("The value '{v}' is not an integer for {collection}."),
            })
    };
    let limit = match q.get("limit") {
        None => DEFAULT_LIST_LIMIT,
        Some(v) => match integer("limit", v)? {
            0 => MAX_LIST_LIMIT,
            n if n < 0 || n as u64 > MAX_LIST_LIMIT => {
                return Err(ApiError::MalformedQuery {
                    name: "limit",
                    message: format!(
                        "The value '{n}' is not in the range of 0 to {MAX_LIST_LIMIT} for {collection}."
                    ),
                })
            }
            n => n as u64,
        },
    };
    let skip = match q.get("skip") {
        None => 0,
        Some(v) => match integer("skip", v)? {
            n if n < 0 => {
                return Err(ApiError::MalformedQuery {
                    name: "skip",
                    message: format!(
                        "The value '{n}' is not greater than or equal to 0 for {collection}."
                    ),
                })
            }
            n => n as u64,
        },
    };
    Ok(ListParams {
        skip,
        limit,
        count: q.bool("count", false)?,
    })
}

/// The declared `Content-Length`, when it is a number.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The most of a refused body that is read and dropped before the 413 goes out.
const DRAIN_MAX: u64 = 64 * 1024 * 1024;

/// Reads and drops `body` up to [`DRAIN_MAX`] bytes. A client still sending a refused body
/// would otherwise get a broken pipe instead of the 413, since the server closes a
/// connection whose request it did not read to the end.
async fn drain(mut body: Body) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            read += data.len() as u64;
            if read > DRAIN_MAX {
                return;
            }
        }
    }
}

/// Reads a whole body, refusing more than `limit` bytes (by `Content-Length` first, so a
/// big upload is refused without being kept; up to [`DRAIN_MAX`] of it is read and
/// dropped so the client gets the answer).
///
/// # Errors
/// 413 `Request larger than allowed`, or 400 when the body cannot be read.
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = |size: u64| ApiError::TooLarge {
        field: "Request",
        size,
        max: limit as u64,
    };
    if let Some(len) = content_length(headers) {
        if len > limit as u64 {
            drain(body).await;
            return Err(too_large(len));
        }
    }
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::Malformed(format!("unreadable body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            let size = buf.len() + data.len();
            if size > limit {
                drain(body).await;
                return Err(too_large(size as u64));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("pkg%2Faction", false), "pkg/action");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("100%", false), "100%");
        assert_eq!(percent_decode("%zz%4", false), "%zz%4");
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
    }

    fn check_list(query: &str, expected: Result<(u64, u64, bool), &str>) {
        let q = Query::parse(Some(query));
        match (list_params(&q, "actions"), expected) {
            (Ok(p), Ok((skip, limit, count))) => {
                assert_eq!(p, ListParams { skip, limit, count }, "{query}")
            }
            (Err(e), Err(text)) => assert!(e.to_string().contains(text), "{query}: {e}"),
            (got, want) => panic!("{query}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn list_parameters() {
        check_list("", Ok((0, 30, false)));
        check_list("limit=0", Ok((0, 200, false)));
        check_list("limit=5&skip=2&count=true", Ok((2, 5, true)));
        check_list(
            "limit=201",
            Err("The value '201' is not in the range of 0 to 200 for actions."),
        );
        check_list(
            "limit=-1",
            Err("The value '-1' is not in the range of 0 to 200 for actions."),
        );
        check_list(
            "limit=x",
            Err("The value 'x' is not an integer for actions."),
        );
        check_list(
            "skip=-3",
            Err("The value '-3' is not greater than or equal to 0 for actions."),
        );
        check_list("count=maybe", Err("'maybe' is not a valid Boolean value"));
    }

    #[test]
    fn query_takes_first_value() {
        let q = Query::parse(Some("a=1&a=2&b&c=x%20y"));
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get("b"), Some(""));
        assert_eq!(q.get("c"), Some("x y"));
        assert!(q.bool("b", false).is_err());
    }
}
