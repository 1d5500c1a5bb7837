//! Golden outputs of the `wsk` binary against a live `whiskd standalone` (real server, real
//! containers from `whisk/dockerskeleton`), one server per command group. Every command's
//! stdout, stderr and exit code are compared whole, line by line, with ids, transaction ids,
//! times, durations, the API host and the key masked. Build first:
//! `cargo build -p whisk-cli -p whiskd`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{bin_dir, eventually, Server};

/// A skeleton action: one log line, then the arguments back as the result.
const ECHO_SCRIPT: &str = "#!/bin/sh\necho \"hello from stdout\"\necho \"{\\\"args\\\": $1}\"\n";
/// A skeleton action that ends in an application error.
const FAIL_SCRIPT: &str = "#!/bin/sh\necho '{\"error\": \"boom\"}'\n";

/// One `wsk` run: exit code, stdout, stderr (masked).
#[derive(Debug)]
struct Out {
    code: i32,
    out: String,
    err: String,
}

/// `wsk` with its own properties file and working directory.
struct Wsk {
    dir: tempfile::TempDir,
    props: PathBuf,
    host: String,
    key: String,
}

impl Wsk {
    /// Configured for `s` over plain HTTP.
    fn new(s: &Server) -> Wsk {
        let w = Wsk::unconfigured(s);
        std::fs::write(&w.props, format!("APIHOST={}\nAUTH={}\n", w.host, w.key)).unwrap();
        w
    }

    /// Knows `s` (for masking) but has no properties file yet.
    fn unconfigured(s: &Server) -> Wsk {
        let dir = tempfile::tempdir().unwrap();
        let props = dir.path().join("wskprops");
        Wsk {
            dir,
            props,
            host: s.base(),
            key: s.key.clone(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the working directory; returns its name.
    fn file(&self, name: &str, content: &str) -> String {
        std::fs::write(self.path(name), content).unwrap();
        name.to_owned()
    }

    fn raw(&self, args: &[&str]) -> Out {
        let bin = bin_dir().join("wsk");
        assert!(
            bin.exists(),
            "{} is missing: build it with `cargo build -p whisk-cli`",
            bin.display()
        );
        let out = Command::new(bin)
            .args(args)
            .current_dir(self.dir.path())
            .env("WSK_CONFIG_FILE", &self.props)
            .env("TZ", "UTC")
            .env_remove("WHISK_AUTH")
            .env_remove("WHISK_APIHOST")
            .env_remove("WHISK_APIVERSION")
            .output()
            .expect("running wsk");
        Out {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `wsk args` and masks its output.
    fn run(&self, args: &[&str]) -> Out {
        let o = self.raw(args);
        Out {
            code: o.code,
            out: self.mask(&o.out),
            err: self.mask(&o.err),
        }
    }

    fn mask(&self, text: &str) -> String {
        let text = text
            .replace(&self.key, "<AUTH>")
            .replace(&self.host, "<HOST>")
            .replace(self.dir.path().to_str().unwrap(), "<CWD>");
        let mut out = String::new();
        let mut mask_next_value = false;
        for line in text.split_inclusive('\n') {
            let mut l = mask_table_row(line);
            l = mask_hex_ids(&l);
            l = mask_between(&l, "(code ", ")", "<TID>");
            l = mask_iso_times(&l);
            l = mask_go_times(&l);
            let trimmed = l.trim_start().to_owned();
            for key in [
                "start",
                "end",
                "updated",
                "duration",
                "dateChanged",
                "waitTime",
                "initTime",
            ] {
                if trimmed.starts_with(&format!("\"{key}\": ")) {
                    l = mask_json_number(&l);
                }
            }
            if mask_next_value && trimmed.starts_with("\"value\": ") {
                l = mask_json_number(&l);
            }
            mask_next_value = trimmed.contains("\"key\": \"waitTime\"")
                || trimmed.contains("\"key\": \"initTime\"");
            out.push_str(&l);
        }
        out
    }
}

/// 32-hex words (activation ids) → `<ID>`.
fn mask_hex_ids(line: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.len() == 32 && word.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push_str("<ID>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The text between `open` and `close` → `with`.
fn mask_between(line: &str, open: &str, close: &str, with: &str) -> String {
    match line.find(open) {
        Some(i) => match line[i + open.len()..].find(close) {
            Some(j) => format!("{}{open}{with}{}", &line[..i], &line[i + open.len() + j..]),
            None => line.to_owned(),
        },
        None => line.to_owned(),
    }
}

fn is_datetime(s: &str, sep: u8) -> bool {
    let b = s.as_bytes();
    b.len() >= 19
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|i| b[*i].is_ascii_digit())
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == sep
        && b[13] == b':'
        && b[16] == b':'
}

/// `2024-01-01T00:00:00.123Z` (and without fraction) → `<TIME>`.
fn mask_iso_times(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) =
        (0..rest.len()).find(|i| rest.is_char_boundary(*i) && is_datetime(&rest[*i..], b'T'))
    {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 19..];
        let end = tail
            .find('Z')
            .filter(|z| tail[..*z].bytes().all(|b| b == b'.' || b.is_ascii_digit()));
        out.push_str("<TIME>");
        rest = match end {
            Some(z) => &tail[z + 1..],
            None => tail,
        };
    }
    out.push_str(rest);
    out
}

/// Go's `2024-01-01 00:00:00 +0000 UTC` → `<DATE> +0000 UTC`.
fn mask_go_times(line: &str) -> String {
    match (0..line.len()).find(|i| line.is_char_boundary(*i) && is_datetime(&line[*i..], b' ')) {
        Some(i) if line[i + 19..].starts_with(" +0000 UTC") => {
            format!("{}<DATE>{}", &line[..i], &line[i + 19..])
        }
        _ => line.to_owned(),
    }
}

/// `"key": 123,` → `"key": <N>,`.
fn mask_json_number(line: &str) -> String {
    match line.find(": ") {
        Some(i) => {
            let value = &line[i + 2..];
            let digits = value.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return line.to_owned();
            }
            format!("{}: <N>{}", &line[..i], &value[digits..])
        }
        None => line.to_owned(),
    }
}

/// An `activation list` row: its date and duration → fixed text of the same width.
fn mask_table_row(line: &str) -> String {
    if !is_datetime(line, b' ') || line.len() < 53 {
        return line.to_owned();
    }
    let id = &line[20..52];
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return line.to_owned();
    }
    // Kind, start (cold/warm), then the duration in a 10-wide column.
    let rest = &line[53..];
    let kind_end = rest.find(' ').unwrap_or(rest.len());
    let after_kind = rest[kind_end..].trim_start();
    let dur_at = 53 + (rest.len() - after_kind.len()) + 6;
    if line.len() < dur_at + 10 {
        return line.to_owned();
    }
    format!(
        "YYYY-MM-DD hh:mm:ss {}{:<10}{}",
        &line[20..dur_at],
        "<DUR>",
        &line[dur_at + 10..]
    )
}

/// Compares a run with the expected exit code, stdout and stderr, whole, line by line.
#[track_caller]
fn check(what: &str, got: &Out, code: i32, out: &str, err: &str) {
    let show = |label: &str, got: &str, want: &str| {
        if got != want {
            let g: Vec<&str> = got.lines().collect();
            let w: Vec<&str> = want.lines().collect();
            let first = (0..g.len().max(w.len()))
                .find(|i| g.get(*i) != w.get(*i))
                .unwrap_or(0);
            panic!(
                "{what}: {label} differs at line {}\n  got:  {:?}\n  want: {:?}\n--- whole {label} ---\n{got}--- end ---",
                first + 1,
                g.get(first),
                w.get(first)
            );
        }
    };
    show("stdout", &got.out, out);
    show("stderr", &got.err, err);
    assert_eq!(got.code, code, "{what}: exit code\n{got:?}");
}

/// Waits until the activation list has `n` records.
async fn wait_for_activations(w: &Wsk, n: usize) {
    eventually(&format!("{n} activations"), || async {
        let o = w.raw(&["activation", "list"]);
        (o.out.lines().count() == n + 1).then_some(())
    })
    .await;
}

fn usage(msg: &str) -> String {
    format!("{msg}\nRun 'wsk --help' for usage.\n")
}

#[tokio::test]
async fn property_and_namespace() {
    let s = Server::start().await;
    let w = Wsk::unconfigured(&s);
    let v = env!("CARGO_PKG_VERSION");

    // Nothing configured: the client says what is missing.
    let r = w.run(&["action", "list"]);
    check("no API host", &r, 1, "", "error: The API host is not valid: An API host must be provided.\nSet one with 'wsk property set --apihost HOST' (kept in ~/.wskprops or $WSK_CONFIG_FILE), or pass --apihost HOST.\nRun 'wsk --help' for usage.\n");

    let host = w.host.clone();
    let key = w.key.clone();
    let r = w.run(&["property", "set", "--apihost", &host, "--auth", &key]);
    check(
        "property set",
        &r,
        0,
        "ok: whisk auth set. Run 'wsk property get --auth' to see the new value.\nok: whisk API host set to <HOST>\n",
        "",
    );
    assert_eq!(
        std::fs::read_to_string(&w.props).unwrap(),
        format!("AUTH={key}\nAPIHOST={host}\n")
    );
    let r = w.run(&["property", "set", "--namespace", "guest"]);
    check(
        "set namespace",
        &r,
        0,
        "ok: whisk namespace set to guest\n",
        "",
    );
    let r = w.run(&["property", "set", "--namespace", "nobody"]);
    check(
        "set foreign namespace",
        &r,
        1,
        "",
        "error: Namespace 'nobody' is not in the list of entitled namespaces\n",
    );

    let r = w.run(&["property", "get"]);
    check(
        "property get",
        &r,
        0,
        &format!("client cert\t\t\nClient key\t\t\nwhisk auth\t\t<AUTH>\nwhisk API host\t\t<HOST>\nwhisk API version\tv1\nwhisk namespace\t\tguest\nwhisk CLI version\t{v}\nwhisk API build\t\t{v}\nwhisk API build number\tdev\n"),
        "",
    );
    let r = w.run(&["property", "get", "--auth", "--apihost"]);
    check(
        "property get two",
        &r,
        0,
        "whisk auth\t\t<AUTH>\nwhisk API host\t\t<HOST>\n",
        "",
    );
    let r = w.run(&["property", "get", "--apihost", "-o", "raw"]);
    check("property get raw", &r, 0, "<HOST>\n", "");
    let r = w.run(&["property", "get", "-o", "raw"]);
    check(
        "raw needs a property",
        &r,
        1,
        "",
        "error: --output|-o raw only supported with specific property type\n",
    );
    let r = w.run(&["property", "get", "--cliversion", "-o", "json"]);
    check(
        "unknown format",
        &r,
        1,
        "",
        "error: Supported output format are std|raw\n",
    );

    let r = w.run(&["namespace", "list"]);
    check("namespace list", &r, 0, "namespaces\nguest\n", "");
    let r = w.run(&["namespace", "get"]);
    check(
        "empty namespace",
        &r,
        0,
        "Entities in namespace: guest\npackages\nactions\ntriggers\nrules\n",
        "",
    );
    let r = w.run(&["namespace", "get", "x"]);
    check(
        "namespace get x",
        &r,
        1,
        "",
        &usage("error: Invalid argument(s): x. No arguments are required."),
    );

    // Unset: the key goes, and commands then say it is missing.
    let r = w.run(&["property", "unset", "--auth", "--namespace"]);
    check(
        "property unset",
        &r,
        0,
        "ok: whisk auth unset.\nok: whisk namespace unset; the default value of _ will be used.\n",
        "",
    );
    let r = w.run(&["property", "get", "--auth", "--namespace"]);
    check(
        "after unset",
        &r,
        0,
        "whisk auth\t\t\nwhisk namespace\t\t_\n",
        "",
    );
    let r = w.run(&["list"]);
    check("no auth", &r, 2, "", &usage("error: Unable to obtain the list of entities for namespace 'default': Authorization key is not configured (--auth is required)"));

    // Global flags win over the file, before or after the command group.
    let r = w.run(&["-u", &key, "namespace", "list"]);
    check("-u before", &r, 0, "namespaces\nguest\n", "");
    let r = w.run(&["namespace", "--auth", &key, "list"]);
    check("--auth in the group", &r, 0, "namespaces\nguest\n", "");
    let r = w.run(&["list", "-u", &key]);
    check(
        "list -u after",
        &r,
        0,
        "Entities in namespace: default\npackages\nactions\ntriggers\nrules\n",
        "",
    );
    let r = w.run(&["-u", "bad:key", "namespace", "list"]);
    check(
        "wrong key",
        &r,
        145,
        "",
        "error: Unable to obtain the list of available namespaces: The supplied authentication is invalid (code <TID>)\n",
    );
}

#[tokio::test]
async fn actions() {
    let s = Server::start().await;
    let w = Wsk::new(&s);
    let script = w.file("echo.sh", ECHO_SCRIPT);
    let fail = w.file("fail.sh", FAIL_SCRIPT);
    w.file("params.json", "{\"place\": \"Paris\", \"n\": 5}");

    let r = w.run(&[
        "action",
        "create",
        "hello",
        &script,
        "--docker",
        "whisk/dockerskeleton",
        "-p",
        "greeting",
        "Hello",
        "-a",
        "description",
        "Says hello",
    ]);
    check("create", &r, 0, "ok: created action hello\n", "");
    let r = w.run(&[
        "action",
        "create",
        "hello",
        &script,
        "--docker",
        "whisk/dockerskeleton",
    ]);
    check(
        "create twice",
        &r,
        153,
        "",
        &usage("error: Unable to create action 'hello': resource already exists (code <TID>)"),
    );

    let r = w.run(&["action", "invoke", "hello", "-r", "-p", "name", "World"]);
    check(
        "invoke -r",
        &r,
        0,
        "{\n    \"args\": {\n        \"greeting\": \"Hello\",\n        \"name\": \"World\"\n    }\n}\n",
        "",
    );
    let r = w.run(&[
        "action",
        "invoke",
        "hello",
        "--result",
        "-P",
        "params.json",
        "-p",
        "n",
        "6",
    ]);
    check(
        "invoke -P",
        &r,
        0,
        "{\n    \"args\": {\n        \"greeting\": \"Hello\",\n        \"n\": 6,\n        \"place\": \"Paris\"\n    }\n}\n",
        "",
    );
    let r = w.raw(&["action", "invoke", "hello"]);
    check(
        "invoke",
        &Out {
            code: r.code,
            out: w.mask(&r.out),
            err: r.err.clone(),
        },
        0,
        "ok: invoked /_/hello with id <ID>\n",
        "",
    );
    // Let it finish, so the next call finds the container warm.
    s.activation(r.out.trim().rsplit(' ').next().unwrap()).await;
    let r = w.run(&["action", "invoke", "hello", "-b", "-p", "x", "[1,2]"]);
    check(
        "invoke -b",
        &r,
        0,
        r#"ok: invoked /_/hello with id <ID>
{
    "activationId": "<ID>",
    "annotations": [
        {
            "key": "path",
            "value": "guest/hello"
        },
        {
            "key": "kind",
            "value": "blackbox"
        },
        {
            "key": "limits",
            "value": {
                "concurrency": 1,
                "logs": 10,
                "memory": 256,
                "timeout": 60000
            }
        },
        {
            "key": "timeout",
            "value": false
        },
        {
            "key": "waitTime",
            "value": <N>
        }
    ],
    "duration": <N>,
    "end": <N>,
    "logs": [
        "<TIME> stdout: hello from stdout"
    ],
    "name": "hello",
    "namespace": "guest",
    "publish": false,
    "response": {
        "result": {
            "args": {
                "greeting": "Hello",
                "x": [
                    1,
                    2
                ]
            }
        },
        "size": 40,
        "status": "success",
        "success": true
    },
    "start": <N>,
    "subject": "guest",
    "version": "0.0.1"
}
"#,
        "",
    );

    // The native skeleton runs the script too.
    let r = w.run(&["action", "create", "native", &script, "--native"]);
    check("create --native", &r, 0, "ok: created action native\n", "");
    let r = w.run(&["action", "invoke", "native", "-r"]);
    check("invoke native", &r, 0, "{\n    \"args\": {}\n}\n", "");

    let r = w.run(&["action", "get", "hello"]);
    check(
        "get",
        &r,
        0,
        r#"ok: got action hello
{
    "namespace": "guest",
    "name": "hello",
    "version": "0.0.1",
    "exec": {
        "kind": "blackbox",
        "image": "whisk/dockerskeleton",
        "binary": false
    },
    "annotations": [
        {
            "key": "description",
            "value": "Says hello"
        },
        {
            "key": "provide-api-key",
            "value": false
        },
        {
            "key": "exec",
            "value": "blackbox"
        }
    ],
    "parameters": [
        {
            "key": "greeting",
            "value": "Hello"
        }
    ],
    "limits": {
        "timeout": 60000,
        "memory": 256,
        "logs": 10,
        "concurrency": 1
    },
    "publish": false,
    "updated": <N>
}
"#,
        "",
    );
    let r = w.run(&["action", "get", "hello", "exec"]);
    check(
        "get field",
        &r,
        0,
        "ok: got action hello, displaying field exec\n{\n    \"kind\": \"blackbox\",\n    \"image\": \"whisk/dockerskeleton\",\n    \"binary\": false\n}\n",
        "",
    );
    let r = w.run(&["action", "get", "hello", "nonsense"]);
    check(
        "bad field",
        &r,
        2,
        "",
        &usage("error: Invalid field filter 'nonsense'."),
    );
    let r = w.run(&["action", "get", "hello", "--summary"]);
    check(
        "get --summary",
        &r,
        0,
        "action /guest/hello: Says hello\n   (parameters: *greeting)\n",
        "",
    );
    let r = w.run(&["action", "get", "hello", "--url"]);
    check(
        "get --url",
        &r,
        0,
        "ok: got action hello\n<HOST>/api/v1/namespaces/guest/actions/hello\n",
        "",
    );

    // --save writes the code under the action's name (a blackbox script has no extension).
    let r = w.run(&["action", "get", "hello", "--save"]);
    check(
        "get --save",
        &r,
        0,
        "ok: saved action code to <CWD>/hello\n",
        "",
    );
    assert_eq!(
        std::fs::read_to_string(w.path("hello")).unwrap(),
        ECHO_SCRIPT
    );
    let r = w.run(&["action", "get", "hello", "--save"]);
    check(
        "save twice",
        &r,
        2,
        "",
        &usage("error: The file 'hello' already exists"),
    );
    let r = w.run(&["action", "get", "hello", "--save-as", "copy.sh"]);
    check(
        "--save-as",
        &r,
        0,
        "ok: saved action code to <CWD>/copy.sh\n",
        "",
    );
    assert_eq!(
        std::fs::read_to_string(w.path("copy.sh")).unwrap(),
        ECHO_SCRIPT
    );

    // Web actions: --web adds the annotations and the URL becomes the web one.
    let r = w.run(&[
        "action",
        "update",
        "hello",
        "--web",
        "true",
        "--web-secure",
        "s3cret",
    ]);
    check("update --web", &r, 0, "ok: updated action hello\n", "");
    let r = w.run(&["action", "get", "hello", "annotations"]);
    check(
        "web annotations",
        &r,
        0,
        r#"ok: got action hello, displaying field annotations
[
    {
        "key": "description",
        "value": "Says hello"
    },
    {
        "key": "provide-api-key",
        "value": false
    },
    {
        "key": "web-export",
        "value": true
    },
    {
        "key": "raw-http",
        "value": false
    },
    {
        "key": "final",
        "value": true
    },
    {
        "key": "require-whisk-auth",
        "value": "s3cret"
    },
    {
        "key": "exec",
        "value": "blackbox"
    }
]
"#,
        "",
    );
    let r = w.run(&["action", "get", "hello", "--url"]);
    check(
        "web url",
        &r,
        0,
        "ok: got action hello\n<HOST>/api/v1/web/guest/default/hello\n",
        "",
    );
    let url = format!("{}/api/v1/web/guest/default/hello.json?name=Web", w.host);
    let reply = s
        .client
        .get(&url)
        .header("X-Require-Whisk-Auth", "s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(body["args"]["name"], "Web");
    let reply = s.client.get(&url).send().await.unwrap();
    assert_eq!(reply.status(), 401, "the secret is required");
    let r = w.run(&["action", "update", "hello", "--web-secure", "false"]);
    check("web-secure false", &r, 0, "ok: updated action hello\n", "");
    let reply = s.client.get(&url).send().await.unwrap();
    assert_eq!(reply.status(), 200, "no secret any more");
    let r = w.run(&["action", "update", "hello", "--web", "nope"]);
    check(
        "bad --web",
        &r,
        2,
        "",
        &usage("error: Invalid argument(s). Invalid argument 'nope' for --web flag. Valid input consist of 'yes', 'true', 'raw', 'false', or 'no'."),
    );
    let r = w.run(&["action", "update", "native", "--web-secure", "true"]);
    check(
        "web-secure without web",
        &r,
        2,
        "",
        &usage("error: Invalid argument(s). The --web-secure option is only valid when the --web option is enabled."),
    );

    // Limits, copies and sequences.
    let r = w.run(&["action", "update", "hello", "-t", "30000", "-m", "128"]);
    check("update limits", &r, 0, "ok: updated action hello\n", "");
    let r = w.run(&["action", "get", "hello", "limits"]);
    check(
        "limits",
        &r,
        0,
        "ok: got action hello, displaying field limits\n{\n    \"timeout\": 30000,\n    \"memory\": 128,\n    \"logs\": 10,\n    \"concurrency\": 1\n}\n",
        "",
    );
    // Concurrency: -c/--concurrency as in the Go CLI, the server's range check.
    let r = w.run(&["action", "update", "hello", "--concurrency", "8"]);
    check(
        "update concurrency",
        &r,
        0,
        "ok: updated action hello\n",
        "",
    );
    let r = w.run(&["action", "get", "hello", "limits"]);
    check(
        "limits with concurrency",
        &r,
        0,
        "ok: got action hello, displaying field limits\n{\n    \"timeout\": 30000,\n    \"memory\": 128,\n    \"logs\": 10,\n    \"concurrency\": 8\n}\n",
        "",
    );
    let r = w.run(&["action", "update", "hello", "-c", "501"]);
    check(
        "concurrency out of range",
        &r,
        144,
        "",
        &usage("error: Unable to create action 'hello': concurrency 501 exceeds allowed threshold of 500 (code <TID>)"),
    );
    let r = w.run(&["action", "update", "hello", "-c", "1"]);
    check(
        "concurrency back to 1",
        &r,
        0,
        "ok: updated action hello\n",
        "",
    );
    let r = w.run(&["action", "create", "twin", "hello", "--copy"]);
    check("create --copy", &r, 0, "ok: created action twin\n", "");
    let r = w.run(&["action", "invoke", "twin", "-r"]);
    check(
        "invoke copy",
        &r,
        0,
        "{\n    \"args\": {\n        \"greeting\": \"Hello\"\n    }\n}\n",
        "",
    );
    let r = w.run(&["action", "create", "both", "--sequence", "hello,native"]);
    check("create --sequence", &r, 0, "ok: created action both\n", "");
    let r = w.run(&["action", "invoke", "both", "-r", "-p", "a", "1"]);
    check(
        "invoke sequence",
        &r,
        0,
        "{\n    \"args\": {\n        \"args\": {\n            \"a\": 1,\n            \"greeting\": \"Hello\"\n        }\n    }\n}\n",
        "",
    );
    let r = w.run(&["action", "get", "both", "--save"]);
    check(
        "save a sequence",
        &r,
        2,
        "",
        &usage("error: Cannot save action sequences"),
    );

    // Failures: the activation on stderr and 502 - 256 as exit code.
    let r = w.run(&[
        "action",
        "create",
        "fail",
        &fail,
        "--docker",
        "whisk/dockerskeleton",
    ]);
    check("create fail", &r, 0, "ok: created action fail\n", "");
    let r = w.run(&["action", "invoke", "fail", "-r"]);
    check(
        "invoke fail -r",
        &r,
        246,
        "",
        "{\n    \"error\": \"boom\"\n}\n",
    );

    // Lists, global flags after the group, and deletes.
    let r = w.run(&["action", "-i", "list", "--name-sort"]);
    let row = |n: &str, kind: &str| format!("{:<70} private {kind}\n", format!("/guest/{n}"));
    check(
        "list -n",
        &r,
        0,
        &format!(
            "actions\n{}{}{}{}{}",
            row("both", "sequence"),
            row("fail", "blackbox"),
            row("hello", "blackbox"),
            row("native", "blackbox"),
            row("twin", "blackbox")
        ),
        "",
    );
    let r = w.run(&["action", "list", "--limit", "1", "--skip", "1", "-n"]);
    assert_eq!(r.out.lines().count(), 2, "{r:?}");
    let r = w.run(&["action", "delete", "twin"]);
    check("delete", &r, 0, "ok: deleted action twin\n", "");
    let r = w.run(&["action", "delete", "twin"]);
    check(
        "delete missing",
        &r,
        148,
        "",
        &usage("error: Unable to delete action 'twin': The requested resource does not exist. (code <TID>)"),
    );
    let r = w.run(&["action", "invoke", "twin"]);
    check(
        "invoke missing",
        &r,
        148,
        "",
        &usage("error: Unable to invoke action 'twin': The requested resource does not exist. (code <TID>)"),
    );
    let r = w.run(&["action", "get", "twin"]);
    check(
        "get missing",
        &r,
        148,
        "",
        &usage("error: Unable to get action 'twin': The requested resource does not exist. (code <TID>)"),
    );

    // Wrong command lines.
    let r = w.run(&["action", "create", "nothing"]);
    check(
        "no artifact",
        &r,
        2,
        "",
        &usage("error: Invalid argument(s). An action name and code artifact are required."),
    );
    let r = w.run(&["action", "create", "x", "missing.js"]);
    check(
        "missing file",
        &r,
        2,
        "",
        &usage("error: Invalid argument(s). File 'missing.js' is not a valid file or it does not exist"),
    );
    let r = w.run(&["action", "create", "x", "params.json"]);
    check(
        "unknown extension",
        &r,
        2,
        "",
        &usage("error: Invalid argument(s). '.json' is not a supported action runtime"),
    );
    let r = w.run(&[
        "action",
        "create",
        "x",
        &script,
        "--kind",
        "nodejs:20",
        "--docker",
        "img",
    ]);
    check(
        "kind and docker",
        &r,
        149,
        "",
        "error: Invalid argument(s). Cannot specify both --kind and --docker at the same time.\nRun 'wsk --help' for usage.\n",
    );
    let r = w.run(&["action", "create", "bad name!", &script, "--docker", "img"]);
    assert_eq!(r.code, 144, "{r:?}");
    assert!(
        r.err
            .starts_with("error: Unable to create action 'bad name!': ")
            && r.err
                .ends_with(" (code <TID>)\nRun 'wsk --help' for usage.\n"),
        "{r:?}"
    );
}

#[tokio::test]
async fn activations() {
    let s = Server::start().await;
    let w = Wsk::new(&s);

    let r = w.run(&["activation", "list"]);
    check("empty list", &r, 0, "\n", "");
    let r = w.run(&["activation", "get", "--last"]);
    check(
        "no last",
        &r,
        1,
        "",
        &usage(
            "error: Unable to get activation: Activation list does not contain any activations.",
        ),
    );

    let script = w.file("echo.sh", ECHO_SCRIPT);
    let r = w.run(&[
        "action",
        "create",
        "logger",
        &script,
        "--docker",
        "whisk/dockerskeleton",
    ]);
    check("create", &r, 0, "ok: created action logger\n", "");
    let first = w.raw(&["action", "invoke", "logger", "-p", "n", "1"]);
    assert_eq!(first.code, 0, "{first:?}");
    let first_id = first.out.trim().rsplit(' ').next().unwrap().to_owned();
    s.activation(&first_id).await;
    let r = w.run(&["action", "invoke", "logger", "-b", "-p", "n", "2"]);
    assert_eq!(r.code, 0, "{r:?}");
    wait_for_activations(&w, 2).await;

    let r = w.run(&["activation", "list"]);
    check(
        "list",
        &r,
        0,
        "Datetime            Activation ID                    Kind     Start Duration   Status  Entity\n\
         YYYY-MM-DD hh:mm:ss <ID> blackbox warm  <DUR>      success guest/logger:0.0.1\n\
         YYYY-MM-DD hh:mm:ss <ID> blackbox cold  <DUR>      success guest/logger:0.0.1\n",
        "",
    );
    let r = w.run(&[
        "activation",
        "list",
        "logger",
        "--limit",
        "1",
        "--skip",
        "1",
    ]);
    check(
        "list NAME",
        &r,
        0,
        "Datetime            Activation ID                    Kind     Start Duration   Status  Entity\n\
         YYYY-MM-DD hh:mm:ss <ID> blackbox cold  <DUR>      success guest/logger:0.0.1\n",
        "",
    );
    assert!(w
        .raw(&["activation", "list", "logger", "-l", "1", "-s", "1"])
        .out
        .contains(&first_id));

    let r = w.run(&["activation", "get", &first_id]);
    check(
        "get",
        &r,
        0,
        r#"ok: got activation <ID>
{
    "namespace": "guest",
    "name": "logger",
    "version": "0.0.1",
    "subject": "guest",
    "activationId": "<ID>",
    "start": <N>,
    "end": <N>,
    "duration": <N>,
    "statusCode": 0,
    "response": {
        "status": "success",
        "statusCode": 0,
        "success": true,
        "result": {
            "args": {
                "n": 1
            }
        }
    },
    "logs": [
        "<TIME> stdout: hello from stdout"
    ],
    "annotations": [
        {
            "key": "path",
            "value": "guest/logger"
        },
        {
            "key": "kind",
            "value": "blackbox"
        },
        {
            "key": "limits",
            "value": {
                "concurrency": 1,
                "logs": 10,
                "memory": 256,
                "timeout": 60000
            }
        },
        {
            "key": "timeout",
            "value": false
        },
        {
            "key": "waitTime",
            "value": <N>
        },
        {
            "key": "initTime",
            "value": <N>
        }
    ],
    "publish": false
}
"#,
        "",
    );
    let r = w.run(&["activation", "get", "--last", "response"]);
    check(
        "get --last FIELD",
        &r,
        0,
        "ok: got activation <ID>, displaying field response\n{\n    \"status\": \"success\",\n    \"statusCode\": 0,\n    \"success\": true,\n    \"result\": {\n        \"args\": {\n            \"n\": 2\n        }\n    }\n}\n",
        "",
    );
    let r = w.run(&["activation", "get", &first_id, "logs"]);
    check(
        "get logs field",
        &r,
        0,
        "ok: got activation <ID>, displaying field logs\n[\n    \"<TIME> stdout: hello from stdout\"\n]\n",
        "",
    );
    let r = w.run(&["activation", "get", "--last", "--summary"]);
    check(
        "get --summary",
        &r,
        0,
        "activation result for '/guest/logger' (success at <DATE> +0000 UTC)\n{\n    \"args\": {\n        \"n\": 2\n    }\n}\n",
        "",
    );
    let r = w.run(&["activation", "get", "--last", "-g"]);
    check("get --logs", &r, 0, "hello from stdout\n", "");
    let r = w.run(&["activation", "get", &first_id, "bogus"]);
    check(
        "bad field",
        &r,
        1,
        "",
        "error: Invalid field filter 'bogus'.\n",
    );

    let r = w.run(&["activation", "logs", &first_id]);
    check("logs", &r, 0, "<TIME> stdout: hello from stdout\n", "");
    let r = w.run(&["activation", "logs", "--last", "--strip"]);
    check("logs --strip", &r, 0, "hello from stdout\n", "");
    let r = w.run(&["activation", "result", &first_id]);
    check(
        "result",
        &r,
        0,
        "{\n    \"args\": {\n        \"n\": 1\n    }\n}\n",
        "",
    );
    let r = w.run(&["activation", "result"]);
    check(
        "result without id",
        &r,
        1,
        "",
        &usage("error: Invalid argument(s). An activation ID is required."),
    );

    let missing = "0123456789abcdef0123456789abcdef";
    let r = w.run(&["activation", "get", missing]);
    check(
        "get missing",
        &r,
        148,
        "",
        "error: Unable to get activation '<ID>': The requested resource does not exist. (code <TID>)\n",
    );
    let r = w.run(&["activation", "logs", missing]);
    check(
        "logs missing",
        &r,
        148,
        "",
        "error: Unable to get logs for activation '<ID>': The requested resource does not exist. (code <TID>)\n",
    );

    let r = w.run(&["activation", "list", "--full", "--limit", "1"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.out.starts_with(
            "activations\n{\n    \"namespace\": \"guest\",\n    \"name\": \"logger\",\n"
        ),
        "{r:?}"
    );
    assert!(r.out.contains("\"n\": 2"), "{r:?}");

    // Poll shows what ran in the window, oldest last as the server lists it, then stops.
    let r = w.run(&["activation", "poll", "--since-minutes", "10", "--exit", "1"]);
    check(
        "poll",
        &r,
        0,
        "Enter Ctrl-c to exit.\nPolling for activation logs\n\nActivation: 'logger' (<ID>)\n[\n    \"<TIME> stdout: hello from stdout\"\n]\n\nActivation: 'logger' (<ID>)\n[\n    \"<TIME> stdout: hello from stdout\"\n]\n",
        "",
    );
}

#[tokio::test]
async fn triggers_rules_and_packages() {
    let s = Server::start().await;
    let w = Wsk::new(&s);
    let script = w.file("echo.sh", ECHO_SCRIPT);

    // Packages and bindings.
    let r = w.run(&[
        "package",
        "create",
        "demo",
        "--shared",
        "yes",
        "-p",
        "greeting",
        "hi",
        "-a",
        "description",
        "A demo",
    ]);
    check("package create", &r, 0, "ok: created package demo\n", "");
    let r = w.run(&["package", "create", "demo"]);
    check(
        "package create twice",
        &r,
        153,
        "",
        "error: Unable to create package 'demo': resource already exists (code <TID>)\n",
    );
    let r = w.run(&["package", "create", "other", "--shared", "maybe"]);
    check(
        "bad --shared",
        &r,
        1,
        "",
        &usage("error: Cannot use value 'maybe' for shared."),
    );
    let r = w.run(&["package", "update", "demo", "-p", "greeting", "hello"]);
    check("package update", &r, 0, "ok: updated package demo\n", "");
    let r = w.run(&[
        "action",
        "create",
        "demo/hi",
        &script,
        "--docker",
        "whisk/dockerskeleton",
    ]);
    check("packaged action", &r, 0, "ok: created action demo/hi\n", "");
    let r = w.run(&["package", "bind", "demo", "mine", "-p", "x", "1"]);
    check("bind", &r, 0, "ok: created binding mine\n", "");
    let r = w.run(&["package", "list", "-n"]);
    check(
        "package list",
        &r,
        0,
        &format!(
            "packages\n{:<70} shared\n{:<70} private\n",
            "/guest/demo", "/guest/mine"
        ),
        "",
    );
    let r = w.run(&["package", "get", "demo", "--summary"]);
    check(
        "package summary",
        &r,
        0,
        "package /guest/demo: A demo\n   (parameters: *greeting)\n action /guest/demo/hi\n   (parameters: none defined)\n",
        "",
    );
    let r = w.run(&["package", "get", "mine", "binding"]);
    check(
        "binding field",
        &r,
        0,
        "ok: got package mine, displaying field binding\n{\n    \"namespace\": \"guest\",\n    \"name\": \"demo\"\n}\n",
        "",
    );
    let r = w.run(&["action", "list", "demo"]);
    check(
        "action list PKG",
        &r,
        0,
        &format!("actions\n{:<70} private blackbox\n", "/guest/demo/hi"),
        "",
    );
    let r = w.run(&["action", "invoke", "mine/hi", "-r"]);
    check(
        "invoke through a binding",
        &r,
        0,
        "{\n    \"args\": {\n        \"greeting\": \"hello\",\n        \"x\": 1\n    }\n}\n",
        "",
    );
    let r = w.run(&["package", "delete", "demo"]);
    assert_eq!(r.code, 153, "{r:?}");
    assert!(
        r.err
            .starts_with("error: Unable to delete package 'demo': "),
        "{r:?}"
    );

    // Triggers.
    let r = w.run(&["trigger", "create", "tick", "-p", "color", "red"]);
    check("trigger create", &r, 0, "ok: created trigger tick\n", "");
    let r = w.run(&["trigger", "get", "tick"]);
    check(
        "trigger get",
        &r,
        0,
        "ok: got trigger tick\n{\n    \"namespace\": \"guest\",\n    \"name\": \"tick\",\n    \"version\": \"0.0.1\",\n    \"parameters\": [\n        {\n            \"key\": \"color\",\n            \"value\": \"red\"\n        }\n    ],\n    \"limits\": {},\n    \"publish\": false,\n    \"updated\": <N>\n}\n",
        "",
    );
    let r = w.run(&["trigger", "get", "tick", "--summary"]);
    check(
        "trigger summary",
        &r,
        0,
        "trigger /guest/tick: Returns a result based on parameter color\n   (parameters: *color)\n",
        "",
    );
    let r = w.run(&["trigger", "update", "tick", "-p", "color", "blue"]);
    check("trigger update", &r, 0, "ok: updated trigger tick\n", "");
    let r = w.run(&["trigger", "fire", "tick"]);
    check(
        "fire without rules",
        &r,
        0,
        "ok: triggered /_/tick with id \n",
        "",
    );

    // Rules.
    let r = w.run(&[
        "action",
        "create",
        "hello",
        &script,
        "--docker",
        "whisk/dockerskeleton",
    ]);
    check("action", &r, 0, "ok: created action hello\n", "");
    let r = w.run(&["rule", "create", "r1", "tick", "hello"]);
    check("rule create", &r, 0, "ok: created rule r1\n", "");
    let r = w.run(&["rule", "get", "r1"]);
    check(
        "rule get",
        &r,
        0,
        "ok: got rule r1\n{\n    \"namespace\": \"guest\",\n    \"name\": \"r1\",\n    \"version\": \"0.0.1\",\n    \"status\": \"active\",\n    \"trigger\": {\n        \"name\": \"tick\",\n        \"path\": \"guest\"\n    },\n    \"action\": {\n        \"name\": \"hello\",\n        \"path\": \"guest\"\n    },\n    \"publish\": false,\n    \"updated\": <N>\n}\n",
        "",
    );
    let r = w.run(&["rule", "get", "r1", "--summary"]);
    check(
        "rule summary",
        &r,
        0,
        "rule /guest/r1\n   (status: active)\n",
        "",
    );
    let r = w.run(&["rule", "disable", "r1"]);
    check("disable", &r, 0, "ok: disabled rule r1\n", "");
    let r = w.run(&["rule", "status", "r1"]);
    check("status", &r, 0, "ok: rule r1 is inactive\n", "");
    let r = w.run(&["rule", "enable", "r1"]);
    check("enable", &r, 0, "ok: enabled rule r1\n", "");
    let r = w.run(&["rule", "list"]);
    check(
        "rule list",
        &r,
        0,
        &format!("rules\n{:<70} {:<20} active\n", "/guest/r1", "private"),
        "",
    );
    let fired = w.raw(&["trigger", "fire", "tick", "-p", "n", "1"]);
    assert_eq!(fired.code, 0, "{fired:?}");
    assert_eq!(w.mask(&fired.out), "ok: triggered /_/tick with id <ID>\n");
    let r = eventually("the rule's activation", || async {
        let r = w.run(&["activation", "list", "hello"]);
        (r.out.lines().count() == 2).then_some(r)
    })
    .await;
    check(
        "rule ran the action",
        &r,
        0,
        "Datetime            Activation ID                    Kind     Start Duration   Status  Entity\n\
         YYYY-MM-DD hh:mm:ss <ID> blackbox cold  <DUR>      success guest/hello:0.0.1\n",
        "",
    );
    let r = w.run(&["activation", "result", "--last"]);
    assert!(r.out.contains("\"color\": \"blue\""), "{r:?}");

    // Feeds: the alarms feed gets CREATE, READ and DELETE.
    let r = w.run(&[
        "trigger",
        "create",
        "every",
        "--feed",
        "/whisk.system/alarms/alarm",
        "-p",
        "cron",
        "0 0 1 1 *",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    let (head, rest) = r.out.split_once('\n').unwrap();
    assert_eq!(head, "ok: invoked /whisk.system/alarms/alarm with id <ID>");
    assert!(
        rest.starts_with("{\n    \"activationId\": \"<ID>\",\n"),
        "{r:?}"
    );
    assert!(
        rest.ends_with("    \"subject\": \"guest\",\n    \"version\": \"0.0.1\"\n}\nok: created trigger every\n"),
        "{r:?}"
    );
    let r = w.run(&["trigger", "get", "every"]);
    assert_eq!((r.code, r.err.as_str()), (0, ""), "{r:?}");
    assert!(r.out.starts_with("{\n    \"activationId\""), "{r:?}");
    assert!(
        r.out.contains("\"cron\": \"0 0 1 1 *\""),
        "READ shows the feed's config: {r:?}"
    );
    let r = w.run(&[
        "trigger",
        "create",
        "broken",
        "--feed",
        "/whisk.system/alarms/alarm",
    ]);
    assert_eq!(r.code, 246, "{r:?}");
    assert!(
        r.err
            .contains("\"error\": \"alarms trigger feed is missing the cron parameter\""),
        "{r:?}"
    );
    assert!(r.out.ends_with("ok: deleted trigger broken\n"), "{r:?}");
    let r = w.run(&["trigger", "get", "broken"]);
    assert_eq!(r.code, 148, "the failed trigger is gone: {r:?}");

    // Everything in the namespace.
    let r = w.run(&["list"]);
    let row = |n: &str, scope: &str| format!("{:<70} {scope}\n", format!("/guest/{n}"));
    let expected = [
        "Entities in namespace: default\npackages\n".to_owned(),
        row("mine", "private"),
        row("demo", "shared"),
        "actions\n".to_owned(),
        row("hello", "private blackbox"),
        row("demo/hi", "private blackbox"),
        "triggers\n".to_owned(),
        row("every", "private"),
        row("tick", "private"),
        "rules\n".to_owned(),
        row("r1", &format!("{:<20} active", "private")),
    ]
    .concat();
    check("wsk list", &r, 0, &expected, "");

    // Deletes.
    let r = w.run(&["rule", "delete", "r1", "--disable"]);
    check("rule delete", &r, 0, "ok: deleted rule r1\n", "");
    let r = w.run(&["rule", "get", "r1"]);
    check(
        "rule get missing",
        &r,
        148,
        "",
        &usage(
            "error: Unable to get rule 'r1': The requested resource does not exist. (code <TID>)",
        ),
    );
    let r = w.run(&["trigger", "delete", "every"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.ends_with("}\nok: deleted trigger every\n"), "{r:?}");
    let r = w.run(&["trigger", "delete", "tick"]);
    check("trigger delete", &r, 0, "ok: deleted trigger tick\n", "");
    let r = w.run(&["trigger", "fire", "tick"]);
    check(
        "fire missing",
        &r,
        148,
        "",
        "error: Unable to fire trigger 'tick': The requested resource does not exist. (code <TID>)\n",
    );
    let r = w.run(&["trigger", "list", "tick"]);
    check(
        "list with an entity name",
        &r,
        1,
        "",
        &usage("error: An entity name, 'tick', was provided instead of a namespace. Valid namespaces are of the following format: /NAMESPACE."),
    );
    let r = w.run(&["package", "delete", "mine"]);
    check("delete binding", &r, 0, "ok: deleted package mine\n", "");
}

/// `sdk install` writes the skeleton and the completion scripts into the current directory.
#[test]
fn sdk_install() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(bin_dir().join("wsk"))
            .args(args)
            .current_dir(dir.path())
            .env("WSK_CONFIG_FILE", "")
            .output()
            .expect("running wsk")
    };
    let o = run(&["sdk", "install", "docker"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "The docker skeleton is now installed at the current directory.\n"
    );
    for f in ["Dockerfile", "README.md", "buildAndPush.sh", "example.c"] {
        assert!(
            Path::new(&dir.path().join("dockerSkeleton").join(f)).is_file(),
            "{f}"
        );
    }
    let o = run(&["sdk", "install", "docker"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "error: The docker SDK installation failed: The directory 'dockerSkeleton' already exists.  Delete it and retry.\n"
    );
    let o = run(&["sdk", "install", "bashauto"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "The bash auto-completion script (wsk_cli_bash_completion.sh) is installed in the current directory.\nTo enable command line completion of wsk commands, source the auto completion script into your bash environment\n"
    );
    assert!(dir.path().join("wsk_cli_bash_completion.sh").is_file());
    let o = run(&["sdk", "install", "zshauto"]);
    assert!(o.status.success());
    assert!(dir.path().join("_wsk").is_file());
    let o = run(&["sdk", "install", "fishauto"]);
    assert!(o.status.success());
    assert!(dir.path().join("wsk.fish").is_file());
}
