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

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            incomplete_timeout: Some(Duration::from_secs(5)),
            close_timeout: Duration::from_secs(3),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
        }
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

/// Source of masking keys (client side).
pub type MaskSource = Box<dyn FnMut() -> [u8; 4]>;

/// The protocol state of one WebSocket connection.
///
/// See the [module documentation](self) for the model.
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
    out: Vec<u8>,
    out_pos: usize,
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
    /// A session that starts right after the opening handshake, at `now`.
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
            out: Vec::new(),
            out_pos: 0,
            masks: None,
            sent_close: None,
            last_keepalive: now,
            awaiting_pong: None,
            keepalive_count: 0,
        }
    }

    /// The role this session plays.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Changes the limits; they apply from the next frame on.
    pub fn set_config(&mut self, config: SessionConfig) {
        self.config = config;
    }

    /// Replaces the source of masking keys (client side). A source that
    /// returns `[0; 4]` still masks, with a key of zeros (the frame is valid).
    pub fn set_mask_source(&mut self, source: Option<MaskSource>) {
        self.masks = source;
    }

    /// Where the closing handshake is.
    pub fn close_state(&self) -> CloseState {
        self.close
    }

    /// The code and reason of the close frame we sent, if any.
    pub fn sent_close(&self) -> Option<(CloseCode, &str)> {
        self.sent_close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// True while data messages may be sent (no close frame sent or received).
    pub fn can_send(&self) -> bool {
        self.close == CloseState::Open
    }

    /// True when the connection is over at the protocol level: the closing
    /// handshake is done or the connection failed. What is queued should still
    /// be written before the transport is closed.
    pub fn is_finished(&self) -> bool {
        matches!(self.close, CloseState::Closed | CloseState::Failed)
    }

    /// Bytes queued for writing.
    pub fn queued(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// The bytes waiting to be written.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Marks `n` bytes of [`Session::pending_output`] as written.
    pub fn consume_output(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            // The buffer is kept; `take_idle_buffers` hands it over.
            self.out.clear();
            self.out_pos = 0;
        }
    }

    /// Appends raw bytes to the output (used for bytes that precede frames).
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// How many more input bytes the frame being received needs, at least
    /// (0 when unknown). Lets the caller size its read buffer.
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

    /// The capacity of the output buffer (0: the session holds none).
    pub fn output_capacity(&self) -> usize {
        self.out.capacity()
    }

    /// The assembled fragmented message ([`Data::Message`]). Give the buffer
    /// back with [`Session::restore_message_buffer`] to reuse its memory.
    pub fn take_message(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.message)
    }

    /// Returns a buffer taken with [`Session::take_message`] for reuse.
    pub fn restore_message_buffer(&mut self, mut buf: Vec<u8>) {
        if self.message.capacity() == 0
            && self.message_kind.is_none()
            && buf.capacity() <= 64 * 1024
        {
            buf.clear();
            self.message = buf;
        }
    }

    /// The text of a frame reported as [`Data::Scratch`].
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

    /// Records that bytes arrived at `now` (restarts the incomplete timeout).
    pub fn note_received(&mut self, now: Instant) {
        self.last_rx = now;
    }

    fn read_frame(
        &mut self,
        input: &mut [u8],
        now: Instant,
    ) -> Result<(usize, Option<SessionEvent>), ProtocolError> {
        let mut inc = match self.incoming {
            Some(inc) => inc,
            None => {
                let Some((header, header_len)) = FrameHeader::parse(input, 0)? else {
                    // Part of a header is an incomplete frame too (timeout applies).
                    if !input.is_empty() && !self.partial_header {
                        self.partial_header = true;
                        self.last_rx = now;
                    }
                    return Ok((0, None));
                };
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
                if self.is_text_frame(&header) && !p.is_empty() {
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
            if self.is_text_frame(&inc.header) {
                self.utf8.feed(chunk)?;
            }
            inc.checked = available;
        }
        if available < len {
            self.incoming = Some(inc);
            return Ok((0, None));
        }
        self.incoming = None;
        let end = start + len;
        let payload = start..end;
        let event = self.complete_frame(&inc, input, payload)?;
        Ok((end, event))
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
            }
            _ => {}
        }
        if !h.opcode.is_control() && self.message_len + h.payload_len > self.config.max_message_size
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
                    self.queue_frame(OpCode::Pong, &input[payload.clone()]);
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
                    self.queue_frame(OpCode::Close, &body);
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
                if h.fin && kind == MessageKind::Text && !self.utf8.is_complete() {
                    return Err(invalid_utf8_error());
                }
                let first = h.opcode != OpCode::Continuation;
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
        let mask = match self.role {
            Role::Client => Some(self.masks.get_or_insert_with(random_masks)()),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv: 0,
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
        if payload.is_empty() {
            self.queue_frame_parts(first_op, true, payload);
            return Ok(());
        }
        let count = payload.len().div_ceil(frame_size);
        for (i, chunk) in payload.chunks(frame_size).enumerate() {
            let op = if i == 0 {
                first_op
            } else {
                OpCode::Continuation
            };
            self.queue_frame_parts(op, i + 1 == count, chunk);
        }
        Ok(())
    }

    /// Queues one data frame of a message being sent in pieces: `first`
    /// selects the opcode (text/binary, else continuation), `fin` ends it.
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

    /// Queues a ping; the payload is cut to 125 bytes. Returns the bytes sent.
    pub fn send_ping(&mut self, payload: &[u8]) -> Result<usize, SendError> {
        if self.close != CloseState::Open {
            return Err(SendError::Closing);
        }
        let p = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        self.queue_frame(OpCode::Ping, p);
        Ok(p.len())
    }

    /// Queues an unsolicited pong (a unidirectional heartbeat, RFC 6455 §5.5.3).
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

    /// When [`Session::on_timeout`] must be called next, if ever.
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
                [idle, self.keepalive_deadline()]
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

    /// Fires the timeout that is due at `now`, if any.
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
