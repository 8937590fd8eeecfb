//! qwebsocket's echo server, as `examples/echo_server.rs`: every message goes
//! back from the slot it arrived in, on one `EventLoop`.
//!
//! ```text
//! qws_echo [--port P]
//! ```

use bench::args::Args;
use bench::sys;
use qwebsocket::event_loop::EventLoop;
use qwebsocket::{SslMode, WebSocketServer};
use std::process::ExitCode;

fn run(port: u16) -> Result<(), String> {
    let ev = EventLoop::new().map_err(|e| format!("event loop: {e}"))?;
    let server = WebSocketServer::new(&ev, "qwebsocket bench", SslMode::NonSecureMode);
    // Connections are taken from the queue as they come: the limit only
    // matters for a burst of thousands within one loop turn.
    server.set_max_pending_connections(8192);
    server
        .listen("127.0.0.1".parse().expect("an address"), port)
        .map_err(|e| format!("listen: {e}: {}", server.error_string()))?;
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
    bench::print_ready(server.server_port());
    ev.run();
    Ok(())
}

fn main() -> ExitCode {
    sys::raise_fd_limit();
    let mut args = Args::from_env();
    let port = match args
        .get("--port", 0u16)
        .and_then(|p| args.finish().map(|()| p))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("qws_echo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qws_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
