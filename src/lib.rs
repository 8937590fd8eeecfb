//! qwebsocket: Qt's `QWebSocket` and `QWebSocketServer` for Rust.
#![deny(missing_docs)]

pub mod error;
pub mod protocol;
pub mod signal;

pub use error::SocketError;
pub use protocol::CloseCode;
