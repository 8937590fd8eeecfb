//! The sans-I/O WebSocket core: bytes in, events and bytes out.
//!
//! Nothing in this module touches a socket, a clock or a signal. Time comes in
//! as an [`Instant`](std::time::Instant) argument and the [`Session`] reports its
//! next deadline, so the real event loop and the fake reactor share one set of
//! timeout rules. Every RFC 6455 rule of the crate lives here.

pub mod close;
pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod session;
pub mod utf8;

pub use close::CloseCode;
pub use deflate::{CompressionOptions, DeflateParams};
pub use frame::{FrameHeader, OpCode};
pub use session::{Session, SessionConfig, SessionEvent};

use std::borrow::Cow;
use std::fmt;

/// Which end of the connection a [`Session`] plays.
///
/// The client masks every frame it sends and refuses masked frames; the server
/// never masks and refuses unmasked frames (RFC 6455 §5.1).
///
/// ```
/// use qwebsocket::protocol::Role;
/// assert_ne!(Role::Client, Role::Server);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that opened the connection and sent the upgrade request.
    Client,
    /// The end that accepted the connection and answered the upgrade request.
    Server,
}

/// A violation of RFC 6455 by the peer (or a limit it exceeded).
///
/// It carries the close code to send to the peer and a reason that is both the
/// close reason on the wire and the `error_string()` the application sees.
///
/// ```
/// use qwebsocket::protocol::{CloseCode, ProtocolError};
/// let e = ProtocolError::new(CloseCode::ProtocolError, "Rsv field is non-zero");
/// assert_eq!(e.to_string(), "Rsv field is non-zero (close code 1002)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError {
    /// The close code to send to the peer.
    pub code: CloseCode,
    /// A short human-readable reason (at most 123 bytes when sent on the wire).
    pub reason: Cow<'static, str>,
}

impl ProtocolError {
    /// Builds an error from a close code and a reason.
    ///
    /// ```
    /// use qwebsocket::protocol::{CloseCode, ProtocolError};
    /// let e = ProtocolError::new(CloseCode::TooMuchData, "Maximum framesize exceeded.");
    /// assert_eq!(e.code, CloseCode::TooMuchData);
    /// ```
    pub fn new(code: CloseCode, reason: impl Into<Cow<'static, str>>) -> Self {
        ProtocolError {
            code,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code.code())
    }
}

impl std::error::Error for ProtocolError {}
