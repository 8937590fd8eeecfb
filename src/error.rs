//! Error kinds, named after Qt's `QAbstractSocket::SocketError`.

use std::fmt;

/// What went wrong with a socket, as reported by `error()` and `error_occurred`.
///
/// The variants and their numeric values ([`SocketError::qt_value`]) follow
/// Qt's `QAbstractSocket::SocketError`. Variants that Qt has for other socket
/// types and that a WebSocket can meet later (proxies, TLS) are present so that
/// code ported from Qt can match on them.
///
/// It is `Copy`; [`Display`](fmt::Display) gives a short sentence, and the
/// socket's `error_string()` the details of the one that happened.
///
/// ```
/// use qwebsocket::SocketError;
/// assert_eq!(SocketError::ConnectionRefused.qt_value(), 0);
/// assert_eq!(SocketError::Unknown.qt_value(), -1);
/// assert_eq!(SocketError::HostNotFound.to_string(), "host not found");
/// let boxed: Box<dyn std::error::Error> = Box::new(SocketError::SocketTimeout);
/// assert_eq!(boxed.to_string(), "operation timed out");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketError {
    /// The peer refused the connection, or the opening handshake failed.
    ConnectionRefused,
    /// The peer closed the connection without a closing handshake.
    RemoteHostClosed,
    /// The host name could not be resolved.
    HostNotFound,
    /// The operating system refused the operation (permissions).
    SocketAccess,
    /// The system ran out of a resource (too many open sockets).
    SocketResource,
    /// An operation timed out: the client's connect and opening handshake
    /// (`set_handshake_timeout`), or a frame left incomplete by the peer
    /// (`set_incomplete_frame_timeout`). A peer that does not answer a close
    /// frame in time is not reported as an error.
    SocketTimeout,
    /// Not used by WebSockets; present for parity with Qt.
    DatagramTooLarge,
    /// A network error, such as a write failure or a reset connection.
    Network,
    /// The address is already in use (listen).
    AddressInUse,
    /// The address does not belong to this host (listen).
    SocketAddressNotAvailable,
    /// The operation is not supported (unknown URL scheme, TLS not available).
    UnsupportedSocketOperation,
    /// An operation is still in progress.
    UnfinishedSocketOperation,
    /// The proxy requires authentication.
    ProxyAuthenticationRequired,
    /// The TLS handshake failed.
    SslHandshakeFailed,
    /// The proxy refused the connection.
    ProxyConnectionRefused,
    /// The proxy closed the connection unexpectedly.
    ProxyConnectionClosed,
    /// The proxy did not answer in time.
    ProxyConnectionTimeout,
    /// The proxy host was not found.
    ProxyNotFound,
    /// The proxy's answer could not be understood.
    ProxyProtocol,
    /// The operation is not allowed in the socket's current state.
    Operation,
    /// An internal TLS library error.
    SslInternal,
    /// Invalid data was given to the TLS library.
    SslInvalidUserData,
    /// A temporary error; retrying may succeed.
    Temporary,
    /// The peer violated the WebSocket protocol (a qwebsocket addition: Qt reports
    /// these only through `close_code()`). `error_string()` holds the reason.
    Protocol,
    /// No error has happened yet, or the error has no better kind.
    Unknown,
}

impl SocketError {
    /// The numeric value Qt gives this error (`Unknown` is -1; [`SocketError::Protocol`],
    /// which Qt does not have, is 100).
    ///
    /// ```
    /// use qwebsocket::SocketError;
    /// assert_eq!(SocketError::RemoteHostClosed.qt_value(), 1);
    /// assert_eq!(SocketError::SslHandshakeFailed.qt_value(), 13);
    /// ```
    pub fn qt_value(self) -> i32 {
        use SocketError::*;
        match self {
            ConnectionRefused => 0,
            RemoteHostClosed => 1,
            HostNotFound => 2,
            SocketAccess => 3,
            SocketResource => 4,
            SocketTimeout => 5,
            DatagramTooLarge => 6,
            Network => 7,
            AddressInUse => 8,
            SocketAddressNotAvailable => 9,
            UnsupportedSocketOperation => 10,
            UnfinishedSocketOperation => 11,
            ProxyAuthenticationRequired => 12,
            SslHandshakeFailed => 13,
            ProxyConnectionRefused => 14,
            ProxyConnectionClosed => 15,
            ProxyConnectionTimeout => 16,
            ProxyNotFound => 17,
            ProxyProtocol => 18,
            Operation => 19,
            SslInternal => 20,
            SslInvalidUserData => 21,
            Temporary => 22,
            Protocol => 100,
            Unknown => -1,
        }
    }

    /// Maps an I/O error from the operating system to the closest kind.
    ///
    /// ```
    /// use qwebsocket::SocketError;
    /// use std::io;
    /// let e = io::Error::from(io::ErrorKind::ConnectionRefused);
    /// assert_eq!(SocketError::from_io(&e), SocketError::ConnectionRefused);
    /// // EMFILE: out of file descriptors.
    /// let e = io::Error::from_raw_os_error(24);
    /// assert_eq!(SocketError::from_io(&e), SocketError::SocketResource);
    /// ```
    pub fn from_io(e: &std::io::Error) -> SocketError {
        use std::io::ErrorKind as K;
        // Out of descriptors or buffers (accept(2) and socket(2) report these):
        // Qt's SocketResourceError. The numbers are the same on every Unix
        // but ENOBUFS, which differs between Linux and the BSDs.
        const EMFILE: i32 = 24;
        const ENFILE: i32 = 23;
        #[cfg(target_os = "linux")]
        const ENOBUFS: i32 = 105;
        #[cfg(not(target_os = "linux"))]
        const ENOBUFS: i32 = 55;
        if matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS)) {
            return SocketError::SocketResource;
        }
        match e.kind() {
            K::ConnectionRefused => SocketError::ConnectionRefused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                SocketError::RemoteHostClosed
            }
            K::PermissionDenied => SocketError::SocketAccess,
            K::TimedOut => SocketError::SocketTimeout,
            K::AddrInUse => SocketError::AddressInUse,
            K::AddrNotAvailable => SocketError::SocketAddressNotAvailable,
            K::OutOfMemory => SocketError::SocketResource,
            K::Unsupported => SocketError::UnsupportedSocketOperation,
            _ => SocketError::Network,
        }
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SocketError::*;
        let s = match self {
            ConnectionRefused => "connection refused or opening handshake failed",
            RemoteHostClosed => "the remote host closed the connection",
            HostNotFound => "host not found",
            SocketAccess => "socket access denied",
            SocketResource => "out of socket resources",
            SocketTimeout => "operation timed out",
            DatagramTooLarge => "datagram too large",
            Network => "network error",
            AddressInUse => "address already in use",
            SocketAddressNotAvailable => "address not available",
            UnsupportedSocketOperation => "unsupported socket operation",
            UnfinishedSocketOperation => "operation still in progress",
            ProxyAuthenticationRequired => "proxy authentication required",
            SslHandshakeFailed => "TLS handshake failed",
            ProxyConnectionRefused => "proxy refused the connection",
            ProxyConnectionClosed => "proxy closed the connection",
            ProxyConnectionTimeout => "proxy connection timed out",
            ProxyNotFound => "proxy not found",
            ProxyProtocol => "proxy protocol error",
            Operation => "operation not allowed in this state",
            SslInternal => "internal TLS error",
            SslInvalidUserData => "invalid TLS data",
            Temporary => "temporary error",
            Protocol => "WebSocket protocol violation by the peer",
            Unknown => "unknown error",
        };
        f.write_str(s)
    }
}

impl std::error::Error for SocketError {}
