//! The signals of a WebSocket.

use crate::SocketError;
use crate::signal::Signal;
use crate::ssl::{SslAlert, SslError};
use crate::websocket::{SocketState, WebSocket};
use std::time::Duration;

crate::signal_signature!(&WebSocket);
crate::signal_signature!(&WebSocket, SocketState);
crate::signal_signature!(&WebSocket, SocketError);
crate::signal_signature!(&WebSocket, &str);
crate::signal_signature!(&WebSocket, &[u8]);
crate::signal_signature!(&WebSocket, &str, bool);
crate::signal_signature!(&WebSocket, &[u8], bool);
crate::signal_signature!(&WebSocket, Duration, &[u8]);
crate::signal_signature!(&WebSocket, u64);
crate::signal_signature!(&WebSocket, &[SslError]);
crate::signal_signature!(&WebSocket, &SslError);
crate::signal_signature!(&WebSocket, &SslAlert);
crate::signal_signature!(&WebSocket, &crate::Authenticator);
crate::signal_signature!(&WebSocket, &crate::proxy::Proxy, &crate::Authenticator);

/// Every signal of a socket, in one place.
#[derive(Default)]
pub(crate) struct Signals {
    pub(crate) connected: Signal<dyn Fn(&WebSocket)>,
    pub(crate) disconnected: Signal<dyn Fn(&WebSocket)>,
    pub(crate) state_changed: Signal<dyn Fn(&WebSocket, SocketState)>,
    pub(crate) about_to_close: Signal<dyn Fn(&WebSocket)>,
    pub(crate) read_channel_finished: Signal<dyn Fn(&WebSocket)>,
    pub(crate) error_occurred: Signal<dyn Fn(&WebSocket, SocketError)>,
    pub(crate) text_message_received: Signal<dyn Fn(&WebSocket, &str)>,
    pub(crate) binary_message_received: Signal<dyn Fn(&WebSocket, &[u8])>,
    pub(crate) text_frame_received: Signal<dyn Fn(&WebSocket, &str, bool)>,
    pub(crate) binary_frame_received: Signal<dyn Fn(&WebSocket, &[u8], bool)>,
    pub(crate) pong: Signal<dyn Fn(&WebSocket, Duration, &[u8])>,
    pub(crate) bytes_written: Signal<dyn Fn(&WebSocket, u64)>,
    pub(crate) ssl_errors: Signal<dyn Fn(&WebSocket, &[SslError])>,
    pub(crate) peer_verify_error: Signal<dyn Fn(&WebSocket, &SslError)>,
    pub(crate) handshake_interrupted_on_error: Signal<dyn Fn(&WebSocket, &SslError)>,
    pub(crate) alert_sent: Signal<dyn Fn(&WebSocket, &SslAlert)>,
    pub(crate) alert_received: Signal<dyn Fn(&WebSocket, &SslAlert)>,
    pub(crate) authentication_required: Signal<dyn Fn(&WebSocket, &crate::Authenticator)>,
    pub(crate) proxy_authentication_required:
        Signal<dyn Fn(&WebSocket, &crate::proxy::Proxy, &crate::Authenticator)>,
}
