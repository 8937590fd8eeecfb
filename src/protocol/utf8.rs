//! Incremental UTF-8 validation that fails on the first invalid byte.
//!
//! Text messages arrive in fragments, and a fragment (or a TCP read) may end in
//! the middle of a code point. [`Utf8Validator`] keeps the bytes of such an
//! unfinished code point between calls, so a code point split across frames is
//! valid, while a byte that can never start or continue a valid sequence is
//! refused as soon as it is seen (Autobahn 6.4.*: fail fast).

use super::{CloseCode, ProtocolError};

/// The error a connection closes with when text is not valid UTF-8 (1007).
///
/// ```
/// use qwebsocket::protocol::utf8::invalid_utf8_error;
/// assert_eq!(invalid_utf8_error().code, qwebsocket::CloseCode::WrongDatatype);
/// ```
pub fn invalid_utf8_error() -> ProtocolError {
    ProtocolError::new(CloseCode::WrongDatatype, "Invalid UTF-8 code encountered.")
}

/// Validates a stream of UTF-8 bytes fed in pieces of any size.
///
/// ```
/// use qwebsocket::protocol::utf8::Utf8Validator;
/// let mut v = Utf8Validator::new();
/// v.feed("caf".as_bytes()).unwrap();
/// v.feed(&[0xc3]).unwrap();          // first half of 'é'
/// assert!(!v.is_complete());
/// v.feed(&[0xa9, b'!']).unwrap();    // second half, then '!'
/// assert!(v.is_complete());
/// assert!(v.feed(&[0xff]).is_err()); // never valid: fails at once
/// ```
#[derive(Clone, Debug, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text: nothing pending, so it is
    /// complete (the empty text is valid). The same as `default()`.
    ///
    /// ```
    /// use qwebsocket::protocol::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// assert!(v.is_complete());
    /// v.feed("żółw".as_bytes()).unwrap();
    /// assert!(v.is_complete());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any unfinished code point (for the next message).
    ///
    /// ```
    /// use qwebsocket::protocol::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// v.feed(&[0xe2]).unwrap();
    /// v.reset();
    /// assert!(v.is_complete());
    /// ```
    pub fn reset(&mut self) {
        self.pending_len = 0;
    }

    /// True when no code point is left unfinished.
    ///
    /// ```
    /// use qwebsocket::protocol::utf8::Utf8Validator;
    /// assert!(Utf8Validator::new().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.pending_len == 0
    }

    /// The bytes of the unfinished code point at the end of what was fed so far.
    ///
    /// ```
    /// use qwebsocket::protocol::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// v.feed(&[b'a', 0xe2, 0x82]).unwrap();
    /// assert_eq!(v.pending(), &[0xe2, 0x82]);
    /// ```
    pub fn pending(&self) -> &[u8] {
        &self.pending[..usize::from(self.pending_len)]
    }

    /// Validates the next piece of the text.
    ///
    /// Returns the number of leading bytes of `data` that finish the code point
    /// left unfinished by the previous call (0 when there was none). Fails with
    /// 1007 as soon as a byte makes the text invalid, whatever follows.
    ///
    /// ```
    /// use qwebsocket::protocol::utf8::Utf8Validator;
    /// let mut v = Utf8Validator::new();
    /// assert_eq!(v.feed(&[0xf0, 0x9f]).unwrap(), 0);
    /// assert_eq!(v.feed(&[0x98, 0x80, b'x']).unwrap(), 2); // finishes U+1F600
    /// assert!(v.feed(&[0xf4, 0x90]).is_err()); // above U+10FFFF: refused at once
    /// ```
    pub fn feed(&mut self, data: &[u8]) -> Result<usize, ProtocolError> {
        let mut head = 0;
        if self.pending_len > 0 {
            // Finish the carried code point one byte at a time.
            let mut buf = self.pending;
            let mut len = usize::from(self.pending_len);
            while len < 4 && head < data.len() {
                buf[len] = data[head];
                len += 1;
                head += 1;
                match std::str::from_utf8(&buf[..len]) {
                    Ok(_) => {
                        self.pending_len = 0;
                        break;
                    }
                    Err(e) if e.error_len().is_none() => {}
                    Err(_) => return Err(invalid_utf8_error()),
                }
            }
            if self.pending_len > 0 {
                // Either still unfinished (data exhausted) or 4 bytes were not enough.
                if len == 4 {
                    return Err(invalid_utf8_error());
                }
                self.pending = buf;
                self.pending_len = len as u8;
                return Ok(head);
            }
        }
        let rest = &data[head..];
        // The fast check first; the detailed one (same answers as std's)
        // only when it fails, to tell an invalid byte from a code point cut
        // by the end of the input.
        if simdutf8::basic::from_utf8(rest).is_ok() {
            return Ok(head);
        }
        match simdutf8::compat::from_utf8(rest) {
            Ok(_) => Ok(head),
            Err(e) => match e.error_len() {
                Some(_) => Err(invalid_utf8_error()),
                None => {
                    // A valid prefix of a code point ends the input: keep it.
                    let tail = &rest[e.valid_up_to()..];
                    self.pending[..tail.len()].copy_from_slice(tail);
                    self.pending_len = tail.len() as u8;
                    Ok(head)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_in_any_split(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            let mut v = Utf8Validator::new();
            let ok =
                v.feed(&bytes[..cut]).is_ok() && v.feed(&bytes[cut..]).is_ok() && v.is_complete();
            assert_eq!(ok, whole, "split at {cut} of {bytes:x?}");
        }
        let mut v = Utf8Validator::new();
        let ok = bytes
            .iter()
            .all(|b| v.feed(std::slice::from_ref(b)).is_ok())
            && v.is_complete();
        assert_eq!(ok, whole, "byte by byte {bytes:x?}");
        whole
    }

    #[test]
    fn agrees_with_std_for_every_split() {
        let samples: &[&[u8]] = &[
            b"",
            b"hello",
            "κόσμε".as_bytes(),
            "\u{10FFFF}\u{FFFF}\u{FFFE}".as_bytes(),
            "a€b😀c".as_bytes(),
            &[0xed, 0xa0, 0x80],       // surrogate
            &[0xf4, 0x90, 0x80, 0x80], // > U+10FFFF
            &[0xc0, 0xaf],             // overlong
            &[0xe0, 0x80, 0xaf],       // overlong
            &[0xce, 0xba, 0xe1],       // truncated at end
            &[0x80],
            &[0xfe],
            &[0xff],
            &[0xf8, 0x88, 0x80, 0x80, 0x80],
        ];
        for s in samples {
            valid_in_any_split(s);
        }
    }

    #[test]
    fn exhaustive_two_and_three_byte_prefixes_match_std() {
        for a in 0x80..=0xffu8 {
            for b in 0..=0xffu8 {
                let bytes = [a, b, 0x80, 0x80];
                for n in 2..=4 {
                    let mut v = Utf8Validator::new();
                    let ours = v.feed(&bytes[..1]).is_ok()
                        && v.feed(&bytes[1..n]).is_ok()
                        && v.is_complete();
                    assert_eq!(
                        ours,
                        std::str::from_utf8(&bytes[..n]).is_ok(),
                        "{:x?}",
                        &bytes[..n]
                    );
                }
            }
        }
    }

    #[test]
    fn fails_fast_on_first_invalid_byte() {
        let mut v = Utf8Validator::new();
        v.feed("valid so far ".as_bytes()).unwrap();
        // 0xf4 0x90 can never become valid; refused without waiting for more.
        assert!(v.feed(&[0xf4]).is_ok());
        assert!(v.feed(&[0x90]).is_err());
    }

    #[test]
    fn reports_bytes_that_finish_the_carried_code_point() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xe2]).unwrap(), 0);
        assert_eq!(v.feed(&[0x82]).unwrap(), 1);
        assert_eq!(v.pending(), &[0xe2, 0x82]);
        assert_eq!(v.feed(&[0xac, b'a']).unwrap(), 1);
        assert!(v.is_complete());
    }
}
