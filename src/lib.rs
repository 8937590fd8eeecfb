//! qwebsocket: Qt's `QWebSocket` and `QWebSocketServer` for Rust.
//!
//! (Crate documentation is being written.)
#![deny(missing_docs)]

pub mod error;
pub mod event_loop;
pub mod protocol;
mod server;
pub mod signal;
mod socket;
pub mod testing;
mod transport;
mod websocket;

pub(crate) use signal::signal_signature;

pub use error::SocketError;
pub use protocol::CloseCode;
pub use server::{SslMode, WebSocketServer};
pub use websocket::{
    CloseError, DEFAULT_OUTGOING_FRAME_SIZE, MAX_INCOMING_SIZE, MAX_OUTGOING_FRAME_SIZE,
    SocketState, WeakWebSocket, WebSocket,
};
