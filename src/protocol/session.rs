//! The per-connection protocol state machine, after the opening handshake.
//!
//! A [`Session`] turns received bytes into [`SessionEvent`]s and messages to
//! send into frames. It owns no socket and reads no clock: the caller passes
//! `now` in and asks [`Session::next_deadline`] when to call
//! [`Session::on_timeout`]. The caller owns the receive buffer; the session
//! unmasks and validates frames in place in it, and events point into it with
//! ranges, so a whole unfragmented message reaches the application without
//! being copied.
//!
//! ```
//! use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
//! use qwebsocket::protocol::session::{Data, MessageKind};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut server = Session::new(Role::Server, SessionConfig::default(), now);
//! // A masked text frame "Hi" from a client.
//! let mut input = vec![0x81, 0x82, 1, 2, 3, 4, b'H' ^ 1, b'i' ^ 2];
//! let (used, event) = server.read_event(&mut input, now);
//! assert_eq!(used, 8);
//! match event {
//!     Some(SessionEvent::Frame { kind: MessageKind::Text, frame: Data::Input(r), is_last: true, .. }) => {
//!         assert_eq!(&input[r], b"Hi");
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use super::close::{encode_close_payload, parse_close_payload, truncate_reason};
use super::deflate::{Codec, CompressionOptions, DeflateParams};
use super::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, OpCode};
use super::mask::apply_mask;
use super::utf8::{Utf8Validator, invalid_utf8_error};
use super::{CloseCode, ProtocolError, Role};
use std::ops::Range;
use std::time::{Duration, Instant};

/// Limits and timeouts of a session. Every field has a documented default.
///
/// ```
/// use qwebsocket::protocol::SessionConfig;
/// let c = SessionConfig { max_message_size: 1 << 20, ..SessionConfig::default() };
/// assert_eq!(c.max_frame_size, 16 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Largest frame payload accepted; a larger frame closes with 1009 before
    /// any of its payload is buffered. Default 16 MiB (Qt: 2 GiB, which let a
    /// peer exhaust memory; 16 MiB passes every Autobahn case).
    pub max_frame_size: u64,
    /// Largest message accepted (sum of its frames); default 64 MiB.
    pub max_message_size: u64,
    /// How long a frame or fragmented message may stay incomplete with no
    /// byte received before the session closes with 1001 (Qt: 5 s). `None`
    /// disables it.
    pub incomplete_timeout: Option<Duration>,
    /// How long one frame may take from its first byte to its last, however
    /// steadily its bytes trickle in (a slowloris peer sending a byte a
    /// second never trips `incomplete_timeout`); past it the session closes
    /// with 1001 like an incomplete-frame timeout. Default `None` (off): a
    /// large frame on a slow link can take long; set it from the frame size
    /// limit and the slowest rate you accept.
    pub frame_timeout: Option<Duration>,
    /// Largest opening-handshake head accepted, in bytes (read by the socket
    /// before the session starts; the session itself never looks at it). A
    /// longer head fails the handshake. Default
    /// [`MAX_HEADER_BLOCK`](crate::protocol::handshake::MAX_HEADER_BLOCK)
    /// (Qt's 800 KiB).
    pub max_handshake_size: usize,
    /// How long to wait for the peer's close frame after sending ours, and for
    /// the peer to end the TCP connection after the closing handshake. Default 3 s (Qt 6.12).
    pub close_timeout: Duration,
    /// Keepalive: when set, a ping is sent after this long without receiving
    /// anything (beyond Qt). Default `None`.
    pub keepalive_interval: Option<Duration>,
    /// Keepalive: how long to wait for the pong before closing with 1011.
    /// Default 20 s.
    pub keepalive_timeout: Duration,
}

impl SessionConfig {
    /// The defaults, as a constant (the same value as `SessionConfig::default()`).
    ///
    /// ```
    /// use qwebsocket::protocol::SessionConfig;
    /// assert_eq!(SessionConfig::DEFAULT, SessionConfig::default());
    /// ```
    pub const DEFAULT: SessionConfig = SessionConfig {
        max_frame_size: 16 << 20,
        max_message_size: 64 << 20,
        incomplete_timeout: Some(Duration::from_secs(5)),
        frame_timeout: None,
        max_handshake_size: crate::protocol::handshake::MAX_HEADER_BLOCK,
        close_timeout: Duration::from_secs(3),
        keepalive_interval: None,
        keepalive_timeout: Duration::from_secs(20),
    };
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig::DEFAULT
    }
}

/// Text or binary.
///
/// ```
/// use qwebsocket::protocol::session::MessageKind;
/// assert_ne!(MessageKind::Text, MessageKind::Binary);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// Where the bytes of an event are.
///
/// ```
/// use qwebsocket::protocol::session::Data;
/// assert_eq!(Data::Input(2..5), Data::Input(2..5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// A range of the input slice passed to [`Session::read_event`].
    Input(Range<usize>),
    /// The session's assembled message; take it with [`Session::take_message`].
    Message,
    /// The session's frame scratch buffer ([`Session::frame_scratch`]): the text of a
    /// frame that begins with the end of a code point split across frames.
    Scratch,
    /// A range of the session's message buffer ([`Session::message_buffer`],
    /// or the buffer [`Session::take_message`] returns with the last frame):
    /// the inflated bytes of one frame of a compressed message (for text,
    /// whole code points only).
    Inflated(Range<usize>),
}

/// Something the peer did.
///
/// ```
/// use qwebsocket::protocol::SessionEvent;
/// let e = SessionEvent::Pong(0..0);
/// assert!(matches!(e, SessionEvent::Pong(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A data frame arrived whole. For text, `frame` holds only whole code
    /// points: a code point split across frames is delivered with the frame
    /// that finishes it. With the last frame comes the whole message.
    Frame {
        /// The message's type.
        kind: MessageKind,
        /// The frame's payload.
        frame: Data,
        /// True for the last frame of the message.
        is_last: bool,
        /// With the last frame: the whole message, the input range of an
        /// unfragmented message or the assembled [`Data::Message`].
        message: Option<Data>,
    },
    /// A ping arrived; the pong is already queued. The range is its payload.
    Ping(Range<usize>),
    /// A pong arrived. The range is its payload.
    Pong(Range<usize>),
    /// The peer's close frame arrived. If we had not sent one, the echo is
    /// queued. `code` is `MissingStatusCode` (1005) for an empty close frame.
    CloseReceived {
        /// The peer's code.
        code: CloseCode,
        /// The peer's reason (a range of the input).
        reason: Range<usize>,
    },
    /// The peer broke the protocol or a limit: the close frame with the error's
    /// code is queued and no more input will be read.
    Failed(ProtocolError),
    /// A frame or fragmented message stayed incomplete for too long: a close
    /// 1001 frame is queued (from [`Session::on_timeout`]).
    IncompleteTimeout,
    /// The peer did not answer our close frame in time (from
    /// [`Session::on_timeout`]): the connection should be dropped.
    CloseTimeout,
    /// Keepalive sent a ping (from [`Session::on_timeout`]); write it.
    KeepalivePing,
    /// No pong came within the keepalive timeout: a close 1011 frame is
    /// queued and the connection failed (from [`Session::on_timeout`]).
    KeepaliveTimeout,
}

/// Where the closing handshake is.
///
/// ```
/// use qwebsocket::protocol::session::CloseState;
/// assert_eq!(CloseState::Open, CloseState::Open);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseState {
    /// No close frame sent or received.
    Open,
    /// We sent a close frame and wait for the peer's until the deadline.
    CloseSent {
        /// When to give up waiting.
        deadline: Instant,
    },
    /// The closing handshake is complete (either side started it).
    Closed,
    /// We failed the connection (protocol error): our close frame is queued,
    /// the peer's input is ignored.
    Failed,
}

/// What went wrong when sending.
///
/// ```
/// use qwebsocket::protocol::session::SendError;
/// assert_eq!(SendError::Closing.to_string(), "the closing handshake has started");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// A close frame was sent or received: no data may follow.
    Closing,
    /// The close code may not be sent on the wire (1005, 1006, 1015, …).
    InvalidCloseCode,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::Closing => "the closing handshake has started",
            SendError::InvalidCloseCode => "this close code may not be sent on the wire",
        })
    }
}

impl std::error::Error for SendError {}

/// The header of the frame being received, once parsed.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    header: FrameHeader,
    header_len: usize,
    /// Payload bytes already unmasked (and, for text, validated) in place.
    checked: usize,
    /// The carried code point bytes at the frame's start (text frames only).
    carry: [u8; 4],
    carry_len: u8,
}

/// Source of masking keys (client side): called once per frame sent, it
/// returns the 4-byte key for that frame. Install one with
/// [`Session::set_mask_source`]; the default draws random keys.
///
/// ```
/// use qwebsocket::protocol::session::{MaskSource, MessageKind};
/// use qwebsocket::protocol::{Role, Session, SessionConfig};
/// let mut n = 0u8;
/// let counter: MaskSource = Box::new(move || { n += 1; [n, n, n, n] });
/// let mut client = Session::new(Role::Client, SessionConfig::default(), std::time::Instant::now());
/// client.set_mask_source(Some(counter));
/// client.send_message(MessageKind::Binary, &[0, 0], 125).unwrap();
/// client.send_message(MessageKind::Binary, &[0, 0], 125).unwrap();
/// // Zeros masked with key 1, then with key 2.
/// assert_eq!(client.pending_output(), [0x82, 0x82, 1, 1, 1, 1, 1, 1, 0x82, 0x82, 2, 2, 2, 2, 2, 2]);
/// ```
pub type MaskSource = Box<dyn FnMut() -> [u8; 4]>;

/// The protocol state of one WebSocket connection.
///
/// See the [module documentation](self) for the model. Bytes a session
/// queues are written by the caller, which also feeds it what it reads.
/// Here one client's frame reaches a server, and the server's automatic
/// answer to a ping goes back:
///
/// ```
/// use qwebsocket::protocol::session::MessageKind;
/// use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
/// use std::time::Instant;
/// let now = Instant::now();
/// let mut client = Session::new(Role::Client, SessionConfig::default(), now);
/// let mut server = Session::new(Role::Server, SessionConfig::default(), now);
///
/// client.send_ping(b"are you there?").unwrap();
/// let mut wire = client.pending_output().to_vec(); // "written" to the server
/// client.consume_output(wire.len());
/// let (used, event) = server.read_event(&mut wire, now);
/// assert_eq!(used, wire.len());
/// let Some(SessionEvent::Ping(range)) = event else { panic!("{event:?}") };
/// assert_eq!(&wire[range], b"are you there?");
///
/// let mut answer = server.pending_output().to_vec(); // the pong, queued already
/// let (_, event) = client.read_event(&mut answer, now);
/// let Some(SessionEvent::Pong(range)) = event else { panic!("{event:?}") };
/// assert_eq!(&answer[range], b"are you there?");
/// ```
pub struct Session {
    role: Role,
    config: SessionConfig,
    close: CloseState,
    incoming: Option<Incoming>,
    /// Some bytes of the next frame's header arrived, not all.
    partial_header: bool,
    /// Type of the fragmented message being received, if any.
    message_kind: Option<MessageKind>,
    /// Bytes of the fragmented message received so far.
    message: Vec<u8>,
    message_len: u64,
    scratch: Vec<u8>,
    utf8: Utf8Validator,
    last_rx: Instant,
    /// When the frame now incomplete began to arrive (`frame_timeout`).
    frame_since: Instant,
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes of answers (pongs, the close echo) queued since the output was
    /// last empty: see [`Session::answers_queued`].
    answers: usize,
    /// Where client masking keys come from; the random default is made on
    /// first use (a server never needs one).
    masks: Option<MaskSource>,
    /// What we sent in our close frame.
    sent_close: Option<(CloseCode, String)>,
    /// Keepalive: when the last keepalive ping went out.
    last_keepalive: Instant,
    /// Keepalive: a ping awaits its pong since then.
    awaiting_pong: Option<Instant>,
    keepalive_count: u32,
    /// permessage-deflate, when negotiated: `None` costs one pointer.
    deflate: Option<Box<Codec>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("close", &self.close)
            .field("queued", &self.queued())
            .finish_non_exhaustive()
    }
}

fn random_masks() -> MaskSource {
    let mut pool = [0u8; 64];
    let mut pos = pool.len();
    Box::new(move || {
        loop {
            if pos + 4 > pool.len() {
                if getrandom::fill(&mut pool).is_err() {
                    // No randomness: fall back to a time-seeded key rather than fail.
                    let t = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.subsec_nanos())
                        .unwrap_or(0x5bd1_e995);
                    return (t | 1).to_ne_bytes();
                }
                pos = 0;
            }
            let key = [pool[pos], pool[pos + 1], pool[pos + 2], pool[pos + 3]];
            pos += 4;
            if key != [0; 4] {
                return key;
            }
        }
    })
}

impl Session {
    /// A session that starts right after the opening handshake, at `now`
    /// (the start of the incomplete-frame and keepalive clocks). It is open,
    /// has nothing queued and holds no buffer yet.
    ///
    /// ```
    /// use qwebsocket::protocol::session::CloseState;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.close_state(), CloseState::Open);
    /// assert!(s.can_send());
    /// assert_eq!(s.queued(), 0);
    /// assert_eq!(s.next_deadline(), None); // no keepalive by default, nothing incomplete
    /// ```
    pub fn new(role: Role, config: SessionConfig, now: Instant) -> Session {
        Session {
            role,
            config,
            close: CloseState::Open,
            incoming: None,
            partial_header: false,
            message_kind: None,
            message: Vec::new(),
            message_len: 0,
            scratch: Vec::new(),
            utf8: Utf8Validator::new(),
            last_rx: now,
            frame_since: now,
            out: Vec::new(),
            out_pos: 0,
            answers: 0,
            masks: None,
            sent_close: None,
            last_keepalive: now,
            awaiting_pong: None,
            keepalive_count: 0,
            deflate: None,
        }
    }

    /// Turns permessage-deflate on with the parameters both ends agreed on
    /// in the handshake (see
    /// [`handshake::deflate`](crate::protocol::handshake::deflate)) and our
    /// `options` (threshold and level). From then on a data frame may carry
    /// RSV1, messages of at least `options.threshold` bytes are compressed,
    /// and compressed messages are inflated before they are delivered (as
    /// [`Data::Inflated`] frames and a [`Data::Message`]). The DEFLATE state is
    /// made on first use. Call it before any frame is read or sent.
    ///
    /// ```
    /// use qwebsocket::protocol::session::{Data, MessageKind};
    /// use qwebsocket::protocol::{CompressionOptions, DeflateParams, Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut client = Session::new(Role::Client, SessionConfig::default(), now);
    /// client.set_compression(DeflateParams::default(), &CompressionOptions::enabled());
    /// // "Hello", compressed by the server (RFC 7692 §7.2.3.1).
    /// let mut input = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// let (_, event) = client.read_event(&mut input, now);
    /// assert!(matches!(event, Some(SessionEvent::Frame { message: Some(Data::Message), .. })));
    /// assert_eq!(client.take_message(), b"Hello");
    /// assert_eq!(client.compression(), Some(DeflateParams::default()));
    /// ```
    pub fn set_compression(&mut self, params: DeflateParams, options: &CompressionOptions) {
        self.deflate = Some(Box::new(Codec::new(params, self.role, options)));
    }

    /// The permessage-deflate parameters in force, if any.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.compression(), None);
    /// ```
    pub fn compression(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|c| *c.params())
    }

    /// The message buffer: the inflated bytes of the compressed message
    /// being received so far, which [`Data::Inflated`] ranges of its frames
    /// (before the last) point into.
    ///
    /// ```
    /// use qwebsocket::protocol::session::Data;
    /// use qwebsocket::protocol::{CompressionOptions, DeflateParams, Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut client = Session::new(Role::Client, SessionConfig::default(), now);
    /// client.set_compression(DeflateParams::default(), &CompressionOptions::enabled());
    /// // The compressed "Hello" of RFC 7692 §7.2.3.1, in two frames.
    /// let mut input = [0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00];
    /// let (used, event) = client.read_event(&mut input, now);
    /// let Some(SessionEvent::Frame { frame: Data::Inflated(r), is_last: false, .. }) = event else { panic!("{event:?}") };
    /// assert_eq!(&client.message_buffer()[r], b"He");
    /// let (_, event) = client.read_event(&mut input[used..], now);
    /// let Some(SessionEvent::Frame { frame: Data::Inflated(r), is_last: true, .. }) = event else { panic!("{event:?}") };
    /// let message = client.take_message();
    /// assert_eq!((&message[..], &message[r]), (&b"Hello"[..], &b"llo"[..]));
    /// ```
    pub fn message_buffer(&self) -> &[u8] {
        &self.message
    }

    /// The role this session plays, as given to [`Session::new`].
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let s = Session::new(Role::Client, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.role(), Role::Client);
    /// ```
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits and timeouts in force.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.config().max_frame_size, 16 << 20);
    /// ```
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Changes the limits and timeouts; they apply from the next frame on
    /// (a frame whose header was read already keeps the old limits). The
    /// incomplete-frame and keepalive deadlines follow the new timeouts at
    /// once; a close frame already sent keeps its deadline.
    ///
    /// ```
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    /// s.set_config(SessionConfig { max_frame_size: 4, ..SessionConfig::default() });
    /// // A masked binary frame of 5 bytes (key 0): one byte too many.
    /// let mut input = [0x82, 0x85, 0, 0, 0, 0, 1, 2, 3, 4, 5];
    /// let (_, event) = s.read_event(&mut input, now);
    /// let Some(SessionEvent::Failed(e)) = event else { panic!("{event:?}") };
    /// assert_eq!(e.code, CloseCode::TooMuchData);
    /// assert_eq!(s.pending_output(), b"\x88\x1d\x03\xf1Maximum framesize exceeded.");
    /// ```
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// Replaces the source of masking keys (client side; a server never
    /// masks, so it never calls it). `None` restores the default: random keys
    /// from the operating system. A source that returns `[0; 4]` still masks,
    /// with a key of zeros (the frame is valid), which makes the payload
    /// readable on the wire: for tests.
    ///
    /// ```
    /// use qwebsocket::protocol::session::MessageKind;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut client = Session::new(Role::Client, SessionConfig::default(), std::time::Instant::now());
    /// client.set_mask_source(Some(Box::new(|| [0; 4])));
    /// client.send_message(MessageKind::Text, b"Hi", 125).unwrap();
    /// assert_eq!(client.pending_output(), b"\x81\x82\0\0\0\0Hi"); // MASK bit set, key 0
    /// ```
    pub fn set_mask_source(&mut self, source: Option<MaskSource>) {
        self.masks = source;
    }

    /// Where the closing handshake is: [`CloseState::Open`], then
    /// `CloseSent` (with the deadline for the peer's answer) after
    /// [`Session::close`], `Closed` once both close frames crossed, or
    /// `Failed` after a protocol error or a timeout.
    ///
    /// ```
    /// use qwebsocket::protocol::session::CloseState;
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig};
    /// use std::time::{Duration, Instant};
    /// let now = Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    /// s.close(CloseCode::Normal, "", now).unwrap();
    /// assert_eq!(s.close_state(), CloseState::CloseSent { deadline: now + Duration::from_secs(3) });
    /// let mut echo = [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]; // the client's close 1000, masked with key 0
    /// s.read_event(&mut echo, now);
    /// assert_eq!(s.close_state(), CloseState::Closed);
    /// ```
    pub fn close_state(&self) -> CloseState {
        self.close
    }

    /// The code and reason of the close frame we sent or queued, if any:
    /// ours from [`Session::close`], the echo of the peer's close, or the
    /// error we failed the connection with. The reason as sent (cut to
    /// 123 bytes).
    ///
    /// ```
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// assert_eq!(s.sent_close(), None);
    /// let mut close = *b"\x88\x07\x03\xe9later"; // the server's close 1001 "later"
    /// s.read_event(&mut close, now);
    /// assert_eq!(s.sent_close(), Some((CloseCode::GoingAway, "later"))); // echoed
    /// ```
    pub fn sent_close(&self) -> Option<(CloseCode, &str)> {
        self.sent_close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// True while data messages, pings and pongs may be sent: no close frame
    /// sent or received. Sending otherwise fails with [`SendError::Closing`].
    ///
    /// ```
    /// use qwebsocket::protocol::session::{MessageKind, SendError};
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    /// assert!(s.can_send());
    /// s.close(CloseCode::Normal, "", now).unwrap();
    /// assert!(!s.can_send());
    /// assert_eq!(s.send_message(MessageKind::Text, b"late", 125), Err(SendError::Closing));
    /// ```
    pub fn can_send(&self) -> bool {
        self.close == CloseState::Open
    }

    /// True when the connection is over at the protocol level: the closing
    /// handshake is done or the connection failed. What is queued should still
    /// be written before the transport is closed.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// let mut close = [0x88, 0x00]; // the server's close, no status code
    /// s.read_event(&mut close, now);
    /// assert!(s.is_finished());
    /// assert_eq!(s.queued(), 6); // our echo (masked: 2 + 4 bytes) is still to be written
    /// ```
    pub fn is_finished(&self) -> bool {
        matches!(self.close, CloseState::Closed | CloseState::Failed)
    }

    /// How many bytes are queued for writing: the length of
    /// [`Session::pending_output`].
    ///
    /// ```
    /// use qwebsocket::protocol::session::MessageKind;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.send_message(MessageKind::Binary, &[0; 200], 1024).unwrap();
    /// assert_eq!(s.queued(), 4 + 200); // a 16-bit length: 4 header bytes
    /// s.consume_output(100);
    /// assert_eq!(s.queued(), 104);
    /// ```
    pub fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// The bytes waiting to be written, in order: write them to the
    /// transport, then report how many went with [`Session::consume_output`].
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert!(s.pending_output().is_empty());
    /// s.send_pong(b"hb").unwrap();
    /// assert_eq!(s.pending_output(), b"\x8a\x02hb");
    /// ```
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Marks the first `n` bytes of [`Session::pending_output`] as written
    /// (a short write consumes part; `n` beyond what is queued consumes it
    /// all). Once everything is written the buffer is emptied and kept.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.send_ping(b"abc").unwrap();
    /// s.consume_output(2); // the transport took the header only
    /// assert_eq!(s.pending_output(), b"abc");
    /// s.consume_output(3);
    /// assert!(s.pending_output().is_empty());
    /// ```
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            // The buffer is kept; `take_idle_buffers` hands it over.
            self.out.clear();
            self.out_pos = 0;
            self.answers = 0;
        }
    }

    /// Bytes of the frames the session queued by itself in answer to the
    /// peer (pongs to its pings, the echo of its close frame) since its
    /// output was last empty: what the peer's own input made it queue. A
    /// caller that stops reading while this reaches its limit keeps a peer
    /// that pings and never reads from growing the output without bound, and
    /// never stops reading because of what the application sends.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// s.send_ping(b"ours").unwrap(); // not an answer
    /// let mut ping = *b"\x89\x02hi"; // the server's ping: a 4-byte pong answers it
    /// s.read_event(&mut ping, now);
    /// assert_eq!(s.answers_queued(), 2 + 4 + 2); // header, mask, payload
    /// let n = s.queued();
    /// s.consume_output(n);
    /// assert_eq!(s.answers_queued(), 0);
    /// ```
    pub fn answers_queued(&self) -> usize {
        self.answers
    }

    /// Appends raw bytes to the output, unframed: bytes that precede the
    /// frames on the same connection, such as the `101` response of a
    /// server. Nothing is checked.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.queue_raw(b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    /// s.send_ping(b"").unwrap();
    /// assert!(s.pending_output().ends_with(b"\r\n\r\n\x89\x00")); // in order
    /// ```
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// How many more input bytes the frame being received needs, given
    /// that `available` bytes of it are in the caller's buffer (from its
    /// header on); 0 when unknown (no header read yet). Lets the caller size
    /// its read buffer for a large frame.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// assert_eq!(s.bytes_needed(0), 0);
    /// let mut input = [0x82, 126, 0x10, 0x00, 1, 2]; // a 4096-byte frame: its header and 2 bytes
    /// assert_eq!(s.read_event(&mut input, now), (0, None)); // incomplete, nothing consumed
    /// assert_eq!(s.bytes_needed(input.len()), 4096 - 2);
    /// ```
    pub fn bytes_needed(&self, available: usize) -> usize {
        match &self.incoming {
            Some(inc) => {
                let total = inc.header_len as u64 + inc.header.payload_len;
                usize::try_from(total)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(available)
            }
            None => 0,
        }
    }

    /// Hands over the buffers the session holds but does not need now: the
    /// output buffer once everything in it was written, the message buffer
    /// between fragmented messages, the frame scratch buffer. An idle
    /// connection then holds no buffer; the caller can pool them and give
    /// one back with [`Session::supply_output_buffer`] before sending.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// use qwebsocket::protocol::session::MessageKind;
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.send_message(MessageKind::Text, b"hi", 1024).unwrap();
    /// let mut spare = Vec::new();
    /// s.take_idle_buffers(&mut spare);
    /// assert!(spare.is_empty(), "the frame is not written yet");
    /// s.consume_output(4);
    /// s.take_idle_buffers(&mut spare);
    /// assert_eq!(spare.len(), 1);
    /// assert!(spare[0].is_empty() && spare[0].capacity() >= 4);
    /// ```
    pub fn take_idle_buffers(&mut self, spare: &mut Vec<Vec<u8>>) {
        if self.out_pos == self.out.len() && self.out.capacity() > 0 {
            self.out.clear();
            self.out_pos = 0;
            spare.push(std::mem::take(&mut self.out));
        }
        if self.message_kind.is_none() && self.message.capacity() > 0 {
            self.message.clear();
            spare.push(std::mem::take(&mut self.message));
        }
        if self.scratch.capacity() > 0 && self.incoming.is_none() {
            self.scratch.clear();
            spare.push(std::mem::take(&mut self.scratch));
        }
    }

    /// Offers the session an empty buffer to queue output into (see
    /// [`Session::take_idle_buffers`]). It is taken if nothing is queued and
    /// it is larger than the buffer the session has; the buffer not used is
    /// returned (if it has any capacity).
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert!(s.supply_output_buffer(Vec::with_capacity(4096)).is_none());
    /// assert_eq!(s.output_capacity(), 4096);
    /// // A smaller one comes back; a larger one is swapped in.
    /// assert_eq!(s.supply_output_buffer(Vec::with_capacity(100)).unwrap().capacity(), 100);
    /// let old = s.supply_output_buffer(Vec::with_capacity(1 << 20)).unwrap();
    /// assert_eq!((old.capacity(), s.output_capacity()), (4096, 1 << 20));
    /// ```
    pub fn supply_output_buffer(&mut self, mut buf: Vec<u8>) -> Option<Vec<u8>> {
        if self.out_pos == self.out.len() && buf.capacity() > self.out.capacity() {
            buf.clear();
            self.out_pos = 0;
            let old = std::mem::replace(&mut self.out, buf);
            (old.capacity() > 0).then_some(old)
        } else {
            (buf.capacity() > 0).then_some(buf)
        }
    }

    /// The capacity of the output buffer in bytes (0: the session holds
    /// none, as a new or idle one).
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.output_capacity(), 0);
    /// s.send_ping(b"x").unwrap();
    /// assert!(s.output_capacity() >= 3);
    /// ```
    pub fn output_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// The assembled fragmented message ([`Data::Message`]), after the event
    /// of its last frame. Give the buffer back with
    /// [`Session::restore_message_buffer`] to reuse its memory.
    ///
    /// ```
    /// use qwebsocket::protocol::session::Data;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    /// // A fragmented text message from a client (masked, key 0): "Hel" + "lo".
    /// let mut input = *b"\x01\x83\0\0\0\0Hel\x80\x82\0\0\0\0lo";
    /// let (used, _) = s.read_event(&mut input, now);
    /// let (_, last) = s.read_event(&mut input[used..], now);
    /// assert!(matches!(last, Some(SessionEvent::Frame { message: Some(Data::Message), .. })));
    /// assert_eq!(s.take_message(), b"Hello");
    /// ```
    pub fn take_message(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    /// Returns a buffer taken with [`Session::take_message`] for reuse by
    /// the next fragmented message. It is kept only between messages, when
    /// the session has no message buffer, and if its capacity is at most
    /// 64 KiB (a larger one is dropped, so that one huge message does not
    /// pin its memory).
    ///
    /// ```
    /// use qwebsocket::protocol::session::Data;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), now);
    /// // A fragmented text message from a client (masked, key 0): "Hel" + "lo".
    /// let mut input = *b"\x01\x83\0\0\0\0Hel\x80\x82\0\0\0\0lo";
    /// let (used, _) = s.read_event(&mut input, now);
    /// let (_, last) = s.read_event(&mut input[used..], now);
    /// assert!(matches!(last, Some(SessionEvent::Frame { message: Some(Data::Message), .. })));
    /// let message = s.take_message();
    /// s.restore_message_buffer(message);
    /// let mut spare = Vec::new();
    /// s.take_idle_buffers(&mut spare); // the kept buffer comes back out
    /// assert_eq!(spare.len(), 1);
    /// s.restore_message_buffer(Vec::with_capacity(1 << 20));
    /// s.take_idle_buffers(&mut spare);
    /// assert_eq!(spare.len(), 1); // too large: not kept
    /// ```
    pub fn restore_message_buffer(&mut self, mut buf: Vec<u8>) {
        if self.message.capacity() == 0
            && self.message_kind.is_none()
            && buf.capacity() <= 64 * 1024
        {
            buf.clear();
            self.message = buf;
        }
    }

    /// The text of a frame reported as [`Data::Scratch`]: a text frame that
    /// starts with the end of a code point begun in the frame before, with
    /// that code point whole. Valid until the next call of
    /// [`Session::read_event`] or [`Session::take_idle_buffers`].
    ///
    /// ```
    /// use qwebsocket::protocol::session::Data;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// // "café!" in two frames, 'é' (c3 a9) split between them.
    /// let mut input = *b"\x01\x04caf\xc3\x80\x02\xa9!";
    /// let (used, first) = s.read_event(&mut input, now);
    /// let Some(SessionEvent::Frame { frame: Data::Input(r), .. }) = first else { panic!() };
    /// assert_eq!(&input[r], b"caf");
    /// let (_, second) = s.read_event(&mut input[used..], now);
    /// assert!(matches!(second, Some(SessionEvent::Frame { frame: Data::Scratch, .. })));
    /// assert_eq!(s.frame_scratch(), "é!".as_bytes());
    /// ```
    pub fn frame_scratch(&self) -> &[u8] {
        &self.scratch
    }

    /// Reads the next event from `input`, the received bytes not consumed yet.
    ///
    /// Returns how many bytes of `input` were consumed and the event, if a
    /// whole one was found. Ranges in the event are relative to `input`, which
    /// the session may have modified in place (unmasking). When it returns
    /// `(0, None)`, more input is needed. Bytes of a frame that is not complete
    /// are checked as they arrive (invalid UTF-8 fails at once) but not consumed.
    /// After a [`SessionEvent::Failed`] or the closing handshake, all input is
    /// consumed and ignored.
    ///
    /// Call it in a loop, on what is left, until it returns no event:
    ///
    /// ```
    /// use qwebsocket::protocol::session::{Data, MessageKind};
    /// use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
    /// let now = std::time::Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), now);
    /// // One read from the server: a ping, a text frame, and half of another.
    /// let mut input = *b"\x89\x00\x81\x02hi\x81\x05wor";
    /// let mut start = 0;
    /// let mut events = Vec::new();
    /// loop {
    ///     let (used, event) = s.read_event(&mut input[start..], now);
    ///     let Some(event) = event else { break };
    ///     events.push(event);
    ///     start += used;
    /// }
    /// assert_eq!(events[0], SessionEvent::Ping(2..2));
    /// // Ranges are relative to the slice passed: "hi" is at 2..4 of input[2..].
    /// assert!(matches!(
    ///     &events[1],
    ///     SessionEvent::Frame { kind: MessageKind::Text, frame: Data::Input(r), is_last: true, .. } if *r == (2..4)
    /// ));
    /// assert_eq!(&input[start..], b"\x81\x05wor"); // kept for the next read
    /// ```
    pub fn read_event(&mut self, input: &mut [u8], now: Instant) -> (usize, Option<SessionEvent>) {
        if matches!(self.close, CloseState::Failed | CloseState::Closed) {
            // Nothing more is read after the closing handshake or a failure.
            return (input.len(), None);
        }
        match self.read_frame(input, now) {
            Ok(r) => r,
            Err(e) => {
                self.fail(&e);
                (input.len(), Some(SessionEvent::Failed(e)))
            }
        }
    }

    /// Records that bytes arrived at `now`, restarting the incomplete-frame
    /// timeout and the keepalive idle time: for bytes the caller read but
    /// did not pass to [`Session::read_event`] yet.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut s = Session::new(Role::Client, SessionConfig::default(), t0);
    /// let mut input = [0x82, 0x0a, 1, 2]; // 2 of a frame's 10 payload bytes
    /// s.read_event(&mut input, t0);
    /// assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(5)));
    /// s.note_received(t0 + Duration::from_secs(4));
    /// assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(9)));
    /// ```
    pub fn note_received(&mut self, now: Instant) {
        self.last_rx = now;
    }

    fn read_frame(
        &mut self,
        input: &mut [u8],
        now: Instant,
    ) -> Result<(usize, Option<SessionEvent>), ProtocolError> {
        // A frame that begins in this input (its start time is recorded
        // only if it stays incomplete).
        let mut fresh = false;
        let mut inc = match self.incoming {
            Some(inc) => inc,
            None => {
                let allowed_rsv = if self.deflate.is_some() { 0b100 } else { 0 };
                let Some((header, header_len)) = FrameHeader::parse(input, allowed_rsv)? else {
                    // Part of a header is an incomplete frame too (timeout applies).
                    if !input.is_empty() && !self.partial_header {
                        self.partial_header = true;
                        self.last_rx = now;
                        self.frame_since = now;
                    }
                    return Ok((0, None));
                };
                fresh = !self.partial_header;
                self.partial_header = false;
                self.check_header(&header)?;
                let mut inc = Incoming {
                    header,
                    header_len,
                    checked: 0,
                    carry: [0; 4],
                    carry_len: 0,
                };
                let p = self.utf8.pending();
                if self.checks_raw_text(&header) && !p.is_empty() {
                    inc.carry[..p.len()].copy_from_slice(p);
                    inc.carry_len = p.len() as u8;
                }
                inc
            }
        };
        self.last_rx = now;
        let start = inc.header_len;
        // Payload length fits usize: checked against the limits in check_header.
        let len = inc.header.payload_len as usize;
        let available = input.len().saturating_sub(start).min(len);
        if available > inc.checked {
            let chunk = &mut input[start + inc.checked..start + available];
            if let Some(key) = inc.header.mask {
                apply_mask(chunk, key, inc.checked);
            }
            if self.checks_raw_text(&inc.header) {
                self.utf8.feed(chunk)?;
            }
            inc.checked = available;
        }
        if available < len {
            if fresh {
                self.frame_since = now;
            }
            self.incoming = Some(inc);
            return Ok((0, None));
        }
        self.incoming = None;
        let end = start + len;
        let payload = start..end;
        let event = self.complete_frame(&inc, input, payload)?;
        Ok((end, event))
    }

    /// True for a text frame whose payload is checked as it arrives: not
    /// one of a compressed message, whose text is checked once inflated.
    fn checks_raw_text(&self, h: &FrameHeader) -> bool {
        self.is_text_frame(h) && !self.deflate.as_ref().is_some_and(|d| d.rx_compressed)
    }

    fn is_text_frame(&self, h: &FrameHeader) -> bool {
        match h.opcode {
            OpCode::Text => true,
            OpCode::Continuation => self.message_kind == Some(MessageKind::Text),
            _ => false,
        }
    }

    fn check_header(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => {
                return Err(ProtocolError::new(
                    CloseCode::ProtocolError,
                    "Received an unmasked frame from a client.",
                ));
            }
            (Role::Client, true) => {
                return Err(ProtocolError::new(
                    CloseCode::ProtocolError,
                    "Received a masked frame from a server.",
                ));
            }
            _ => {}
        }
        if h.payload_len > self.config.max_frame_size || usize::try_from(h.payload_len).is_err() {
            return Err(ProtocolError::new(
                CloseCode::TooMuchData,
                "Maximum framesize exceeded.",
            ));
        }
        match h.opcode {
            OpCode::Continuation if self.message_kind.is_none() => {
                return Err(ProtocolError::new(
                    CloseCode::ProtocolError,
                    "Received Continuation frame, while there is nothing to continue.",
                ));
            }
            OpCode::Text | OpCode::Binary => {
                if self.message_kind.is_some() {
                    return Err(ProtocolError::new(
                        CloseCode::ProtocolError,
                        "All data frames after the initial data frame must have opcode 0 (continuation).",
                    ));
                }
                self.message_len = 0;
                self.utf8.reset();
                if let Some(d) = self.deflate.as_mut() {
                    d.rx_compressed = h.rsv & 0b100 != 0;
                    d.delivered = 0;
                }
            }
            _ => {}
        }
        if h.rsv != 0 && !matches!(h.opcode, OpCode::Text | OpCode::Binary) {
            // Only the first frame of a message may say "compressed".
            return Err(ProtocolError::new(
                CloseCode::ProtocolError,
                if h.opcode.is_control() {
                    "Rsv1 is set on a control frame."
                } else {
                    "Rsv1 is set on a continuation frame."
                },
            ));
        }
        let compressed = self.deflate.as_ref().is_some_and(|d| d.rx_compressed);
        if !h.opcode.is_control()
            && !compressed
            && self.message_len + h.payload_len > self.config.max_message_size
        {
            return Err(ProtocolError::new(
                CloseCode::TooMuchData,
                "Received message is too big.",
            ));
        }
        Ok(())
    }

    fn complete_frame(
        &mut self,
        inc: &Incoming,
        input: &mut [u8],
        payload: Range<usize>,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let h = inc.header;
        match h.opcode {
            OpCode::Ping => {
                if self.close == CloseState::Open {
                    let before = self.out.len();
                    self.queue_frame(OpCode::Pong, &input[payload.clone()]);
                    self.answers += self.out.len() - before;
                }
                Ok(Some(SessionEvent::Ping(payload)))
            }
            OpCode::Pong => {
                self.awaiting_pong = None;
                Ok(Some(SessionEvent::Pong(payload)))
            }
            OpCode::Close => {
                let (code, reason) = parse_close_payload(&input[payload.clone()])?;
                let reason_start = if payload.len() >= 2 {
                    payload.start + 2
                } else {
                    payload.end
                };
                let event = SessionEvent::CloseReceived {
                    code,
                    reason: reason_start..payload.end,
                };
                if self.close == CloseState::Open {
                    // Echo the peer's status; an empty close is echoed empty.
                    let mut body = Vec::with_capacity(2 + reason.len());
                    if code != CloseCode::MissingStatusCode {
                        encode_close_payload(Some((code, reason)), &mut body);
                    }
                    let before = self.out.len();
                    self.queue_frame(OpCode::Close, &body);
                    self.answers += self.out.len() - before;
                    self.sent_close = Some((code, truncate_reason(reason).to_owned()));
                }
                self.close = CloseState::Closed;
                Ok(Some(event))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                let kind = match h.opcode {
                    OpCode::Text => MessageKind::Text,
                    OpCode::Binary => MessageKind::Binary,
                    _ => self.message_kind.unwrap_or(MessageKind::Binary),
                };
                let first = h.opcode != OpCode::Continuation;
                if self.deflate.as_ref().is_some_and(|d| d.rx_compressed) {
                    return self.inflate_frame(kind, first, h.fin, &input[payload]);
                }
                if h.fin && kind == MessageKind::Text && !self.utf8.is_complete() {
                    return Err(invalid_utf8_error());
                }
                self.message_len += payload.len() as u64;
                // The frame's deliverable bytes.
                let frame_data = if kind == MessageKind::Text
                    && (inc.carry_len > 0 || !self.utf8.is_complete())
                {
                    let pending = self.utf8.pending().len();
                    let carry = &inc.carry[..usize::from(inc.carry_len)];
                    let keep = (carry.len() + payload.len()).saturating_sub(pending);
                    if carry.is_empty() {
                        Data::Input(payload.start..payload.start + keep)
                    } else {
                        self.scratch.clear();
                        self.scratch.extend_from_slice(carry);
                        self.scratch.extend_from_slice(&input[payload.clone()]);
                        self.scratch.truncate(keep);
                        Data::Scratch
                    }
                } else {
                    Data::Input(payload.clone())
                };
                if first && h.fin {
                    // Unfragmented: deliver from the input, no copy.
                    self.message_kind = None;
                    return Ok(Some(SessionEvent::Frame {
                        kind,
                        message: Some(frame_data.clone()),
                        frame: frame_data,
                        is_last: true,
                    }));
                }
                if first {
                    self.message_kind = Some(kind);
                    self.message.clear();
                }
                self.message.extend_from_slice(&input[payload]);
                if h.fin {
                    self.message_kind = None;
                }
                Ok(Some(SessionEvent::Frame {
                    kind,
                    frame: frame_data,
                    is_last: h.fin,
                    message: h.fin.then_some(Data::Message),
                }))
            }
        }
    }

    /// The data frame of a compressed message: inflated into the message
    /// buffer (bounded by the message size limit), text checked there.
    fn inflate_frame(
        &mut self,
        kind: MessageKind,
        first: bool,
        fin: bool,
        payload: &[u8],
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let Some(codec) = self.deflate.as_mut() else {
            return Ok(None);
        };
        if first {
            self.message_kind = Some(kind);
            self.message.clear();
        }
        let limit = usize::try_from(self.config.max_message_size).unwrap_or(usize::MAX);
        let before = self.message.len();
        codec.inflate(payload, fin, &mut self.message, limit)?;
        let mut end = self.message.len();
        if kind == MessageKind::Text {
            self.utf8.feed(&self.message[before..])?;
            if fin && !self.utf8.is_complete() {
                return Err(invalid_utf8_error());
            }
            end -= self.utf8.pending().len();
        }
        let start = codec.delivered.min(end);
        codec.delivered = end;
        if fin {
            self.message_kind = None;
            codec.rx_compressed = false;
            codec.trim_scratch();
        }
        Ok(Some(SessionEvent::Frame {
            kind,
            frame: Data::Inflated(start..end),
            is_last: fin,
            message: fin.then_some(Data::Message),
        }))
    }

    fn fail(&mut self, e: &ProtocolError) {
        if self.close == CloseState::Open {
            let mut body = Vec::with_capacity(2 + e.reason.len());
            encode_close_payload(Some((e.code, &e.reason)), &mut body);
            self.queue_frame(OpCode::Close, &body);
            self.sent_close = Some((e.code, truncate_reason(&e.reason).to_owned()));
        }
        self.close = CloseState::Failed;
        self.incoming = None;
        self.message_kind = None;
        self.message = Vec::new();
    }

    fn queue_frame(&mut self, opcode: OpCode, payload: &[u8]) {
        self.queue_frame_parts(opcode, true, payload);
    }

    fn queue_frame_parts(&mut self, opcode: OpCode, fin: bool, payload: &[u8]) {
        self.queue_frame_rsv(opcode, fin, 0, payload);
    }

    fn queue_frame_rsv(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: &[u8]) {
        let mask = match self.role {
            Role::Client => Some(self.masks.get_or_insert_with(random_masks)()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut hbuf = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut hbuf);
        self.out.reserve(n + payload.len());
        self.out.extend_from_slice(&hbuf[..n]);
        let at = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(key) = mask {
            apply_mask(&mut self.out[at..], key, 0);
        }
    }

    /// Queues a message, split into frames of at most `frame_size` bytes
    /// (at least one frame, even for an empty message).
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// use qwebsocket::protocol::session::MessageKind;
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.send_message(MessageKind::Text, b"hello world", 4).unwrap();
    /// assert_eq!(s.pending_output(), b"\x01\x04hell\x00\x04o wo\x80\x03rld");
    /// ```
    pub fn send_message(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        frame_size: usize,
    ) -> Result<(), SendError> {
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let frame_size = frame_size.max(1);
        let first_op = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        if let Some(mut codec) = self.deflate.take() {
            if let Some(compressed) = codec.compress(payload) {
                self.queue_message(first_op, 0b100, compressed, frame_size);
                codec.trim_scratch();
                self.deflate = Some(codec);
                return Ok(());
            }
            self.deflate = Some(codec);
        }
        self.queue_message(first_op, 0, payload, frame_size);
        Ok(())
    }

    /// Queues a message in frames of at most `frame_size` bytes, `rsv` on
    /// the first.
    fn queue_message(&mut self, first_op: OpCode, rsv: u8, payload: &[u8], frame_size: usize) {
        if payload.is_empty() {
            self.queue_frame_rsv(first_op, true, rsv, payload);
            return;
        }
        let count = payload.len().div_ceil(frame_size);
        for (i, chunk) in payload.chunks(frame_size).enumerate() {
            if i == 0 {
                self.queue_frame_rsv(first_op, count == 1, rsv, chunk);
            } else {
                self.queue_frame_parts(OpCode::Continuation, i + 1 == count, chunk);
            }
        }
    }

    /// Sends a message like [`Session::send_message`], but hands the frames
    /// to `write` first, without copying the payload: `write` gets the
    /// frames as slices (header, payload part, header, ...) and returns how
    /// many bytes it took; only the rest is queued. Returns the bytes
    /// `write` took. It is meant for large messages from a server: a client
    /// masks every frame (a copy anyway), and when output is already queued,
    /// the message has more than 16 frames, or compression is on (the
    /// compressed bytes are a copy anyway), the message is queued as
    /// `send_message` does and `write` is not called.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// use qwebsocket::protocol::session::MessageKind;
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// let mut wire = Vec::new();
    /// // The "socket" takes 5 bytes: the rest is queued.
    /// let taken = s
    ///     .send_message_through(MessageKind::Binary, b"abcdef", 4, &mut |bufs| {
    ///         let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
    ///         wire.extend_from_slice(&all[..5]);
    ///         5
    ///     })
    ///     .unwrap();
    /// assert_eq!(taken, 5);
    /// assert_eq!(wire, b"\x02\x04abc");
    /// assert_eq!(s.pending_output(), b"d\x80\x02ef");
    /// ```
    pub fn send_message_through(
        &mut self,
        kind: MessageKind,
        payload: &[u8],
        frame_size: usize,
        write: &mut dyn FnMut(&[std::io::IoSlice<'_>]) -> usize,
    ) -> Result<usize, SendError> {
        const MOST_FRAMES: usize = 16;
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let frame_size = frame_size.max(1);
        let count = payload.len().div_ceil(frame_size).max(1);
        if self.role == Role::Client
            || self.queued() > 0
            || count > MOST_FRAMES
            || self.deflate.is_some()
        {
            self.send_message(kind, payload, frame_size)?;
            return Ok(0);
        }
        let mut headers = [[0u8; MAX_HEADER_LEN]; MOST_FRAMES];
        let mut header_lens = [0usize; MOST_FRAMES];
        let first_op = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let mut parts: [&[u8]; MOST_FRAMES] = [&[]; MOST_FRAMES];
        for i in 0..count {
            let part = payload
                .get(i * frame_size..payload.len().min((i + 1) * frame_size))
                .unwrap_or(&[]);
            let header = FrameHeader {
                fin: i + 1 == count,
                rsv: 0,
                opcode: if i == 0 {
                    first_op
                } else {
                    OpCode::Continuation
                },
                mask: None,
                payload_len: part.len() as u64,
            };
            header_lens[i] = header.encode(&mut headers[i]);
            parts[i] = part;
        }
        let mut slices = [std::io::IoSlice::new(&[]); 2 * MOST_FRAMES];
        for i in 0..count {
            slices[2 * i] = std::io::IoSlice::new(&headers[i][..header_lens[i]]);
            slices[2 * i + 1] = std::io::IoSlice::new(parts[i]);
        }
        let total: usize = (0..count).map(|i| header_lens[i] + parts[i].len()).sum();
        let taken = write(&slices[..2 * count]).min(total);
        // Queue what was not taken, header and payload pieces in order.
        let mut skip = taken;
        for i in 0..count {
            for piece in [&headers[i][..header_lens[i]], parts[i]] {
                if skip >= piece.len() {
                    skip -= piece.len();
                } else {
                    self.out.extend_from_slice(&piece[skip..]);
                    skip = 0;
                }
            }
        }
        Ok(taken)
    }

    /// Queues one data frame of a message being sent in pieces: `first`
    /// selects the opcode (text/binary, else continuation), `fin` ends it.
    /// The caller keeps the pieces in order and, for text, valid UTF-8 as a
    /// whole; control frames may go between them. Fails with
    /// [`SendError::Closing`] once a close frame was sent or received. With
    /// permessage-deflate on, such a message goes out uncompressed (RSV1
    /// clear), which RFC 7692 allows for any message.
    ///
    /// ```
    /// use qwebsocket::protocol::session::MessageKind;
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// s.send_frame(MessageKind::Text, true, false, b"Hel").unwrap();
    /// s.send_ping(b"").unwrap(); // between the pieces
    /// s.send_frame(MessageKind::Text, false, true, b"lo").unwrap();
    /// assert_eq!(s.pending_output(), b"\x01\x03Hel\x89\x00\x80\x02lo");
    /// ```
    pub fn send_frame(
        &mut self,
        kind: MessageKind,
        first: bool,
        fin: bool,
        payload: &[u8],
    ) -> Result<(), SendError> {
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let op = match (first, kind) {
            (false, _) => OpCode::Continuation,
            (true, MessageKind::Text) => OpCode::Text,
            (true, MessageKind::Binary) => OpCode::Binary,
        };
        self.queue_frame_parts(op, fin, payload);
        Ok(())
    }

    /// Queues a ping; the payload is cut to 125 bytes
    /// ([`MAX_CONTROL_PAYLOAD`]). Returns
    /// how many payload bytes it carries. The peer answers with a pong
    /// ([`SessionEvent::Pong`]). Fails with [`SendError::Closing`] once a
    /// close frame was sent or received.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.send_ping(&[7; 200]), Ok(125));
    /// assert_eq!(&s.pending_output()[..2], &[0x89, 125]);
    /// ```
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let p = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        self.queue_frame(OpCode::Ping, p);
        Ok(p.len())
    }

    /// Queues an unsolicited pong (a unidirectional heartbeat, RFC 6455
    /// §5.5.3; pings are answered by the session itself). The payload is cut
    /// to 125 bytes; returns how many it carries. Fails with
    /// [`SendError::Closing`] once a close frame was sent or received.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert_eq!(s.send_pong(b"alive"), Ok(5));
    /// assert_eq!(s.pending_output(), b"\x8a\x05alive");
    /// ```
    pub fn send_pong(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let p = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        self.queue_frame(OpCode::Pong, p);
        Ok(p.len())
    }

    /// Starts the closing handshake: queues our close frame (reason cut to
    /// 123 bytes on a character boundary) and waits for the peer's until
    /// `now + close_timeout`. Codes that may not be sent are refused.
    ///
    /// ```
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig};
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), std::time::Instant::now());
    /// assert!(s.close(CloseCode::MissingStatusCode, "", std::time::Instant::now()).is_err());
    /// s.close(CloseCode::Normal, "done", std::time::Instant::now()).unwrap();
    /// assert_eq!(s.pending_output(), b"\x88\x06\x03\xe8done");
    /// ```
    pub fn close(&mut self, code: CloseCode, reason: &str, now: Instant) -> Result<(), SendError> {
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode);
        }
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let mut body = Vec::with_capacity(2 + reason.len().min(123));
        encode_close_payload(Some((code, reason)), &mut body);
        self.queue_frame(OpCode::Close, &body);
        self.sent_close = Some((code, truncate_reason(reason).to_owned()));
        self.close = CloseState::CloseSent {
            deadline: now + self.config.close_timeout,
        };
        Ok(())
    }

    /// When [`Session::on_timeout`] must be called next, if ever: the
    /// earliest of the close timeout (after our close frame), the
    /// incomplete-frame timeout (while a frame or message is unfinished) and
    /// the keepalive deadlines. Ask again after each call that changes the
    /// session.
    ///
    /// ```
    /// use qwebsocket::protocol::{Role, Session, SessionConfig};
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let config = SessionConfig { keepalive_interval: Some(Duration::from_secs(30)), ..SessionConfig::default() };
    /// let mut s = Session::new(Role::Client, config, t0);
    /// assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(30))); // the next keepalive ping
    /// let mut input = [0x81, 0x05, b'h']; // an unfinished text frame
    /// s.read_event(&mut input, t0 + Duration::from_secs(1));
    /// assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(6))); // 5 s to finish it
    /// ```
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.close {
            CloseState::CloseSent { deadline } => Some(deadline),
            CloseState::Open => {
                let incomplete =
                    self.incoming.is_some() || self.partial_header || self.message_kind.is_some();
                let idle = match (incomplete, self.config.incomplete_timeout) {
                    (true, Some(t)) => Some(self.last_rx + t),
                    _ => None,
                };
                let in_frame = self.incoming.is_some() || self.partial_header;
                let frame = match (in_frame, self.config.frame_timeout) {
                    (true, Some(t)) => Some(self.frame_since + t),
                    _ => None,
                };
                [idle, frame, self.keepalive_deadline()]
                    .into_iter()
                    .flatten()
                    .min()
            }
            _ => None,
        }
    }

    /// The next keepalive deadline: the pong's, or the next ping's.
    fn keepalive_deadline(&self) -> Option<Instant> {
        let interval = self.config.keepalive_interval?;
        Some(match self.awaiting_pong {
            Some(sent) => sent + self.config.keepalive_timeout,
            None => self.last_rx.max(self.last_keepalive) + interval,
        })
    }

    /// Fires the timeout that is due at `now`, if any (`None` before
    /// [`Session::next_deadline`]): [`SessionEvent::CloseTimeout`],
    /// [`SessionEvent::IncompleteTimeout`] (a close 1001 is queued),
    /// [`SessionEvent::KeepalivePing`] (a ping is queued) or
    /// [`SessionEvent::KeepaliveTimeout`] (a close 1011 is queued).
    ///
    /// ```
    /// use qwebsocket::protocol::session::CloseState;
    /// use qwebsocket::protocol::{CloseCode, Role, Session, SessionConfig, SessionEvent};
    /// use std::time::{Duration, Instant};
    /// let t0 = Instant::now();
    /// let mut s = Session::new(Role::Server, SessionConfig::default(), t0);
    /// s.close(CloseCode::Normal, "", t0).unwrap(); // and the client never answers
    /// assert_eq!(s.on_timeout(t0 + Duration::from_millis(2999)), None);
    /// assert_eq!(s.on_timeout(t0 + Duration::from_secs(3)), Some(SessionEvent::CloseTimeout));
    /// assert_eq!(s.close_state(), CloseState::Failed); // drop the connection now
    /// ```
    pub fn on_timeout(&mut self, now: Instant) -> Option<SessionEvent> {
        let due = self.next_deadline()?;
        if now < due {
            return None;
        }
        match self.close {
            CloseState::CloseSent { .. } => {
                self.close = CloseState::Failed;
                Some(SessionEvent::CloseTimeout)
            }
            CloseState::Open if self.keepalive_deadline().is_some_and(|d| d <= now) => {
                if self.awaiting_pong.is_some() {
                    let e = ProtocolError::new(
                        CloseCode::BadOperation,
                        format!(
                            "Keepalive: no pong within {} ms.",
                            self.config.keepalive_timeout.as_millis()
                        ),
                    );
                    self.fail(&e);
                    Some(SessionEvent::KeepaliveTimeout)
                } else {
                    self.keepalive_count = self.keepalive_count.wrapping_add(1);
                    let payload = self.keepalive_count.to_be_bytes();
                    self.queue_frame(OpCode::Ping, &payload);
                    self.last_keepalive = now;
                    self.awaiting_pong = Some(now);
                    Some(SessionEvent::KeepalivePing)
                }
            }
            CloseState::Open => {
                let reason = "Timeout when reading data from socket.";
                // The receive state is kept: the peer may still finish its
                // frame before it sees our close, and that must parse.
                let _ = self.close(CloseCode::GoingAway, reason, now);
                Some(SessionEvent::IncompleteTimeout)
            }
            _ => None,
        }
    }
}
