//! Qt's `QWebSocket` and `QWebSocketServer` for Rust: RFC 6455 WebSockets
//! with signals and slots on a single-threaded [`mio`] event loop.
//!
//! # The model in one page
//!
//! * An [`EventLoop`](event_loop::EventLoop) owns a `mio::Poll`, timers and a
//!   queue of deferred calls. Everything runs on its thread, when you call
//!   [`run`](event_loop::EventLoop::run) or
//!   [`process_events`](event_loop::EventLoop::process_events). No async
//!   runtime, no locks, no threads except for host-name lookups.
//! * A [`WebSocket`] is a cheap handle to one connection (clone it freely);
//!   a [`WebSocketServer`] accepts connections and hands you server-side
//!   `WebSocket`s. Their methods have Qt's names in snake case:
//!   `sendTextMessage` is [`WebSocket::send_text_message`].
//! * They tell you what happens through **signals**: `ws.connected()`,
//!   `ws.text_message_received()`, `server.new_connection()`… Connect a
//!   closure (a **slot**) with `.connect(...)`. Every slot gets the emitting
//!   object as its first argument, so it does not need to capture a handle
//!   to it. A slot may call any method of any object, including closing or
//!   dropping the one that is emitting; see [`signal`] for the rules.
//! * Sends are *corked*: what slots send during one turn of the loop is
//!   written in one go when control returns to the loop.
//! * An open connection is kept alive by its loop; once it is unconnected,
//!   the last handle you hold frees it.
//! * Every rule of RFC 6455 lives in the sans-I/O [`protocol`] module, which
//!   also owns every timeout (time is passed in). The [`testing`] module
//!   drives real sockets over an in-memory network with a manual clock, for
//!   your own unit tests.
//!
//! # Example: an echo server and a client on one loop
//!
//! ```
//! use qwebsocket::event_loop::EventLoop;
//! use qwebsocket::{CloseCode, SslMode, WebSocket, WebSocketServer};
//!
//! let ev = EventLoop::new()?;
//! let server = WebSocketServer::new(&ev, "echo", SslMode::NonSecureMode);
//! server.listen("127.0.0.1".parse().unwrap(), 0).unwrap();
//! server.new_connection().connect(|server| {
//!     while let Some(socket) = server.next_pending_connection() {
//!         socket.text_message_received().connect(|ws, text| {
//!             ws.send_text_message(text);
//!         });
//!     }
//! });
//!
//! let client = WebSocket::new(&ev);
//! client.connected().connect(|ws| {
//!     ws.send_text_message("hello");
//! });
//! client.text_message_received().connect(|ws, text| {
//!     assert_eq!(text, "hello");
//!     ws.close(CloseCode::Normal, "bye").unwrap();
//! });
//! client.disconnected().connect(|ws| ws.event_loop().unwrap().quit());
//! client.open(server.server_url().unwrap().as_str()).unwrap();
//! ev.run();
//! assert_eq!(client.close_code(), CloseCode::Normal);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Threads
//!
//! A loop and everything on it (sockets, servers, timers) belong to the
//! thread that made them: they are `!Send`, so the compiler refuses to move
//! a socket to another thread. Another thread reaches the loop through
//! [`EventLoop::handle`](event_loop::EventLoop::handle), whose
//! [`post`](event_loop::Handle::post) runs a closure carrying only data on
//! the loop thread, where the socket is (`examples/worker_thread.rs`).
//!
//! ```compile_fail,E0277
//! use qwebsocket::{event_loop::EventLoop, WebSocket};
//! let ev = EventLoop::new().unwrap();
//! let ws = WebSocket::new(&ev);
//! std::thread::spawn(move || ws.send_text_message("x")); // `Rc` cannot be sent
//! ```
//!
//! # What is not here yet
//!
//! permessage-deflate is not built yet; see the README's feature list.
//! `wss://` is described in [`ssl`], proxies in [`proxy`].
#![deny(missing_docs)]

pub mod error;
pub mod event_loop;
pub mod protocol;
pub mod proxy;
mod request;
mod server;
pub mod signal;
mod socket;
pub mod ssl;
pub mod testing;
mod transport;
mod websocket;

pub(crate) use signal::signal_signature;

pub use error::SocketError;
pub use protocol::{CloseCode, CompressionOptions, DeflateParams};
pub use request::{Authenticator, HandshakeOptions, Request, Version};
pub use server::{CorsAuthenticator, SslMode, WebSocketServer};
/// The `url` crate, whose `Url` type `open_url` and `Request` take.
pub use url;
pub use websocket::{
    CloseError, DEFAULT_OUTGOING_FRAME_SIZE, DEFAULT_SEND_QUEUE_LIMIT, MAX_INCOMING_SIZE,
    MAX_OUTGOING_FRAME_SIZE, MaskGenerator, PauseMode, SocketState, WeakWebSocket, WebSocket,
};

/// The README and the guides in `docs/`, compiled and run as doctests so that
/// their code cannot drift from the library (`cargo test --doc`). Not part of
/// the API: the module exists only when rustdoc collects doctests.
#[cfg(doctest)]
pub mod guides {
    #[doc = include_str!("../README.md")]
    pub struct Readme;

    #[doc = include_str!("../docs/guide.md")]
    pub struct Guide;

    #[doc = include_str!("../docs/testing.md")]
    pub struct Testing;

    #[doc = include_str!("../docs/coming-from-qt.md")]
    pub struct ComingFromQt;

    #[doc = include_str!("../docs/coming-from-tungstenite.md")]
    pub struct ComingFromTungstenite;
}
