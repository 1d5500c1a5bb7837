//! Colours as OpenWhisk's CLI shows them: a green `ok:`, a red `error: `, bold names and
//! values. Like the Go CLI (fatih/color), colours are on only when standard output is a
//! terminal and `TERM` is not `dumb`; `NO_COLOR` turns them off too.

use crate::config::Env;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Whether output is coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Emit ANSI colour sequences.
    pub color: bool,
}

impl Style {
    /// No colours (output that is not a terminal).
    pub const PLAIN: Style = Style { color: false };

    /// Colours when stdout is a terminal (`stdout_is_terminal`), `TERM` is not `dumb` and
    /// `NO_COLOR` is unset or empty.
    pub fn detect(stdout_is_terminal: bool, env: &dyn Env) -> Style {
        let dumb = env.var("TERM").as_deref() == Some("dumb");
        let no_color = env.var("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: stdout_is_terminal && !dumb && !no_color,
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// `ok:`, green.
    pub fn ok(self) -> String {
        self.paint(GREEN, "ok:")
    }

    /// `error: `, red.
    pub fn error_prefix(self) -> String {
        self.paint(RED, "error: ")
    }

    /// `text` in bold.
    pub fn bold(self, text: &str) -> String {
        self.paint(BOLD, text)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn plain_and_coloured() {
        let plain = Style::PLAIN;
        assert_eq!(plain.ok(), "ok:");
        assert_eq!(plain.bold("x"), "x");
        assert_eq!(plain.error_prefix(), "error: ");
        let c = Style { color: true };
        assert_eq!(c.ok(), "\x1b[32mok:\x1b[0m");
        assert_eq!(c.bold("hello"), "\x1b[1mhello\x1b[0m");
        assert_eq!(c.error_prefix(), "\x1b[31merror: \x1b[0m");
    }

    #[test]
    fn detection() {
        let mut env: HashMap<String, String> = HashMap::new();
        assert!(Style::detect(true, &env).color);
        assert!(!Style::detect(false, &env).color);
        env.insert("TERM".into(), "dumb".into());
        assert!(!Style::detect(true, &env).color);
        env.insert("TERM".into(), "xterm".into());
        env.insert("NO_COLOR".into(), "1".into());
        assert!(!Style::detect(true, &env).color);
        env.insert("NO_COLOR".into(), String::new());
        assert!(Style::detect(true, &env).color);
    }
}
