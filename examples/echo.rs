//! A self-contained demo: a server and a client on one event loop.
//!
//! The server echoes every message. The client sends a text message, a
//! binary message and a ping, then closes with a code and a reason. Every
//! signal is printed as it is emitted; the program exits 0 when the closing
//! handshake is complete.
//!
//! Run it with `cargo run --example echo`.

use qwebsocket::event_loop::EventLoop;
use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ev = EventLoop::new()?;

    // The server: echo everything back.
    let server = WebSocketServer::new(&ev, "echo", SslMode::NonSecureMode);
    server.listen("127.0.0.1".parse()?, 0)?;
    let url = server.server_url().ok_or("the server is not listening")?;
    println!("server: listening on {url}");
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
    let echoes = Rc::new(Cell::new(0));
    client
        .state_changed()
        .connect(|_, state| println!("client: state {state:?}"));
    client.connected().connect(|ws| {
        println!(
            "client: connected to {}",
            ws.request_url().map(|u| u.to_string()).unwrap_or_default()
        );
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
    let e = echoes.clone();
    client.pong().connect(move |ws, elapsed, payload| {
        println!(
            "client: pong {:?} after {:?}",
            String::from_utf8_lossy(payload),
            elapsed
        );
        e.set(e.get() + 1);
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
    client.open(url.as_str())?;

    // Never hang: give up after ten seconds.
    ev.add_timer(Duration::from_secs(10), |ev| {
        eprintln!("timed out");
        ev.quit();
    });
    ev.run();
    if echoes.get() == 1 && client.close_code() == CloseCode::Normal {
        println!("done");
        Ok(())
    } else {
        Err("the demo did not complete".into())
    }
}
