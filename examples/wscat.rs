//! `wscat`: a WebSocket client and server for the command line, for people
//! and for scripts.
//!
//! ```text
//! wscat connect URL [--header K:V]... [--subprotocol P]... [--origin O]
//!                   [--max-message-size N] [--outgoing-frame-size N] [--keepalive SECS]
//!                   [--ca PEM]... [--ignore-ssl-errors all|KIND,...] [--cert PEM --key PEM]
//!                   [--proxy URL | --no-proxy] [--json] [--verbose]
//! wscat listen [--host H] --port P [--subprotocol P]... [--echo] [--cert PEM --key PEM]
//!              [--max-message-size N] [--outgoing-frame-size N] [--keepalive SECS]
//!              [--json] [--verbose]
//! ```
//!
//! Try it with two terminals:
//!
//! ```text
//! cargo run --example wscat -- listen --port 9001 --echo
//! cargo run --example wscat -- connect ws://127.0.0.1:9001/
//! ```
//!
//! # Input
//!
//! Every line read from stdin is sent as a text message (by the client to its
//! server; by the server to every connected client). A line starting with `/`
//! is a command:
//!
//! | command | what it does |
//! |---|---|
//! | `/binary N` | sends a binary message of N bytes: 00 01 02 … (wrapping at 255) |
//! | `/ping [payload]` | sends a ping; the answer is printed as a `pong` line |
//! | `/close [code [reason]]` | starts the closing handshake (default code 1000) |
//! | `/abort` | drops the connection without a closing handshake |
//! | `/help` | lists the commands (on stderr) |
//! | `//text` | sends the text message `/text` |
//!
//! Lines typed while the client is still connecting are kept and sent once it
//! is connected. When stdin ends, the client closes with 1000; the server
//! just stops reading stdin and goes on serving (stop it with Ctrl-C).
//!
//! # Output
//!
//! stdout carries one line per signal received, and nothing else:
//!
//! ```text
//! connected
//! text: hello
//! binary: 4 bytes
//! pong: 1.2 ms "payload"
//! disconnected: 1000 "bye"
//! ```
//!
//! With `--json` every line is one JSON object, `{"signal": "...", "args":
//! [...]}`, plus `"peer": "ADDRESS:PORT"` on the server's client lines. The
//! lines and their arguments:
//!
//! | signal | text form | JSON `args` |
//! |---|---|---|
//! | `connected` (client) | `connected`, or `connected: subprotocol "chat"` | `[subprotocol]` (`""` for none) |
//! | `connected` (server) | `connected: /path subprotocol "chat" origin "o"` | `[path, subprotocol, origin]` |
//! | `text` | `text: hello` | `[text]` |
//! | `binary` | `binary: 4 bytes` | `[length, hex]`, e.g. `[4, "00010203"]` |
//! | `pong` | `pong: 1.2 ms "payload"` | `[milliseconds, payload]` |
//! | `ssl_errors` | `ssl_errors: SelfSignedCertificate,HostNameMismatch` | `[kind, ...]` |
//! | `error` | `error: RemoteHostClosed: The remote host closed the connection` | `[kind, text]` |
//! | `disconnected` | `disconnected: 1000 "bye"`; `disconnected` if it never connected | `[code, reason]`; `[]` |
//! | `listening` (server) | `listening: ws://127.0.0.1:9001` | `[url]` |
//! | `server_error` (server) | `server_error: 1002 "the reason"` | `[code, text]` |
//! | `accept_error` (server) | `accept_error: SocketResource: the reason` | `[kind, text]` |
//!
//! The text of a message is printed as it is, except that control
//! characters are escaped (`\n`, `\u001b`…) so that a message is always one
//! line; quoted strings are JSON string literals. The server starts with
//! `listening` and prefixes each client's lines with the client's address
//! (`127.0.0.1:50312 text: hello`). `--verbose` adds the other signals:
//! `state`, `about_to_close`, `read_channel_finished`, `text_frame`,
//! `binary_frame`, `bytes_written`, `peer_verify_error`, `alert_sent` and
//! `alert_received`.
//!
//! Local complaints (a bad command, a message that could not be sent, the
//! final error) go to stderr.
//!
//! # TLS
//!
//! `--ca PEM` trusts the certificate authorities of that file *instead of*
//! the built-in roots (give it more than once for several files).
//! Certificate problems are printed as an `ssl_errors` line; the connection
//! is then refused unless `--ignore-ssl-errors` covers them: `all` ignores
//! whatever is reported, and a comma-separated list of `SslErrorKind` names
//! (`SelfSignedCertificate,HostNameMismatch`) ignores exactly those kinds.
//! `--cert` and `--key` give the client certificate (connect) or the server's
//! identity (listen, which then serves `wss://`).
//!
//! # Proxies
//!
//! `--proxy URL` connects through an HTTP proxy (`http://[user:password@]host:port`,
//! with `CONNECT`) or a SOCKS5 proxy (`socks5://…` or `socks5h://…`; the proxy
//! resolves the server's name either way). Without it, wscat uses the
//! environment's proxy as curl does (`https_proxy` for `wss://`, `http_proxy`
//! for `ws://`, `all_proxy`, and `no_proxy`); `--no-proxy` connects directly.
//! When the proxy asks for credentials that the URL does not carry (or
//! refuses them), wscat asks for a user name and password on the terminal
//! (`/dev/tty`, the password without echo) and tries once more; with no
//! terminal it fails with `ProxyAuthenticationRequired`. While connecting
//! through a proxy, stdin is read only once connected when it is that same
//! terminal, so that the prompt gets what is typed.
//!
//! # Exit status
//!
//! 0 when the connection ended with a closing handshake (either side closing,
//! with any code) or with `/abort`; 1 with the error on stderr when it could
//! not be opened or was lost (connection refused, failed opening or TLS
//! handshake, a timeout, a protocol error); 2 with a usage text for bad
//! arguments.
//!
//! # How stdin reaches the sockets
//!
//! Sockets live on the event loop's thread and are `!Send`, but reading stdin
//! blocks, so a separate thread reads it. That thread parses each line into a
//! [`Command`] (plain data, `Send`) and posts it to the loop with
//! [`Handle::post`]. The posted closure cannot capture a socket; instead it
//! looks up the loop side's input handler, a closure registered once in a
//! `thread_local!` ([`SINK`]) by `main` before the reader starts. Posted
//! closures run on the loop thread, which is the thread that registered it,
//! so they always find it there. The client's handler holds its socket; the
//! server's holds weak handles to its clients (the loop keeps open
//! connections alive), so no reference cycle forms.

use qwebsocket::event_loop::{EventLoop, Handle};
use qwebsocket::proxy::{Proxy, ProxyType};
use qwebsocket::ssl::{SslAlert, SslConfiguration, SslError, SslErrorKind};
use qwebsocket::{
    CloseCode, HandshakeOptions, MAX_INCOMING_SIZE, MAX_OUTGOING_FRAME_SIZE, Request, SocketError,
    SocketState, SslMode, WeakWebSocket, WebSocket, WebSocketServer,
};
use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

const USAGE: &str = "\
usage:
  wscat connect URL [options]
  wscat listen [--host H] --port P [options]

connect options:
  -H, --header K:V              add a header to the upgrade request (repeatable)
  -o, --origin O                send Origin: O
      --ca PEM                  trust only the CAs in this PEM file (repeatable)
      --ignore-ssl-errors LIST  'all', or SslErrorKind names separated by commas
      --cert PEM --key PEM      a client certificate and its key
      --proxy URL               connect through http://[user:pass@]host:port (CONNECT)
                                or socks5://... / socks5h://... (default: the
                                environment's https_proxy, http_proxy, all_proxy)
      --no-proxy                connect directly, whatever the environment says

listen options:
      --host H                  the address to listen on (default 127.0.0.1)
  -p, --port P                  the port to listen on (0: any free port)
      --echo                    send every message back to its sender
      --cert PEM --key PEM      serve wss:// with this certificate chain and key

common options:
  -s, --subprotocol P           a subprotocol to request / to support (repeatable)
      --max-message-size N      the largest message accepted, in bytes
      --outgoing-frame-size N   split outgoing messages into frames of N bytes
      --keepalive SECS          ping after SECS idle; give up if no pong within SECS
      --json                    print one JSON object per line
  -v, --verbose                 print every signal (state changes, frames, ...)
  -h, --help                    show this text

stdin: each line is sent as a text message; /binary N, /ping [payload],
/close [code [reason]], /abort and /help are commands; //text sends /text.";

const COMMANDS: &str = "\
commands:
  any line               sent as a text message
  //text                 sends the text message /text
  /binary N              sends N bytes (00 01 02 ...)
  /ping [payload]        sends a ping
  /close [code [reason]] starts the closing handshake (default 1000)
  /abort                 drops the connection at once";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match parse_args(&args) {
        Ok(Mode::Help) => {
            println!("{USAGE}");
            0
        }
        Ok(Mode::Connect(o)) => run_client(o),
        Ok(Mode::Listen(o)) => run_server(o),
        Err(msg) => {
            eprintln!("wscat: {msg}\n\n{USAGE}");
            2
        }
    };
    // `exit`, not a return: the stdin thread may still be blocked in read().
    std::process::exit(code);
}

// ----- arguments ----------------------------------------------------------------

enum Mode {
    Help,
    Connect(Options),
    Listen(Options),
}

/// Which certificate problems to accept.
enum Ignore {
    /// Whatever `ssl_errors` reports.
    All,
    /// Exactly these kinds.
    Kinds(Vec<SslErrorKind>),
}

struct Options {
    url: String,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    origin: Option<String>,
    max_message_size: Option<u64>,
    outgoing_frame_size: Option<usize>,
    keepalive: Option<Duration>,
    ca: Vec<PathBuf>,
    ignore: Option<Ignore>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    /// `Some(proxy)` from `--proxy` or `--no-proxy`; `None`: the environment's.
    proxy: Option<Proxy>,
    host: IpAddr,
    port: Option<u16>,
    echo: bool,
    json: bool,
    verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            url: String::new(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            origin: None,
            max_message_size: None,
            outgoing_frame_size: None,
            keepalive: None,
            ca: Vec::new(),
            ignore: None,
            cert: None,
            key: None,
            proxy: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: None,
            echo: false,
            json: false,
            verbose: false,
        }
    }
}

fn parse_ignore(list: &str) -> Result<Ignore, String> {
    if list == "all" {
        return Ok(Ignore::All);
    }
    let mut kinds = Vec::new();
    for name in list.split(',').map(str::trim) {
        match SslErrorKind::from_name(name) {
            Some(kind) => kinds.push(kind),
            None => {
                let known: Vec<String> =
                    SslErrorKind::ALL.iter().map(|k| format!("{k:?}")).collect();
                return Err(format!(
                    "--ignore-ssl-errors: unknown error kind {name:?}; use 'all' or some of: {}",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(Ignore::Kinds(kinds))
}

fn parse_number<T: std::str::FromStr>(option: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{option}: expected a number, got {value:?}"))
}

fn parse_args(args: &[String]) -> Result<Mode, String> {
    let Some((command, rest)) = args.split_first() else {
        return Err("a command is required: connect or listen".into());
    };
    let listen = match command.as_str() {
        "connect" => false,
        "listen" => true,
        "-h" | "--help" | "help" => return Ok(Mode::Help),
        other => return Err(format!("unknown command {other:?}: use connect or listen")),
    };
    let mut o = Options::default();
    let mut url = None;
    let mut i = 0;
    while i < rest.len() {
        let arg = rest[i].as_str();
        i += 1;
        if !arg.starts_with('-') || arg == "-" {
            if listen || url.is_some() {
                return Err(format!("unexpected argument {arg:?}"));
            }
            url = Some(arg.to_owned());
            continue;
        }
        // `--name=value` or `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = rest.get(i).ok_or_else(|| format!("{name} needs a value"))?;
            i += 1;
            Ok(v.clone())
        };
        // A flag takes no value: `--json=yes` is a mistake.
        let flag = || -> Result<bool, String> {
            match &inline {
                Some(_) => Err(format!("{name} takes no value")),
                None => Ok(true),
            }
        };
        let only = |wanted_listen: bool| -> Result<(), String> {
            if wanted_listen == listen {
                Ok(())
            } else {
                let here = if listen { "listen" } else { "connect" };
                Err(format!("{name} is not an option of {here}"))
            }
        };
        match name {
            "-h" | "--help" => return Ok(Mode::Help),
            "--json" => o.json = flag()?,
            "-v" | "--verbose" => o.verbose = flag()?,
            "-s" | "--subprotocol" => o.subprotocols.push(value()?),
            "--max-message-size" => {
                let n: u64 = parse_number(name, &value()?)?;
                if n > MAX_INCOMING_SIZE {
                    return Err(format!("{name}: at most {MAX_INCOMING_SIZE}"));
                }
                o.max_message_size = Some(n);
            }
            "--outgoing-frame-size" => {
                let n: usize = parse_number(name, &value()?)?;
                if !(1..=MAX_OUTGOING_FRAME_SIZE).contains(&n) {
                    return Err(format!("{name}: from 1 to {MAX_OUTGOING_FRAME_SIZE}"));
                }
                o.outgoing_frame_size = Some(n);
            }
            "--keepalive" => {
                let secs: f64 = parse_number(name, &value()?)?;
                if !(secs > 0.0 && secs < 1e9) {
                    return Err(format!("{name}: a positive number of seconds"));
                }
                o.keepalive = Some(Duration::from_secs_f64(secs));
            }
            "--cert" => o.cert = Some(value()?.into()),
            "--key" => o.key = Some(value()?.into()),
            "-H" | "--header" => {
                only(false)?;
                let v = value()?;
                let Some((k, val)) = v.split_once(':') else {
                    return Err(format!("{name}: expected NAME:VALUE, got {v:?}"));
                };
                if k.trim().is_empty() {
                    return Err(format!("{name}: the header name is empty in {v:?}"));
                }
                o.headers.push((k.trim().to_owned(), val.trim().to_owned()));
            }
            "-o" | "--origin" => {
                only(false)?;
                o.origin = Some(value()?);
            }
            "--ca" => {
                only(false)?;
                o.ca.push(value()?.into());
            }
            "--ignore-ssl-errors" => {
                only(false)?;
                o.ignore = Some(parse_ignore(&value()?)?);
            }
            "--proxy" => {
                only(false)?;
                let proxy = value()?.parse().map_err(|e| format!("{name}: {e}"))?;
                o.proxy = Some(proxy);
            }
            "--no-proxy" => {
                only(false)?;
                flag()?;
                o.proxy = Some(Proxy::no_proxy());
            }
            "--host" => {
                only(true)?;
                let v = value()?;
                o.host = if v == "localhost" {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    v.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse()
                        .map_err(|_| format!("{name}: expected an IP address, got {v:?}"))?
                };
            }
            "-p" | "--port" => {
                only(true)?;
                o.port = Some(parse_number(name, &value()?)?);
            }
            "--echo" => {
                only(true)?;
                o.echo = flag()?;
            }
            _ => return Err(format!("unknown option {name:?}")),
        }
    }
    if o.cert.is_some() != o.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    if listen {
        if o.port.is_none() {
            return Err("listen needs --port".into());
        }
        Ok(Mode::Listen(o))
    } else {
        let url = url.ok_or("connect needs a URL")?;
        // Like a browser's address bar: a bare host:port means ws://.
        o.url = if url.contains("://") {
            url
        } else {
            format!("ws://{url}")
        };
        Ok(Mode::Connect(o))
    }
}

fn read_file(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

// ----- commands from stdin ------------------------------------------------------

/// What the stdin thread hands to the loop: plain data, so it is `Send`.
#[derive(Clone, Debug)]
enum Command {
    Text(String),
    Binary(usize),
    Ping(String),
    Close(u16, String),
    Abort,
    /// stdin ended.
    Eof,
}

/// The largest `/binary N` (1 GiB), so that a typo cannot exhaust memory.
const MAX_BINARY: usize = 1 << 30;

/// Parses one line; `Ok(None)` for a line handled here (`/help`).
fn parse_command(line: &str) -> Result<Option<Command>, String> {
    if let Some(rest) = line.strip_prefix("//") {
        return Ok(Some(Command::Text(format!("/{rest}"))));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Some(Command::Text(line.to_owned())));
    };
    let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
    let parsed = match name {
        "binary" => match rest.trim().parse() {
            Ok(n) if n <= MAX_BINARY => Command::Binary(n),
            _ => return Err(format!("usage: /binary N (N at most {MAX_BINARY})")),
        },
        "ping" => Command::Ping(rest.to_owned()),
        "close" => {
            let rest = rest.trim_start();
            if rest.is_empty() {
                Command::Close(1000, String::new())
            } else {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                match code.parse() {
                    Ok(code) => Command::Close(code, reason.to_owned()),
                    Err(_) => return Err("usage: /close [code [reason]]".into()),
                }
            }
        }
        "abort" if rest.trim().is_empty() => Command::Abort,
        "help" => {
            eprintln!("{COMMANDS}");
            return Ok(None);
        }
        _ => {
            return Err(format!(
                "unknown command /{name} (try /help; //text sends a text starting with /)"
            ));
        }
    };
    Ok(Some(parsed))
}

/// The loop side's input handler: set once by `main`, called with each
/// command posted by the stdin thread.
type Sink = Rc<dyn Fn(&EventLoop, Command)>;

thread_local! {
    /// The input handler of the event loop that runs on this thread. A
    /// closure posted through a [`Handle`] runs on the loop's thread, so it
    /// finds here the handler that `main` registered on that same thread;
    /// this is how a command reaches a `!Send` socket.
    static SINK: RefCell<Option<Sink>> = const { RefCell::new(None) };
}

fn set_sink(sink: impl Fn(&EventLoop, Command) + 'static) {
    SINK.with(|s| *s.borrow_mut() = Some(Rc::new(sink)));
}

/// Runs on the loop thread: hands `command` to the registered handler.
fn deliver(ev: &EventLoop, command: Command) {
    // Cloned out first, so the handler may itself use SINK.
    let sink = SINK.with(|s| s.borrow().clone());
    if let Some(sink) = sink {
        sink(ev, command);
    }
}

/// Reads stdin on its own thread and posts each command to the loop.
fn spawn_stdin_reader(handle: Handle) {
    let spawned = std::thread::Builder::new()
        .name("wscat-stdin".into())
        .spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match stdin.read_until(b'\n', &mut buf) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("wscat: cannot read stdin: {e}");
                        break;
                    }
                }
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches('\n').trim_end_matches('\r');
                match parse_command(line) {
                    Ok(Some(command)) => handle.post(move |ev| deliver(ev, command)),
                    Ok(None) => {}
                    Err(msg) => eprintln!("wscat: {msg}"),
                }
            }
            handle.post(|ev| deliver(ev, Command::Eof));
        });
    if let Err(e) = spawned {
        eprintln!("wscat: cannot start the stdin thread: {e}");
    }
}

/// Carries out a message command on one connected socket. `Eof` and `Abort`
/// are the caller's business.
fn send(ws: &WebSocket, command: &Command) {
    if ws.state() != SocketState::Connected {
        eprintln!("wscat: not connected; {} dropped", describe(command));
        return;
    }
    match command {
        Command::Text(text) => {
            ws.send_text_message(text);
        }
        Command::Binary(n) => {
            let data: Vec<u8> = (0..*n).map(|i| i as u8).collect();
            ws.send_binary_message(&data);
        }
        Command::Ping(payload) => {
            ws.ping(payload.as_bytes());
        }
        Command::Close(code, reason) => {
            if let Err(e) = ws.close(CloseCode::from(*code), reason) {
                eprintln!("wscat: /close {code} refused: {e}");
            }
        }
        Command::Abort => ws.abort(),
        Command::Eof => {}
    }
}

fn describe(command: &Command) -> &'static str {
    match command {
        Command::Text(_) => "text message",
        Command::Binary(_) => "binary message",
        Command::Ping(_) => "ping",
        Command::Close(..) => "close",
        Command::Abort => "abort",
        Command::Eof => "end of input",
    }
}

// ----- output -------------------------------------------------------------------

/// An argument of an output line, for the JSON form.
enum Val {
    Str(String),
    Int(i64),
    Num(f64),
    Bool(bool),
}

/// One line of output: a signal, its human-readable arguments (if it has
/// any) and the same as JSON values.
struct Line {
    signal: &'static str,
    text: Option<String>,
    args: Vec<Val>,
}

/// A line printed `signal: text`.
fn line(signal: &'static str, text: String, args: Vec<Val>) -> Line {
    Line {
        signal,
        text: Some(text),
        args,
    }
}

/// A line printed `signal` alone.
fn bare(signal: &'static str, args: Vec<Val>) -> Line {
    Line {
        signal,
        text: None,
        args,
    }
}

/// Prints lines, as text or JSON, with a peer prefix on the server side.
#[derive(Clone)]
struct Printer {
    json: bool,
    verbose: bool,
    peer: Option<Rc<str>>,
}

impl Printer {
    fn with_peer(&self, peer: String) -> Printer {
        Printer {
            peer: Some(peer.into()),
            ..self.clone()
        }
    }

    fn print(&self, l: Line) {
        let mut out = String::new();
        if self.json {
            out.push_str("{\"signal\": ");
            push_json_string(&mut out, l.signal);
            out.push_str(", \"args\": [");
            for (i, arg) in l.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match arg {
                    Val::Str(s) => push_json_string(&mut out, s),
                    Val::Int(n) => out.push_str(&n.to_string()),
                    Val::Num(x) if x.is_finite() => out.push_str(&format!("{x:.3}")),
                    Val::Num(_) => out.push_str("null"),
                    Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                }
            }
            out.push(']');
            if let Some(peer) = &self.peer {
                out.push_str(", \"peer\": ");
                push_json_string(&mut out, peer);
            }
            out.push('}');
        } else {
            if let Some(peer) = &self.peer {
                out.push_str(peer);
                out.push(' ');
            }
            out.push_str(l.signal);
            if let Some(text) = &l.text {
                out.push_str(": ");
                out.push_str(text);
            }
        }
        out.push('\n');
        // A closed stdout (`wscat ... | head -1`) is not worth dying for.
        let mut stdout = io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    /// Prints only with `--verbose`.
    fn detail(&self, l: Line) {
        if self.verbose {
            self.print(l);
        }
    }
}

/// Appends `c` as a JSON escape if it is a control character; false if not.
fn push_escaped_control(out: &mut String, c: char) -> bool {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        _ => return false,
    }
    true
}

/// Appends `s` as a JSON string literal.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if push_escaped_control(out, c) => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a quoted JSON string (also used in the text output).
fn quoted(s: &str) -> String {
    let mut out = String::new();
    push_json_string(&mut out, s);
    out
}

/// `s` on one line: its control characters escaped as in JSON, nothing else.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !push_escaped_control(&mut out, c) {
            out.push(c);
        }
    }
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_name(kind: SslErrorKind) -> String {
    format!("{kind:?}")
}

fn alert_line(signal: &'static str, alert: &SslAlert) -> Line {
    let level = format!("{:?}", alert.level);
    line(
        signal,
        format!("{level} {} ({})", alert.description, alert.code),
        vec![
            Val::Str(level),
            Val::Str(alert.description.clone()),
            Val::Int(alert.code.into()),
        ],
    )
}

fn ssl_errors_line(errors: &[SslError]) -> Line {
    let names: Vec<String> = errors.iter().map(|e| kind_name(e.kind())).collect();
    line(
        "ssl_errors",
        names.join(","),
        names.into_iter().map(Val::Str).collect(),
    )
}

fn error_line(signal: &'static str, kind: SocketError, text: String) -> Line {
    let name = format!("{kind:?}");
    line(
        signal,
        format!("{name}: {text}"),
        vec![Val::Str(name), Val::Str(text)],
    )
}

/// Connects the printing slots every socket has, client or server side.
/// `established`: the socket is connected already (a server's).
fn print_signals(ws: &WebSocket, p: &Printer, established: bool) {
    let p2 = p.clone();
    ws.text_message_received().connect(move |_, text| {
        p2.print(line("text", one_line(text), vec![Val::Str(text.into())]));
    });
    let p2 = p.clone();
    ws.binary_message_received().connect(move |_, data| {
        p2.print(line(
            "binary",
            format!("{} bytes", data.len()),
            vec![Val::Int(data.len() as i64), Val::Str(hex(data))],
        ));
    });
    let p2 = p.clone();
    ws.pong().connect(move |_, elapsed, payload| {
        let ms = elapsed.as_secs_f64() * 1000.0;
        let payload = String::from_utf8_lossy(payload);
        p2.print(line(
            "pong",
            format!("{ms:.1} ms {}", quoted(&payload)),
            vec![Val::Num(ms), Val::Str(payload.into_owned())],
        ));
    });
    // A connection that was never established has no close code to show
    // (close_code() still holds its initial 1000).
    let was_connected = Rc::new(Cell::new(established));
    let w = was_connected.clone();
    ws.connected().connect(move |_| w.set(true));
    let p2 = p.clone();
    ws.disconnected().connect(move |ws| {
        if !was_connected.get() {
            p2.print(bare("disconnected", vec![]));
            return;
        }
        let code = ws.close_code().code();
        let reason = ws.close_reason();
        p2.print(line(
            "disconnected",
            format!("{code} {}", quoted(&reason)),
            vec![Val::Int(code.into()), Val::Str(reason)],
        ));
    });
    if !p.verbose {
        return;
    }
    let p2 = p.clone();
    ws.state_changed().connect(move |_, state| {
        let name = format!("{state:?}");
        p2.detail(line("state", name.clone(), vec![Val::Str(name)]));
    });
    let p2 = p.clone();
    ws.about_to_close()
        .connect(move |_| p2.detail(bare("about_to_close", vec![])));
    let p2 = p.clone();
    ws.read_channel_finished()
        .connect(move |_| p2.detail(bare("read_channel_finished", vec![])));
    let p2 = p.clone();
    ws.text_frame_received().connect(move |_, text, last| {
        let more = if last { "" } else { " (more)" };
        p2.detail(line(
            "text_frame",
            format!("{}{more}", quoted(text)),
            vec![Val::Str(text.into()), Val::Bool(last)],
        ));
    });
    let p2 = p.clone();
    ws.binary_frame_received().connect(move |_, data, last| {
        let more = if last { "" } else { " (more)" };
        p2.detail(line(
            "binary_frame",
            format!("{} bytes{more}", data.len()),
            vec![Val::Int(data.len() as i64), Val::Bool(last)],
        ));
    });
    let p2 = p.clone();
    ws.bytes_written().connect(move |_, n| {
        p2.detail(line(
            "bytes_written",
            n.to_string(),
            vec![Val::Int(n as i64)],
        ));
    });
    let p2 = p.clone();
    ws.peer_verify_error().connect(move |_, e| {
        p2.detail(line(
            "peer_verify_error",
            format!("{}: {e}", kind_name(e.kind())),
            vec![Val::Str(kind_name(e.kind())), Val::Str(e.to_string())],
        ));
    });
    let p2 = p.clone();
    ws.alert_sent()
        .connect(move |_, alert| p2.detail(alert_line("alert_sent", alert)));
    let p2 = p.clone();
    ws.alert_received()
        .connect(move |_, alert| p2.detail(alert_line("alert_received", alert)));
}

/// Applies the limits and keepalive options to a socket.
fn configure(ws: &WebSocket, o: &Options) {
    if let Some(n) = o.max_message_size {
        ws.set_max_allowed_incoming_message_size(n);
        // A frame can be as large as a message.
        ws.set_max_allowed_incoming_frame_size(n);
    }
    if let Some(n) = o.outgoing_frame_size {
        ws.set_outgoing_frame_size(n);
    }
    if let Some(interval) = o.keepalive {
        ws.set_keepalive(Some(interval), interval);
    }
}

// ----- connect --------------------------------------------------------------------

/// What the client's slots and input handler share (no socket in it: the
/// slots get theirs as an argument).
#[derive(Default)]
struct ClientState {
    /// Commands read while connecting, sent once connected.
    pending: RefCell<Vec<Command>>,
    /// The first error that ended the connection.
    failure: RefCell<Option<String>>,
    connected: Cell<bool>,
    aborted: Cell<bool>,
}

impl ClientState {
    /// Carries out a command on the client socket.
    fn run(&self, ws: &WebSocket, command: Command) {
        match command {
            Command::Abort => {
                self.aborted.set(true);
                ws.abort();
            }
            Command::Eof => {
                if ws.state() == SocketState::Connected {
                    // Cannot fail: 1000 may always be sent.
                    let _ = ws.close(CloseCode::Normal, "");
                }
            }
            other => send(ws, &other),
        }
    }
}

fn run_client(o: Options) -> i32 {
    match client(o) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("wscat: {msg}");
            1
        }
    }
}

fn client(o: Options) -> Result<(), String> {
    let ev = EventLoop::new().map_err(|e| format!("cannot create the event loop: {e}"))?;
    let ws = match &o.origin {
        Some(origin) => WebSocket::with_origin(&ev, origin),
        None => WebSocket::new(&ev),
    };
    configure(&ws, &o);

    let mut tls = SslConfiguration::default();
    if !o.ca.is_empty() {
        tls.set_use_default_roots(false);
        for path in &o.ca {
            tls.add_ca_certificates_pem(&read_file(path)?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if let (Some(cert), Some(key)) = (&o.cert, &o.key) {
        tls.set_local_certificate_pem(&read_file(cert)?, &read_file(key)?)
            .map_err(|e| format!("--cert/--key: {e}"))?;
    }
    ws.set_ssl_configuration(tls);
    match &o.proxy {
        Some(proxy) => ws.set_proxy(proxy.clone()),
        None => ev.set_use_system_proxy_configuration(true),
    }
    ws.proxy_authentication_required()
        .connect(|_, proxy, auth| {
            if let Err(e) = ask_proxy_credentials(proxy, auth) {
                eprintln!("wscat: the proxy wants credentials and none could be asked for: {e}");
            }
        });
    let ignore_all = matches!(o.ignore, Some(Ignore::All));
    if let Some(Ignore::Kinds(kinds)) = &o.ignore {
        let list: Vec<SslError> = kinds.iter().map(|k| SslError::new(*k, None)).collect();
        ws.ignore_ssl_errors_list(&list);
    }

    let p = Printer {
        json: o.json,
        verbose: o.verbose,
        peer: None,
    };
    let state = Rc::new(ClientState::default());
    print_signals(&ws, &p, false);
    let p2 = p.clone();
    ws.ssl_errors().connect(move |ws, errors| {
        p2.print(ssl_errors_line(errors));
        if ignore_all {
            ws.ignore_ssl_errors();
        }
    });
    let (p2, s) = (p.clone(), state.clone());
    ws.connected().connect(move |ws| {
        let protocol = ws.subprotocol();
        p2.print(if protocol.is_empty() {
            bare("connected", vec![Val::Str(protocol)])
        } else {
            let text = format!("subprotocol {}", quoted(&protocol));
            line("connected", text, vec![Val::Str(protocol)])
        });
        s.connected.set(true);
        let pending = s.pending.take();
        for command in pending {
            s.run(ws, command);
        }
    });
    let (p2, s) = (p.clone(), state.clone());
    ws.error_occurred().connect(move |ws, kind| {
        let text = ws.error_string();
        p2.print(error_line("error", kind, text.clone()));
        // A refused send (a full send queue) does not end the connection.
        if kind != SocketError::Temporary && s.failure.borrow().is_none() {
            *s.failure.borrow_mut() = Some(format!("{kind:?}: {text}"));
        }
    });
    ws.disconnected().connect(|ws| {
        // Run returns after this turn, so an error_occurred that follows
        // (a failed connection emits it right after) is still printed.
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });

    let mut request = Request::new(
        o.url
            .parse()
            .map_err(|e| format!("invalid URL {:?}: {e}", o.url))?,
    );
    for (name, value) in &o.headers {
        request.set_header(name, value);
    }
    let protocols: Vec<&str> = o.subprotocols.iter().map(String::as_str).collect();
    let options = HandshakeOptions::new().with_subprotocols(&protocols);
    if let Err(kind) = ws.open_request_with_options(&request, &options) {
        // error_occurred was emitted (and printed) already.
        return Err(format!("{kind:?}: {}", ws.error_string()));
    }

    // A prompt for proxy credentials reads the terminal: when stdin is that
    // terminal, read it only once connected (lines typed meanwhile wait in
    // the terminal's buffer), so that the prompt gets what is typed.
    let proxy = match &o.proxy {
        Some(p) => p.clone(),
        None => Proxy::system_proxy_for(request.url()),
    };
    let prompt_may_run = proxy.kind() != ProxyType::NoProxy;
    if prompt_may_run && io::stdin().is_terminal() {
        let handle = ev.handle();
        let started = Cell::new(false);
        ws.connected().connect(move |_| {
            if !started.replace(true) {
                spawn_stdin_reader(handle.clone());
            }
        });
    } else {
        spawn_stdin_reader(ev.handle());
    }

    let (sock, s) = (ws.clone(), state.clone());
    set_sink(move |ev, command| {
        match (sock.state(), command) {
            (_, Command::Abort) => s.run(&sock, Command::Abort),
            (SocketState::Connecting, command) => s.pending.borrow_mut().push(command),
            (_, command) => s.run(&sock, command),
        }
        if sock.state() == SocketState::Unconnected {
            ev.quit(); // an abort while connecting emits no disconnected
        }
    });
    ev.run();

    if let Some(failure) = state.failure.take() {
        return Err(failure);
    }
    if !state.connected.get() && !state.aborted.get() {
        return Err("the connection ended before it was established".into());
    }
    Ok(())
}

/// Asks for the proxy's user name and password on the terminal.
fn ask_proxy_credentials(proxy: &Proxy, auth: &qwebsocket::Authenticator) -> io::Result<()> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let mut out = &tty;
    let realm = match auth.realm() {
        "" => String::new(),
        r => format!(" (realm {})", quoted(r)),
    };
    let default_user = proxy.user();
    write!(
        out,
        "proxy {}:{}{realm} user{}: ",
        proxy.host_name(),
        proxy.port(),
        if default_user.is_empty() {
            String::new()
        } else {
            format!(" [{default_user}]")
        }
    )?;
    out.flush()?;
    let mut reader = io::BufReader::new(&tty);
    let mut user = String::new();
    reader.read_line(&mut user)?;
    let user = match user.trim_end_matches(['\r', '\n']) {
        "" => default_user.to_owned(),
        typed => typed.to_owned(),
    };
    write!(out, "password: ")?;
    out.flush()?;
    let echo = EchoOff::new(&tty);
    let mut password = String::new();
    reader.read_line(&mut password)?;
    drop(echo);
    writeln!(out)?;
    auth.set_user(&user);
    auth.set_password(password.trim_end_matches(['\r', '\n']));
    Ok(())
}

/// Turns the terminal's echo off until dropped (for a password).
struct EchoOff {
    fd: i32,
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new(tty: &std::fs::File) -> EchoOff {
        use std::os::fd::AsRawFd;
        let fd = tty.as_raw_fd();
        // SAFETY: tcgetattr fills a termios we own, from a descriptor we hold open.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return EchoOff { fd, saved: None };
        }
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: sets the attributes of the same open descriptor.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
        EchoOff {
            fd,
            saved: Some(saved),
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // SAFETY: restores what tcgetattr read; the descriptor is still open.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, saved) };
        }
    }
}

// ----- listen ---------------------------------------------------------------------

fn run_server(o: Options) -> i32 {
    match server(o) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("wscat: {msg}");
            1
        }
    }
}

fn server(o: Options) -> Result<(), String> {
    let ev = EventLoop::new().map_err(|e| format!("cannot create the event loop: {e}"))?;
    let secure = o.cert.is_some();
    let mode = if secure {
        SslMode::SecureMode
    } else {
        SslMode::NonSecureMode
    };
    let server = WebSocketServer::new(&ev, "wscat", mode);
    if let (Some(cert), Some(key)) = (&o.cert, &o.key) {
        let mut tls = SslConfiguration::default();
        tls.set_local_certificate_pem(&read_file(cert)?, &read_file(key)?)
            .map_err(|e| format!("--cert/--key: {e}"))?;
        server.set_ssl_configuration(tls);
    }
    let protocols: Vec<&str> = o.subprotocols.iter().map(String::as_str).collect();
    server.set_supported_subprotocols(&protocols);
    if let Some(n) = o.max_message_size {
        server.set_max_allowed_incoming_message_size(n);
        server.set_max_allowed_incoming_frame_size(n);
    }

    let p = Printer {
        json: o.json,
        verbose: o.verbose,
        peer: None,
    };
    let p2 = p.clone();
    server.server_error().connect(move |server, code| {
        let text = server.error_string();
        p2.print(line(
            "server_error",
            format!("{} {}", code.code(), quoted(&text)),
            vec![Val::Int(code.code().into()), Val::Str(text)],
        ));
    });
    let p2 = p.clone();
    server.accept_error().connect(move |server, kind| {
        p2.print(error_line("accept_error", kind, server.error_string()));
    });
    let p2 = p.clone();
    server
        .ssl_errors()
        .connect(move |_, errors| p2.print(ssl_errors_line(errors)));
    let p2 = p.clone();
    server.peer_verify_error().connect(move |_, e| {
        p2.detail(line(
            "peer_verify_error",
            format!("{}: {e}", kind_name(e.kind())),
            vec![Val::Str(kind_name(e.kind())), Val::Str(e.to_string())],
        ));
    });

    server.listen(o.host, o.port.unwrap_or(0)).map_err(|kind| {
        format!(
            "cannot listen on {}: {kind:?}: {}",
            o.host,
            server.error_string()
        )
    })?;
    let host = match o.host {
        IpAddr::V6(a) => format!("[{a}]"),
        IpAddr::V4(a) => a.to_string(),
    };
    let scheme = if secure { "wss" } else { "ws" };
    let url = format!("{scheme}://{host}:{}", server.server_port());
    p.print(line("listening", url.clone(), vec![Val::Str(url)]));

    // The connected clients, weakly: the loop keeps an open connection alive,
    // and a closed one is dropped from the list by its disconnected slot.
    let clients: Rc<RefCell<Vec<WeakWebSocket>>> = Rc::default();
    let (list, opts) = (clients.clone(), Rc::new(o));
    server.new_connection().connect(move |server| {
        while let Some(ws) = server.next_pending_connection() {
            accept(&ws, &p, &opts, &list);
        }
    });

    set_sink(move |_, command| {
        let live: Vec<WebSocket> = clients
            .borrow()
            .iter()
            .filter_map(WeakWebSocket::upgrade)
            .collect();
        match command {
            Command::Eof => {}
            command if live.is_empty() => {
                eprintln!(
                    "wscat: no client is connected; {} dropped",
                    describe(&command)
                );
            }
            command => {
                for ws in &live {
                    send(ws, &command);
                }
            }
        }
    });
    spawn_stdin_reader(ev.handle());
    ev.run();
    Ok(())
}

/// Sets up a socket the server just accepted.
fn accept(ws: &WebSocket, p: &Printer, o: &Options, clients: &Rc<RefCell<Vec<WeakWebSocket>>>) {
    configure(ws, o);
    let peer = ws
        .peer_socket_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let p = p.with_peer(peer);
    print_signals(ws, &p, true);
    let p2 = p.clone();
    ws.error_occurred().connect(move |ws, kind| {
        p2.print(error_line("error", kind, ws.error_string()));
    });
    if o.echo {
        ws.text_message_received().connect(|ws, text| {
            ws.send_text_message(text);
        });
        ws.binary_message_received().connect(|ws, data| {
            ws.send_binary_message(data);
        });
    }
    let list = clients.clone();
    ws.disconnected().connect(move |ws| {
        list.borrow_mut()
            .retain(|c| c.upgrade().is_some_and(|c| c != *ws));
    });
    clients.borrow_mut().push(ws.downgrade());

    let path = ws.resource_name();
    let protocol = ws.subprotocol();
    let origin = ws.origin();
    let mut text = path.clone();
    if !protocol.is_empty() {
        text.push_str(&format!(" subprotocol {}", quoted(&protocol)));
    }
    if !origin.is_empty() {
        text.push_str(&format!(" origin {}", quoted(&origin)));
    }
    p.print(line(
        "connected",
        text,
        vec![Val::Str(path), Val::Str(protocol), Val::Str(origin)],
    ));
}
