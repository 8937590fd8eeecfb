//! The echo server the Autobahn TestSuite's fuzzing client tests.
//!
//! ```text
//! cargo run --release --example autobahn_server -- --port 9002
//! kosoku -m fuzzingclient 127.0.0.1:9002
//! ```
//!
//! Limits are raised to pass the large-message cases (9.*: up to 16 MiB).
//! The first line printed is `LISTENING <port>`; it serves until killed.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{SslMode, WebSocketServer};
use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port: u16 = 9002;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => return Err(format!("unknown argument {other:?} (use --port P)").into()),
        }
    }
    let ev = EventLoop::new()?;
    let server = WebSocketServer::new(&ev, "qwebsocket", SslMode::NonSecureMode);
    server.set_max_pending_connections(1024);
    server.set_max_allowed_incoming_frame_size(64 << 20);
    server.set_max_allowed_incoming_message_size(64 << 20);
    server.listen("127.0.0.1".parse()?, port)?;
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
    ev.run();
    Ok(())
}
