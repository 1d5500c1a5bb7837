//! Test harness: starts the built `whisk-proxy` binary on a free loopback port with its
//! action directory in a temp dir, captures its stdout and stderr, and talks HTTP/1.1 to it
//! over plain sockets (so the tests see exactly what the invoker would).

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use tempfile::TempDir;

pub use whisk_protocol::SENTINEL;

/// How long anything may take before a test gives up (not a speed assertion: a hang guard).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A running proxy process.
pub struct ProxyProcess {
    child: Child,
    pub port: u16,
    pub dir: TempDir,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn capture(mut source: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let copy = Arc::clone(&sink);
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => copy.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    });
    sink
}

/// A loopback port that no other test of this process was given. Ports come from a counter
/// in 20000-29999 (below the kernel's ephemeral range, which `bind(0)` and docker-proxy use),
/// offset by the process id, so two tests never race for the same port: with `bind(0)` a
/// server that lost such a race exits, and the test then talks to the other test's server.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = (std::process::id() % 400) * 25;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((offset + n) % 10_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl ProxyProcess {
    /// Starts a proxy with an empty action directory.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// Starts a proxy after `prepare` has filled its action directory.
    pub fn start_with(prepare: impl FnOnce(&Path)) -> Self {
        Self::start_with_env(&[], prepare)
    }

    /// Starts a proxy with extra environment variables, after `prepare` has filled its
    /// action directory.
    pub fn start_with_env(env: &[(&str, &str)], prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        // The port is free when picked but may be taken before the proxy binds it: retry.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(env!("CARGO_BIN_EXE_whisk-proxy"))
                .env("__OW_PROXY_PORT", port.to_string())
                .env("WHISK_PROXY_BIND", "127.0.0.1")
                .env("WHISK_ACTION_DIR", dir.path())
                .env("PROXY_TEST_MARKER", "inherited")
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = capture(child.stdout.take().unwrap());
            let stderr = capture(child.stderr.take().unwrap());
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child,
                        port,
                        dir,
                        stdout,
                        stderr,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("whisk-proxy did not start listening");
    }

    /// A new keep-alive connection.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// `POST path` with `body` on a new connection.
    pub fn post(&self, path: &str, body: &[u8]) -> HttpResponse {
        self.client().request("POST", path, body).unwrap()
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> HttpResponse {
        self.post(path, body.to_string().as_bytes())
    }

    /// `POST /init` with a shell script as code.
    pub fn init_script(&self, script: &str) -> HttpResponse {
        self.post_json(
            "/init",
            &serde_json::json!({"value": {"code": script, "main": "main", "binary": false}}),
        )
    }

    /// Everything the proxy wrote to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// Everything the proxy wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Waits until both streams hold at least `n` sentinel lines; returns (stdout, stderr).
    pub fn logs_after_sentinels(&self, n: usize) -> (String, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (out, err) = (self.stdout(), self.stderr());
            let count = |s: &str| s.lines().filter(|l| *l == SENTINEL).count();
            if count(&out) >= n && count(&err) >= n {
                return (out, err);
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} sentinels; stdout {out:?}, stderr {err:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// The lines of the run tagged `tag` on stdout and on stderr, once both of its tagged
    /// sentinels are there ([`tagged_lines`]).
    pub fn run_lines(&self, tag: &str) -> (Vec<String>, Vec<String>) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (out, err) = (self.stdout(), self.stderr());
            if let (Some(o), Some(e)) = (tagged_lines(&out, tag), tagged_lines(&err, tag)) {
                return (o, e);
            }
            assert!(
                Instant::now() < deadline,
                "no tagged sentinels of {tag}; stdout {out:?}, stderr {err:?}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (bounded) and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("whisk-proxy did not exit");
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines of `log` between sentinel number `n - 1` and `n` (1-based), without the sentinel.
pub fn activation_lines(log: &str, n: usize) -> Vec<String> {
    log.split(&format!("{SENTINEL}\n"))
        .nth(n - 1)
        .unwrap_or("")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body {:?} is not JSON: {e}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 client on one connection.
pub struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        Self {
            reader: BufReader::new(stream),
        }
    }

    pub fn request(&mut self, method: &str, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        self.request_with(method, path, &[], body)
    }

    /// A request with extra header lines (`("Authorization", "Bearer x")`).
    pub fn request_with(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<HttpResponse> {
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
        stream.flush()?;

        let mut status_line = String::new();
        if self.reader.read_line(&mut status_line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no content-length"))?;
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    pub fn post_json(&mut self, path: &str, body: &Value) -> HttpResponse {
        self.request("POST", path, body.to_string().as_bytes())
            .unwrap()
    }
}

/// Base64 of a zip holding `files` (name, bytes, unix mode).
pub fn zip_base64(files: &[(&str, &[u8], u32)]) -> String {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, mode) in files {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(writer.finish().unwrap().into_inner())
}

/// The lines of `log` tagged `tag` (`<TAG_MARK><tag> <text>`), as their text, up to the
/// run's tagged sentinel; `None` until that sentinel is there.
pub fn tagged_lines(log: &str, tag: &str) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    for line in log.lines() {
        if let Some((t, text)) = whisk_protocol::split_tag(line) {
            if t == tag {
                if text == SENTINEL {
                    return Some(lines);
                }
                lines.push(text.to_owned());
            }
        }
    }
    None
}
