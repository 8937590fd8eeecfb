//! An echo server: every text or binary message is sent back as it came.
//!
//! ```text
//! cargo run --release --example echo_server -- --host 127.0.0.1 --port 9001
//! ```
//!
//! Serves until killed. With `--port 0` a free port is chosen; the first line
//! printed is always `LISTENING <port>`.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{SslMode, WebSocketServer};
use std::io::Write;
use std::net::IpAddr;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut host: IpAddr = "127.0.0.1".parse()?;
    let mut port: u16 = 9001;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            "--host" => host = args.next().ok_or("--host needs a value")?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?} (use --host H --port P)").into());
            }
        }
    }
    let ev = EventLoop::new()?;
    let server = WebSocketServer::new(&ev, "qwebsocket echo", SslMode::NonSecureMode);
    server.set_max_pending_connections(1024);
    server.listen(host, port).map_err(|e| {
        format!(
            "cannot listen on {host}:{port}: {e}: {}",
            server.error_string()
        )
    })?;
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
