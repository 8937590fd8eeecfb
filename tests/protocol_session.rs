//! Byte-for-byte tests of the sans-I/O session (`src/protocol/session.rs`), in the
//! style of python-websockets' `test_protocol.py`: bytes in, events and bytes out,
//! for both roles, every rule and every error path. No sockets, no clock: time is
//! an `Instant` chosen by the test.
//!
//! The server requires masked input and never masks; the client refuses masked
//! input and masks everything it writes with a fresh non-zero key. Every frame the
//! session writes is decoded here by an independent decoder and checked.

use qwebsocket::CloseCode;
use qwebsocket::protocol::session::{CloseState, Data, MessageKind, SendError};
use qwebsocket::protocol::{Role, Session, SessionConfig, SessionEvent};
use std::time::{Duration, Instant};

// ----- wire helpers ------------------------------------------------------------------

const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The masking key our fake clients use (the one of RFC 6455 §5.7).
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

const ROLES: [Role; 2] = [Role::Client, Role::Server];

/// Encodes one frame in the minimal length form, masking the payload with `mask`.
fn encode(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len <= 125 {
        out.push(mask_bit | len as u8);
    } else if len <= 0xffff {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
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

/// The mask a well-behaved peer of `receiver` uses.
fn peer_mask(receiver: Role) -> Option<[u8; 4]> {
    match receiver {
        Role::Server => Some(KEY),
        Role::Client => None,
    }
}

/// The mask a misbehaving peer of `receiver` uses (the wrong direction).
fn wrong_mask(receiver: Role) -> Option<[u8; 4]> {
    match receiver {
        Role::Server => None,
        Role::Client => Some(KEY),
    }
}

/// A frame as a well-behaved peer of `receiver` would send it.
fn frame_to(receiver: Role, fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    encode(fin, 0, opcode, peer_mask(receiver), payload)
}

/// A raw header for `receiver`: the first byte, then the 7-bit length and any
/// extended length bytes (`len[0]` is the 7-bit length), then the peer's mask key.
fn raw_header(receiver: Role, b0: u8, len: &[u8]) -> Vec<u8> {
    let mut out = vec![b0];
    let mask = peer_mask(receiver);
    out.push(len[0] | if mask.is_some() { 0x80 } else { 0 });
    out.extend_from_slice(&len[1..]);
    if let Some(k) = mask {
        out.extend_from_slice(&k);
    }
    out
}

/// The header length of a frame sent to `receiver` with a payload of `len` bytes.
fn header_len(receiver: Role, len: usize) -> usize {
    let base = match len {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    };
    base + if receiver == Role::Server { 4 } else { 0 }
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A frame decoded from what a session wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Wire {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// The payload, unmasked.
    payload: Vec<u8>,
}

impl Wire {
    /// The close code and reason of a close frame.
    fn close(&self) -> (u16, Vec<u8>) {
        assert_eq!(self.opcode, CLOSE, "not a close frame: {self:?}");
        assert!(
            self.payload.len() >= 2,
            "close frame without code: {self:?}"
        );
        (
            u16::from_be_bytes([self.payload[0], self.payload[1]]),
            self.payload[2..].to_vec(),
        )
    }
}

/// Decodes a byte string of whole frames. Panics on a truncated frame or on a
/// length that is not in its minimal form (the session must write minimal forms).
fn decode_all(mut bytes: &[u8]) -> Vec<Wire> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= 2, "truncated header: {bytes:x?}");
        let (b0, b1) = (bytes[0], bytes[1]);
        let mut pos = 2;
        let len = match b1 & 0x7f {
            126 => {
                let l = u64::from(u16::from_be_bytes([bytes[2], bytes[3]]));
                assert!(l >= 126, "16-bit length {l} is not minimal");
                pos = 4;
                l
            }
            127 => {
                let mut a = [0u8; 8];
                a.copy_from_slice(&bytes[2..10]);
                let l = u64::from_be_bytes(a);
                assert!(l > 0xffff, "64-bit length {l} is not minimal");
                assert_eq!(l >> 63, 0, "MSB of 64-bit length set");
                pos = 10;
                l
            }
            n => u64::from(n),
        };
        let mask = if b1 & 0x80 != 0 {
            let k = [bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]];
            pos += 4;
            Some(k)
        } else {
            None
        };
        let len = len as usize;
        assert!(bytes.len() >= pos + len, "truncated payload");
        let mut payload = bytes[pos..pos + len].to_vec();
        if let Some(k) = mask {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= k[i % 4];
            }
        }
        frames.push(Wire {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 7,
            opcode: b0 & 0x0f,
            mask,
            payload,
        });
        bytes = &bytes[pos + len..];
    }
    frames
}

/// Decodes what `s` has queued and checks the masking rules of its role: a server
/// never masks; a client masks every frame with a non-zero key, a fresh one per frame.
fn output(s: &Session) -> Vec<Wire> {
    check_wire(s.role(), s.pending_output())
}

/// Decodes bytes written by a session playing `role` and checks its masking rules.
fn check_wire(role: Role, bytes: &[u8]) -> Vec<Wire> {
    let frames = decode_all(bytes);
    let mut keys = Vec::new();
    for f in &frames {
        assert_eq!(f.rsv, 0, "RSV bits set on output {f:?}");
        match role {
            Role::Server => assert_eq!(f.mask, None, "a server must never mask: {f:?}"),
            Role::Client => {
                let k = f.mask.expect("a client must mask every frame");
                assert_ne!(k, [0; 4], "a client mask key must not be zero");
                keys.push(k);
            }
        }
    }
    for (i, a) in keys.iter().enumerate() {
        for b in &keys[i + 1..] {
            assert_ne!(a, b, "mask keys are not fresh per frame");
        }
    }
    frames
}

/// Like [`output`], then marks everything as written.
fn take_output(s: &mut Session) -> Vec<Wire> {
    let frames = output(s);
    let n = s.queued();
    s.consume_output(n);
    assert_eq!(s.queued(), 0);
    assert!(s.pending_output().is_empty());
    frames
}

// ----- events ------------------------------------------------------------------------

/// An event with its bytes copied out, so that events from different feeds compare.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Frame {
        kind: MessageKind,
        data: Vec<u8>,
        is_last: bool,
        message: Option<Vec<u8>>,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(u16, Vec<u8>),
    Failed(u16),
    IncompleteTimeout,
    CloseTimeout,
    KeepalivePing,
    KeepaliveTimeout,
}

fn resolve(s: &mut Session, input: &[u8], d: &Data) -> Vec<u8> {
    match d {
        Data::Input(r) => input[r.clone()].to_vec(),
        Data::Scratch => s.frame_scratch().to_vec(),
        // Only with compression, which these tests do not negotiate.
        Data::Inflated(r) => s.message_buffer()[r.clone()].to_vec(),
        Data::Message => {
            let m = s.take_message();
            let copy = m.clone();
            s.restore_message_buffer(m);
            copy
        }
    }
}

fn to_ev(s: &mut Session, input: &[u8], e: SessionEvent) -> Ev {
    match e {
        SessionEvent::Frame {
            kind,
            frame,
            is_last,
            message,
        } => {
            assert_eq!(
                is_last,
                message.is_some(),
                "message comes with the last frame"
            );
            if let Some(m) = &message {
                assert!(
                    !matches!(m, Data::Scratch),
                    "a message is never in the scratch buffer"
                );
            }
            assert!(
                !matches!(frame, Data::Message),
                "a frame is never the message buffer"
            );
            let data = resolve(s, input, &frame);
            let message = message.map(|m| resolve(s, input, &m));
            if kind == MessageKind::Text {
                assert!(
                    std::str::from_utf8(&data).is_ok(),
                    "text frame holds partial code points: {data:x?}"
                );
                if let Some(m) = &message {
                    assert!(std::str::from_utf8(m).is_ok(), "text message not UTF-8");
                }
            }
            Ev::Frame {
                kind,
                data,
                is_last,
                message,
            }
        }
        SessionEvent::Ping(r) => Ev::Ping(input[r].to_vec()),
        SessionEvent::Pong(r) => Ev::Pong(input[r].to_vec()),
        SessionEvent::CloseReceived { code, reason } => {
            Ev::Close(code.code(), input[reason].to_vec())
        }
        SessionEvent::Failed(e) => {
            assert!(
                e.code.is_sendable(),
                "Failed with a code that may not be sent: {e:?}"
            );
            assert!(!e.reason.is_empty(), "Failed without a reason");
            Ev::Failed(e.code.code())
        }
        SessionEvent::IncompleteTimeout => Ev::IncompleteTimeout,
        SessionEvent::CloseTimeout => Ev::CloseTimeout,
        SessionEvent::KeepalivePing => Ev::KeepalivePing,
        SessionEvent::KeepaliveTimeout => Ev::KeepaliveTimeout,
        other => panic!("an event this test does not know: {other:?}"),
    }
}

/// The caller model: keep the unconsumed bytes, append what arrives, call
/// `read_event` until it returns `(0, None)`.
struct Peer {
    s: Session,
    buf: Vec<u8>,
    now: Instant,
}

impl Peer {
    fn new(role: Role) -> Peer {
        Peer::with_config(role, SessionConfig::default())
    }

    fn with_config(role: Role, config: SessionConfig) -> Peer {
        let now = Instant::now();
        Peer {
            s: Session::new(role, config, now),
            buf: Vec::new(),
            now,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Ev> {
        self.buf.extend_from_slice(bytes);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Ev> {
        let mut events = Vec::new();
        for _ in 0..1_000_000 {
            let len = self.buf.len();
            let (n, ev) = self.s.read_event(&mut self.buf, self.now);
            assert!(n <= len, "consumed {n} of {len} bytes");
            let settled = n == 0 && ev.is_none();
            if let Some(ev) = ev {
                events.push(to_ev(&mut self.s, &self.buf, ev));
            }
            self.buf.drain(..n);
            if settled {
                return events;
            }
        }
        panic!("read_event never returned (0, None)");
    }
}

fn failed_code(events: &[Ev]) -> Option<u16> {
    events.iter().find_map(|e| match e {
        Ev::Failed(c) => Some(*c),
        _ => None,
    })
}

// ----- a tiny PRNG -------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Valid UTF-8 of about `n` bytes, with 1- to 4-byte code points.
    fn text(&mut self, n: usize) -> Vec<u8> {
        const POOL: [char; 10] = [
            'a',
            'Z',
            ' ',
            'é',
            'ß',
            '€',
            '한',
            '😀',
            '\u{10FFFF}',
            '\u{FFFE}',
        ];
        let mut s = String::new();
        while s.len() < n {
            s.push(POOL[self.below(POOL.len())]);
        }
        s.into_bytes()
    }

    /// Random cut points splitting `len` bytes into pieces (sorted, without 0 and len).
    fn cuts(&mut self, len: usize, pieces: usize) -> Vec<usize> {
        let mut c: Vec<usize> = (1..pieces)
            .filter(|_| len > 1)
            .map(|_| 1 + self.below(len - 1))
            .collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

// ----- every length form -----------------------------------------------------------

fn pattern(kind: MessageKind, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| match kind {
            MessageKind::Text => b'a' + (i % 26) as u8,
            MessageKind::Binary => (i * 31 + 7) as u8,
        })
        .collect()
}

#[test]
fn every_length_form_is_delivered_in_place_for_both_roles_and_kinds() {
    for role in ROLES {
        for (kind, op) in [(MessageKind::Text, TEXT), (MessageKind::Binary, BINARY)] {
            for len in [0usize, 125, 126, 65535, 65536] {
                let payload = pattern(kind, len);
                let mut input = frame_to(role, true, op, &payload);
                let hl = header_len(role, len);
                assert_eq!(input.len(), hl + len);
                let now = Instant::now();
                let mut s = Session::new(role, SessionConfig::default(), now);
                let (used, ev) = s.read_event(&mut input, now);
                assert_eq!(used, hl + len, "{role:?} {kind:?} len {len}: consumed");
                let range = hl..hl + len;
                assert_eq!(
                    ev,
                    Some(SessionEvent::Frame {
                        kind,
                        frame: Data::Input(range.clone()),
                        is_last: true,
                        message: Some(Data::Input(range.clone())),
                    }),
                    "{role:?} {kind:?} len {len}"
                );
                assert!(
                    input[range] == payload[..],
                    "{role:?} {kind:?} len {len}: payload not unmasked in place"
                );
                assert_eq!(s.queued(), 0, "nothing to answer");
                assert_eq!(s.next_deadline(), None);
                assert_eq!(s.read_event(&mut [], now), (0, None));
            }
        }
    }
}

#[test]
fn an_incomplete_frame_is_not_consumed_until_whole() {
    for role in ROLES {
        let payload = pattern(MessageKind::Binary, 300);
        let bytes = frame_to(role, true, BINARY, &payload);
        let mut p = Peer::new(role);
        for (i, b) in bytes.iter().enumerate() {
            let evs = p.feed(std::slice::from_ref(b));
            if i + 1 < bytes.len() {
                assert!(evs.is_empty(), "{role:?}: event after {} bytes", i + 1);
                assert_eq!(p.buf.len(), i + 1, "{role:?}: bytes consumed early");
            } else {
                assert_eq!(
                    evs,
                    [Ev::Frame {
                        kind: MessageKind::Binary,
                        data: payload.clone(),
                        is_last: true,
                        message: Some(payload.clone()),
                    }]
                );
                assert!(p.buf.is_empty());
            }
        }
    }
}

#[test]
fn several_frames_in_one_input_are_read_one_event_at_a_time() {
    for role in ROLES {
        let mut input = frame_to(role, true, TEXT, b"one");
        let second_at = input.len();
        input.extend(frame_to(role, true, BINARY, b"two!"));
        let now = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), now);
        let (used, ev) = s.read_event(&mut input, now);
        assert_eq!(used, second_at);
        let r = header_len(role, 3)..second_at;
        assert_eq!(
            ev,
            Some(SessionEvent::Frame {
                kind: MessageKind::Text,
                frame: Data::Input(r.clone()),
                is_last: true,
                message: Some(Data::Input(r.clone())),
            })
        );
        assert_eq!(&input[r], b"one");
        let mut rest = input[used..].to_vec();
        let (used2, ev2) = s.read_event(&mut rest, now);
        assert_eq!(used2, rest.len());
        let r2 = header_len(role, 4)..rest.len();
        assert_eq!(
            ev2,
            Some(SessionEvent::Frame {
                kind: MessageKind::Binary,
                frame: Data::Input(r2.clone()),
                is_last: true,
                message: Some(Data::Input(r2.clone())),
            })
        );
        assert_eq!(&rest[r2], b"two!");
    }
}

// ----- fragmentation ---------------------------------------------------------------

fn check_fragmented(role: Role, kind: MessageKind, op: u8) {
    let parts: [&[u8]; 3] = [b"ab", b"", b"cdef"];
    let now = Instant::now();
    let mut s = Session::new(role, SessionConfig::default(), now);
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let opcode = if i == 0 { op } else { CONT };
        let mut input = frame_to(role, last, opcode, part);
        let (used, ev) = s.read_event(&mut input, now);
        assert_eq!(used, input.len());
        let hl = header_len(role, part.len());
        let r = hl..hl + part.len();
        assert_eq!(
            ev,
            Some(SessionEvent::Frame {
                kind,
                frame: Data::Input(r.clone()),
                is_last: last,
                message: last.then_some(Data::Message),
            }),
            "{role:?} {kind:?} fragment {i}"
        );
        assert_eq!(&input[r], *part);
        if !last {
            assert!(s.next_deadline().is_some(), "a message is open");
        }
    }
    assert_eq!(s.take_message(), b"abcdef");
    assert_eq!(s.next_deadline(), None);
    // The session is ready for the next message.
    let mut input = frame_to(role, true, op, b"next");
    let (_, ev) = s.read_event(&mut input, now);
    let hl = header_len(role, 4);
    assert_eq!(
        ev,
        Some(SessionEvent::Frame {
            kind,
            frame: Data::Input(hl..hl + 4),
            is_last: true,
            message: Some(Data::Input(hl..hl + 4)),
        })
    );
    assert_eq!(s.queued(), 0);
}

#[test]
fn fragmented_text_message_reports_each_frame_then_the_message() {
    for role in ROLES {
        check_fragmented(role, MessageKind::Text, TEXT);
    }
}

#[test]
fn fragmented_binary_message_reports_each_frame_then_the_message() {
    for role in ROLES {
        check_fragmented(role, MessageKind::Binary, BINARY);
    }
}

#[test]
fn restore_message_buffer_reuses_memory() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let big = pattern(MessageKind::Binary, 1000);
        let mut stream = frame_to(role, false, BINARY, &big[..500]);
        stream.extend(frame_to(role, true, CONT, &big[500..]));
        // Read without the Peer helper so that the buffer is not restored there.
        p.buf.extend_from_slice(&stream);
        let now = p.now;
        let (n, _) = p.s.read_event(&mut p.buf, now);
        p.buf.drain(..n);
        let (n, ev) = p.s.read_event(&mut p.buf, now);
        p.buf.drain(..n);
        assert!(matches!(
            ev,
            Some(SessionEvent::Frame {
                message: Some(Data::Message),
                ..
            })
        ));
        let msg = p.s.take_message();
        assert_eq!(msg, big);
        let (ptr, cap) = (msg.as_ptr(), msg.capacity());
        p.s.restore_message_buffer(msg);
        let mut stream = frame_to(role, false, BINARY, &big[..300]);
        stream.extend(frame_to(role, true, CONT, &big[300..800]));
        p.buf.extend_from_slice(&stream);
        let (n, _) = p.s.read_event(&mut p.buf, now);
        p.buf.drain(..n);
        let (n, _) = p.s.read_event(&mut p.buf, now);
        p.buf.drain(..n);
        let msg = p.s.take_message();
        assert_eq!(msg, &big[..800]);
        assert_eq!(
            msg.as_ptr(),
            ptr,
            "{role:?}: the restored buffer was not reused"
        );
        assert_eq!(msg.capacity(), cap);
    }
}

// ----- UTF-8 -----------------------------------------------------------------------

#[test]
fn code_point_split_across_fragments_is_delivered_whole() {
    // "a€b" = 61 | e2 82 ac | 62, cut as [61 e2] [82] [ac 62].
    for role in ROLES {
        let now = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), now);

        let mut f1 = frame_to(role, false, TEXT, &[0x61, 0xe2]);
        let (_, ev) = s.read_event(&mut f1, now);
        let hl = header_len(role, 2);
        assert_eq!(
            ev,
            Some(SessionEvent::Frame {
                kind: MessageKind::Text,
                frame: Data::Input(hl..hl + 1),
                is_last: false,
                message: None,
            }),
            "{role:?}: first frame holds only 'a'"
        );

        let mut f2 = frame_to(role, false, CONT, &[0x82]);
        let (_, ev) = s.read_event(&mut f2, now);
        match ev {
            Some(SessionEvent::Frame {
                kind: MessageKind::Text,
                frame,
                is_last: false,
                message: None,
            }) => assert_eq!(
                resolve(&mut s, &f2, &frame),
                b"",
                "{role:?}: no whole code point yet"
            ),
            other => panic!("{role:?}: {other:?}"),
        }

        let mut f3 = frame_to(role, true, CONT, &[0xac, 0x62]);
        let (_, ev) = s.read_event(&mut f3, now);
        assert_eq!(
            ev,
            Some(SessionEvent::Frame {
                kind: MessageKind::Text,
                frame: Data::Scratch,
                is_last: true,
                message: Some(Data::Message),
            }),
            "{role:?}: a frame starting with the end of a code point is in the scratch buffer"
        );
        assert_eq!(s.frame_scratch(), "€b".as_bytes());
        assert_eq!(s.take_message(), "a€b".as_bytes());
    }
}

#[test]
fn every_two_and_three_way_fragmentation_of_text_gives_whole_code_points() {
    let text = "aκό😀€\u{10FFFF}z".as_bytes();
    for role in ROLES {
        for a in 0..=text.len() {
            for b in a..=text.len() {
                let pieces = [&text[..a], &text[a..b], &text[b..]];
                let mut stream = Vec::new();
                for (i, piece) in pieces.iter().enumerate() {
                    let op = if i == 0 { TEXT } else { CONT };
                    stream.extend(frame_to(role, i == 2, op, piece));
                }
                let mut p = Peer::new(role);
                let evs = p.feed(&stream);
                assert_eq!(evs.len(), 3, "{role:?} cuts {a},{b}: {evs:?}");
                let mut joined = Vec::new();
                for (i, e) in evs.iter().enumerate() {
                    match e {
                        Ev::Frame {
                            kind: MessageKind::Text,
                            data,
                            is_last,
                            message,
                        } => {
                            assert_eq!(*is_last, i == 2);
                            joined.extend_from_slice(data);
                            if i == 2 {
                                assert_eq!(message.as_deref(), Some(text), "cuts {a},{b}");
                            }
                        }
                        other => panic!("{role:?} cuts {a},{b}: {other:?}"),
                    }
                }
                assert_eq!(joined, text, "{role:?} cuts {a},{b}: frames do not add up");
            }
        }
    }
}

fn expect_fail_now(role: Role, evs: &[Ev], code: u16, what: &str) {
    assert_eq!(
        evs.last(),
        Some(&Ev::Failed(code)),
        "{role:?}: {what}: expected Failed({code}), got {evs:?}"
    );
}

#[test]
fn invalid_utf8_in_the_first_fragment_fails_without_waiting_for_the_rest() {
    let cases: [&[u8]; 5] = [
        &[b'o', b'k', 0xff],
        &[0xc0, 0xaf],       // overlong
        &[0xed, 0xa0, 0x80], // surrogate
        &[0xf4, 0x90],       // above U+10FFFF, known after two bytes
        &[b'x', 0x80],       // lone continuation byte
    ];
    for role in ROLES {
        for bad in cases {
            let mut p = Peer::new(role);
            let evs = p.feed(&frame_to(role, false, TEXT, bad));
            expect_fail_now(role, &evs, 1007, &format!("first fragment {bad:x?}"));
            let out = take_output(&mut p.s);
            assert_eq!(out.len(), 1);
            assert_eq!(
                out[0].close(),
                (1007, b"Invalid UTF-8 code encountered.".to_vec())
            );
            assert_eq!(p.s.close_state(), CloseState::Failed);
        }
    }
}

#[test]
fn invalid_utf8_in_a_partly_received_frame_fails_before_the_rest_arrives() {
    for role in ROLES {
        for fin in [true, false] {
            let mut payload = pattern(MessageKind::Text, 200);
            payload[5] = 0xfe;
            let bytes = frame_to(role, fin, TEXT, &payload);
            let hl = header_len(role, 200);
            let mut p = Peer::new(role);
            // Header and the first 5 (valid) payload bytes: nothing yet.
            assert_eq!(p.feed(&bytes[..hl + 5]), []);
            // The invalid byte arrives; 194 payload bytes are still missing.
            let evs = p.feed(&bytes[hl + 5..hl + 6]);
            expect_fail_now(role, &evs, 1007, "partial frame");
            assert!(p.buf.is_empty(), "a failed session consumes its input");
            assert_eq!(take_output(&mut p.s)[0].close().0, 1007);
            // The rest of the frame is ignored.
            assert_eq!(p.feed(&bytes[hl + 6..]), []);
            assert!(p.buf.is_empty());
        }
    }
}

#[test]
fn invalid_utf8_in_a_partly_received_continuation_fails_at_once() {
    for role in ROLES {
        let mut p = Peer::new(role);
        assert_eq!(p.feed(&frame_to(role, false, TEXT, b"abc")).len(), 1);
        let mut payload = pattern(MessageKind::Text, 100);
        payload[10] = 0xc1;
        let bytes = frame_to(role, true, CONT, &payload);
        let evs = p.feed(&bytes[..header_len(role, 100) + 11]);
        expect_fail_now(role, &evs, 1007, "partial continuation");
    }
}

#[test]
fn a_split_code_point_that_is_not_finished_correctly_fails_with_1007() {
    for role in ROLES {
        let mut p = Peer::new(role);
        assert_eq!(p.feed(&frame_to(role, false, TEXT, &[b'a', 0xe2])).len(), 1);
        let evs = p.feed(&frame_to(role, true, CONT, &[0x28, b'b']));
        expect_fail_now(role, &evs, 1007, "e2 | 28");
    }
}

#[test]
fn text_ending_inside_a_code_point_fails_with_1007() {
    for role in ROLES {
        // Unfragmented.
        let mut p = Peer::new(role);
        let evs = p.feed(&frame_to(role, true, TEXT, &[b'a', 0xe2, 0x82]));
        expect_fail_now(role, &evs, 1007, "unfinished code point in a final frame");
        // Fragmented: the final frame leaves the code point unfinished.
        let mut p = Peer::new(role);
        assert_eq!(p.feed(&frame_to(role, false, TEXT, b"ab")).len(), 1);
        let evs = p.feed(&frame_to(role, true, CONT, &[0xf0, 0x9f]));
        expect_fail_now(
            role,
            &evs,
            1007,
            "unfinished code point in the last fragment",
        );
    }
}

#[test]
fn binary_frames_are_not_checked_for_utf8() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let mut stream = frame_to(role, false, BINARY, &[0xff, 0xe2]);
        stream.extend(frame_to(role, true, CONT, &[0x80]));
        let evs = p.feed(&stream);
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[1],
            Ev::Frame {
                kind: MessageKind::Binary,
                data: vec![0x80],
                is_last: true,
                message: Some(vec![0xff, 0xe2, 0x80]),
            }
        );
    }
}

#[test]
fn server_accepts_a_frame_masked_with_a_zero_key() {
    // The mask bit is what RFC 6455 requires; a key of zeros is a valid (if useless) mask.
    let mut p = Peer::new(Role::Server);
    let evs = p.feed(&encode(true, 0, BINARY, Some([0; 4]), b"clear"));
    assert_eq!(
        evs,
        [Ev::Frame {
            kind: MessageKind::Binary,
            data: b"clear".to_vec(),
            is_last: true,
            message: Some(b"clear".to_vec()),
        }]
    );
}

// ----- ping and pong ---------------------------------------------------------------

#[test]
fn ping_is_answered_with_a_pong_carrying_the_same_payload() {
    for role in ROLES {
        for len in [0usize, 1, 5, 125] {
            let payload = pattern(MessageKind::Binary, len);
            let mut input = frame_to(role, true, PING, &payload);
            let now = Instant::now();
            let mut s = Session::new(role, SessionConfig::default(), now);
            let (used, ev) = s.read_event(&mut input, now);
            assert_eq!(used, input.len());
            let hl = header_len(role, len);
            assert_eq!(ev, Some(SessionEvent::Ping(hl..hl + len)));
            assert_eq!(&input[hl..], &payload[..]);
            if role == Role::Server {
                let mut exact = vec![0x8a, len as u8];
                exact.extend_from_slice(&payload);
                assert_eq!(s.pending_output(), &exact[..], "server pong bytes");
            }
            let out = take_output(&mut s);
            assert_eq!(
                out,
                [Wire {
                    fin: true,
                    rsv: 0,
                    opcode: PONG,
                    mask: out[0].mask,
                    payload,
                }],
                "{role:?}"
            );
        }
    }
}

#[test]
fn client_pongs_use_a_fresh_mask_each_time() {
    let mut p = Peer::new(Role::Client);
    let mut stream = Vec::new();
    for i in 0..8u8 {
        stream.extend(frame_to(Role::Client, true, PING, &[i; 9]));
    }
    assert_eq!(p.feed(&stream).len(), 8);
    // `output` checks that the 8 keys are non-zero and pairwise different.
    let out = take_output(&mut p.s);
    assert_eq!(out.len(), 8);
    for (i, f) in out.iter().enumerate() {
        assert_eq!(f.payload, [i as u8; 9]);
    }
}

#[test]
fn pong_is_reported_with_its_payload_and_not_answered() {
    for role in ROLES {
        let mut input = frame_to(role, true, PONG, b"xyz");
        let now = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), now);
        let (used, ev) = s.read_event(&mut input, now);
        assert_eq!(used, input.len());
        let hl = header_len(role, 3);
        assert_eq!(ev, Some(SessionEvent::Pong(hl..hl + 3)));
        assert_eq!(&input[hl..], b"xyz");
        assert_eq!(s.queued(), 0);
    }
}

#[test]
fn control_frames_may_be_interleaved_in_a_fragmented_message() {
    for role in ROLES {
        for (kind, op) in [(MessageKind::Text, TEXT), (MessageKind::Binary, BINARY)] {
            let mut p = Peer::new(role);
            let mut stream = frame_to(role, false, op, b"he");
            stream.extend(frame_to(role, true, PING, b"p!"));
            stream.extend(frame_to(role, false, CONT, b"l"));
            stream.extend(frame_to(role, true, PONG, b"q"));
            stream.extend(frame_to(role, true, CONT, b"lo"));
            let evs = p.feed(&stream);
            let fr = |d: &[u8], last: bool| Ev::Frame {
                kind,
                data: d.to_vec(),
                is_last: last,
                message: last.then(|| b"hello".to_vec()),
            };
            assert_eq!(
                evs,
                [
                    fr(b"he", false),
                    Ev::Ping(b"p!".to_vec()),
                    fr(b"l", false),
                    Ev::Pong(b"q".to_vec()),
                    fr(b"lo", true),
                ],
                "{role:?} {kind:?}"
            );
            let out = take_output(&mut p.s);
            assert_eq!(out.len(), 1);
            assert_eq!((out[0].opcode, &out[0].payload[..]), (PONG, &b"p!"[..]));
        }
    }
}

// ----- the peer's close --------------------------------------------------------------

#[test]
fn peer_close_with_code_and_reason_is_echoed_and_ends_the_session() {
    for role in ROLES {
        let payload = close_payload(1001, b"bye");
        let mut input = frame_to(role, true, CLOSE, &payload);
        let now = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), now);
        let (used, ev) = s.read_event(&mut input, now);
        assert_eq!(used, input.len());
        let hl = header_len(role, 5);
        assert_eq!(
            ev,
            Some(SessionEvent::CloseReceived {
                code: CloseCode::GoingAway,
                reason: hl + 2..hl + 5,
            })
        );
        assert_eq!(&input[hl + 2..], b"bye");
        if role == Role::Server {
            assert_eq!(s.pending_output(), b"\x88\x05\x03\xe9bye");
        }
        let out = take_output(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].close(), (1001, b"bye".to_vec()));
        assert_eq!(s.close_state(), CloseState::Closed);
        assert!(!s.can_send());
        assert!(s.is_finished());
        assert_eq!(s.sent_close(), Some((CloseCode::GoingAway, "bye")));
        assert_eq!(s.next_deadline(), None);
        // Nothing may be sent any more.
        assert_eq!(
            s.send_message(MessageKind::Text, b"x", 10),
            Err(SendError::Closing)
        );
        assert_eq!(s.send_ping(b""), Err(SendError::Closing));
        assert_eq!(s.close(CloseCode::Normal, "", now), Err(SendError::Closing));
        assert_eq!(s.queued(), 0);
        // Later input is consumed without events, even garbage and pings.
        let mut later = frame_to(role, true, TEXT, b"late");
        later.extend(frame_to(role, true, PING, b"late"));
        later.extend([0xff, 0xff, 0xff]);
        assert_eq!(s.read_event(&mut later, now), (later.len(), None));
        assert_eq!(s.queued(), 0, "no pong after the closing handshake");
        assert_eq!(s.close_state(), CloseState::Closed);
    }
}

#[test]
fn empty_peer_close_is_echoed_empty_and_reports_1005() {
    for role in ROLES {
        let mut input = frame_to(role, true, CLOSE, b"");
        let now = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), now);
        let (used, ev) = s.read_event(&mut input, now);
        assert_eq!(used, input.len());
        let end = input.len();
        assert_eq!(
            ev,
            Some(SessionEvent::CloseReceived {
                code: CloseCode::MissingStatusCode,
                reason: end..end,
            })
        );
        if role == Role::Server {
            assert_eq!(s.pending_output(), b"\x88\x00");
        }
        let out = take_output(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].opcode, out[0].payload.len()), (CLOSE, 0));
        assert_eq!(s.close_state(), CloseState::Closed);
    }
}

#[test]
fn one_byte_close_payload_fails_with_1002() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let evs = p.feed(&frame_to(role, true, CLOSE, &[0x03]));
        assert_eq!(evs, [Ev::Failed(1002)], "{role:?}");
        assert_eq!(take_output(&mut p.s)[0].close().0, 1002);
        assert_eq!(p.s.close_state(), CloseState::Failed);
    }
}

#[test]
fn invalid_received_close_codes_fail_with_1002() {
    for role in ROLES {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let mut p = Peer::new(role);
            let evs = p.feed(&frame_to(role, true, CLOSE, &close_payload(code, b"r")));
            assert_eq!(evs, [Ev::Failed(1002)], "{role:?} code {code}");
            let out = take_output(&mut p.s);
            assert_eq!(
                out.len(),
                1,
                "{role:?} code {code}: no echo, only our close"
            );
            assert_eq!(out[0].close().0, 1002);
            assert!(p.s.is_finished());
        }
    }
}

#[test]
fn valid_received_close_codes_are_accepted_and_echoed() {
    let valid = [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
        4000, 4999,
    ];
    for role in ROLES {
        for code in valid {
            let mut p = Peer::new(role);
            let evs = p.feed(&frame_to(role, true, CLOSE, &close_payload(code, b"why")));
            assert_eq!(evs, [Ev::Close(code, b"why".to_vec())], "{role:?} {code}");
            let out = take_output(&mut p.s);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].close(), (code, b"why".to_vec()), "{role:?} echo");
            assert_eq!(p.s.close_state(), CloseState::Closed);
        }
    }
}

#[test]
fn close_reason_with_invalid_utf8_fails_with_1007() {
    for role in ROLES {
        for reason in [
            &[0xff][..],
            &[b'o', b'k', 0xe2, 0x82][..],
            &[0xc0, 0x80][..],
        ] {
            let mut p = Peer::new(role);
            let evs = p.feed(&frame_to(role, true, CLOSE, &close_payload(1000, reason)));
            assert_eq!(evs, [Ev::Failed(1007)], "{role:?} {reason:x?}");
            assert_eq!(take_output(&mut p.s)[0].close().0, 1007);
        }
    }
}

#[test]
fn peer_close_in_the_middle_of_a_fragmented_message_is_accepted() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let mut stream = frame_to(role, false, TEXT, b"half");
        stream.extend(frame_to(role, true, CLOSE, &close_payload(1000, b"")));
        let evs = p.feed(&stream);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1], Ev::Close(1000, vec![]));
        assert_eq!(p.s.close_state(), CloseState::Closed);
        assert_eq!(p.s.next_deadline(), None, "nothing to wait for once closed");
    }
}

// ----- our close ---------------------------------------------------------------------

#[test]
fn close_queues_exact_bytes_and_waits_for_the_peer() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), t0);
        s.close(CloseCode::Normal, "done", t0).unwrap();
        if role == Role::Server {
            assert_eq!(s.pending_output(), b"\x88\x06\x03\xe8done");
        } else {
            assert_eq!(s.pending_output().len(), 2 + 4 + 6);
        }
        let out = take_output(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].close(), (1000, b"done".to_vec()));
        assert!(out[0].fin);
        let deadline = t0 + Duration::from_secs(3);
        assert_eq!(s.close_state(), CloseState::CloseSent { deadline });
        assert_eq!(s.next_deadline(), Some(deadline));
        assert!(!s.can_send());
        assert!(!s.is_finished());
        assert_eq!(s.sent_close(), Some((CloseCode::Normal, "done")));
        // A second close is refused and sends nothing.
        assert_eq!(
            s.close(CloseCode::GoingAway, "again", t0),
            Err(SendError::Closing)
        );
        assert_eq!(
            s.send_message(MessageKind::Binary, b"x", 10),
            Err(SendError::Closing)
        );
        assert_eq!(s.queued(), 0);
        // The peer's close ends the handshake, without an echo.
        let mut input = frame_to(role, true, CLOSE, &close_payload(1000, b"ok"));
        let (used, ev) = s.read_event(&mut input, t0);
        assert_eq!(used, input.len());
        assert!(matches!(
            ev,
            Some(SessionEvent::CloseReceived {
                code: CloseCode::Normal,
                ..
            })
        ));
        assert_eq!(s.close_state(), CloseState::Closed);
        assert_eq!(s.queued(), 0, "{role:?}: no echo after our own close");
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.sent_close(), Some((CloseCode::Normal, "done")));
        assert!(s.is_finished());
    }
}

#[test]
fn close_uses_the_configured_close_timeout() {
    let t0 = Instant::now();
    let config = SessionConfig {
        close_timeout: Duration::from_millis(250),
        ..SessionConfig::default()
    };
    let mut s = Session::new(Role::Client, config, t0);
    let t1 = t0 + Duration::from_secs(1);
    s.close(CloseCode::Other(4000), "", t1).unwrap();
    assert_eq!(
        s.close_state(),
        CloseState::CloseSent {
            deadline: t1 + Duration::from_millis(250)
        }
    );
    assert_eq!(take_output(&mut s)[0].close(), (4000, vec![]));
}

#[test]
fn data_from_the_peer_is_still_delivered_after_our_close() {
    for role in ROLES {
        let mut p = Peer::new(role);
        p.s.close(CloseCode::Normal, "", p.now).unwrap();
        take_output(&mut p.s);
        let evs = p.feed(&frame_to(role, true, BINARY, b"in flight"));
        assert_eq!(
            evs,
            [Ev::Frame {
                kind: MessageKind::Binary,
                data: b"in flight".to_vec(),
                is_last: true,
                message: Some(b"in flight".to_vec()),
            }]
        );
        assert!(matches!(p.s.close_state(), CloseState::CloseSent { .. }));
    }
}

#[test]
fn close_refuses_codes_that_may_not_be_sent() {
    for role in ROLES {
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let t0 = Instant::now();
            let mut s = Session::new(role, SessionConfig::default(), t0);
            assert_eq!(
                s.close(CloseCode::from(code), "no", t0),
                Err(SendError::InvalidCloseCode),
                "{role:?} {code}"
            );
            assert_eq!(s.queued(), 0);
            assert_eq!(s.close_state(), CloseState::Open);
            assert!(s.can_send());
            assert_eq!(s.sent_close(), None);
        }
        for code in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
            let t0 = Instant::now();
            let mut s = Session::new(role, SessionConfig::default(), t0);
            s.close(CloseCode::from(code), "", t0).unwrap();
            assert_eq!(take_output(&mut s)[0].close(), (code, vec![]));
        }
    }
}

#[test]
fn close_reason_is_cut_to_123_bytes_on_a_char_boundary() {
    let cases = [
        ("é".repeat(100), "é".repeat(61)), // 200 bytes -> 122
        (format!("{}€", "a".repeat(121)), "a".repeat(121)), // 124 bytes -> 121
        ("a".repeat(200), "a".repeat(123)), // -> 123
        ("a".repeat(123), "a".repeat(123)), // kept
        (format!("{}😀", "a".repeat(120)), "a".repeat(120)), // 124 bytes -> 120
        (
            format!("{}😀", "a".repeat(119)),
            format!("{}😀", "a".repeat(119)),
        ), // 123 kept
    ];
    for role in ROLES {
        for (reason, expect) in &cases {
            let t0 = Instant::now();
            let mut s = Session::new(role, SessionConfig::default(), t0);
            s.close(CloseCode::Normal, reason, t0).unwrap();
            let out = take_output(&mut s);
            let (code, sent) = out[0].close();
            assert_eq!(code, 1000);
            assert!(out[0].payload.len() <= 125);
            assert_eq!(
                std::str::from_utf8(&sent).expect("reason cut inside a character"),
                expect,
                "{role:?} reason of {} bytes",
                reason.len()
            );
            assert_eq!(s.sent_close(), Some((CloseCode::Normal, expect.as_str())));
        }
    }
}

// ----- protocol errors ---------------------------------------------------------------

/// Feeds `bytes` and expects the session to fail with `code` on the last event,
/// queue exactly one close frame with that code, and ignore everything after.
fn expect_failure(role: Role, config: SessionConfig, bytes: &[u8], code: u16, what: &str) {
    let mut p = Peer::with_config(role, config);
    let evs = p.feed(bytes);
    assert_eq!(
        evs.last(),
        Some(&Ev::Failed(code)),
        "{role:?}: {what}: expected Failed({code}), got {evs:?}"
    );
    assert_eq!(
        failed_code(&evs[..evs.len() - 1]),
        None,
        "{role:?}: {what}: failed twice"
    );
    assert!(p.buf.is_empty(), "{role:?}: {what}: input not consumed");
    assert_eq!(p.s.close_state(), CloseState::Failed, "{role:?}: {what}");
    assert!(p.s.is_finished());
    assert!(!p.s.can_send());
    let out = take_output(&mut p.s);
    let closes: Vec<&Wire> = out.iter().filter(|f| f.opcode == CLOSE).collect();
    assert_eq!(closes.len(), 1, "{role:?}: {what}: {out:?}");
    let (sent, reason) = closes[0].close();
    assert_eq!(sent, code, "{role:?}: {what}: close code on the wire");
    assert!(!reason.is_empty() && reason.len() <= 123);
    assert!(std::str::from_utf8(&reason).is_ok());
    assert_eq!(p.s.sent_close().map(|(c, _)| c.code()), Some(code));
    // Later input is consumed without events or output.
    let mut later = frame_to(role, true, PING, b"ping");
    later.extend(frame_to(role, true, CLOSE, &close_payload(1000, b"")));
    later.extend([0x8f, 0xff, 1, 2, 3]);
    assert_eq!(p.feed(&later), [], "{role:?}: {what}: events after failure");
    assert!(p.buf.is_empty());
    assert_eq!(p.s.queued(), 0, "{role:?}: {what}: output after failure");
    assert_eq!(
        p.s.send_message(MessageKind::Text, b"x", 1),
        Err(SendError::Closing)
    );
    assert_eq!(p.s.next_deadline(), None);
}

fn protocol_error_cases(role: Role) -> Vec<(String, Vec<u8>)> {
    let mut cases = Vec::new();
    for rsv in 1u8..8 {
        cases.push((
            format!("RSV bits {rsv:03b}"),
            encode(true, rsv, TEXT, peer_mask(role), b"x"),
        ));
    }
    for op in (3u8..=7).chain(11..=15) {
        cases.push((
            format!("reserved opcode {op}"),
            encode(true, 0, op, peer_mask(role), b""),
        ));
    }
    for op in [CLOSE, PING, PONG] {
        cases.push((
            format!("control frame {op} > 125 (16-bit)"),
            raw_header(role, 0x80 | op, &[126, 0, 126]),
        ));
        cases.push((
            format!("control frame {op} > 125 (64-bit)"),
            raw_header(role, 0x80 | op, &[127, 0, 0, 0, 0, 0, 1, 0, 0]),
        ));
        cases.push((
            format!("fragmented control frame {op}"),
            encode(false, 0, op, peer_mask(role), b""),
        ));
    }
    cases.push((
        "non-minimal 16-bit length".into(),
        raw_header(role, 0x82, &[126, 0, 125]),
    ));
    cases.push((
        "non-minimal 16-bit length 0".into(),
        raw_header(role, 0x82, &[126, 0, 0]),
    ));
    cases.push((
        "non-minimal 64-bit length".into(),
        raw_header(role, 0x82, &[127, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
    ));
    cases.push((
        "non-minimal 64-bit length 5".into(),
        raw_header(role, 0x82, &[127, 0, 0, 0, 0, 0, 0, 0, 5]),
    ));
    cases.push((
        "MSB set in 64-bit length".into(),
        raw_header(role, 0x82, &[127, 0x80, 0, 0, 0, 0, 0, 0, 1]),
    ));
    cases.push((
        "continuation without a start".into(),
        frame_to(role, true, CONT, b"x"),
    ));
    cases.push((
        "unfinished continuation without a start".into(),
        frame_to(role, false, CONT, b""),
    ));
    for (a, b) in [
        (TEXT, TEXT),
        (TEXT, BINARY),
        (BINARY, TEXT),
        (BINARY, BINARY),
    ] {
        let mut s = frame_to(role, false, a, b"a");
        s.extend(frame_to(role, true, b, b"b"));
        cases.push((format!("data frame {b} while message {a} is open"), s));
    }
    for op in [TEXT, BINARY, CONT, PING, PONG, CLOSE] {
        cases.push((
            format!("wrong masking direction, opcode {op}"),
            encode(true, 0, op, wrong_mask(role), b""),
        ));
    }
    // Masking is checked on the first frame after a good one too.
    let mut s = frame_to(role, true, BINARY, b"ok");
    s.extend(encode(true, 0, BINARY, wrong_mask(role), b"bad"));
    cases.push(("wrong masking after a good frame".into(), s));
    cases
}

#[test]
fn every_protocol_error_fails_with_1002_and_queues_its_close_frame() {
    for role in ROLES {
        for (what, bytes) in protocol_error_cases(role) {
            expect_failure(role, SessionConfig::default(), &bytes, 1002, &what);
        }
    }
}

#[test]
fn protocol_errors_are_detected_byte_by_byte() {
    // The header checks fire as soon as the deciding byte is there.
    for role in ROLES {
        for (what, bytes) in protocol_error_cases(role) {
            let mut p = Peer::new(role);
            let mut evs = Vec::new();
            for b in &bytes {
                evs.extend(p.feed(std::slice::from_ref(b)));
            }
            assert_eq!(failed_code(&evs), Some(1002), "{role:?}: {what}: {evs:?}");
        }
    }
}

fn small_limits(frame: u64, message: u64) -> SessionConfig {
    SessionConfig {
        max_frame_size: frame,
        max_message_size: message,
        ..SessionConfig::default()
    }
}

#[test]
fn frame_over_max_frame_size_fails_with_1009_from_the_header_alone() {
    for role in ROLES {
        for (op, len) in [(TEXT, 101usize), (BINARY, 101), (BINARY, 70_000)] {
            let payload = vec![b'a'; len];
            let bytes = frame_to(role, true, op, &payload);
            let header = &bytes[..header_len(role, len)];
            expect_failure(role, small_limits(100, 1000), header, 1009, "frame too big");
        }
        // Exactly at the limit is fine.
        let mut p = Peer::with_config(role, small_limits(100, 1000));
        assert_eq!(p.feed(&frame_to(role, true, BINARY, &[1; 100])).len(), 1);
        assert_eq!(p.s.queued(), 0);
        // Control frames obey the limit too (Qt: a 20-byte ping with limit 10 gives 1009).
        let ping = frame_to(role, true, PING, &[7; 20]);
        expect_failure(
            role,
            small_limits(10, 1000),
            &ping[..header_len(role, 20)],
            1009,
            "ping too big",
        );
    }
}

#[test]
fn message_over_max_message_size_fails_with_1009_across_fragments() {
    for role in ROLES {
        for op in [TEXT, BINARY] {
            let mut bytes = frame_to(role, false, op, b"123456");
            bytes.extend(frame_to(role, false, CONT, b"78"));
            let third = frame_to(role, true, CONT, b"9ab");
            // Only the header of the fragment that goes over the limit.
            bytes.extend(&third[..header_len(role, 3)]);
            expect_failure(role, small_limits(100, 10), &bytes, 1009, "message too big");
        }
        // Exactly at the limit is fine, and the count restarts with the next message.
        let mut p = Peer::with_config(role, small_limits(100, 10));
        let mut bytes = frame_to(role, false, BINARY, b"123456");
        bytes.extend(frame_to(role, true, CONT, b"7890"));
        bytes.extend(frame_to(role, true, TEXT, b"abcdefghij"));
        bytes.extend(frame_to(role, false, TEXT, b"abcde"));
        bytes.extend(frame_to(role, true, PING, &[0; 50]));
        bytes.extend(frame_to(role, true, CONT, b"fghij"));
        let evs = p.feed(&bytes);
        assert_eq!(failed_code(&evs), None, "{role:?}: {evs:?}");
        assert_eq!(evs.len(), 6);
    }
}

#[test]
fn header_announcing_2_pow_62_bytes_fails_at_once_with_1009() {
    for role in ROLES {
        for len in [1u64 << 62, (1u64 << 63) - 1, 1 << 32, (16 << 20) + 1] {
            let mut l = vec![127];
            l.extend_from_slice(&len.to_be_bytes());
            let header = raw_header(role, 0x82, &l);
            // Only the header: the failure cannot wait for (or buffer) the payload.
            let now = Instant::now();
            let mut s = Session::new(role, SessionConfig::default(), now);
            let mut input = header.clone();
            let (used, ev) = s.read_event(&mut input, now);
            assert_eq!(used, header.len());
            match ev {
                Some(SessionEvent::Failed(e)) => {
                    assert_eq!(e.code, CloseCode::TooMuchData, "{role:?} len {len}")
                }
                other => panic!("{role:?} len {len}: {other:?}"),
            }
            assert_eq!(s.bytes_needed(0), 0);
            assert_eq!(take_output(&mut s)[0].close().0, 1009);
        }
    }
}

// ----- timeouts ----------------------------------------------------------------------

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[test]
fn no_deadline_while_idle() {
    for role in ROLES {
        let mut p = Peer::new(role);
        assert_eq!(p.s.next_deadline(), None);
        assert_eq!(p.s.on_timeout(p.now + secs(3600.0)), None);
        p.feed(&frame_to(role, true, TEXT, b"whole"));
        p.feed(&frame_to(role, true, PING, b""));
        assert_eq!(p.s.next_deadline(), None);
        assert_eq!(p.s.on_timeout(p.now + secs(3600.0)), None);
    }
}

#[test]
fn incomplete_frame_times_out_after_5s_with_1001() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let t0 = p.now + secs(1.0);
        p.now = t0;
        let bytes = frame_to(role, true, BINARY, &[9; 50]);
        assert_eq!(p.feed(&bytes[..bytes.len() / 2]), []);
        let due = t0 + secs(5.0);
        assert_eq!(p.s.next_deadline(), Some(due));
        assert_eq!(p.s.on_timeout(due - Duration::from_millis(1)), None);
        assert_eq!(p.s.queued(), 0);
        assert_eq!(p.s.on_timeout(due), Some(SessionEvent::IncompleteTimeout));
        let out = take_output(&mut p.s);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].close(),
            (1001, b"Timeout when reading data from socket.".to_vec())
        );
        // We started the closing handshake: now wait for the peer's close.
        let close_due = due + secs(3.0);
        assert_eq!(
            p.s.close_state(),
            CloseState::CloseSent {
                deadline: close_due
            }
        );
        assert_eq!(p.s.next_deadline(), Some(close_due));
        assert_eq!(p.s.on_timeout(due), None);
        assert_eq!(p.s.on_timeout(close_due), Some(SessionEvent::CloseTimeout));
        assert!(p.s.is_finished());
        assert_eq!(p.s.next_deadline(), None);
        assert_eq!(p.s.queued(), 0);
    }
}

#[test]
fn incomplete_timeout_restarts_on_every_byte() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let t0 = p.now;
        let bytes = frame_to(role, true, TEXT, &[b'x'; 40]);
        let hl = header_len(role, 40);
        p.feed(&bytes[..hl + 1]);
        assert_eq!(p.s.next_deadline(), Some(t0 + secs(5.0)));
        p.now = t0 + secs(4.0);
        p.feed(&bytes[hl + 1..hl + 2]);
        assert_eq!(p.s.next_deadline(), Some(t0 + secs(9.0)));
        assert_eq!(p.s.on_timeout(t0 + secs(5.0)), None);
        p.now = t0 + secs(8.5);
        assert_eq!(p.feed(&bytes[hl + 2..]).len(), 1);
        assert_eq!(p.s.next_deadline(), None);
        assert_eq!(p.s.on_timeout(t0 + secs(100.0)), None);
    }
}

#[test]
fn fragmented_message_times_out_between_frames() {
    for role in ROLES {
        let mut p = Peer::new(role);
        let t0 = p.now + secs(2.0);
        p.now = t0;
        assert_eq!(p.feed(&frame_to(role, false, TEXT, b"part")).len(), 1);
        assert_eq!(p.s.next_deadline(), Some(t0 + secs(5.0)));
        // A ping between fragments is traffic too.
        p.now = t0 + secs(1.0);
        assert_eq!(p.feed(&frame_to(role, true, PING, b"")).len(), 1);
        assert_eq!(p.s.next_deadline(), Some(t0 + secs(6.0)));
        assert_eq!(
            p.s.on_timeout(t0 + secs(6.0)),
            Some(SessionEvent::IncompleteTimeout)
        );
        let out = take_output(&mut p.s);
        assert_eq!(out.last().unwrap().close().0, 1001);
    }
}

#[test]
fn partial_header_starts_the_incomplete_timeout() {
    // Regression (fixed): before the fix, a frame whose header is incomplete (here 1 of its 2..14 bytes) does not
    // arm the 5 s incomplete timeout: `read_frame` returns (0, None) without
    // recording anything when `FrameHeader::parse` needs more bytes, and
    // `next_deadline` only looks at `incoming`/`message_kind`. A peer that sends one
    // byte and stalls holds the connection forever (contract item 16: "a 5-second
    // timeout for an incomplete frame").
    for role in ROLES {
        let bytes = frame_to(role, true, BINARY, &[1; 300]);
        for cut in [1usize, 3] {
            let mut p = Peer::new(role);
            let t0 = p.now + secs(1.0);
            p.now = t0;
            assert_eq!(p.feed(&bytes[..cut]), []);
            assert_eq!(
                p.s.next_deadline(),
                Some(t0 + secs(5.0)),
                "{role:?}: {cut} header byte(s) of a frame received at t0 should arm the \
                 incomplete timeout at t0 + 5 s"
            );
        }
    }
}

#[test]
fn incomplete_timeout_none_disables_it() {
    for role in ROLES {
        let config = SessionConfig {
            incomplete_timeout: None,
            ..SessionConfig::default()
        };
        let mut p = Peer::with_config(role, config);
        let bytes = frame_to(role, false, BINARY, &[1; 10]);
        p.feed(&bytes);
        p.feed(&frame_to(role, false, CONT, &[2; 10])[..3]);
        assert_eq!(p.s.next_deadline(), None);
        assert_eq!(p.s.on_timeout(p.now + secs(1e6)), None);
        assert_eq!(p.s.queued(), 0);
        // The close timeout still works.
        p.s.close(CloseCode::Normal, "", p.now).unwrap();
        assert_eq!(p.s.next_deadline(), Some(p.now + secs(3.0)));
    }
}

#[test]
fn configured_incomplete_timeout_is_used() {
    let config = SessionConfig {
        incomplete_timeout: Some(Duration::from_millis(500)),
        ..SessionConfig::default()
    };
    let mut p = Peer::with_config(Role::Server, config);
    p.feed(&frame_to(Role::Server, true, TEXT, b"abc")[..7]);
    assert_eq!(
        p.s.next_deadline(),
        Some(p.now + Duration::from_millis(500))
    );
}

#[test]
fn close_sent_deadline_fires_close_timeout() {
    for role in ROLES {
        let t0 = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), t0);
        s.close(CloseCode::Normal, "", t0).unwrap();
        take_output(&mut s);
        assert_eq!(s.on_timeout(t0 + secs(2.999)), None);
        assert_eq!(
            s.on_timeout(t0 + secs(3.0)),
            Some(SessionEvent::CloseTimeout)
        );
        assert!(s.is_finished());
        assert_eq!(s.queued(), 0, "nothing more is sent on a close timeout");
        assert_eq!(s.on_timeout(t0 + secs(10.0)), None);
    }
}

#[test]
fn frame_completed_after_an_incomplete_timeout_is_not_unmasked_twice() {
    // Regression (fixed, server side): before the fix, after IncompleteTimeout, `on_timeout` drops `incoming`, but the
    // caller still holds the frame's bytes, whose first part was already unmasked in
    // place. When the rest arrives (the peer may legitimately finish the frame before it
    // sees our close), the header is parsed again and the first part is unmasked a second
    // time: the application gets corrupted data, or the session fails with 1007 on text.
    for role in ROLES {
        for op in [BINARY, TEXT] {
            let mut p = Peer::new(role);
            let t0 = p.now;
            let payload = b"0123456789abcdef".to_vec();
            let bytes = frame_to(role, true, op, &payload);
            let hl = header_len(role, payload.len());
            assert_eq!(p.feed(&bytes[..hl + 8]), []);
            assert_eq!(
                p.s.on_timeout(t0 + secs(5.0)),
                Some(SessionEvent::IncompleteTimeout)
            );
            take_output(&mut p.s);
            p.now = t0 + secs(6.0);
            let mut rest = bytes[hl + 8..].to_vec();
            rest.extend(frame_to(role, true, CLOSE, &close_payload(1000, b"")));
            let evs = p.feed(&rest);
            for e in &evs {
                if let Ev::Frame { data, .. } = e {
                    assert_eq!(
                        data, &payload,
                        "{role:?} op {op}: frame finished after the timeout has corrupted bytes"
                    );
                }
            }
            assert_eq!(
                evs.last(),
                Some(&Ev::Close(1000, vec![])),
                "{role:?} op {op}: the peer's close should end the handshake, got {evs:?}"
            );
            assert_eq!(p.s.close_state(), CloseState::Closed);
        }
    }
}

#[test]
fn continuation_after_an_incomplete_timeout_does_not_fail_the_connection() {
    // Regression (fixed): before the fix, after IncompleteTimeout between fragments, `on_timeout` forgets the open
    // message (`message_kind = None`). A peer that had not yet seen our close and sends
    // the final continuation frame then gets Failed(1002) "nothing to continue" instead
    // of the closing handshake finishing with its close frame.
    for role in ROLES {
        let mut p = Peer::new(role);
        let t0 = p.now;
        assert_eq!(p.feed(&frame_to(role, false, BINARY, b"part")).len(), 1);
        assert_eq!(
            p.s.on_timeout(t0 + secs(5.0)),
            Some(SessionEvent::IncompleteTimeout)
        );
        take_output(&mut p.s);
        let mut rest = frame_to(role, true, CONT, b" two");
        rest.extend(frame_to(role, true, CLOSE, &close_payload(1000, b"")));
        let evs = p.feed(&rest);
        assert_eq!(
            failed_code(&evs),
            None,
            "{role:?}: a late continuation after our timeout close is not a protocol error: {evs:?}"
        );
        assert_eq!(evs.last(), Some(&Ev::Close(1000, vec![])), "{role:?}");
    }
}

// ----- sending -----------------------------------------------------------------------

#[test]
fn send_message_splits_like_qt() {
    let t0 = Instant::now();
    let mut s = Session::new(Role::Server, SessionConfig::default(), t0);
    s.send_message(MessageKind::Text, b"hello world", 4)
        .unwrap();
    assert_eq!(s.pending_output(), b"\x01\x04hell\x00\x04o wo\x80\x03rld");
    // 11 payload bytes and three 2-byte headers (Qt's 29 is a client's, with masks).
    assert_eq!(s.queued(), 17);

    for role in ROLES {
        let mut s = Session::new(role, SessionConfig::default(), t0);
        s.send_message(MessageKind::Text, b"hello world", 4)
            .unwrap();
        assert_eq!(s.queued(), if role == Role::Client { 29 } else { 17 });
        let out = take_output(&mut s);
        let got: Vec<(bool, u8, &[u8])> = out
            .iter()
            .map(|f| (f.fin, f.opcode, &f.payload[..]))
            .collect();
        assert_eq!(
            got,
            [
                (false, TEXT, &b"hell"[..]),
                (false, CONT, &b"o wo"[..]),
                (true, CONT, &b"rld"[..]),
            ],
            "{role:?}"
        );
        s.send_message(MessageKind::Binary, &[1, 2, 3, 4], 4)
            .unwrap();
        let out = take_output(&mut s);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].fin, out[0].opcode), (true, BINARY));
    }
}

#[test]
fn empty_message_is_one_empty_frame() {
    for role in ROLES {
        for (kind, op) in [(MessageKind::Text, TEXT), (MessageKind::Binary, BINARY)] {
            let mut s = Session::new(role, SessionConfig::default(), Instant::now());
            s.send_message(kind, b"", 4).unwrap();
            if role == Role::Server {
                assert_eq!(s.pending_output(), &[0x80 | op, 0]);
            }
            let out = take_output(&mut s);
            assert_eq!(out.len(), 1);
            assert_eq!(
                (out[0].fin, out[0].opcode, out[0].payload.len()),
                (true, op, 0)
            );
        }
    }
}

#[test]
fn sent_frames_use_minimal_length_forms() {
    for role in ROLES {
        let mut s = Session::new(role, SessionConfig::default(), Instant::now());
        for len in [0usize, 125, 126, 65535, 65536] {
            s.send_message(
                MessageKind::Binary,
                &pattern(MessageKind::Binary, len),
                1 << 20,
            )
            .unwrap();
            let raw = s.pending_output().to_vec();
            let mask_len = if role == Role::Client { 4 } else { 0 };
            let hl = match len {
                0..=125 => 2,
                126..=0xffff => 4,
                _ => 10,
            } + mask_len;
            assert_eq!(raw.len(), hl + len, "{role:?} len {len}");
            let out = take_output(&mut s);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].payload, pattern(MessageKind::Binary, len));
        }
    }
}

#[test]
fn send_after_close_is_refused() {
    for role in ROLES {
        // After our close.
        let t0 = Instant::now();
        let mut s = Session::new(role, SessionConfig::default(), t0);
        s.close(CloseCode::Normal, "", t0).unwrap();
        let before = s.queued();
        assert_eq!(
            s.send_message(MessageKind::Text, b"x", 4),
            Err(SendError::Closing)
        );
        assert_eq!(
            s.send_frame(MessageKind::Text, true, true, b"x"),
            Err(SendError::Closing)
        );
        assert_eq!(s.send_ping(b"x"), Err(SendError::Closing));
        assert_eq!(s.send_pong(b"x"), Err(SendError::Closing));
        assert_eq!(s.queued(), before);
        // After a failure.
        let mut p = Peer::new(role);
        p.feed(&frame_to(role, true, CONT, b""));
        let before = p.s.queued();
        assert_eq!(
            p.s.send_message(MessageKind::Binary, b"", 4),
            Err(SendError::Closing)
        );
        assert_eq!(p.s.send_ping(b""), Err(SendError::Closing));
        assert_eq!(
            p.s.close(CloseCode::Normal, "", p.now),
            Err(SendError::Closing)
        );
        assert_eq!(p.s.queued(), before);
    }
}

#[test]
fn ping_and_pong_payloads_are_clipped_to_125_bytes() {
    for role in ROLES {
        let mut s = Session::new(role, SessionConfig::default(), Instant::now());
        let long = pattern(MessageKind::Binary, 300);
        assert_eq!(s.send_ping(&long), Ok(125));
        assert_eq!(s.send_pong(&long[..10]), Ok(10));
        assert_eq!(s.send_ping(b""), Ok(0));
        let out = take_output(&mut s);
        assert_eq!(out.len(), 3);
        assert_eq!((out[0].opcode, &out[0].payload[..]), (PING, &long[..125]));
        assert_eq!((out[1].opcode, &out[1].payload[..]), (PONG, &long[..10]));
        assert_eq!((out[2].opcode, out[2].payload.len()), (PING, 0));
    }
}

#[test]
fn send_frame_builds_a_message_piece_by_piece() {
    for role in ROLES {
        let mut s = Session::new(role, SessionConfig::default(), Instant::now());
        s.send_frame(MessageKind::Binary, true, false, b"ab")
            .unwrap();
        s.send_frame(MessageKind::Binary, false, false, b"")
            .unwrap();
        s.send_frame(MessageKind::Binary, false, true, b"cd")
            .unwrap();
        let out = take_output(&mut s);
        let got: Vec<(bool, u8, &[u8])> = out
            .iter()
            .map(|f| (f.fin, f.opcode, &f.payload[..]))
            .collect();
        assert_eq!(
            got,
            [
                (false, BINARY, &b"ab"[..]),
                (false, CONT, &b""[..]),
                (true, CONT, &b"cd"[..])
            ]
        );
    }
}

#[test]
fn consume_output_handles_partial_writes() {
    let mut s = Session::new(Role::Server, SessionConfig::default(), Instant::now());
    assert_eq!(s.queued(), 0);
    s.consume_output(10); // nothing queued: no effect
    s.send_message(MessageKind::Text, b"hello", 100).unwrap();
    assert_eq!(s.pending_output(), b"\x81\x05hello");
    s.consume_output(0);
    assert_eq!(s.queued(), 7);
    s.consume_output(3);
    assert_eq!(s.queued(), 4);
    assert_eq!(s.pending_output(), b"ello");
    s.send_ping(b"p").unwrap();
    assert_eq!(s.pending_output(), b"ello\x89\x01p");
    s.consume_output(4);
    assert_eq!(s.pending_output(), b"\x89\x01p");
    s.consume_output(100); // more than queued: clamps
    assert_eq!(s.queued(), 0);
    assert_eq!(s.pending_output(), b"");
    s.send_message(MessageKind::Binary, b"z", 100).unwrap();
    assert_eq!(s.pending_output(), b"\x82\x01z");

    // A client's output written one byte at a time decodes the same.
    let mut c = Session::new(Role::Client, SessionConfig::default(), Instant::now());
    c.send_message(MessageKind::Text, b"hello world", 4)
        .unwrap();
    c.send_ping(b"!").unwrap();
    let whole = c.pending_output().to_vec();
    let mut written = Vec::new();
    while c.queued() > 0 {
        written.push(c.pending_output()[0]);
        c.consume_output(1);
    }
    assert_eq!(written, whole);
    assert_eq!(decode_all(&written).len(), 4);
}

#[test]
fn queue_raw_bytes_precede_frames() {
    let mut s = Session::new(Role::Server, SessionConfig::default(), Instant::now());
    s.queue_raw(b"HTTP/1.1 101\r\n\r\n");
    s.send_message(MessageKind::Text, b"hi", 10).unwrap();
    assert_eq!(s.pending_output(), b"HTTP/1.1 101\r\n\r\n\x81\x02hi");
}

#[test]
fn client_masks_every_frame_with_a_fresh_nonzero_key() {
    let mut s = Session::new(Role::Client, SessionConfig::default(), Instant::now());
    for _ in 0..50 {
        s.send_message(MessageKind::Binary, b"abcdefgh", 3).unwrap();
    }
    s.send_ping(b"p").unwrap();
    s.send_pong(b"q").unwrap();
    s.close(CloseCode::Normal, "bye", Instant::now()).unwrap();
    // `output` checks every key is present, non-zero and different from the others.
    let out = take_output(&mut s);
    assert_eq!(out.len(), 153);
    // The payload really is masked on the wire (not sent in clear with a key).
    let mut s = Session::new(Role::Client, SessionConfig::default(), Instant::now());
    s.send_message(MessageKind::Binary, &[0; 64], 100).unwrap();
    let raw = s.pending_output();
    assert_ne!(&raw[6..], &[0u8; 64][..], "payload not masked");
}

// ----- property tests ----------------------------------------------------------------

/// What a random stream is expected to produce.
struct Script {
    bytes: Vec<u8>,
    expected: Vec<Ev>,
}

/// A random sequence of valid frames to `role`: messages of random type and size
/// 0..300, cut into random fragments, with pings and pongs between the fragments.
fn random_script(rng: &mut Rng, role: Role) -> Script {
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let messages = 1 + rng.below(6);
    for _ in 0..messages {
        let text = rng.chance(50);
        let (kind, op) = if text {
            (MessageKind::Text, TEXT)
        } else {
            (MessageKind::Binary, BINARY)
        };
        let size = rng.below(300);
        let msg = if text {
            rng.text(size)
        } else {
            rng.bytes(size)
        };
        let pieces = 1 + rng.below(5);
        let mut bounds = vec![0];
        bounds.extend(rng.cuts(msg.len(), pieces));
        bounds.push(msg.len());
        let n = bounds.len() - 1;
        let mut delivered = 0;
        for i in 0..n {
            let piece = &msg[bounds[i]..bounds[i + 1]];
            let last = i + 1 == n;
            bytes.extend(frame_to(role, last, if i == 0 { op } else { CONT }, piece));
            // For text, a frame holds the whole code points finished by its end.
            let upto = if text {
                match std::str::from_utf8(&msg[..bounds[i + 1]]) {
                    Ok(_) => bounds[i + 1],
                    Err(e) => e.valid_up_to(),
                }
            } else {
                bounds[i + 1]
            };
            expected.push(Ev::Frame {
                kind,
                data: msg[delivered..upto].to_vec(),
                is_last: last,
                message: last.then(|| msg.clone()),
            });
            delivered = upto;
            if !last || rng.chance(30) {
                match rng.below(4) {
                    0 => {
                        let p = {
                            let n = rng.below(126);
                            rng.bytes(n)
                        };
                        bytes.extend(frame_to(role, true, PING, &p));
                        expected.push(Ev::Ping(p));
                    }
                    1 => {
                        let p = {
                            let n = rng.below(20);
                            rng.bytes(n)
                        };
                        bytes.extend(frame_to(role, true, PONG, &p));
                        expected.push(Ev::Pong(p));
                    }
                    _ => {}
                }
            }
        }
    }
    if rng.chance(30) {
        let reason = {
            let n = rng.below(60);
            rng.text(n)
        };
        bytes.extend(frame_to(role, true, CLOSE, &close_payload(1000, &reason)));
        expected.push(Ev::Close(1000, reason));
    }
    Script { bytes, expected }
}

/// Feeds `bytes` in the pieces given by `cuts`; returns the events and the
/// payloads of the frames the session wrote.
fn run_split(role: Role, bytes: &[u8], cuts: &[usize]) -> (Vec<Ev>, Vec<(u8, Vec<u8>)>) {
    let mut p = Peer::new(role);
    let mut evs = Vec::new();
    let mut prev = 0;
    for &c in cuts.iter().chain(std::iter::once(&bytes.len())) {
        evs.extend(p.feed(&bytes[prev..c]));
        prev = c;
    }
    assert!(p.buf.is_empty(), "{role:?}: bytes left over");
    let out = take_output(&mut p.s)
        .into_iter()
        .map(|f| (f.opcode, f.payload))
        .collect();
    (evs, out)
}

#[test]
fn property_random_splits_give_the_same_events_as_whole_input() {
    let mut rng = Rng::new(1);
    for round in 0..400 {
        for role in ROLES {
            let script = random_script(&mut rng, role);
            let bytes = &script.bytes;
            let whole = run_split(role, bytes, &[]);
            assert_eq!(
                whole.0, script.expected,
                "round {round} {role:?}: whole input"
            );
            // Every ping is answered by a pong with its payload, in order.
            let pings: Vec<(u8, Vec<u8>)> = script
                .expected
                .iter()
                .filter_map(|e| match e {
                    Ev::Ping(p) => Some((PONG, p.clone())),
                    Ev::Close(c, r) => Some((CLOSE, close_payload(*c, r))),
                    _ => None,
                })
                .collect();
            assert_eq!(whole.1, pings, "round {round} {role:?}: output");
            let pieces = 1 + rng.below(20);
            let cuts = rng.cuts(bytes.len(), pieces);
            let split = run_split(role, bytes, &cuts);
            assert_eq!(split, whole, "round {round} {role:?}: cut at {cuts:?}");
            if round % 8 == 0 {
                let all: Vec<usize> = (1..bytes.len()).collect();
                let byte_by_byte = run_split(role, bytes, &all);
                assert_eq!(byte_by_byte, whole, "round {round} {role:?}: byte by byte");
            }
        }
    }
}

/// Feeds `bytes` in random pieces with random clock advances and timeouts; checks
/// that nothing panics, every failure has a sendable code, and the output is well formed.
fn fuzz_feed(rng: &mut Rng, role: Role, config: SessionConfig, bytes: &[u8]) {
    let mut p = Peer::with_config(role, config);
    let start = p.now;
    let mut written = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let n = 1 + rng.below(bytes.len() - pos);
        // `Peer::feed` / `to_ev` assert that every Failed code is sendable.
        let evs = p.feed(&bytes[pos..pos + n]);
        pos += n;
        if let Some(i) = evs.iter().position(|e| matches!(e, Ev::Failed(_))) {
            assert_eq!(i, evs.len() - 1, "events after Failed: {evs:?}");
            assert!(p.s.is_finished());
        }
        if rng.chance(10) {
            p.now += Duration::from_millis(rng.below(8000) as u64);
            if let Some(d) = p.s.next_deadline() {
                assert!(d >= start);
            }
            let _ = p.s.on_timeout(p.now);
        }
        let _ = p.s.bytes_needed(p.buf.len());
        // Write part of the output, as a socket would.
        let n = rng.below(p.s.queued() + 1);
        written.extend_from_slice(&p.s.pending_output()[..n]);
        p.s.consume_output(n);
    }
    written.extend_from_slice(p.s.pending_output());
    // Whatever the session wrote is a sequence of valid frames for its role, and
    // at most one close frame, the last one.
    let out = check_wire(role, &written);
    for (i, f) in out.iter().enumerate() {
        if f.opcode == CLOSE {
            assert_eq!(i, out.len() - 1, "frames after our close: {out:?}");
            if !f.payload.is_empty() {
                let (code, reason) = f.close();
                assert!(CloseCode::from(code).is_sendable(), "sent close {code}");
                assert!(std::str::from_utf8(&reason).is_ok());
                assert!(f.payload.len() <= 125);
            }
        }
    }
}

#[test]
fn property_random_bytes_never_panic_and_failures_have_sendable_codes() {
    let mut rng = Rng::new(2);
    for i in 0..20_000 {
        let len = rng.below(if i % 10 == 0 { 300 } else { 40 });
        let mut bytes = rng.bytes(len);
        // Bias half of the inputs towards plausible headers.
        if i % 2 == 0 && len >= 2 {
            bytes[0] = (bytes[0] & 0x8f) | if rng.chance(90) { 0 } else { 0x70 };
            if rng.chance(70) {
                bytes[1] = (bytes[1] & 0x80) | rng.below(16) as u8;
            }
        }
        let role = ROLES[i % 2];
        let config = if i % 3 == 0 {
            small_limits(rng.below(200) as u64, rng.below(400) as u64)
        } else {
            SessionConfig::default()
        };
        fuzz_feed(&mut rng, role, config, &bytes);
    }
}

#[test]
fn property_mutated_valid_streams_never_panic_and_failures_have_sendable_codes() {
    let mut rng = Rng::new(3);
    for i in 0..5_000 {
        let role = ROLES[i % 2];
        let mut bytes = random_script(&mut rng, role).bytes;
        for _ in 0..1 + rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes[at] = rng.next() as u8,
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        let config = if i % 4 == 0 {
            small_limits(64, 128)
        } else {
            SessionConfig::default()
        };
        fuzz_feed(&mut rng, role, config, &bytes);
    }
}

#[test]
fn property_messages_round_trip_between_two_sessions() {
    let mut rng = Rng::new(4);
    let t0 = Instant::now();
    for round in 0..1_000 {
        // Alternate the direction: client to server, then server to client.
        let (from, to) = if round % 2 == 0 {
            (Role::Client, Role::Server)
        } else {
            (Role::Server, Role::Client)
        };
        let mut sender = Session::new(from, SessionConfig::default(), t0);
        let mut receiver = Peer::new(to);
        let mut expected = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let text = rng.chance(50);
            let size = if rng.chance(5) {
                rng.below(70_000)
            } else {
                rng.below(2_000)
            };
            let msg = if text {
                rng.text(size)
            } else {
                rng.bytes(size)
            };
            let kind = if text {
                MessageKind::Text
            } else {
                MessageKind::Binary
            };
            let frame_size = if rng.chance(20) {
                1 + rng.below(8)
            } else {
                1 + rng.below(3_000)
            };
            sender.send_message(kind, &msg, frame_size).unwrap();
            let frames = msg.len().div_ceil(frame_size).max(1);
            expected.push((kind, msg, frames));
            if rng.chance(30) {
                let p = {
                    let n = rng.below(200);
                    rng.bytes(n)
                };
                sender.send_ping(&p).unwrap();
            }
        }
        // Deliver what was written in random pieces.
        let mut events = Vec::new();
        while sender.queued() > 0 {
            let n = 1 + rng.below(sender.queued().min(5_000));
            let chunk = sender.pending_output()[..n].to_vec();
            sender.consume_output(n);
            events.extend(receiver.feed(&chunk));
        }
        assert!(receiver.buf.is_empty());
        let mut got = Vec::new();
        let mut frames = 0;
        let mut text = Vec::new();
        for e in events {
            match e {
                Ev::Frame {
                    kind,
                    data,
                    message,
                    ..
                } => {
                    frames += 1;
                    text.extend_from_slice(&data);
                    if let Some(m) = message {
                        if kind == MessageKind::Text {
                            assert_eq!(text, m, "round {round}: frames do not add up");
                        }
                        text.clear();
                        got.push((kind, m, frames));
                        frames = 0;
                    }
                }
                Ev::Ping(p) => assert!(p.len() <= 125),
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!(got.len(), expected.len(), "round {round}");
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(g.0, e.0, "round {round}: kind");
            assert!(g.1 == e.1, "round {round}: message differs");
            assert_eq!(g.2, e.2, "round {round}: frame count");
        }
    }
}

/// Writing a message through a callback gives the same bytes as queueing it,
/// whatever the callback takes (all, none, or a cut anywhere).
#[test]
fn send_message_through_writes_the_same_bytes_as_queueing() {
    use qwebsocket::protocol::session::MessageKind;
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    for frame_size in [1000, 100, 64, 7] {
        let mut reference = Session::new(Role::Server, SessionConfig::default(), Instant::now());
        reference
            .send_message(MessageKind::Binary, &payload, frame_size)
            .unwrap();
        let expected = reference.pending_output().to_vec();
        for take in [
            0,
            1,
            2,
            5,
            100,
            301,
            expected.len() - 1,
            expected.len(),
            100_000,
        ] {
            let mut s = Session::new(Role::Server, SessionConfig::default(), Instant::now());
            let mut wire = Vec::new();
            let taken = s
                .send_message_through(MessageKind::Binary, &payload, frame_size, &mut |bufs| {
                    let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                    let n = take.min(all.len());
                    wire.extend_from_slice(&all[..n]);
                    n
                })
                .unwrap();
            if frame_size == 7 {
                // 43 frames: more than the direct path takes, queued instead.
                assert_eq!(taken, 0);
                assert!(wire.is_empty());
            } else {
                assert_eq!(taken, take.min(expected.len()));
            }
            wire.extend_from_slice(s.pending_output());
            assert_eq!(wire, expected, "frame size {frame_size}, take {take}");
        }
    }
    // A client queues (its frames are masked) and never calls the writer.
    let mut c = Session::new(Role::Client, SessionConfig::default(), Instant::now());
    let taken = c
        .send_message_through(MessageKind::Text, b"hi", 100, &mut |_| panic!("not called"))
        .unwrap();
    assert_eq!(taken, 0);
    assert_eq!(c.pending_output().len(), 2 + 4 + 2);
}
