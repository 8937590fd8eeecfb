//! tokio-tungstenite's echo server, the way its own example writes it: one
//! task per connection on a current-thread runtime, the read half forwarded
//! into the write half (`StreamExt::forward` feeds the sink and flushes when
//! the stream has nothing ready, so pipelined messages share writes).
//!
//! ```text
//! tokio_tungstenite_echo [--port P]
//! ```

use bench::args::Args;
use bench::sys;
use futures_util::{StreamExt, TryStreamExt, future};
use std::process::ExitCode;
use tokio::net::{TcpListener, TcpStream};

async fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (write, read) = ws.split();
    let _ = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await;
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
                    tokio::spawn(serve(stream));
                }
                Err(e) => eprintln!("tokio_tungstenite_echo: accept: {e}"),
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
            eprintln!("tokio_tungstenite_echo: {e}");
            return ExitCode::from(2);
        }
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_tungstenite_echo: {e}");
            ExitCode::FAILURE
        }
    }
}
