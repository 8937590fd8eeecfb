//! The `wscat` example, run as a person or a script would: a `wscat listen`
//! child and `wscat connect` children talking over 127.0.0.1, driven through
//! their stdin and judged by their stdout, stderr and exit status.
//!
//! The example binary is (re)built once per run with `cargo build --example
//! wscat` (`cargo test --test wscat` alone does not build examples). Every
//! wait is bounded by `LIMIT`, and every child is killed when its guard is
//! dropped, on success and on panic alike.

mod common;
#[path = "../xtask/src/json.rs"]
#[allow(dead_code)]
mod json;

use common::examples::{Running, example_binary};
use common::{ScratchDir, certs};
use json::Json;
use std::process::Command;
use std::time::Duration;

/// The longest any single wait may last.
const LIMIT: Duration = Duration::from_secs(15);

// ----- a running wscat ---------------------------------------------------------------

/// A `wscat ARGS…` child (built once, see `example_binary`), called `name`
/// in failure messages; dropping it kills the process.
fn wscat(name: &str, args: &[&str]) -> Running {
    let mut cmd = Command::new(example_binary("wscat"));
    cmd.args(args);
    Running::start(name, cmd, LIMIT)
}

/// A `wscat listen` on 127.0.0.1, a free port, and the URL it printed.
fn listen(args: &[&str]) -> (Running, String) {
    let mut all = vec!["listen", "--port", "0"];
    all.extend_from_slice(args);
    let mut server = wscat("server", &all);
    let first = server.next_line();
    let url = if all.contains(&"--json") {
        let value = parse_json(&first);
        assert_eq!(value.get("signal"), Some(&Json::String("listening".into())));
        match value.get("args") {
            Some(Json::Array(args)) => match args.as_slice() {
                [Json::String(url)] => url.clone(),
                other => panic!("listening args: {other:?}"),
            },
            other => panic!("listening args: {other:?}"),
        }
    } else {
        first
            .strip_prefix("listening: ")
            .unwrap_or_else(|| panic!("the first line is not `listening: `: {first:?}"))
            .to_owned()
    };
    (server, url)
}

/// The port of a URL such as `ws://127.0.0.1:PORT`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().expect("a port")
}

/// `line` is `<ADDRESS>:<PORT> <rest>` with a loopback address.
fn from_client(line: &str, rest: &str) -> bool {
    line.split_once(' ')
        .is_some_and(|(peer, r)| peer.starts_with("127.0.0.1:") && r == rest)
}

// ----- wscat's JSON lines (read with xtask's JSON reader) -------------------------

/// Parses one line as a JSON object `{"signal": "...", "args": [...], ...}`.
fn parse_json(line: &str) -> Json {
    assert!(
        line.starts_with("{\"signal\": "),
        "not a wscat JSON line: {line:?}"
    );
    let value = json::parse(line).unwrap_or_else(|e| panic!("invalid JSON ({e}): {line:?}"));
    let Json::Object(fields) = &value else {
        panic!("not an object: {line:?}")
    };
    assert!(
        matches!(fields.as_slice(), [(s, Json::String(_)), (a, Json::Array(_)), ..] if s == "signal" && a == "args"),
        "expected signal and args first: {line:?}"
    );
    value
}

/// A JSON line's signal and arguments.
fn signal_and_args(line: &str) -> (String, Vec<Json>) {
    let value = parse_json(line);
    match (value.get("signal"), value.get("args")) {
        (Some(Json::String(s)), Some(Json::Array(a))) => (s.clone(), a.clone()),
        _ => unreachable!("checked by parse_json"),
    }
}

// ----- files for the TLS tests -------------------------------------------------------

/// A CA, and a `wscat listen --echo` serving wss:// with a certificate for
/// `localhost` that the CA signed.
struct TlsServer {
    _dir: ScratchDir,
    ca_pem: String,
    /// Kept running while the test lasts.
    _server: Running,
    port: u16,
}

fn tls_server() -> TlsServer {
    let dir = ScratchDir::new("wscat");
    let ca = certs::Ca::new("wscat test CA");
    let leaf = ca.leaf(&["localhost"]);
    let ca_pem = dir.write("ca.pem", &ca.pem);
    let chain = dir.write("server.pem", &leaf.chain_pem);
    let key = dir.write("server.key", &leaf.key_pem);
    let (server, url) = listen(&["--echo", "--cert", &chain, "--key", &key]);
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let port = port_of(&url);
    TlsServer {
        _dir: dir,
        ca_pem,
        _server: server,
        port,
    }
}

/// Sends "hi", expects the echo, closes and expects a clean exit.
fn echo_and_close(client: &mut Running) {
    client.send("hi");
    client.expect("text: hi");
    client.send("/close");
    client.expect("disconnected: 1000 \"\"");
    assert!(client.wait().success(), "stderr: {}", client.stderr());
}

// ----- the tests ---------------------------------------------------------------------

#[test]
fn echo_session_ends_with_the_requested_close() {
    let (mut server, url) = listen(&["--echo"]);
    let mut client = wscat("client", &["connect", &url]);
    client.expect("connected");
    server.expect_that("a client's connected line", |l| {
        from_client(l, "connected: /")
    });

    client.send("hello");
    client.expect("text: hello");
    client.send("/binary 5");
    client.expect("binary: 5 bytes");
    client.send("/ping x");
    client.expect_that("a pong line for \"x\"", |l| {
        l.strip_prefix("pong: ")
            .and_then(|r| r.strip_suffix(" ms \"x\""))
            .is_some_and(|ms| ms.parse::<f64>().is_ok_and(|ms| ms >= 0.0))
    });
    client.send("//not a command");
    client.expect("text: /not a command");
    client.send("/close 4000 bye");
    client.expect("disconnected: 4000 \"bye\"");
    let status = client.wait();
    assert_eq!(status.code(), Some(0), "stderr: {}", client.stderr());
    assert_eq!(
        client.rest(),
        Vec::<String>::new(),
        "nothing after disconnected"
    );

    // The server printed the same conversation, each line under the client's address.
    for expected in [
        "text: hello",
        "binary: 5 bytes",
        "text: /not a command",
        "disconnected: 4000 \"bye\"",
    ] {
        server.expect_that(expected, |l| from_client(l, expected));
    }
}

#[test]
fn end_of_input_closes_with_1000() {
    let (_server, url) = listen(&["--echo"]);
    let mut client = wscat("client", &["connect", &url]);
    // Sent before the connection is up: kept, then sent once connected.
    client.send("early");
    client.close_stdin();
    client.expect("connected");
    // The close follows the text at once; the echo may come before the close
    // frame or not at all, but the close is always a clean 1000.
    let rest = client.rest();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("disconnected: 1000 \"\"")
    );
    assert!(
        rest.len() <= 2 && (rest.len() == 1 || rest[0] == "text: early"),
        "{rest:?}"
    );
    assert_eq!(client.wait().code(), Some(0), "stderr: {}", client.stderr());
}

#[test]
fn stdin_lines_of_the_server_reach_every_client() {
    let (mut server, url) = listen(&["--subprotocol", "chat"]);
    let mut one = wscat("one", &["connect", &url, "--origin", "https://o.example"]);
    one.expect("connected");
    server.expect_that("the first client", |l| {
        from_client(l, "connected: / origin \"https://o.example\"")
    });
    let chat_url = format!("{url}/room?id=1");
    let mut two = wscat(
        "two",
        &[
            "connect",
            &chat_url,
            "--subprotocol",
            "superchat",
            "-s",
            "chat",
        ],
    );
    two.expect("connected: subprotocol \"chat\"");
    server.expect_that("the second client", |l| {
        from_client(l, "connected: /room?id=1 subprotocol \"chat\"")
    });

    server.send("to everyone");
    one.expect("text: to everyone");
    two.expect("text: to everyone");
    server.send("/binary 3");
    one.expect("binary: 3 bytes");
    two.expect("binary: 3 bytes");
    server.send("/close 4001 server done");
    one.expect("disconnected: 4001 \"server done\"");
    two.expect("disconnected: 4001 \"server done\"");
    assert_eq!(one.wait().code(), Some(0), "stderr: {}", one.stderr());
    assert_eq!(two.wait().code(), Some(0), "stderr: {}", two.stderr());
}

#[test]
fn json_output_is_one_object_per_line() {
    let (mut server, url) = listen(&["--echo", "--json"]);
    let mut client = wscat("client", &["connect", &url, "--json"]);
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(
        (signal.as_str(), args),
        ("connected", vec![Json::String(String::new())])
    );

    // Quotes, backslashes and a tab survive the trip through JSON.
    let tricky = "say \"hi\" \\ then\ttab, ünïcödé";
    client.send(tricky);
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(
        (signal.as_str(), args),
        ("text", vec![Json::String(tricky.into())])
    );

    client.send("/binary 4");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "binary");
    assert_eq!(args, [Json::Number(4.0), Json::String("00010203".into())]);

    client.send("/ping p");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "pong");
    assert!(
        matches!(args.as_slice(), [Json::Number(ms), Json::String(p)] if *ms >= 0.0 && p == "p"),
        "{args:?}"
    );

    client.send("/close 4002 json \"done\"");
    let (signal, args) = signal_and_args(&client.next_line());
    assert_eq!(signal, "disconnected");
    assert_eq!(
        args,
        [Json::Number(4002.0), Json::String("json \"done\"".into())]
    );
    assert_eq!(client.wait().code(), Some(0), "stderr: {}", client.stderr());

    // The server's lines carry the client's address in "peer".
    let mut signals = Vec::new();
    while signals.last().map(String::as_str) != Some("disconnected") {
        let line = server.next_line();
        let value = parse_json(&line);
        let Some(Json::String(peer)) = value.get("peer") else {
            panic!("no peer in {line:?}")
        };
        assert!(peer.starts_with("127.0.0.1:"), "{line}");
        signals.push(signal_and_args(&line).0);
    }
    assert_eq!(signals, ["connected", "text", "binary", "disconnected"]);
}

#[test]
fn connecting_to_a_closed_port_fails() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again here
    let mut client = wscat("client", &["connect", &format!("ws://127.0.0.1:{port}/")]);
    client.close_stdin();
    let out = client.rest();
    let status = client.wait();
    assert!(!status.success(), "exit status {status:?}; output {out:?}");
    let stderr = client.stderr();
    assert!(stderr.contains("ConnectionRefused"), "stderr: {stderr}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("error: ConnectionRefused: ")),
        "{out:?}"
    );
}

#[test]
fn bad_arguments_get_a_usage_text() {
    for args in [
        &["connect"][..],
        &["listen"],
        &[
            "connect",
            "ws://127.0.0.1:1/",
            "--ignore-ssl-errors",
            "NoSuchKind",
        ],
        &["connect", "ws://127.0.0.1:1/", "--max-message-size", "lots"],
        &["connect", "ws://127.0.0.1:1/", "--cert", "only-a-cert.pem"],
        &["listen", "--port", "0", "--origin", "x"],
        &["frobnicate"],
    ] {
        let mut run = wscat("wscat", args);
        let out = run.rest();
        let status = run.wait();
        assert_eq!(status.code(), Some(2), "{args:?}: {status:?}");
        assert!(out.is_empty(), "{args:?}: stdout {out:?}");
        let stderr = run.stderr();
        assert!(stderr.contains("usage:"), "{args:?}: stderr {stderr}");
    }
}

#[test]
fn tls_with_the_ca_connects() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    let mut client = wscat("client", &["connect", &url, "--ca", &tls.ca_pem]);
    client.expect("connected");
    echo_and_close(&mut client);
}

#[test]
fn tls_without_the_ca_is_refused() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    let mut client = wscat("client", &["connect", &url]);
    client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
    let rest = client.rest();
    let status = client.wait();
    assert!(!status.success(), "{status:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("error: SslHandshakeFailed: ")),
        "{rest:?}"
    );
    assert!(!rest.contains(&"connected".to_owned()), "{rest:?}");
    let stderr = client.stderr();
    assert!(stderr.contains("SslHandshakeFailed"), "stderr: {stderr}");

    // Ignoring another kind of error does not help.
    let mut client = wscat(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "HostNameMismatch,SelfSignedCertificate",
        ],
    );
    client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
    client.rest();
    assert!(!client.wait().success());
}

#[test]
fn tls_with_the_error_ignored_connects() {
    let tls = tls_server();
    let url = format!("wss://localhost:{}/", tls.port);
    for ignore in ["UnableToGetLocalIssuerCertificate", "all"] {
        let mut client = wscat("client", &["connect", &url, "--ignore-ssl-errors", ignore]);
        client.expect("ssl_errors: UnableToGetLocalIssuerCertificate");
        client.expect("connected");
        echo_and_close(&mut client);
    }
}

#[test]
fn tls_ignore_list_must_cover_every_error() {
    let tls = tls_server();
    // The certificate names localhost, not 127.0.0.1.
    let url = format!("wss://127.0.0.1:{}/", tls.port);
    // Both problems are reported, in the library's order.
    let both = |l: &str| {
        let mut kinds: Vec<&str> = l
            .strip_prefix("ssl_errors: ")
            .map_or(vec![], |k| k.split(',').collect());
        kinds.sort();
        kinds == ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"]
    };

    let mut client = wscat(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "UnableToGetLocalIssuerCertificate",
        ],
    );
    client.expect_that("ssl_errors with both kinds", both);
    let rest = client.rest();
    assert!(!client.wait().success(), "{rest:?}");

    let mut client = wscat("client", &["connect", &url, "--ca", &tls.ca_pem]);
    client.expect("ssl_errors: HostNameMismatch");
    let rest = client.rest();
    assert!(!client.wait().success(), "{rest:?}");

    let mut client = wscat(
        "client",
        &[
            "connect",
            &url,
            "--ignore-ssl-errors",
            "HostNameMismatch,UnableToGetLocalIssuerCertificate",
        ],
    );
    client.expect_that("ssl_errors with both kinds", both);
    client.expect("connected");
    echo_and_close(&mut client);
}

#[test]
fn a_message_over_the_limit_ends_the_connection_with_1009() {
    let (mut server, url) = listen(&[]);
    let mut client = wscat("client", &["connect", &url, "--max-message-size", "10"]);
    client.expect("connected");
    server.expect_that("the client", |l| from_client(l, "connected: /"));
    server.send("/binary 10");
    client.expect("binary: 10 bytes");
    server.send("/binary 11");
    let rest = client.rest();
    assert!(
        rest.iter().any(|l| l.starts_with("error: Protocol: ")),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.starts_with("disconnected: 1009 ")),
        "{rest:?}"
    );
    assert_eq!(client.wait().code(), Some(1));
    assert!(client.stderr().contains("Protocol"), "{}", client.stderr());
}
