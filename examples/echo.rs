//! A self-contained demo: a server and a client on one event loop.
//!
//! The server echoes every message. The client sends a text message, a
//! binary message and a ping, then closes with a code and a reason. Every
//! signal is printed as it is emitted; the program exits 0 when the closing
//! handshake is complete.
//!
//! Run it with `cargo run --example echo`, or `cargo run --example echo -- --tls`
//! for `wss://`: a throwaway certificate authority and a server certificate
//! for `localhost` are made at run time (with rcgen), the server uses the
//! certificate, and the client trusts that authority and no other.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::ssl::SslConfiguration;
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[path = "shared/certs.rs"]
mod certs;
use certs::throwaway_certificates;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tls = std::env::args().skip(1).any(|a| a == "--tls");
    let ev = EventLoop::new()?;

    // The server: echo everything back.
    let mode = if tls {
        SslMode::SecureMode
    } else {
        SslMode::NonSecureMode
    };
    let server = WebSocketServer::new(&ev, "echo", mode);
    let mut client_tls = SslConfiguration::default();
    if tls {
        let (ca_pem, chain_pem, key_pem) = throwaway_certificates()?;
        let mut server_tls = SslConfiguration::default();
        server_tls.set_local_certificate_pem(chain_pem.as_bytes(), key_pem.as_bytes())?;
        server.set_ssl_configuration(server_tls);
        client_tls.set_use_default_roots(false);
        client_tls.add_ca_certificates_pem(ca_pem.as_bytes())?;
    }
    server
        .listen("127.0.0.1".parse()?, 0)
        .map_err(|e| format!("cannot listen ({e:?}): {}", server.error_string()))?;
    let url = if tls {
        format!("wss://localhost:{}/", server.server_port())
    } else {
        format!("ws://127.0.0.1:{}/", server.server_port())
    };
    println!("server: listening, clients use {url}");
    server.new_connection().connect(|server| {
        while let Some(socket) = server.next_pending_connection() {
            println!(
                "server: new connection from {:?}",
                socket.peer_socket_addr()
            );
            socket.text_message_received().connect(|ws, text| {
                println!("server: echoing text {text:?}");
                ws.send_text_message(text);
            });
            socket.binary_message_received().connect(|ws, data| {
                println!("server: echoing {} bytes", data.len());
                ws.send_binary_message(data);
            });
            socket.disconnected().connect(|ws| {
                println!(
                    "server: client left with {} {:?}",
                    ws.close_code(),
                    ws.close_reason()
                );
            });
        }
    });

    // The client.
    let client = WebSocket::new(&ev);
    client.set_ssl_configuration(client_tls);
    let pongs = Rc::new(Cell::new(0));
    client
        .state_changed()
        .connect(|_, state| println!("client: state {state:?}"));
    client.ssl_errors().connect(|_, errors| {
        for e in errors {
            eprintln!("client: certificate problem: {e}");
        }
    });
    client.connected().connect(|ws| {
        let url = ws.request_url().map(|u| u.to_string()).unwrap_or_default();
        println!("client: connected to {url}");
        let tls = ws.ssl_configuration();
        if let (Some(version), Some(cipher)) = (tls.session_protocol(), tls.session_cipher()) {
            println!("client: TLS {version}, {cipher}");
        }
        ws.send_text_message("Hello, qwebsocket");
        ws.send_binary_message(&[0xde, 0xad, 0xbe, 0xef]);
        ws.ping(b"are you there?");
    });
    client
        .text_message_received()
        .connect(|_, text| println!("client: text echo {text:?}"));
    client
        .binary_message_received()
        .connect(|_, data| println!("client: binary echo {data:x?}"));
    let p = pongs.clone();
    client.pong().connect(move |ws, elapsed, payload| {
        println!(
            "client: pong {:?} after {elapsed:?}",
            String::from_utf8_lossy(payload)
        );
        p.set(p.get() + 1);
        ws.close(CloseCode::Normal, "demo finished")
            .expect("1000 may be sent");
    });
    client.error_occurred().connect(|ws, error| {
        eprintln!("client: error {error:?}: {}", ws.error_string());
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });
    client.disconnected().connect(|ws| {
        println!(
            "client: disconnected, close code {} {:?}",
            ws.close_code(),
            ws.close_reason()
        );
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });
    client.open(&url)?;

    // Never hang: give up after ten seconds.
    ev.add_timer(Duration::from_secs(10), |ev| {
        eprintln!("timed out");
        ev.quit();
    });
    ev.run();
    if pongs.get() == 1 && client.close_code() == CloseCode::Normal {
        println!("done");
        Ok(())
    } else {
        Err("the demo did not complete".into())
    }
}
