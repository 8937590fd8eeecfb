//! permessage-deflate (RFC 7692): the options, the negotiated parameters and
//! the codec that compresses and inflates whole messages.
//!
//! The negotiation itself (the client's offer, the server's choice, the
//! client's check of the answer) is in
//! [`handshake::deflate`](crate::protocol::handshake::deflate); a
//! [`Session`](crate::protocol::Session) given the outcome with
//! [`Session::set_compression`](crate::protocol::Session::set_compression)
//! then sets and checks RSV1, inflates and compresses.
//!
//! ## Wire format
//!
//! A compressed message has RSV1 set on its first frame only. Its payload is
//! the raw DEFLATE data (no zlib header) of the message, flushed with a sync
//! flush, without the final `00 00 ff ff` of that flush: the sender strips
//! it, the receiver puts it back before inflating. Unless `no_context_takeover`
//! was agreed for the sender, the sender's LZ77 window (the last 32 KiB it
//! compressed) carries over from one message to the next, so the second of
//! two equal messages is a few bytes long (RFC 7692 §7.2.3.2):
//!
//! ```
//! use qwebsocket::protocol::session::MessageKind;
//! use qwebsocket::protocol::{DeflateParams, CompressionOptions, Role, Session, SessionConfig};
//! let now = std::time::Instant::now();
//! let options = CompressionOptions { threshold: 0, ..CompressionOptions::enabled() };
//! let mut server = Session::new(Role::Server, SessionConfig::default(), now);
//! server.set_compression(DeflateParams::default(), &options);
//! server.send_message(MessageKind::Text, b"Hello", 1 << 20).unwrap();
//! // RSV1 set, and "Hello" as in RFC 7692 §7.2.3.1.
//! assert_eq!(server.pending_output(), [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
//! server.consume_output(9);
//! server.send_message(MessageKind::Text, b"Hello", 1 << 20).unwrap();
//! // The second "Hello" is a back-reference into the first.
//! assert!(server.queued() < 9);
//!
//! let mut client = Session::new(Role::Client, SessionConfig::default(), now);
//! client.set_compression(DeflateParams::default(), &options);
//! let mut wire = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00].to_vec();
//! wire.extend_from_slice(server.pending_output());
//! let (used, _) = client.read_event(&mut wire, now);
//! assert_eq!(client.take_message(), b"Hello");
//! client.read_event(&mut wire[used..], now);
//! assert_eq!(client.take_message(), b"Hello");
//! ```
//!
//! ## Cost
//!
//! A connection that did not negotiate compression holds nothing of it
//! (one `None` pointer in its session). One that did holds the state in a
//! box made at the first compressed message, each half separately: the
//! inflater when the first compressed message arrives, the compressor when
//! the first message is compressed. With the pure-Rust backend (miniz_oxide)
//! the inflater costs about 42 KiB and the compressor about 313 KiB of heap
//! per connection; `tests/memory.rs` measures both. With
//! `no_context_takeover` for our side the compressor is still kept (reset,
//! not freed) between messages.
//!
//! ## Limits and errors
//!
//! The inflated size of a message counts against
//! [`SessionConfig::max_message_size`](crate::protocol::SessionConfig::max_message_size):
//! data is inflated into a buffer grown in steps and never past that limit,
//! and one byte too many fails the connection with 1009 (a "zip bomb" costs
//! at most the limit). DEFLATE data that does not inflate fails it with 1002
//! (protocol error), as Python's `websockets` does: RFC 7692 names no code,
//! and 1007 is about text that is not UTF-8.
//!
//! ## Window sizes
//!
//! The pure-Rust DEFLATE backend always compresses with a 32 KiB window (15
//! bits). A peer may ask for a smaller one (`server_max_window_bits` offered to
//! our server, `client_max_window_bits` answered to our client). That is still
//! honoured: with a window of `n` bits, only messages of at most `2^n` bytes
//! are compressed, each by a compressor reset first, so that no back-reference
//! can reach further than the message itself; longer messages go out
//! uncompressed (RSV1 clear), which RFC 7692 allows for any message, or, with
//! a threshold of 0 (every message compressed), as stored DEFLATE blocks, which
//! use no window. Inflating works with any window of 8 to 15 bits.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;

use super::{CloseCode, ProtocolError, Role};

/// The name of the extension in `Sec-WebSocket-Extensions`.
///
/// ```
/// assert_eq!(qwebsocket::protocol::deflate::EXTENSION_NAME, "permessage-deflate");
/// ```
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The 4 bytes a sync flush ends with, stripped on send and appended on
/// receive (RFC 7692 §7.2.1).
///
/// ```
/// assert_eq!(qwebsocket::protocol::deflate::SYNC_TAIL, [0x00, 0x00, 0xff, 0xff]);
/// ```
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What permessage-deflate a client offers or a server accepts.
///
/// The same value configures both ends
/// ([`HandshakeOptions::with_compression`](crate::HandshakeOptions::with_compression)
/// on a client, [`WebSocketServer::set_compression`](crate::WebSocketServer::set_compression)
/// on a server). The default is off: like Qt, a socket speaks no extension
/// unless asked to. [`CompressionOptions::enabled`] is on with the defaults
/// below, which accept what browsers offer.
///
/// | field | default | meaning |
/// | --- | --- | --- |
/// | `enabled` | `false` (`true` in `enabled()`) | offer (client) or accept (server) permessage-deflate |
/// | `threshold` | 64 | messages shorter than this many bytes are sent uncompressed; 0: every message is sent compressed |
/// | `level` | 1 | DEFLATE level 0–9: 1 is fast, 9 small; 0 stores |
/// | `server_no_context_takeover` | `false` | the server resets its compressor after every message |
/// | `client_no_context_takeover` | `false` | the client resets its compressor after every message |
/// | `server_max_window_bits` | `None` (15) | largest window (8–15 bits) the server compresses with |
/// | `client_max_window_bits` | `None` (15) | largest window the client compresses with |
///
/// A client sends the `no_context_takeover` flags and the window sizes it has
/// in its offer (and always `client_max_window_bits`, bare when `None`: it can
/// honour any window the server asks for). A server applies its own: it
/// answers with every flag set on either side, and with the smaller of the two
/// windows where both name one. A server can limit the client's window only if
/// the client offered `client_max_window_bits`; otherwise the limit is left
/// out (our inflater takes any window anyway). Values outside 8–15 are clamped.
///
/// Memory and speed: no context takeover saves nothing on our side (the
/// state is kept, reset) but makes each message compress on its own, so
/// repeated content compresses far worse; a higher level costs CPU for a
/// few percent of size on typical JSON (see docs/PERFORMANCE.md).
///
/// ```
/// use qwebsocket::protocol::CompressionOptions;
/// assert!(!CompressionOptions::default().enabled);
/// let o = CompressionOptions { client_no_context_takeover: true, ..CompressionOptions::enabled() };
/// assert!(o.enabled);
/// assert_eq!((o.threshold, o.level), (64, 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompressionOptions {
    /// Offer (client) or accept (server) permessage-deflate.
    pub enabled: bool,
    /// Messages shorter than this are sent uncompressed (RSV1 clear), and
    /// so is a message that did not get smaller without context takeover.
    /// 0 compresses every message, even when that does not pay.
    pub threshold: usize,
    /// The DEFLATE level, 0 (store) to 9 (smallest); larger values are 9.
    pub level: u32,
    /// Ask for (client) or impose (server) a server compressor reset after
    /// every message.
    pub server_no_context_takeover: bool,
    /// Announce (client) or ask for (server) a client compressor reset after
    /// every message.
    pub client_no_context_takeover: bool,
    /// The server's largest LZ77 window, in bits (8–15).
    pub server_max_window_bits: Option<u8>,
    /// The client's largest LZ77 window, in bits (8–15).
    pub client_max_window_bits: Option<u8>,
}

impl Default for CompressionOptions {
    fn default() -> Self {
        CompressionOptions {
            enabled: false,
            threshold: 64,
            level: 1,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: None,
        }
    }
}

impl CompressionOptions {
    /// Compression on, every other field at its default.
    ///
    /// ```
    /// use qwebsocket::protocol::CompressionOptions;
    /// let on = CompressionOptions::enabled();
    /// assert_eq!(on, CompressionOptions { enabled: true, ..CompressionOptions::default() });
    /// ```
    pub fn enabled() -> Self {
        CompressionOptions {
            enabled: true,
            ..CompressionOptions::default()
        }
    }
}

/// Clamps a window size to what RFC 7692 allows.
pub(crate) fn clamp_bits(bits: u8) -> u8 {
    bits.clamp(8, 15)
}

/// The permessage-deflate parameters both ends agreed on.
///
/// Window sizes are in bits, 15 when none was named. `Display` writes it as
/// an extension entry (every parameter that differs from the default).
///
/// ```
/// use qwebsocket::protocol::DeflateParams;
/// let p = DeflateParams { client_no_context_takeover: true, server_max_window_bits: 10, ..DeflateParams::default() };
/// assert_eq!(p.to_string(), "permessage-deflate; client_no_context_takeover; server_max_window_bits=10");
/// assert_eq!(DeflateParams::default().to_string(), "permessage-deflate");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server compresses with a window of at most this many bits.
    pub server_max_window_bits: u8,
    /// The client compresses with a window of at most this many bits.
    pub client_max_window_bits: u8,
}

impl Default for DeflateParams {
    fn default() -> Self {
        DeflateParams {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl DeflateParams {
    /// True if the end playing `role` resets its compressor after every
    /// message.
    ///
    /// ```
    /// use qwebsocket::protocol::{DeflateParams, Role};
    /// let p = DeflateParams { server_no_context_takeover: true, ..DeflateParams::default() };
    /// assert!(p.no_context_takeover(Role::Server));
    /// assert!(!p.no_context_takeover(Role::Client));
    /// ```
    pub fn no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Server => self.server_no_context_takeover,
            Role::Client => self.client_no_context_takeover,
        }
    }

    /// The largest window, in bits, the end playing `role` compresses with.
    ///
    /// ```
    /// use qwebsocket::protocol::{DeflateParams, Role};
    /// let p = DeflateParams { client_max_window_bits: 9, ..DeflateParams::default() };
    /// assert_eq!(p.max_window_bits(Role::Client), 9);
    /// assert_eq!(p.max_window_bits(Role::Server), 15);
    /// ```
    pub fn max_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Server => self.server_max_window_bits,
            Role::Client => self.client_max_window_bits,
        }
    }
}

impl fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXTENSION_NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if self.server_max_window_bits < 15 {
            write!(
                f,
                "; server_max_window_bits={}",
                self.server_max_window_bits
            )?;
        }
        if self.client_max_window_bits < 15 {
            write!(
                f,
                "; client_max_window_bits={}",
                self.client_max_window_bits
            )?;
        }
        Ok(())
    }
}

/// Inflated bytes are produced into the message buffer in steps of at least
/// this much (and never past the limit).
const INFLATE_STEP: usize = 256;
/// The send scratch buffer is kept between messages up to this capacity.
const KEEP_SCRATCH: usize = 64 * 1024;

/// The per-connection compression state, boxed in a session that negotiated
/// permessage-deflate. The two DEFLATE states are made on first use.
pub(crate) struct Codec {
    params: DeflateParams,
    role: Role,
    threshold: usize,
    level: u32,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// Compressed output of the message being sent.
    scratch: Vec<u8>,
    /// The message being received is compressed (RSV1 on its first frame).
    pub(crate) rx_compressed: bool,
    /// Inflated bytes of that message already delivered in frame events.
    pub(crate) delivered: usize,
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("params", &self.params)
            .field("threshold", &self.threshold)
            .field("level", &self.level)
            .field("compressor", &self.compressor.is_some())
            .field("decompressor", &self.decompressor.is_some())
            .finish()
    }
}

fn inflate_error() -> ProtocolError {
    ProtocolError::new(
        CloseCode::ProtocolError,
        "Invalid compressed data (permessage-deflate).",
    )
}

pub(crate) fn too_big() -> ProtocolError {
    ProtocolError::new(CloseCode::TooMuchData, "Received message is too big.")
}

impl Codec {
    pub(crate) fn new(params: DeflateParams, role: Role, options: &CompressionOptions) -> Codec {
        Codec {
            params,
            role,
            threshold: options.threshold,
            level: options.level.min(9),
            compressor: None,
            decompressor: None,
            scratch: Vec::new(),
            rx_compressed: false,
            delivered: 0,
        }
    }

    pub(crate) fn params(&self) -> &DeflateParams {
        &self.params
    }

    /// Compresses `payload` as one message if it should be: returns the
    /// compressed payload (tail stripped), or `None` to send it as it is.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<&[u8]> {
        if payload.len() < self.threshold {
            return None;
        }
        let bits = clamp_bits(self.params.max_window_bits(self.role));
        let small_window = bits < 15;
        if small_window && payload.len() > 1usize << bits {
            // Our backend cannot keep its window that small: only a message
            // that fits the window, compressed on its own, stays within it.
            // A longer one goes out plain, or with a threshold of 0 (every
            // message compressed) in stored blocks, which use no window.
            if self.threshold > 0 {
                return None;
            }
            self.scratch.clear();
            store(payload, &mut self.scratch);
            return Some(&self.scratch);
        }
        let reset_after = self.params.no_context_takeover(self.role) || small_window;
        let level = self.level;
        let c = self
            .compressor
            .get_or_insert_with(|| Compress::new(Compression::new(level), false));
        if small_window {
            c.reset();
        }
        self.scratch.clear();
        // Room for the worst case (stored blocks: 5 bytes per 64 KiB, and
        // the flush), so that one call compresses and flushes the message.
        self.scratch
            .reserve(payload.len() + payload.len() / 1024 + 64);
        let before = c.total_in();
        let result = c.compress_vec(payload, &mut self.scratch, FlushCompress::Sync);
        let finished = result.is_ok()
            && c.total_in() - before == payload.len() as u64
            && self.scratch.len() < self.scratch.capacity();
        if !finished {
            // Never expected with that room. Stored blocks are a valid
            // encoding of the same bytes, so the peer's window still holds
            // what ours would; our compressor starts over (it will not refer
            // to what the peer has and we forgot).
            c.reset();
            self.scratch.clear();
            store(payload, &mut self.scratch);
            return Some(&self.scratch);
        }
        if self.scratch.ends_with(&SYNC_TAIL) {
            self.scratch.truncate(self.scratch.len() - SYNC_TAIL.len());
        }
        if reset_after {
            c.reset();
            if self.scratch.len() >= payload.len() && self.threshold > 0 {
                // No gain, and the peer needs no context from us: plain is cheaper.
                return None;
            }
        }
        Some(&self.scratch)
    }

    /// Frees the send buffer if one large message left it big.
    pub(crate) fn trim_scratch(&mut self) {
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
    }

    /// Inflates one frame's payload of a compressed message, appending to
    /// `out`, which never grows past `limit` bytes; `last` appends the sync
    /// tail and, without context takeover, resets the inflater after it.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new(false));
        let ended = inflate_into(d, input, out, limit)?;
        if last {
            if !ended {
                inflate_into(d, &SYNC_TAIL, out, limit)?;
            }
            let peer = match self.role {
                Role::Server => Role::Client,
                Role::Client => Role::Server,
            };
            if ended || self.params.no_context_takeover(peer) {
                d.reset(false);
            }
        } else if ended {
            // A final block before the message's end: what follows is not
            // part of any DEFLATE stream.
            return Err(inflate_error());
        }
        Ok(())
    }
}

/// Appends `payload` as stored (uncompressed) DEFLATE blocks, which
/// reference no window: each is the byte-aligned header of a non-final
/// stored block, its length and the length's complement, then the bytes.
/// Then the header byte of the empty stored block of a sync flush, whose
/// length and complement ([`SYNC_TAIL`]) the receiver puts back.
fn store(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(payload.len() + 5 * payload.len().div_ceil(0xffff) + 1);
    for chunk in payload.chunks(0xffff) {
        let len = chunk.len() as u16;
        out.push(0x00);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.push(0x00);
}

/// Inflates `input` into `out` (at most `limit` bytes in all). Returns true
/// if the DEFLATE stream ended (a block with BFINAL set): the rest of the
/// input is then ignored. The buffer grows with `reserve_exact`, so its
/// capacity never passes `limit` on account of this function.
fn inflate_into(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, ProtocolError> {
    let mut pos = 0;
    loop {
        let len = out.len();
        let before_in = d.total_in();
        let before_out = d.total_out();
        let status;
        let room;
        if len >= limit {
            // At the limit: one more byte of output means too big.
            let mut probe = [0u8; 1];
            room = 1;
            status = d
                .decompress(&input[pos..], &mut probe, FlushDecompress::Sync)
                .map_err(|_| inflate_error())?;
            if d.total_out() > before_out {
                return Err(too_big());
            }
        } else {
            // Four times the input left, or doubling: small messages do not
            // zero a large buffer, large ones grow in few steps.
            let want = (input.len() - pos).saturating_mul(4).max(len);
            room = want.clamp(INFLATE_STEP, 1 << 20).min(limit - len);
            if out.capacity() < len + room {
                out.reserve_exact(room);
            }
            out.resize(len + room, 0);
            let result = d.decompress(&input[pos..], &mut out[len..], FlushDecompress::Sync);
            let produced = (d.total_out() - before_out) as usize;
            out.truncate(len + produced);
            status = result.map_err(|_| inflate_error())?;
        }
        let consumed = (d.total_in() - before_in) as usize;
        let produced = (d.total_out() - before_out) as usize;
        pos += consumed;
        if status == Status::StreamEnd {
            return Ok(true);
        }
        if pos == input.len() && produced < room {
            return Ok(false);
        }
        if consumed == 0 && produced == 0 {
            // No progress with input and room to spare: the data is broken.
            return Err(inflate_error());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::session::{Data, MessageKind};
    use crate::protocol::{Session, SessionConfig, SessionEvent};
    use std::time::Instant;

    fn session(role: Role, params: DeflateParams, options: &CompressionOptions) -> Session {
        let mut s = Session::new(role, SessionConfig::default(), Instant::now());
        s.set_compression(params, options);
        s.set_mask_source(Some(Box::new(|| [0; 4])));
        s
    }

    fn all_of(threshold: usize) -> CompressionOptions {
        CompressionOptions {
            threshold,
            ..CompressionOptions::enabled()
        }
    }

    /// Every event `input` gives, with the bytes of each frame and message.
    fn read_all(s: &mut Session, input: &mut [u8]) -> Vec<(SessionEvent, Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let (used, event) = s.read_event(&mut input[start..], Instant::now());
            let Some(event) = event else { break };
            let base = start;
            start += used;
            let (frame, message) = match &event {
                SessionEvent::Frame { frame, message, .. } => {
                    let whole = match message {
                        Some(Data::Message) => s.take_message(),
                        Some(Data::Input(r)) => input[base + r.start..base + r.end].to_vec(),
                        _ => Vec::new(),
                    };
                    let part = match frame {
                        Data::Inflated(r) if message.is_some() => whole[r.clone()].to_vec(),
                        Data::Inflated(r) => s.message_buffer()[r.clone()].to_vec(),
                        Data::Input(r) => input[base + r.start..base + r.end].to_vec(),
                        Data::Scratch => s.frame_scratch().to_vec(),
                        Data::Message => whole.clone(),
                    };
                    (part, whole)
                }
                _ => (Vec::new(), Vec::new()),
            };
            out.push((event, frame, message));
            if start == input.len() {
                break;
            }
        }
        out
    }

    fn failure(events: &[(SessionEvent, Vec<u8>, Vec<u8>)]) -> Option<&ProtocolError> {
        events.iter().find_map(|(e, _, _)| match e {
            SessionEvent::Failed(e) => Some(e),
            _ => None,
        })
    }

    #[test]
    fn rfc_7692_examples_inflate() {
        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        // 7.2.3.1 a message in one frame; 7.2.3.2 the same again, with the
        // shared window; 7.2.3.3 a stored block; 7.2.3.4 a block with BFINAL.
        let mut input = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        input.extend([0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
        input.extend([
            0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, b'H', b'e', b'l', b'l', b'o', 0x00,
        ]);
        input.extend([0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]);
        // And an uncompressed message between compressed ones.
        input.extend([0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
        let events = read_all(&mut client, &mut input);
        assert_eq!(events.len(), 5, "{events:?}");
        for (_, frame, message) in &events {
            assert_eq!((&frame[..], &message[..]), (&b"Hello"[..], &b"Hello"[..]));
        }
    }

    #[test]
    fn fragmented_compressed_message_sets_rsv1_on_the_first_frame_only() {
        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        let mut input = vec![
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0x00, 0x02, 0xc9, 0xc9, 0x80, 0x02, 0x07, 0x00,
        ];
        let events = read_all(&mut client, &mut input);
        let frames: Vec<&[u8]> = events.iter().map(|(_, f, _)| &f[..]).collect();
        assert_eq!(frames, [&b"He"[..], b"ll", b"o"]);
        assert_eq!(events[2].2, b"Hello");

        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        let mut bad = vec![
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let events = read_all(&mut client, &mut bad);
        let e = failure(&events).expect("RSV1 on a continuation fails");
        assert_eq!(e.code, CloseCode::ProtocolError);
    }

    #[test]
    fn rsv1_on_a_control_frame_or_without_negotiation_is_a_protocol_error() {
        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        let mut ping = vec![0xc9, 0x00];
        let e = failure(&read_all(&mut client, &mut ping)).cloned().unwrap();
        assert_eq!(e.code, CloseCode::ProtocolError);
        assert_eq!(e.reason, "Rsv1 is set on a control frame.");

        let mut plain = Session::new(Role::Client, SessionConfig::default(), Instant::now());
        let mut input = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let e = failure(&read_all(&mut plain, &mut input)).cloned().unwrap();
        assert_eq!(e.code, CloseCode::ProtocolError);
    }

    #[test]
    fn corrupt_deflate_data_fails_with_1002() {
        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        // 0xff starts a block of the reserved type 3.
        let mut input = vec![0xc2, 0x03, 0xff, 0xff, 0xff];
        let e = failure(&read_all(&mut client, &mut input))
            .cloned()
            .unwrap();
        assert_eq!(e.code, CloseCode::ProtocolError);
        assert_eq!(e.reason, "Invalid compressed data (permessage-deflate).");
        assert!(client.pending_output().starts_with(&[0x88]));
    }

    #[test]
    fn invalid_utf8_in_compressed_text_fails_with_1007() {
        let mut server = session(Role::Server, DeflateParams::default(), &all_of(0));
        let mut client = session(Role::Client, DeflateParams::default(), &all_of(0));
        client
            .send_message(MessageKind::Binary, &[b'a', 0xff, b'b'], 1 << 20)
            .unwrap();
        let mut wire = client.pending_output().to_vec();
        wire[0] = 0xc1; // call it text
        let e = failure(&read_all(&mut server, &mut wire)).cloned().unwrap();
        assert_eq!(e.code, CloseCode::WrongDatatype);
    }

    #[test]
    fn small_messages_stay_uncompressed_below_the_threshold() {
        let mut server = session(Role::Server, DeflateParams::default(), &all_of(10));
        server
            .send_message(MessageKind::Text, b"short", 1 << 20)
            .unwrap();
        assert_eq!(server.pending_output(), b"\x81\x05short");
        server.consume_output(7);
        server
            .send_message(MessageKind::Text, b"long enough to compress", 1 << 20)
            .unwrap();
        assert_eq!(server.pending_output()[0], 0xc1);
    }

    #[test]
    fn messages_round_trip_in_every_mode() {
        let text: String = (0..3000)
            .map(|i| {
                format!(
                    "{{\"id\":{i},\"name\":\"caf\u{e9} {}\",\"ok\":true}},",
                    i % 7
                )
            })
            .collect();
        let sizes = [0, 1, 64, 1000, 4096, 70_000];
        for (takeover, bits) in [(false, 15), (true, 15), (false, 9), (true, 8)] {
            let params = DeflateParams {
                server_no_context_takeover: takeover,
                client_no_context_takeover: takeover,
                server_max_window_bits: bits,
                client_max_window_bits: bits,
            };
            let mut client = session(Role::Client, params, &all_of(0));
            let mut server = session(Role::Server, params, &all_of(0));
            for &frame_size in &[7usize, 1 << 20] {
                for &len in &sizes {
                    // Cut on a character boundary.
                    let mut end = len.min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    let msg = &text.as_bytes()[..end];
                    for (from, to) in [(&mut client, &mut server)] {
                        from.send_message(MessageKind::Text, msg, frame_size)
                            .unwrap();
                        let mut wire = from.pending_output().to_vec();
                        from.consume_output(wire.len());
                        let events = read_all(to, &mut wire);
                        assert!(
                            failure(&events).is_none(),
                            "{events:?} len {len} bits {bits} frames {frame_size}"
                        );
                        let joined: Vec<u8> =
                            events.iter().flat_map(|(_, f, _)| f.clone()).collect();
                        assert_eq!(
                            joined, msg,
                            "frames of {len} (bits {bits}, frames {frame_size})"
                        );
                        assert_eq!(events.last().unwrap().2, msg);
                        for (_, f, _) in &events {
                            assert!(
                                std::str::from_utf8(f).is_ok(),
                                "a frame holds whole code points"
                            );
                        }
                    }
                    server
                        .send_message(MessageKind::Binary, msg, frame_size)
                        .unwrap();
                    let mut wire = server.pending_output().to_vec();
                    server.consume_output(wire.len());
                    let compressed = wire[0] & 0x40 != 0;
                    assert!(compressed, "a threshold of 0 compresses every message");
                    if bits < 15 && msg.len() > 1 << bits {
                        // Stored blocks: 5 bytes of header per 65535 bytes.
                        let header = if msg.len() + 6 < 126 {
                            2
                        } else if msg.len() + 11 < 65536 {
                            4
                        } else {
                            10
                        };
                        if frame_size >= msg.len() + 10 {
                            let stored = msg.len() + 5 * msg.len().div_ceil(0xffff) + 1;
                            assert_eq!(wire.len(), header + stored);
                        }
                    }
                    let events = read_all(&mut client, &mut wire);
                    assert_eq!(events.last().unwrap().2, msg);
                }
            }
        }
    }

    #[test]
    fn context_takeover_makes_a_repeated_message_tiny() {
        let msg = br#"{"type":"tick","symbol":"ACME","price":101.25,"volume":1200}"#;
        let mut with = session(Role::Server, DeflateParams::default(), &all_of(0));
        with.send_message(MessageKind::Text, msg, 1 << 20).unwrap();
        let first = with.queued();
        with.consume_output(first);
        with.send_message(MessageKind::Text, msg, 1 << 20).unwrap();
        assert!(
            with.queued() * 3 < first,
            "{} then {} bytes",
            first,
            with.queued()
        );

        let reset = DeflateParams {
            server_no_context_takeover: true,
            ..DeflateParams::default()
        };
        let mut without = session(Role::Server, reset, &all_of(0));
        without
            .send_message(MessageKind::Text, msg, 1 << 20)
            .unwrap();
        let a = without.pending_output().to_vec();
        without.consume_output(a.len());
        without
            .send_message(MessageKind::Text, msg, 1 << 20)
            .unwrap();
        assert_eq!(
            without.pending_output(),
            &a[..],
            "each message compressed on its own"
        );
    }

    #[test]
    fn inflating_past_the_message_limit_fails_with_1009_without_growing_past_it() {
        let config = SessionConfig {
            max_message_size: 100_000,
            ..SessionConfig::default()
        };
        let mut client = Session::new(Role::Client, SessionConfig::default(), Instant::now());
        client.set_compression(DeflateParams::default(), &all_of(0));
        client.set_mask_source(Some(Box::new(|| [0; 4])));
        let mut server = Session::new(Role::Server, config, Instant::now());
        server.set_compression(DeflateParams::default(), &all_of(0));
        // Exactly at the limit: fine.
        client
            .send_message(MessageKind::Binary, &vec![0u8; 100_000], 1 << 20)
            .unwrap();
        let mut wire = client.pending_output().to_vec();
        client.consume_output(wire.len());
        assert!(wire.len() < 1000);
        let events = read_all(&mut server, &mut wire);
        assert_eq!(events.last().unwrap().2.len(), 100_000);
        // One byte more.
        client
            .send_message(MessageKind::Binary, &vec![0u8; 100_001], 1 << 20)
            .unwrap();
        let mut wire = client.pending_output().to_vec();
        let events = read_all(&mut server, &mut wire);
        let e = failure(&events).cloned().unwrap();
        assert_eq!(e.code, CloseCode::TooMuchData);
        assert!(server.message_buffer().len() <= 100_000);
    }

    #[test]
    fn inflate_never_reserves_past_the_limit_even_with_a_large_spare_buffer() {
        let mut codec = Codec::new(DeflateParams::default(), Role::Server, &all_of(0));
        let mut c = Compress::new(Compression::new(9), false);
        let mut bomb = Vec::with_capacity(1 << 16);
        c.compress_vec(&vec![b'a'; 10 << 20], &mut bomb, FlushCompress::Sync)
            .unwrap();
        assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
        let mut out = Vec::new();
        let e = codec.inflate(&bomb, true, &mut out, 1 << 20).unwrap_err();
        assert_eq!(e.code, CloseCode::TooMuchData);
        assert!(out.capacity() <= 1 << 20, "{}", out.capacity());
        // A buffer with more capacity than the limit is filled only to it.
        let mut codec = Codec::new(DeflateParams::default(), Role::Server, &all_of(0));
        let mut big = Vec::with_capacity(4 << 20);
        assert!(codec.inflate(&bomb, true, &mut big, 1 << 20).is_err());
        assert!(big.len() <= 1 << 20);
    }

    #[test]
    fn mixed_compressible_and_random_messages_round_trip_with_context_takeover() {
        // A corpus like a PDF: text runs between incompressible runs.
        let mut x: u32 = 7;
        let mut corpus = Vec::new();
        for i in 0..24 {
            if i % 3 == 0 {
                corpus.extend((0..20_000).map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    (x >> 24) as u8
                }));
            } else {
                corpus.extend(
                    format!("obj {i} << /Type /Page /Length {} >> ", i * 7)
                        .repeat(400)
                        .bytes(),
                );
            }
        }
        let options = all_of(0);
        let mut server = session(Role::Server, DeflateParams::default(), &options);
        let mut client = session(Role::Client, DeflateParams::default(), &options);
        let mut at = 0;
        for i in 0..40 {
            let msg: Vec<u8> = corpus
                .iter()
                .cycle()
                .skip(at)
                .take(65_536)
                .copied()
                .collect();
            at = (at + 65_536) % corpus.len();
            server
                .send_message(MessageKind::Binary, &msg, 1 << 20)
                .unwrap();
            let mut wire = server.pending_output().to_vec();
            server.consume_output(wire.len());
            let events = read_all(&mut client, &mut wire);
            assert!(events.last().unwrap().2 == msg, "message {i}");
        }
    }
}
