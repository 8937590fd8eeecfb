//! Frame headers: parsing with every RFC 6455 §5.2 check, and encoding.

use super::{CloseCode, ProtocolError};

/// The largest frame header: 2 bytes, 8 bytes of length, 4 bytes of mask.
/// A buffer of this size holds any header [`FrameHeader::encode`] writes.
///
/// ```
/// use qwebsocket::protocol::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
/// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([1, 2, 3, 4]), payload_len: 1 << 16 };
/// let mut buf = [0u8; MAX_HEADER_LEN];
/// assert_eq!(h.encode(&mut buf), MAX_HEADER_LEN); // 64-bit length and a mask
/// assert_eq!(&buf[..2], &[0x82, 0x80 | 127]);
/// ```
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload of a control frame (RFC 6455 §5.5): a close, ping
/// or pong with more is a protocol error (1002).
///
/// ```
/// use qwebsocket::protocol::frame::{FrameHeader, MAX_CONTROL_PAYLOAD};
/// assert_eq!(MAX_CONTROL_PAYLOAD, 125);
/// assert!(FrameHeader::parse(&[0x89, 125], 0).unwrap().is_some()); // a ping of 125 bytes
/// assert!(FrameHeader::parse(&[0x89, 126, 0, 126], 0).is_err());   // and of 126
/// ```
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame opcode. Reserved opcodes are refused by [`FrameHeader::parse`].
///
/// ```
/// use qwebsocket::protocol::OpCode;
/// assert!(OpCode::Ping.is_control());
/// assert_eq!(OpCode::from_u8(2), Some(OpCode::Binary));
/// assert_eq!(OpCode::from_u8(3), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The opcode for a 4-bit value (the low nibble of a frame's first
    /// byte), or `None` for a reserved one (3–7, 0xB–0xF) and for values
    /// above 0xF.
    ///
    /// ```
    /// use qwebsocket::protocol::OpCode;
    /// assert_eq!(OpCode::from_u8(0x9), Some(OpCode::Ping));
    /// assert_eq!(OpCode::from_u8(0x89 & 0x0f), Some(OpCode::Ping)); // from a first byte
    /// let known: Vec<u8> = (0..=255).filter_map(OpCode::from_u8).map(OpCode::as_u8).collect();
    /// assert_eq!(known, [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]);
    /// ```
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            8 => OpCode::Close,
            9 => OpCode::Ping,
            10 => OpCode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit value on the wire.
    ///
    /// ```
    /// use qwebsocket::protocol::OpCode;
    /// assert_eq!(OpCode::Pong.as_u8(), 0xA);
    /// ```
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0,
            OpCode::Text => 1,
            OpCode::Binary => 2,
            OpCode::Close => 8,
            OpCode::Ping => 9,
            OpCode::Pong => 10,
        }
    }

    /// True for close, ping and pong (opcodes 0x8 and above): frames that
    /// may not be fragmented, carry at most [`MAX_CONTROL_PAYLOAD`] bytes and
    /// may arrive between the frames of a fragmented message.
    ///
    /// ```
    /// use qwebsocket::protocol::OpCode;
    /// assert!(OpCode::Close.is_control());
    /// assert!(!OpCode::Continuation.is_control());
    /// assert!(!OpCode::Text.is_control());
    /// ```
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A parsed or to-be-encoded frame header.
///
/// ```
/// use qwebsocket::protocol::{FrameHeader, OpCode};
/// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 5 };
/// let mut buf = [0u8; 14];
/// let n = h.encode(&mut buf);
/// assert_eq!(&buf[..n], &[0x81, 0x05]);
/// let (parsed, len) = FrameHeader::parse(&buf[..n], 0).unwrap().unwrap();
/// assert_eq!((parsed, len), (h, 2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the last frame of the message.
    pub fin: bool,
    /// The RSV1..RSV3 bits as a 3-bit value (RSV1 = 0b100).
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the frame is masked.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

fn err(reason: &'static str) -> ProtocolError {
    ProtocolError::new(CloseCode::ProtocolError, reason)
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed, or the header and its
    /// length in bytes. `allowed_rsv` holds the RSV bits an extension has
    /// negotiated (0 without extensions). Fails with 1002 on a set RSV bit that
    /// was not negotiated, a reserved opcode, a fragmented or oversized control
    /// frame, a length not in its minimal form, or a 64-bit length with the
    /// most significant bit set. Nothing here allocates.
    ///
    /// ```
    /// use qwebsocket::protocol::FrameHeader;
    /// assert_eq!(FrameHeader::parse(&[0x82], 0).unwrap(), None); // incomplete
    /// assert!(FrameHeader::parse(&[0xc2, 0x00], 0).is_err());    // RSV1 not negotiated
    /// assert!(FrameHeader::parse(&[0x82, 126, 0, 5], 0).is_err()); // 5 must use the 7-bit form
    /// ```
    pub fn parse(
        buf: &[u8],
        allowed_rsv: u8,
    ) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        if rsv & !allowed_rsv != 0 {
            return Err(err("Rsv field is non-zero"));
        }
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or_else(|| err("Used reserved opcode"))?;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            if len7 > 125 {
                return Err(err("Control frame is larger than 125 bytes"));
            }
            if !fin {
                return Err(err("Control frames cannot be fragmented"));
            }
        }
        let (payload_len, mut pos) = match len7 {
            126 => match buf.get(2..4) {
                None => return Ok(None),
                Some(b) => {
                    let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
                    if len < 126 {
                        return Err(err(
                            "Lengths smaller than 126 must be expressed as one byte.",
                        ));
                    }
                    (len, 4)
                }
            },
            127 => match buf.get(2..10) {
                None => return Ok(None),
                Some(b) => {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let len = u64::from_be_bytes(a);
                    if len >> 63 != 0 {
                        return Err(err("Highest bit of payload length is not 0."));
                    }
                    if len <= 0xffff {
                        return Err(err(
                            "Lengths smaller than 65536 (2^16) must be expressed as 2 bytes.",
                        ));
                    }
                    (len, 10)
                }
            },
            n => (u64::from(n), 2),
        };
        let mask = if masked {
            match buf.get(pos..pos + 4) {
                None => return Ok(None),
                Some(k) => {
                    pos += 4;
                    Some([k[0], k[1], k[2], k[3]])
                }
            }
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// The number of bytes [`FrameHeader::encode`] writes.
    ///
    /// ```
    /// use qwebsocket::protocol::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: true, rsv: 0, opcode: OpCode::Binary, mask: Some([1, 2, 3, 4]), payload_len: 70_000 };
    /// assert_eq!(h.encoded_len(), 14);
    /// ```
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header in its minimal length form and returns its length.
    ///
    /// ```
    /// use qwebsocket::protocol::{FrameHeader, OpCode};
    /// let h = FrameHeader { fin: false, rsv: 0, opcode: OpCode::Text, mask: None, payload_len: 300 };
    /// let mut buf = [0u8; 14];
    /// let n = h.encode(&mut buf);
    /// assert_eq!(&buf[..n], &[0x01, 126, 0x01, 0x2c]);
    /// ```
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x07) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(k) = self.mask {
            out[pos..pos + 4].copy_from_slice(&k);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn every_length_form_round_trips_and_is_minimal() {
        for len in [
            0u64,
            1,
            125,
            126,
            127,
            0xffff,
            0x10000,
            1 << 40,
            (1 << 63) - 1,
        ] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(OpCode::Binary, len, mask);
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut buf);
                assert_eq!(n, h.encoded_len());
                let expect = match len {
                    0..=125 => 2,
                    126..=0xffff => 4,
                    _ => 10,
                } + if mask.is_some() { 4 } else { 0 };
                assert_eq!(n, expect);
                assert_eq!(FrameHeader::parse(&buf[..n], 0).unwrap(), Some((h, n)));
                // Every strict prefix asks for more bytes.
                for cut in 0..n {
                    assert_eq!(
                        FrameHeader::parse(&buf[..cut], 0).unwrap(),
                        None,
                        "len {len} cut {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_opcode_is_accepted_or_refused_as_reserved() {
        for op in 0u8..16 {
            let r = FrameHeader::parse(&[0x80 | op, 0], 0);
            match OpCode::from_u8(op) {
                Some(o) => assert_eq!(r.unwrap().unwrap().0.opcode, o),
                None => assert_eq!(r.unwrap_err().reason, "Used reserved opcode"),
            }
        }
    }

    #[test]
    fn rsv_bits_fail_unless_negotiated() {
        for rsv in 1u8..8 {
            let b0 = 0x81 | (rsv << 4);
            assert!(FrameHeader::parse(&[b0, 0], 0).is_err());
            assert_eq!(
                FrameHeader::parse(&[b0, 0], rsv).unwrap().unwrap().0.rsv,
                rsv
            );
        }
    }

    #[test]
    fn control_frames_must_be_small_and_final() {
        assert!(FrameHeader::parse(&[0x89, 125], 0).unwrap().is_some());
        assert_eq!(
            FrameHeader::parse(&[0x89, 126, 0, 126], 0)
                .unwrap_err()
                .reason,
            "Control frame is larger than 125 bytes"
        );
        assert_eq!(
            FrameHeader::parse(&[0x09, 0], 0).unwrap_err().reason,
            "Control frames cannot be fragmented"
        );
    }

    #[test]
    fn non_minimal_lengths_and_msb_are_refused() {
        assert!(FrameHeader::parse(&[0x82, 126, 0, 125], 0).is_err());
        assert!(FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff], 0).is_err());
        assert!(FrameHeader::parse(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0], 0).is_err());
        assert!(
            FrameHeader::parse(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0], 0)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn parse_never_panics_on_any_two_or_three_byte_input() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let _ = FrameHeader::parse(&[a, b], 0);
                let _ = FrameHeader::parse(&[a, b, 0xff], 7);
            }
        }
    }
}
