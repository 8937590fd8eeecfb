//! A scriptable peer for interoperability tests against other implementations.
//!
//! ```text
//! interop_peer server [--port P] [--tls CERT.pem KEY.pem] [--compress] [--max-message N]
//! interop_peer client URL [--ca CA.pem]... [--ignore-ssl-errors] [--compress] [--max-message N]
//! ```
//!
//! `--compress` turns permessage-deflate on (the server accepts offers, the
//! client offers it; every message of 64 bytes or more is compressed), and
//! the client then prints `COMPRESSION <extension entry>` (or
//! `COMPRESSION none` if the server declined) right after `CONNECTED`.
//! `--max-message N` sets the largest message accepted (default 64 MiB):
//! a larger one, inflated or not, closes with 1009.
//!
//! `server` listens on 127.0.0.1 (port 0, the default, picks a free one),
//! prints `LISTENING <port>` first and serves until killed. With
//! `--tls CERT.pem KEY.pem` it serves `wss://` ([`SslMode::SecureMode`]) with
//! that certificate chain (PEM, leaf first) and private key (PEM); problems
//! with a client's TLS handshake are reported on stderr, and the server goes
//! on serving the others.
//!
//! `client` connects to a `ws://` or `wss://` URL. For `wss://`:
//!
//! * `--ca CA.pem` trusts the CA certificates in that file besides the
//!   default roots (`SslConfiguration::add_ca_certificates_pem`); it may be
//!   given several times;
//! * when the server's certificate has problems, `ssl_errors` fires and the
//!   client prints `SSL_ERRORS <kind>,<kind>,...` (Qt's names, e.g.
//!   `SSL_ERRORS SelfSignedCertificate`) before anything else it prints
//!   about the connection;
//! * `--ignore-ssl-errors` calls `ignore_ssl_errors()` in that slot, so that
//!   the connection goes on (for a self-signed test server); without it the
//!   handshake fails and no WebSocket byte is sent.
//!
//! Once connected, the client prints `CONNECTED` (followed, over TLS, by the
//! negotiated version and cipher suite, e.g.
//! `CONNECTED TLSv1_3 TLS13_AES_256_GCM_SHA384`), and both modes behave
//! alike. Every text or binary message is echoed as one message of the same
//! type, except these text commands:
//!
//! * `close <code> <reason>`: start the closing handshake with that code and reason;
//! * `ping <payload>`: send a ping with that payload, and when the pong arrives
//!   send the text `pong <payload>`;
//! * `frag <n> <text>`: send `<text>` split into frames of `n` bytes.
//!
//! The client prints `CLOSED <code> <reason>` when the connection is over and
//! exits 0, or exits 1 if it never connected (a refused certificate included).

use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::{SslConfiguration, SslError};
use qwebsocket::{
    CloseCode, CompressionOptions, HandshakeOptions, SslMode, WebSocket, WebSocketServer,
};
use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

const USAGE: &str = "usage: interop_peer server [--port P] [--tls CERT.pem KEY.pem] [--compress] \
                     [--max-message N]\n       \
                     interop_peer client URL [--ca CA.pem]... [--ignore-ssl-errors] [--compress] \
                     [--max-message N]";

/// What both modes share.
struct Common {
    compress: bool,
    max_message: u64,
}

type Error = Box<dyn std::error::Error>;

fn behave(ws: &WebSocket, max_message: u64) {
    ws.set_max_allowed_incoming_frame_size(64 << 20);
    ws.set_max_allowed_incoming_message_size(max_message);
    ws.text_message_received().connect(|ws, text| {
        if let Some(rest) = text.strip_prefix("close ") {
            let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
            match code.parse::<u16>() {
                Ok(code) => {
                    if let Err(e) = ws.close(CloseCode::from(code), reason) {
                        ws.send_text_message(&format!("error {e}"));
                    }
                }
                Err(_) => {
                    ws.send_text_message("error bad close code");
                }
            }
        } else if let Some(payload) = text.strip_prefix("ping ") {
            ws.ping(payload.as_bytes());
        } else if let Some(rest) = text.strip_prefix("frag ") {
            let (n, body) = rest.split_once(' ').unwrap_or((rest, ""));
            let old = ws.outgoing_frame_size();
            ws.set_outgoing_frame_size(n.parse().unwrap_or(old));
            ws.send_text_message(body);
            ws.set_outgoing_frame_size(old);
        } else {
            ws.send_text_message(text);
        }
    });
    ws.binary_message_received().connect(|ws, data| {
        ws.send_binary_message(data);
    });
    ws.pong().connect(|ws, _elapsed, payload| {
        ws.send_text_message(&format!("pong {}", String::from_utf8_lossy(payload)));
    });
}

fn read(path: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}").into())
}

/// `SelfSignedCertificate,HostNameMismatch`: the kinds, in order.
fn kinds(errors: &[SslError]) -> String {
    errors
        .iter()
        .map(|e| format!("{:?}", e.kind()))
        .collect::<Vec<_>>()
        .join(",")
}

fn server(port: u16, tls: Option<(String, String)>, common: Common) -> Result<(), Error> {
    let ev = EventLoop::new()?;
    let mode = if tls.is_some() {
        SslMode::SecureMode
    } else {
        SslMode::NonSecureMode
    };
    let server = WebSocketServer::new(&ev, "qwebsocket interop", mode);
    if let Some((cert, key)) = &tls {
        let mut config = SslConfiguration::default();
        config.set_local_certificate_pem(&read(cert)?, &read(key)?)?;
        server.set_ssl_configuration(config);
    }
    server.set_max_allowed_incoming_frame_size(64 << 20);
    server.set_max_allowed_incoming_message_size(common.max_message);
    if common.compress {
        server.set_compression(CompressionOptions::enabled());
    }
    server
        .listen("127.0.0.1".parse()?, port)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    println!("LISTENING {}", server.server_port());
    std::io::stdout().flush()?;
    let max_message = common.max_message;
    server.new_connection().connect(move |server| {
        while let Some(socket) = server.next_pending_connection() {
            behave(&socket, max_message);
        }
    });
    server.ssl_errors().connect(|_, errors| {
        eprintln!("server: a client's TLS handshake failed: {}", kinds(errors));
    });
    server.server_error().connect(|server, code| {
        eprintln!("server: error {}: {}", code.code(), server.error_string());
    });
    ev.run();
    Ok(())
}

fn client(url: &str, cas: &[String], ignore_ssl_errors: bool, common: Common) -> Result<(), Error> {
    let ev = EventLoop::new()?;
    let ws = WebSocket::new(&ev);
    if !cas.is_empty() {
        let mut config = SslConfiguration::default();
        for ca in cas {
            config.add_ca_certificates_pem(&read(ca)?)?;
        }
        ws.set_ssl_configuration(config);
    }
    behave(&ws, common.max_message);
    ws.ssl_errors().connect(move |ws, errors| {
        println!("SSL_ERRORS {}", kinds(errors));
        for e in errors {
            eprintln!("certificate problem: {e}");
        }
        if ignore_ssl_errors {
            ws.ignore_ssl_errors();
        }
    });
    let connected = Rc::new(Cell::new(false));
    let c = connected.clone();
    let compress = common.compress;
    ws.connected().connect(move |ws| {
        c.set(true);
        let tls = ws.ssl_configuration();
        match (tls.session_protocol(), tls.session_cipher()) {
            (Some(version), Some(cipher)) => println!("CONNECTED {version} {cipher}"),
            _ => println!("CONNECTED"),
        }
        if compress {
            match ws.compression() {
                Some(params) => println!("COMPRESSION {params}"),
                None => println!("COMPRESSION none"),
            }
        }
    });
    ws.error_occurred()
        .connect(|ws, e| eprintln!("error {e:?}: {}", ws.error_string()));
    ws.disconnected().connect(|ws| {
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });
    let mut options = HandshakeOptions::new();
    if common.compress {
        options = options.with_compression(CompressionOptions::enabled());
    }
    ws.open_with_options(url, &options)?;
    // A safety net: an interop test never hangs forever.
    ev.add_timer(Duration::from_secs(300), |ev| ev.quit());
    ev.run();
    if !connected.get() {
        eprintln!("never connected: {}", ws.error_string());
        std::process::exit(1);
    }
    println!("CLOSED {} {}", ws.close_code(), ws.close_reason());
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    let mut port = 0u16;
    let mut tls = None;
    let mut cas = Vec::new();
    let mut ignore_ssl_errors = false;
    let mut url = None;
    let mut common = Common {
        compress: false,
        max_message: 64 << 20,
    };
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match (mode.as_str(), arg.as_str()) {
            ("server", "--port") => port = value()?.parse()?,
            ("server", "--tls") => {
                let cert = value()?;
                let key = value()?;
                tls = Some((cert, key));
            }
            ("client", "--ca") => cas.push(value()?),
            ("client", "--ignore-ssl-errors") => ignore_ssl_errors = true,
            (_, "--compress") => common.compress = true,
            (_, "--max-message") => common.max_message = value()?.parse()?,
            ("client", _) if url.is_none() && !arg.starts_with("--") => url = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
        }
    }
    match mode.as_str() {
        "server" => server(port, tls, common),
        "client" => client(
            &url.ok_or_else(|| format!("client needs a URL\n{USAGE}"))?,
            &cas,
            ignore_ssl_errors,
            common,
        ),
        _ => Err(USAGE.into()),
    }
}
