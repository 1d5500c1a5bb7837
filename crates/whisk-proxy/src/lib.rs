//! `whisk-proxy`: the action proxy that runs inside every action container.
//!
//! It speaks OpenWhisk's container protocol (reference §8) on port 8080 in one of two modes,
//! chosen by the image's environment ([`ProxyMode`], read by [`ProxyConfig::from_env`]):
//!
//! - **exec** (default), the Docker skeleton's contract (§8.5): `POST /init` installs the
//!   action's code into the action directory (`/action`), `POST /run` runs `/action/exec`
//!   once per activation with the arguments as JSON on argv\[1\] and stdin, and the last
//!   line of the program's stdout is the result.
//! - **actionloop** (`WHISK_PROXY_MODE=actionloop`), OpenWhisk's ActionLoop protocol, used
//!   by the Node.js and Python runtime images: `/init` installs the code and starts one
//!   long-lived process (the image's launcher, `WHISK_LAUNCHER`, or else `/action/exec`)
//!   that acknowledges on fd 3; each `/run` body goes to its stdin as one JSON line and
//!   its answer comes back as one line on fd 3. A process that ends is reported (502) and
//!   started again on the next `/run`. The child's protocol is documented in
//!   `executor/actionloop.rs`.
//!
//! Either way, after every `/init` and `/run` the sentinel line goes to stdout and stderr,
//! after all of the action's output for that request, and requests are served one at a time
//! unless `/init` allowed concurrent runs (`__OW_ALLOW_CONCURRENT=true` in its `value.env`,
//! for an action with `limits.concurrency` > 1) and the executor can serve them: exec-per-run
//! always can (a process per run), actionloop when its launcher confirms it (Node.js). The
//! `/init` reply then says `"concurrent":true`, runs go at once, and every line of a run and
//! its sentinel carry the run's tag (its activation id), so the invoker gives each
//! activation its own lines.
//!
//! # Layout
//!
//! - [`config`]: settings read from the environment (port, bind address, action directory,
//!   mode, launcher, the container's token).
//! - [`reply`]: a status and a JSON body. The wire shapes of `/init` and `/run`, the fixed
//!   error texts, the sentinel and the token header are `whisk_protocol`'s, shared with the
//!   invoker.
//! - `env`: the environment a run gets (`__OW_*` keys, `/init`'s `value.env`).
//! - `output`: splitting the program's stdout into log lines and the result line.
//! - `install`: putting code (a script, a base64 zip) into the action directory.
//! - `executor`: how an activation runs: `exec` (a process per run) or `actionloop`
//!   (`process`: the child and its four pipes; `forward`: its stdout/stderr to the log with
//!   a flush barrier; `lines`: the fd 3 answers).
//! - `logs`: the proxy's stdout/stderr (the container log) shared by writers, the sentinel.
//! - [`proxy`]: the state machine ([`Proxy`]): init once, runs one at a time (or at once).
//! - [`server`]: the HTTP/1.1 server (hyper) that admits requests carrying the container's
//!   token ([`Access`]) and routes them to the [`Proxy`].
//!
//! # Differences from the Python Docker skeleton
//!
//! - A successful `/init` replies `{"ok":true}` (the skeleton replies the text `OK`).
//! - `/init`'s `value.env` is exported to every run (the skeleton ignores it; the Node.js and
//!   ActionLoop runtimes export it). The run's own `__OW_*` keys win over it.
//! - The program runs in the action directory, its stdin gets the JSON followed by a newline,
//!   and its earlier stdout lines reach the log as they are written, not at exit.
//! - Concurrent `/run`s are served one at a time, in arrival order, unless `/init` allowed
//!   concurrent runs (above).
//! - Text code that is a base64 zip (starts with `UEsDB`) is unpacked even without
//!   `binary: true`.

pub mod config;
mod env;
mod executor;
mod install;
mod logs;
mod output;
pub mod proxy;
pub mod reply;
pub mod server;

pub use config::{ProxyConfig, ProxyMode};
pub use proxy::Proxy;
pub use server::{run, serve, Access};
