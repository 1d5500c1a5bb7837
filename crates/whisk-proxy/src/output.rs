//! The program's stdout: every line but the last is a log line; the last line is the result.
//!
//! "The last line" follows the skeleton: a single trailing newline does not start a new
//! line, so `log\n{"a":1}\n` and `log\n{"a":1}` both have the result `{"a":1}` and the
//! log `log\n`. [`LastLineSplitter`] does this on a stream, so log lines can be forwarded
//! while the program still runs, holding back only what might turn out to be the last line.

use serde_json::Value;

/// Splits a byte stream into forwardable log bytes and the final line.
#[derive(Debug, Default)]
pub(crate) struct LastLineSplitter {
    /// Bytes not yet known to be logs: at most one newline-terminated line, then a partial one.
    held: Vec<u8>,
}

impl LastLineSplitter {
    /// Takes the next chunk; returns the bytes that are now known to be log lines.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let scan_from = self.held.len();
        self.held.extend_from_slice(chunk);
        // Only a newline in the new chunk can release bytes; look for the last two newlines.
        let Some(last) = rposition_newline(&self.held, scan_from) else {
            return Vec::new();
        };
        match rposition_newline(&self.held[..last], 0) {
            Some(previous) => {
                let rest = self.held.split_off(previous + 1);
                std::mem::replace(&mut self.held, rest)
            }
            None => Vec::new(),
        }
    }

    /// Ends the stream: returns the remaining log bytes and the last line (without its newline).
    pub(crate) fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        if self.held.last() == Some(&b'\n') {
            self.held.pop();
            return (Vec::new(), self.held);
        }
        match rposition_newline(&self.held, 0) {
            Some(newline) => {
                let last = self.held.split_off(newline + 1);
                (self.held, last)
            }
            None => (Vec::new(), self.held),
        }
    }
}

/// The position of the last `\n` in `bytes[from..]`, as an index into `bytes`.
fn rposition_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes[from..]
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|i| i + from)
}

/// Parses the result line: a JSON object or array, surrounding whitespace ignored.
pub(crate) fn parse_result_line(line: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(line.trim_ascii()) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Splits `output` fed in the given chunk sizes; returns (logs, last line).
    fn split(output: &[u8], chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let mut splitter = LastLineSplitter::default();
        let mut logs = Vec::new();
        for piece in output.chunks(chunk.max(1)) {
            logs.extend(splitter.push(piece));
        }
        let (rest, last) = splitter.finish();
        logs.extend(rest);
        (logs, last)
    }

    fn check(output: &str, logs: &str, last: &str) {
        for chunk in [1, 2, 3, 7, 4096] {
            let (l, r) = split(output.as_bytes(), chunk);
            assert_eq!(
                (String::from_utf8_lossy(&l), String::from_utf8_lossy(&r)),
                (logs.into(), last.into()),
                "output {output:?} in chunks of {chunk}"
            );
        }
    }

    #[test]
    fn last_line_rules() {
        check("", "", "");
        check("{}", "", "{}");
        check("{}\n", "", "{}");
        check("log\n{}", "log\n", "{}");
        check("log\n{}\n", "log\n", "{}");
        check("a\nb\nc\n{}\n", "a\nb\nc\n", "{}");
        check("\n", "", "");
        check("a\n\n", "a\n", "");
        check("{}\nafter", "{}\n", "after");
    }

    #[test]
    fn logs_are_released_before_the_end() {
        let mut splitter = LastLineSplitter::default();
        assert!(splitter.push(b"first\nsec").is_empty());
        assert_eq!(splitter.push(b"ond\nthird"), b"first\n");
        assert_eq!(splitter.push(b"\n"), b"second\n");
        assert_eq!(splitter.finish(), (Vec::new(), b"third".to_vec()));
    }

    #[test]
    fn result_line_must_be_an_object_or_array() {
        assert_eq!(parse_result_line(br#"{"a":1}"#), Some(json!({"a":1})));
        assert_eq!(parse_result_line(b"  [1, 2]\r"), Some(json!([1, 2])));
        assert_eq!(
            parse_result_line(br#"{ "msg": "Hello from C program!", "args": {"key":"value"} }"#),
            Some(json!({"msg": "Hello from C program!", "args": {"key": "value"}}))
        );
        for bad in [
            &b""[..],
            b"1",
            b"\"s\"",
            b"null",
            b"true",
            b"{",
            b"hello",
            b"{} {}",
            b"\xff",
        ] {
            assert_eq!(
                parse_result_line(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    proptest! {
        /// Logs plus the last line rebuild the output, whatever the chunking.
        #[test]
        fn splitting_loses_nothing(output in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'x'), any::<u8>()], 0..200), chunk in 1usize..17) {
            let (logs, last) = split(&output, chunk);
            let whole = split(&output, output.len() + 1);
            prop_assert_eq!(&(logs.clone(), last.clone()), &whole);
            let mut rebuilt = logs.clone();
            rebuilt.extend_from_slice(&last);
            let without_trailing = output.strip_suffix(b"\n").unwrap_or(&output);
            prop_assert_eq!(&rebuilt[..], without_trailing);
            prop_assert!(!last.contains(&b'\n'));
            prop_assert!(logs.is_empty() || logs.ends_with(b"\n"));
        }
    }
}
