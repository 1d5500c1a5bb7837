//! A hook that sees each HTTP exchange, so a caller can print requests and responses
//! (the CLI's `--verbose`) without the client writing anywhere itself.

use std::fmt::Debug;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};

/// Receives every request before it is sent and every response once its body is read.
/// Credentials are in `headers` (`Authorization`); an implementation that prints them should
/// mask them.
pub trait Observer: Send + Sync + Debug {
    /// Called before a request is sent.
    fn request(&self, method: &Method, url: &Url, headers: &HeaderMap, body: Option<&[u8]>);
    /// Called after a response body has been read in full.
    fn response(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]);
}
