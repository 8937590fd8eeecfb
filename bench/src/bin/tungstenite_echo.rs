//! tungstenite's echo server, the way its own examples write it: blocking
//! sockets and one thread per connection, each message sent back with
//! `send` (write and flush).
//!
//! ```text
//! tungstenite_echo [--port P]
//! ```

use bench::args::Args;
use bench::sys;
use std::net::TcpListener;
use std::process::ExitCode;
use tungstenite::Message;

fn serve(stream: std::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                if ws.send(msg).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn run(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    bench::print_ready(listener.local_addr()?.port());
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream));
            }
            Err(e) => eprintln!("tungstenite_echo: accept: {e}"),
        }
    }
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
            eprintln!("tungstenite_echo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tungstenite_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
