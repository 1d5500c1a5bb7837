//! The fixed output lines of OpenWhisk's CLI (its `en_US` strings), in one place.
//! Each returns the full line with its newline.

/// `ok: created action NAME` (and the same for other entity kinds).
pub fn created(kind: &str, name: &str) -> String {
    format!("ok: created {kind} {name}\n")
}

/// `ok: updated action NAME`.
pub fn updated(kind: &str, name: &str) -> String {
    format!("ok: updated {kind} {name}\n")
}

/// `ok: deleted action NAME`.
pub fn deleted(kind: &str, name: &str) -> String {
    format!("ok: deleted {kind} {name}\n")
}

/// `ok: got action NAME`.
pub fn got(kind: &str, name: &str) -> String {
    format!("ok: got {kind} {name}\n")
}

/// `ok: got activation ID, displaying field FIELD`.
pub fn got_field(kind: &str, name: &str, field: &str) -> String {
    format!("ok: got {kind} {name}, displaying field {field}\n")
}

/// `ok: invoked /ns/name with id ID`.
pub fn invoked(qualified: &str, id: &str) -> String {
    format!("ok: invoked {qualified} with id {id}\n")
}

/// The stderr line when a blocking invoke outlasts the server's wait.
pub fn invoked_not_finished(qualified: &str, id: &str) -> String {
    format!("ok: invoked {qualified}, but the request has not yet finished, with id {id}\n")
}

/// `property set --auth`.
pub const AUTH_SET: &str =
    "ok: whisk auth set. Run 'wsk property get --auth' to see the new value.\n";
/// `property set --cert`.
pub const CERT_SET: &str =
    "ok: client cert set. Run 'wsk property get --cert' to see the new value.\n";
/// `property set --key`.
pub const KEY_SET: &str =
    "ok: client key set. Run 'wsk property get --key' to see the new value.\n";

/// `property set --apihost H`.
pub fn apihost_set(host: &str) -> String {
    format!("ok: whisk API host set to {host}\n")
}

/// `property set --apiversion V`.
pub fn apiversion_set(version: &str) -> String {
    format!("ok: whisk API version set to {version}\n")
}

/// `property set --namespace N`.
pub fn namespace_set(namespace: &str) -> String {
    format!("ok: whisk namespace set to {namespace}\n")
}

/// `property unset --cert`.
pub const CERT_UNSET: &str = "ok: client cert unset.\n";
/// `property unset --key`.
pub const KEY_UNSET: &str = "ok: client key unset.\n";
/// `property unset --auth`.
pub const AUTH_UNSET: &str = "ok: whisk auth unset.\n";
/// `property unset --apihost`.
pub const APIHOST_UNSET: &str = "ok: whisk API host unset.\n";

/// `property unset --namespace`.
pub fn namespace_unset(default: &str) -> String {
    format!("ok: whisk namespace unset; the default value of {default} will be used.\n")
}

/// `property unset --apiversion`.
pub fn apiversion_unset(default: &str) -> String {
    format!("ok: whisk API version unset; the default value of {default} will be used.\n")
}

/// One `property get` line: label, tabs, value.
pub fn property_line(label: &str, value: &str) -> String {
    let tabs = match label {
        "whisk API version" | "whisk CLI version" | "whisk API build number" => "\t",
        _ => "\t\t",
    };
    format!("{label}{tabs}{value}\n")
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

    #[test]
    fn ok_lines() {
        assert_eq!(created("action", "whisk_c"), "ok: created action whisk_c\n");
        assert_eq!(updated("action", "p/a"), "ok: updated action p/a\n");
        assert_eq!(deleted("action", "hello"), "ok: deleted action hello\n");
        assert_eq!(got("action", "hello"), "ok: got action hello\n");
        assert_eq!(
            got_field("activation", "6ba2c0fd6f4348b8a2c0fd6f4388b864", "response"),
            "ok: got activation 6ba2c0fd6f4348b8a2c0fd6f4388b864, displaying field response\n"
        );
        assert_eq!(
            invoked("/guest/whisk_go", "6ba2c0fd6f4348b8a2c0fd6f4388b864"),
            "ok: invoked /guest/whisk_go with id 6ba2c0fd6f4348b8a2c0fd6f4388b864\n"
        );
        assert_eq!(
            invoked_not_finished("/_/slow", "abc"),
            "ok: invoked /_/slow, but the request has not yet finished, with id abc\n"
        );
        assert_eq!(
            apihost_set("localhost:443"),
            "ok: whisk API host set to localhost:443\n"
        );
        assert_eq!(namespace_set("guest"), "ok: whisk namespace set to guest\n");
        assert_eq!(
            namespace_unset("_"),
            "ok: whisk namespace unset; the default value of _ will be used.\n"
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
        .map(|(l, v)| property_line(l, v))
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
