//! The echo server the Autobahn TestSuite's fuzzing client tests.
//!
//! ```text
//! cargo run --release --example autobahn_server -- --port 9002 [--tls CERT.pem KEY.pem]
//! kosoku -m fuzzingclient 127.0.0.1:9002
//! ```
//!
//! Limits are raised to pass the large-message cases (9.*: up to 16 MiB).
//! permessage-deflate is accepted (cases 12.* and 13.*): every valid offer,
//! the client's parameters honoured. Every message is echoed compressed
//! (threshold 0): kosoku 0.1.0's 12/13 cases hash a received text message
//! only when it arrived compressed (an uncompressed one reaches them as a
//! `str` and the case errors out), although RFC 7692 lets any message go
//! uncompressed.
//! The first line printed is `LISTENING <port>`; it serves until killed.
//!
//! `--tls CERT.pem KEY.pem` serves `wss://` instead ([`SslMode::SecureMode`])
//! with that certificate chain (PEM, leaf first) and private key (PEM). kosoku
//! speaks only `ws://`, so `cargo xtask test` puts a TLS terminator in front
//! of it (stunnel in client mode: see tests/autobahn/README.md).

use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CompressionOptions, SslMode, WebSocketServer};
use std::io::Write;

const USAGE: &str = "use --port P [--tls CERT.pem KEY.pem]";

fn read(path: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}").into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 9002;
    let mut tls = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value ({USAGE})"));
        match arg.as_str() {
            "--port" => port = value()?.parse()?,
            "--tls" => {
                let cert = value()?;
                let key = value()?;
                tls = Some((cert, key));
            }
            other => return Err(format!("unknown argument {other:?} ({USAGE})").into()),
        }
    }
    let ev = EventLoop::new()?;
    let mode = if tls.is_some() {
        SslMode::SecureMode
    } else {
        SslMode::NonSecureMode
    };
    let server = WebSocketServer::new(&ev, "qwebsocket", mode);
    if let Some((cert, key)) = &tls {
        let mut config = SslConfiguration::default();
        config.set_local_certificate_pem(&read(cert)?, &read(key)?)?;
        server.set_ssl_configuration(config);
    }
    server.set_max_pending_connections(1024);
    server.set_max_allowed_incoming_frame_size(64 << 20);
    server.set_max_allowed_incoming_message_size(64 << 20);
    server.set_compression(CompressionOptions {
        threshold: 0,
        ..CompressionOptions::enabled()
    });
    server
        .listen("127.0.0.1".parse()?, port)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    println!("LISTENING {}", server.server_port());
    std::io::stdout().flush()?;
    server.new_connection().connect(|server| {
        while let Some(socket) = server.next_pending_connection() {
            socket.text_message_received().connect(|ws, text| {
                ws.send_text_message(text);
            });
            socket.binary_message_received().connect(|ws, data| {
                ws.send_binary_message(data);
            });
        }
    });
    server.ssl_errors().connect(|_, errors| {
        eprintln!("a client's TLS handshake failed: {errors:?}");
    });
    ev.run();
    Ok(())
}
