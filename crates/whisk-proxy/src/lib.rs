//! `whisk-proxy`: the action proxy that runs inside every action container.
//!
//! It speaks OpenWhisk's container protocol (reference §8) on port 8080 and follows the
//! Docker skeleton's contract (§8.5): `POST /init` installs the action's code into the
//! action directory (`/action`), `POST /run` runs `/action/exec` once per activation with
//! the arguments as JSON on argv\[1\] and stdin, and the last line of the program's stdout is
//! the result. After every `/init` and `/run` the sentinel line goes to stdout and stderr.
//!
//! # Layout
//!
//! - [`config`]: settings read from the environment (port, bind address, action directory).
//! - [`protocol`]: the wire shapes of `/init` and `/run`, the fixed error texts, the sentinel.
//! - `env`: the environment a run gets (`__OW_*` keys, `/init`'s `value.env`).
//! - `output`: splitting the program's stdout into log lines and the result line.
//! - `install`: putting code (a script or a base64 zip) into the action directory.
//! - `executor`: how an activation runs. Today one executor, exec-per-run; the persistent
//!   "actionloop" executor (one long-lived process, a JSON line per activation on stdin,
//!   the result on fd 3) is meant to become a second variant of `Executor`.
//! - `logs`: forwarding the action's output to the proxy's own stdout/stderr, the sentinel.
//! - [`proxy`]: the state machine ([`Proxy`]): init once, runs one at a time.
//! - [`server`]: the HTTP/1.1 server (hyper) that routes requests to the [`Proxy`].
//!
//! # Differences from the Python Docker skeleton
//!
//! - A successful `/init` replies `{"ok":true}` (the skeleton replies the text `OK`).
//! - `/init`'s `value.env` is exported to every run (the skeleton ignores it; the Node.js and
//!   ActionLoop runtimes export it). The run's own `__OW_*` keys win over it.
//! - The program runs in the action directory, its stdin gets the JSON followed by a newline,
//!   and its earlier stdout lines reach the log as they are written, not at exit.
//! - Concurrent `/run`s are served one at a time, in arrival order.

pub mod config;
mod env;
mod executor;
mod install;
mod logs;
mod output;
pub mod protocol;
pub mod proxy;
pub mod server;

pub use config::ProxyConfig;
pub use proxy::Proxy;
pub use server::{run, serve};
