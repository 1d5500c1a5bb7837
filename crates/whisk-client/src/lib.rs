//! Typed async client of the OpenWhisk REST API (reference §3–§6), used by the `wsk` CLI,
//! the end-to-end tests and the load generator.
//!
//! # Layout
//! - [`config`]: [`ClientConfig`] and the `APIHOST` → base URL rule.
//! - [`name`]: [`QualifiedName`], names as users type them (`[/ns/][pkg/]name`).
//! - `client`: [`Client`], one keep-alive connection pool per configuration.
//! - `types`: list options and [`InvokeOutcome`].
//! - `error`: [`ClientError`], what the server said or why it could not be asked.
//! - `observe`: [`Observer`], a hook that sees each request and response.
//!
//! ```no_run
//! # async fn demo() -> Result<(), whisk_client::ClientError> {
//! use whisk_client::{Client, ClientConfig, InvokeOutcome};
//! let client = Client::new(ClientConfig::new("http://127.0.0.1:3233").with_auth("uuid:key"))?;
//! let outcome = client
//!     .action_invoke("hello", &serde_json::json!({"name": "World"}), true, true)
//!     .await?;
//! if let InvokeOutcome::Completed { body, .. } = outcome {
//!     println!("{body}");
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod client;
pub mod config;
mod error;
pub mod name;
mod observe;
mod types;

pub use client::Client;
pub use config::{api_base_url, ClientCert, ClientConfig};
pub use error::ClientError;
pub use name::QualifiedName;
pub use observe::Observer;
pub use reqwest::{header, Method, StatusCode, Url};
pub use types::{
    ActivationListOptions, ApiResponse, InvokeOutcome, ListOptions, ACTIVATION_ID_HEADER,
    REQUEST_ID_HEADER,
};
