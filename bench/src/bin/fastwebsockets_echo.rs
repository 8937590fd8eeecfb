//! fastwebsockets' echo server, as its own example: a `FragmentCollector`
//! (whole messages, UTF-8 checked) per connection, each frame written back
//! with `write_frame`, the task run `unconstrained`, on a current-thread
//! runtime.
//!
//! The upgrade is read and answered here (as in fastwebsockets' README:
//! "handshake, then `WebSocket::after_handshake`") instead of through hyper:
//! it happens before the measured window, and no HTTP server stays attached
//! to the connection afterwards.
//!
//! ```text
//! fastwebsockets_echo [--port P]
//! ```

use bench::args::Args;
use bench::{sys, upgrade};
use fastwebsockets::{FragmentCollector, OpCode, Role, WebSocket};
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads the upgrade request, exactly up to its blank line (frames may
/// follow), and answers it.
async fn handshake(stream: &mut TcpStream) -> Result<(), String> {
    let mut head = Vec::new();
    let mut peeked = [0u8; 4096];
    loop {
        let n = stream.peek(&mut peeked).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the upgrade".into());
        }
        let have = head.len();
        head.extend_from_slice(&peeked[..n]);
        let take = match upgrade::head_len(&head) {
            Some(len) => len - have,
            None => n,
        };
        head.truncate(have);
        let mut chunk = vec![0u8; take];
        stream
            .read_exact(&mut chunk)
            .await
            .map_err(|e| e.to_string())?;
        head.extend_from_slice(&chunk);
        if let Some(len) = upgrade::head_len(&head) {
            let answer = upgrade::server_response(&head[..len])?;
            return stream.write_all(&answer).await.map_err(|e| e.to_string());
        }
        if head.len() > 16 * 1024 {
            return Err("upgrade request too long".into());
        }
    }
}

async fn serve(mut stream: TcpStream) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    handshake(&mut stream).await?;
    let mut ws = FragmentCollector::new(WebSocket::after_handshake(stream, Role::Server));
    loop {
        let frame = ws.read_frame().await.map_err(|e| e.to_string())?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => {
                ws.write_frame(frame).await.map_err(|e| e.to_string())?;
            }
            _ => {}
        }
    }
}

fn run(port: u16) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        bench::print_ready(listener.local_addr()?.port());
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(tokio::task::unconstrained(serve(stream)));
                }
                Err(e) => eprintln!("fastwebsockets_echo: accept: {e}"),
            }
        }
    })
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
            eprintln!("fastwebsockets_echo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fastwebsockets_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
