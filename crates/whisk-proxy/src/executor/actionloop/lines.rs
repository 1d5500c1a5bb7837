//! Reading the proxy's ends of the action process's pipes: [`PipeReader`], and
//! [`LineReader`] for the answer lines the process writes on its fd 3.
//!
//! A pipe's read end is non-blocking and registered with tokio for readiness. Besides
//! waiting, a [`PipeReader`] can read the pipe directly, without consulting tokio's cached
//! readiness (which lags the kernel's), for the moments where "what is in the pipe right
//! now" matters: flushing logs at the end of an activation, and looking for a last line
//! after the process has ended.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;

use tokio::net::unix::pipe;

/// How much is read from a pipe at a time.
pub(super) const CHUNK: usize = 64 * 1024;

/// The proxy's end of a pipe.
#[derive(Debug)]
pub(super) struct PipeReader {
    /// Registered with tokio: waits for data.
    receiver: pipe::Receiver,
    /// The same open pipe (a duplicate descriptor, also non-blocking): reads without
    /// waiting, whatever tokio last saw.
    direct: File,
}

impl PipeReader {
    /// Wraps the reading end of a tokio pipe.
    ///
    /// # Errors
    ///
    /// Duplicating the descriptor failed.
    pub(super) fn new(receiver: pipe::Receiver) -> io::Result<Self> {
        let direct = File::from(receiver.as_fd().try_clone_to_owned()?);
        Ok(Self { receiver, direct })
    }

    /// Waits for data and appends up to [`CHUNK`] bytes to `buf`; 0 at end of stream.
    pub(super) async fn read(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            self.receiver.readable().await?;
            let start = buf.len();
            buf.resize(start + CHUNK, 0);
            let result = self.receiver.try_read(&mut buf[start..]);
            buf.truncate(start + *result.as_ref().unwrap_or(&0));
            match result {
                // Readiness was stale; `try_read` cleared it: wait again.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }

    /// Appends up to [`CHUNK`] bytes that are in the pipe now to `buf`; `WouldBlock` when
    /// it is empty, 0 at end of stream.
    pub(super) fn read_now(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let result = (&self.direct).read(&mut buf[start..]);
        buf.truncate(start + *result.as_ref().unwrap_or(&0));
        result
    }
}

/// Splits a pipe's bytes into lines.
#[derive(Debug)]
pub(super) struct LineReader {
    source: PipeReader,
    /// Bytes read but not yet returned as a line.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no newline.
    scanned: usize,
    /// The writing side is closed.
    eof: bool,
}

impl LineReader {
    /// Reads lines from `source` (a non-blocking pipe read end).
    pub(super) fn new(source: PipeReader) -> Self {
        Self {
            source,
            buf: Vec::new(),
            scanned: 0,
            eof: false,
        }
    }

    /// The next line, without its newline; `None` at the end of the stream (after an
    /// unterminated last line, which is returned as a line).
    pub(super) async fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(line) = self.take_line() {
                return Some(line);
            }
            if self.eof {
                return self.take_rest();
            }
            match self.source.read(&mut self.buf).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(_) => {}
            }
        }
    }

    /// A line that is already in the pipe, without waiting for more.
    pub(super) fn line_now(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(line) = self.take_line() {
                return Some(line);
            }
            if self.eof {
                return self.take_rest();
            }
            match self.source.read_now(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Empty for now (or broken): no line.
                Err(_) => return None,
            }
        }
    }

    fn take_line(&mut self) -> Option<Vec<u8>> {
        match self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let end = self.scanned + offset;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                self.scanned = 0;
                Some(line)
            }
            None => {
                self.scanned = self.buf.len();
                None
            }
        }
    }

    fn take_rest(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pipe() -> (LineReader, File) {
        let (tx, rx) = pipe::pipe().unwrap();
        (
            LineReader::new(PipeReader::new(rx).unwrap()),
            File::from(tx.into_blocking_fd().unwrap()),
        )
    }

    #[tokio::test]
    async fn lines_across_writes_and_a_last_unterminated_line() {
        let (mut reader, mut writer) = pipe();
        writer.write_all(b"{\"a\":").unwrap();
        writer.write_all(b"1}\n[2]\nrest").unwrap();
        assert_eq!(reader.next_line().await.unwrap(), b"{\"a\":1}");
        assert_eq!(reader.next_line().await.unwrap(), b"[2]");
        drop(writer);
        assert_eq!(reader.next_line().await.unwrap(), b"rest");
        assert_eq!(reader.next_line().await, None);
    }

    #[tokio::test]
    async fn line_now_does_not_wait() {
        let (mut reader, mut writer) = pipe();
        assert_eq!(reader.line_now(), None);
        writer.write_all(b"partial").unwrap();
        assert_eq!(reader.line_now(), None);
        writer.write_all(b" line\nnext").unwrap();
        assert_eq!(reader.line_now().unwrap(), b"partial line");
        assert_eq!(reader.line_now(), None);
        drop(writer);
        assert_eq!(reader.line_now().unwrap(), b"next");
        assert_eq!(reader.line_now(), None);
    }

    #[tokio::test]
    async fn a_long_line_arrives_whole() {
        let (mut reader, mut writer) = pipe();
        let long = vec![b'x'; 5 * CHUNK + 17];
        let mut line = long.clone();
        line.push(b'\n');
        let writing = std::thread::spawn(move || writer.write_all(&line).unwrap());
        assert_eq!(reader.next_line().await.unwrap(), long);
        writing.join().unwrap();
    }
}
