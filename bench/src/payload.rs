//! The messages the load generators send, and the frames that carry them.

/// The masking key of every frame the load generator sends: masked once, the
/// same bytes are sent again and again (a server cannot tell, and must unmask
/// every frame anyway).
pub const MASK_KEY: [u8; 4] = [0x5a, 0x13, 0xc7, 0x8e];

/// A payload of exactly `size` bytes.
///
/// Binary payloads are pseudo-random bytes. Text payloads are valid UTF-8,
/// mostly ASCII words with a two-, three- or four-byte character about every
/// 40 bytes, as in real JSON with some non-English text: a validator's ASCII
/// fast path is taken most of the time but not always.
pub fn make(size: usize, text: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if !text {
        while out.len() < size {
            out.extend_from_slice(&next().to_le_bytes()[..(size - out.len()).min(8)]);
        }
        return out;
    }
    const WIDE: [&str; 3] = ["é", "€", "😀"];
    let mut n = 0u64;
    while out.len() < size {
        n += 1;
        let r = next();
        if n.is_multiple_of(40) {
            let wide = WIDE[(r % 3) as usize].as_bytes();
            if out.len() + wide.len() <= size {
                out.extend_from_slice(wide);
                continue;
            }
        }
        out.push(if r.is_multiple_of(7) {
            b' '
        } else {
            b'a' + (r % 26) as u8
        });
    }
    out.truncate(size);
    debug_assert!(std::str::from_utf8(&out).is_ok());
    out
}

/// The header of one unfragmented frame (FIN set) of `len` payload bytes,
/// masked with `mask` if given.
pub fn header(opcode: u8, len: usize, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut h = vec![0x80 | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => h.push(m | len as u8),
        126..=0xffff => {
            h.push(m | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(m | 127);
            h.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if let Some(k) = mask {
        h.extend_from_slice(&k);
    }
    h
}

/// A whole client frame: header and payload masked with [`MASK_KEY`].
pub fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = header(opcode, payload.len(), Some(MASK_KEY));
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK_KEY[i % 4]));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_size_asked_and_text_is_utf8() {
        for size in [0, 1, 2, 3, 16, 39, 40, 41, 1024, 65_536, 100_003] {
            let t = make(size, true);
            assert_eq!(t.len(), size);
            assert!(std::str::from_utf8(&t).is_ok(), "size {size}");
            assert_eq!(make(size, false).len(), size);
        }
        assert!(make(4096, true).iter().any(|b| *b >= 0x80));
        assert_ne!(make(64, false), vec![0; 64]);
    }

    #[test]
    fn frames_are_rfc6455() {
        assert_eq!(header(2, 5, None), [0x82, 5]);
        assert_eq!(header(1, 300, None), [0x81, 126, 1, 44]);
        assert_eq!(header(2, 70_000, None)[..2], [0x82, 127]);
        let f = masked_frame(1, b"Hello");
        assert_eq!(f[..6], [0x81, 0x85, 0x5a, 0x13, 0xc7, 0x8e]);
        let back: Vec<u8> = f[6..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ MASK_KEY[i % 4])
            .collect();
        assert_eq!(back, b"Hello");
    }
}
