//! Helpers shared by the fuzz targets: a byte reader that turns the fuzzer's
//! input into decisions, a frame encoder for well-formed input, and an
//! independent decoder that checks every frame the library writes.

use qwebsocket::CloseCode;

/// Reads decisions from the fuzzer's bytes; past the end every read is 0.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn remaining(&self) -> usize {
        self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A length-prefixed slice of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u16()) % (max + 1);
        self.take(n)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Encodes one frame in the minimal length form, masking with `mask`.
pub fn encode_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | ((rsv & 7) << 4) | (opcode & 0x0f)];
    let bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(bit | len as u8);
    } else if len <= 0xffff {
        out.push(bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame the library wrote, decoded here independently of its codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    /// The RSV bits (0b100 is RSV1), always 0 unless decoded with
    /// [`decode_compressed_frames`].
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Decodes every complete frame at the start of `bytes` and returns them with
/// the number of bytes they took. Panics when the library wrote something
/// RFC 6455 forbids: RSV bits, a reserved opcode, a fragmented or long control
/// frame, a non-minimal length, the wrong masking for `masked`, a zero mask.
pub fn decode_frames(bytes: &[u8], masked: bool) -> (Vec<WireFrame>, usize) {
    decode_with(bytes, masked, false)
}

/// As [`decode_frames`], for a connection with permessage-deflate: RSV1 is
/// allowed on a first data frame (what else is checked is the caller's).
pub fn decode_compressed_frames(bytes: &[u8], masked: bool) -> (Vec<WireFrame>, usize) {
    decode_with(bytes, masked, true)
}

fn decode_with(bytes: &[u8], masked: bool, rsv1: bool) -> (Vec<WireFrame>, usize) {
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let b = &bytes[pos..];
        if b.len() < 2 {
            break;
        }
        let fin = b[0] & 0x80 != 0;
        let allowed = if rsv1 { 0x40 } else { 0 };
        assert_eq!(
            b[0] & 0x70 & !allowed,
            0,
            "library wrote RSV bits: {:02x}",
            b[0]
        );
        let rsv = (b[0] >> 4) & 7;
        let opcode = b[0] & 0x0f;
        assert!(
            matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10),
            "library wrote reserved opcode {opcode}"
        );
        let is_masked = b[1] & 0x80 != 0;
        assert_eq!(is_masked, masked, "library masking is wrong");
        let (len, mut at) = match b[1] & 0x7f {
            126 => {
                if b.len() < 4 {
                    break;
                }
                let l = u64::from(u16::from_be_bytes([b[2], b[3]]));
                assert!(l >= 126, "non-minimal 16-bit length {l}");
                (l, 4)
            }
            127 => {
                if b.len() < 10 {
                    break;
                }
                let l = u64::from_be_bytes(b[2..10].try_into().unwrap());
                assert!(l > 0xffff && l >> 63 == 0, "bad 64-bit length {l}");
                (l, 10)
            }
            n => (u64::from(n), 2),
        };
        if opcode >= 8 {
            assert!(fin, "library fragmented a control frame");
            assert!(len <= 125, "library wrote a control frame of {len} bytes");
        }
        let key = if is_masked {
            if b.len() < at + 4 {
                break;
            }
            let k = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            at += 4;
            Some(k)
        } else {
            None
        };
        let len = len as usize;
        if b.len() < at + len {
            break;
        }
        let mut payload = b[at..at + len].to_vec();
        if let Some(k) = key {
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= k[i % 4];
            }
        }
        frames.push(WireFrame {
            fin,
            rsv,
            opcode,
            masked: is_masked,
            payload,
        });
        pos += at + len;
    }
    (frames, pos)
}

/// True for a close code that may appear in a close frame on the wire.
pub fn wire_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Checks a close frame's payload as the library must write it: empty, or a
/// sendable code and at most 123 bytes of UTF-8 reason. Returns the code.
pub fn check_close_payload(payload: &[u8]) -> Option<u16> {
    if payload.is_empty() {
        return None;
    }
    assert!(payload.len() >= 2, "close payload of one byte");
    assert!(payload.len() <= 125, "close payload too long");
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    assert!(wire_close_code(code), "library sent close code {code}");
    assert!(
        std::str::from_utf8(&payload[2..]).is_ok(),
        "close reason is not UTF-8"
    );
    Some(code)
}

/// The close codes a protocol failure may carry (RFC 6455 §7.4.1).
pub fn failure_code(code: CloseCode) -> bool {
    matches!(code.code(), 1001 | 1002 | 1007 | 1008 | 1009 | 1011)
}

use qwebsocket::protocol::session::{Data, MessageKind};
use qwebsocket::protocol::{ProtocolError, Session, SessionEvent};
use std::time::Instant;

/// A session event with its bytes copied out of the buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Frame {
        kind: MessageKind,
        frame: Vec<u8>,
        is_last: bool,
        message: Option<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseCode, Vec<u8>),
    Failed(ProtocolError),
    Timer(String),
}

fn data_bytes(s: &mut Session, d: &Data, input: &[u8], used: usize) -> Vec<u8> {
    match d {
        Data::Input(r) => {
            assert!(
                r.start <= r.end && r.end <= used,
                "range {r:?} beyond {used}"
            );
            input[r.clone()].to_vec()
        }
        Data::Scratch => s.frame_scratch().to_vec(),
        Data::Message => s.take_message(),
        Data::Inflated(r) => {
            let m = s.message_buffer();
            assert!(
                r.start <= r.end && r.end <= m.len(),
                "inflated range {r:?} beyond {}",
                m.len()
            );
            m[r.clone()].to_vec()
        }
    }
}

/// Feeds `chunk` to `s` the way the socket layer does: the unconsumed bytes
/// stay in `buf` (the session unmasks them in place) and new bytes are
/// appended. Returns the events, checking that the session never claims more
/// bytes than it was given and that every range lies in what it consumed.
pub fn pump(s: &mut Session, buf: &mut Vec<u8>, chunk: &[u8], now: Instant) -> Vec<Event> {
    buf.extend_from_slice(chunk);
    let mut events = Vec::new();
    loop {
        let (used, ev) = s.read_event(buf, now);
        assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
        let Some(ev) = ev else {
            buf.drain(..used);
            break;
        };
        let out = match ev {
            SessionEvent::Frame {
                kind,
                frame,
                is_last,
                message,
            } => {
                let frame = data_bytes(s, &frame, buf, used);
                let message = message.map(|m| data_bytes(s, &m, buf, used));
                Event::Frame {
                    kind,
                    frame,
                    is_last,
                    message,
                }
            }
            SessionEvent::Ping(r) => Event::Ping(data_bytes(s, &Data::Input(r), buf, used)),
            SessionEvent::Pong(r) => Event::Pong(data_bytes(s, &Data::Input(r), buf, used)),
            SessionEvent::CloseReceived { code, reason } => {
                Event::Close(code, data_bytes(s, &Data::Input(reason), buf, used))
            }
            SessionEvent::Failed(e) => Event::Failed(e),
            other => Event::Timer(format!("{other:?}")),
        };
        buf.drain(..used);
        events.push(out);
    }
    events
}

use qwebsocket::{SocketError, SocketState, WebSocket};
use std::cell::RefCell;
use std::rc::Rc;

/// What a socket's signals told, checked as they come.
#[derive(Default, Debug)]
pub struct Seen {
    pub connected: usize,
    pub disconnected: usize,
    pub errors: Vec<(SocketError, String)>,
    pub texts: usize,
    pub binaries: usize,
}

/// Connects checking slots to `ws`: text and binary messages within
/// `max_message`, every error with a readable `error_string()`, one
/// `disconnected` at most, and only after a connection attempt.
pub fn watch(ws: &WebSocket, max_message: usize) -> Rc<RefCell<Seen>> {
    let seen = Rc::new(RefCell::new(Seen::default()));
    let s = seen.clone();
    ws.connected().connect(move |ws| {
        assert_eq!(ws.state(), SocketState::Connected);
        s.borrow_mut().connected += 1;
    });
    let s = seen.clone();
    ws.disconnected().connect(move |ws| {
        assert_eq!(ws.state(), SocketState::Unconnected);
        let mut s = s.borrow_mut();
        s.disconnected += 1;
        assert!(s.disconnected <= 1, "disconnected twice");
    });
    let s = seen.clone();
    ws.error_occurred().connect(move |ws, e| {
        let text = ws.error_string();
        assert!(!text.is_empty(), "error {e:?} without error_string");
        s.borrow_mut().errors.push((e, text));
    });
    let s = seen.clone();
    ws.text_message_received().connect(move |_, t| {
        assert!(t.len() <= max_message, "text message of {} bytes", t.len());
        s.borrow_mut().texts += 1;
    });
    let s = seen.clone();
    ws.binary_message_received().connect(move |_, b| {
        assert!(
            b.len() <= max_message,
            "binary message of {} bytes",
            b.len()
        );
        s.borrow_mut().binaries += 1;
    });
    seen
}

/// Checks what a socket wrote after its handshake: whole valid frames (a
/// trailing partial frame is allowed when the connection was cut), masked
/// iff `masked`, at most one close frame and nothing after it.
pub fn check_written(bytes: &[u8], masked: bool) {
    let (frames, _) = decode_frames(bytes, masked);
    let mut closed = false;
    for f in &frames {
        assert!(!closed, "a frame after the close frame: {f:?}");
        if f.opcode == 8 {
            check_close_payload(&f.payload);
            closed = true;
        }
    }
}
