//! The fixed output lines of OpenWhisk's CLI (its `en_US` strings), in one place.
//! Each returns the full line with its newline; `ok:` and names are coloured by [`Style`].

use crate::style::Style;

/// `ok: created action NAME` (and the same for other entity kinds).
pub fn created(st: Style, kind: &str, name: &str) -> String {
    format!("{} created {kind} {}\n", st.ok(), st.bold(name))
}

/// `ok: updated action NAME`.
pub fn updated(st: Style, kind: &str, name: &str) -> String {
    format!("{} updated {kind} {}\n", st.ok(), st.bold(name))
}

/// `ok: deleted action NAME`.
pub fn deleted(st: Style, kind: &str, name: &str) -> String {
    format!("{} deleted {kind} {}\n", st.ok(), st.bold(name))
}

/// `ok: got action NAME`.
pub fn got(st: Style, kind: &str, name: &str) -> String {
    format!("{} got {kind} {}\n", st.ok(), st.bold(name))
}

/// `ok: got activation ID, displaying field FIELD`.
pub fn got_field(st: Style, kind: &str, name: &str, field: &str) -> String {
    format!(
        "{} got {kind} {}, displaying field {}\n",
        st.ok(),
        st.bold(name),
        st.bold(field)
    )
}

/// `ok: invoked /ns/name with id ID`.
pub fn invoked(st: Style, namespace: &str, name: &str, id: &str) -> String {
    format!(
        "{} invoked /{}/{} with id {}\n",
        st.ok(),
        st.bold(namespace),
        st.bold(name),
        st.bold(id)
    )
}

/// The stderr line when a blocking invoke outlasts the server's wait.
pub fn invoked_not_finished(st: Style, namespace: &str, name: &str, id: &str) -> String {
    format!(
        "{} invoked /{}/{}, but the request has not yet finished, with id {}\n",
        st.ok(),
        st.bold(namespace),
        st.bold(name),
        st.bold(id)
    )
}

/// `ok: triggered /ns/name with id ID`.
pub fn triggered(st: Style, namespace: &str, name: &str, id: &str) -> String {
    format!(
        "{} triggered /{}/{} with id {}\n",
        st.ok(),
        st.bold(namespace),
        st.bold(name),
        st.bold(id)
    )
}

/// `ok: saved action code to PATH`.
pub fn saved(st: Style, path: &str) -> String {
    format!("{} saved action code to {}\n", st.ok(), st.bold(path))
}

/// `property set --auth`.
pub fn auth_set(st: Style) -> String {
    format!(
        "{} whisk auth set. Run 'wsk property get --auth' to see the new value.\n",
        st.ok()
    )
}

/// `property set --cert`.
pub fn cert_set(st: Style) -> String {
    format!(
        "{} client cert set. Run 'wsk property get --cert' to see the new value.\n",
        st.ok()
    )
}

/// `property set --key`.
pub fn key_set(st: Style) -> String {
    format!(
        "{} client key set. Run 'wsk property get --key' to see the new value.\n",
        st.ok()
    )
}

/// `property set --apihost H`.
pub fn apihost_set(st: Style, host: &str) -> String {
    format!("{} whisk API host set to {}\n", st.ok(), st.bold(host))
}

/// `property set --apiversion V`.
pub fn apiversion_set(st: Style, version: &str) -> String {
    format!(
        "{} whisk API version set to {}\n",
        st.ok(),
        st.bold(version)
    )
}

/// `property set --namespace N`.
pub fn namespace_set(st: Style, namespace: &str) -> String {
    format!(
        "{} whisk namespace set to {}\n",
        st.ok(),
        st.bold(namespace)
    )
}

/// `property unset --cert`.
pub fn cert_unset(st: Style) -> String {
    format!("{} client cert unset.\n", st.ok())
}

/// `property unset --key`.
pub fn key_unset(st: Style) -> String {
    format!("{} client key unset.\n", st.ok())
}

/// `property unset --auth`.
pub fn auth_unset(st: Style) -> String {
    format!("{} whisk auth unset.\n", st.ok())
}

/// `property unset --apihost`.
pub fn apihost_unset(st: Style) -> String {
    format!("{} whisk API host unset.\n", st.ok())
}

/// `property unset --namespace`.
pub fn namespace_unset(st: Style, default: &str) -> String {
    format!(
        "{} whisk namespace unset; the default value of {} will be used.\n",
        st.ok(),
        st.bold(default)
    )
}

/// `property unset --apiversion`.
pub fn apiversion_unset(st: Style, default: &str) -> String {
    format!(
        "{} whisk API version unset; the default value of {} will be used.\n",
        st.ok(),
        st.bold(default)
    )
}

/// One `property get` line: label, tabs, value (bold).
pub fn property_line(st: Style, label: &str, value: &str) -> String {
    let tabs = match label {
        "whisk API version" | "whisk CLI version" | "whisk API build number" => "\t",
        _ => "\t\t",
    };
    format!("{label}{tabs}{}\n", st.bold(value))
}

/// `sdk install bashauto`.
pub fn bash_completion_installed(file: &str) -> String {
    format!(
        "The bash auto-completion script ({file}) is installed in the current directory.\n\
         To enable command line completion of wsk commands, source the auto completion script into your bash environment\n"
    )
}

/// `sdk install zshauto` / `fishauto`.
pub fn completion_installed(shell: &str, file: &str) -> String {
    format!("The {shell} auto-completion script ({file}) is installed in the current directory.\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Style = Style::PLAIN;

    #[test]
    fn ok_lines() {
        assert_eq!(
            created(P, "action", "whisk_c"),
            "ok: created action whisk_c\n"
        );
        assert_eq!(updated(P, "action", "p/a"), "ok: updated action p/a\n");
        assert_eq!(deleted(P, "action", "hello"), "ok: deleted action hello\n");
        assert_eq!(got(P, "action", "hello"), "ok: got action hello\n");
        assert_eq!(
            got_field(
                P,
                "activation",
                "6ba2c0fd6f4348b8a2c0fd6f4388b864",
                "response"
            ),
            "ok: got activation 6ba2c0fd6f4348b8a2c0fd6f4388b864, displaying field response\n"
        );
        assert_eq!(
            invoked(P, "guest", "whisk_go", "6ba2c0fd6f4348b8a2c0fd6f4388b864"),
            "ok: invoked /guest/whisk_go with id 6ba2c0fd6f4348b8a2c0fd6f4388b864\n"
        );
        assert_eq!(
            invoked_not_finished(P, "_", "slow", "abc"),
            "ok: invoked /_/slow, but the request has not yet finished, with id abc\n"
        );
        assert_eq!(
            apihost_set(P, "localhost:443"),
            "ok: whisk API host set to localhost:443\n"
        );
        assert_eq!(
            namespace_set(P, "guest"),
            "ok: whisk namespace set to guest\n"
        );
        assert_eq!(
            namespace_unset(P, "_"),
            "ok: whisk namespace unset; the default value of _ will be used.\n"
        );
        assert_eq!(
            saved(P, "/tmp/hello.js"),
            "ok: saved action code to /tmp/hello.js\n"
        );
    }

    #[test]
    fn coloured_lines() {
        let c = Style { color: true };
        assert_eq!(
            created(c, "action", "hello"),
            "\x1b[32mok:\x1b[0m created action \x1b[1mhello\x1b[0m\n"
        );
        assert_eq!(
            property_line(c, "whisk auth", "k"),
            "whisk auth\t\t\x1b[1mk\x1b[0m\n"
        );
    }

    /// The seed's `wsk -i property get` table, labels and tab stops.
    #[test]
    fn property_lines() {
        let table: String = [
            ("client cert", ""),
            ("Client key", ""),
            ("whisk auth", "23bc:123z"),
            ("whisk API host", "localhost:443"),
            ("whisk API version", "v1"),
            ("whisk namespace", "guest"),
            ("whisk CLI version", "2017-12-05T00:51:32+00:00"),
            ("whisk API build", "09/01/2016"),
            ("whisk API build number", "latest"),
        ]
        .iter()
        .map(|(l, v)| property_line(P, l, v))
        .collect();
        assert_eq!(
            table,
            "client cert\t\t\nClient key\t\t\nwhisk auth\t\t23bc:123z\nwhisk API host\t\tlocalhost:443\n\
             whisk API version\tv1\nwhisk namespace\t\tguest\nwhisk CLI version\t2017-12-05T00:51:32+00:00\n\
             whisk API build\t\t09/01/2016\nwhisk API build number\tlatest\n"
        );
        // With 8-column tab stops every value starts in column 24, as in the seed.
        for line in table.lines() {
            let (label, _) = line.split_once('\t').unwrap();
            let tabs = line[label.len()..]
                .chars()
                .take_while(|c| *c == '\t')
                .count();
            let col = (label.len() / 8 + 1) * 8 + (tabs - 1) * 8;
            assert_eq!(col, 24, "{line:?}");
        }
    }

    #[test]
    fn bash_message() {
        assert_eq!(
            bash_completion_installed("wsk_cli_bash_completion.sh"),
            "The bash auto-completion script (wsk_cli_bash_completion.sh) is installed in the current directory.\nTo enable command line completion of wsk commands, source the auto completion script into your bash environment\n"
        );
    }
}
