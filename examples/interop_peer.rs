//! A scriptable peer for interoperability tests against other implementations.
//!
//! ```text
//! interop_peer server --port 0      # prints LISTENING <port>, serves until killed
//! interop_peer client ws://127.0.0.1:8765/
//! ```
//!
//! Once connected, both modes behave alike. Every text or binary message is
//! echoed as one message of the same type, except these text commands:
//!
//! * `close <code> <reason>`: start the closing handshake with that code and reason;
//! * `ping <payload>`: send a ping with that payload, and when the pong arrives
//!   send the text `pong <payload>`;
//! * `frag <n> <text>`: send `<text>` split into frames of `n` bytes.
//!
//! The client prints `CLOSED <code> <reason>` when the connection is over and
//! exits 0, or exits 1 if it never connected.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

fn behave(ws: &WebSocket) {
    ws.set_max_allowed_incoming_frame_size(64 << 20);
    ws.set_max_allowed_incoming_message_size(64 << 20);
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

fn server(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;
    let server = WebSocketServer::new(&ev, "qwebsocket interop", SslMode::NonSecureMode);
    server.set_max_allowed_incoming_frame_size(64 << 20);
    server.set_max_allowed_incoming_message_size(64 << 20);
    server.listen("127.0.0.1".parse()?, port)?;
    println!("LISTENING {}", server.server_port());
    std::io::stdout().flush()?;
    server.new_connection().connect(|server| {
        while let Some(socket) = server.next_pending_connection() {
            behave(&socket);
        }
    });
    ev.run();
    Ok(())
}

fn client(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;
    let ws = WebSocket::new(&ev);
    behave(&ws);
    let connected = Rc::new(Cell::new(false));
    let c = connected.clone();
    ws.connected().connect(move |_| c.set(true));
    ws.error_occurred()
        .connect(|ws, e| eprintln!("error {e:?}: {}", ws.error_string()));
    ws.disconnected().connect(|ws| {
        if let Some(ev) = ws.event_loop() {
            ev.quit();
        }
    });
    ws.open(url)?;
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["server", "--port", p] => server(p.parse()?),
        ["server"] => server(0),
        ["client", url] => client(url),
        _ => Err("usage: interop_peer server --port P | interop_peer client URL".into()),
    }
}
