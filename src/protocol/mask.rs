//! Masking and unmasking payloads (RFC 6455 §5.3).
//!
//! The same XOR both masks and unmasks. [`apply_mask`] works a machine word at a
//! time and takes the payload offset, so a payload can be unmasked piece by
//! piece as it arrives.

/// XORs `buf` with `key`, where `buf` starts at byte `offset` of the payload.
///
/// ```
/// use qwebsocket::protocol::mask::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// apply_mask(&mut data, key, 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]); // RFC 6455 §5.7
/// // Unmasking in two pieces gives the original back.
/// let (a, b) = data.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    // Head: bytes until the pointer is 8-aligned, keeping the key in phase.
    let head = buf.as_ptr().align_offset(8).min(buf.len());
    let (start, rest) = buf.split_at_mut(head);
    for (i, b) in start.iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
    key.rotate_left(head % 4);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = rest.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Masks `src` into `dst` (same length) without modifying `src`.
///
/// ```
/// use qwebsocket::protocol::mask::mask_into;
/// let mut out = [0u8; 5];
/// mask_into(b"Hello", &mut out, [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
pub fn mask_into(src: &[u8], dst: &mut [u8], key: [u8; 4]) {
    dst.copy_from_slice(src);
    apply_mask(dst, key, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b ^= key[(offset + i) % 4];
        }
    }

    #[test]
    fn matches_bytewise_masking_for_every_alignment_offset_and_length() {
        let key = [0x01, 0x80, 0xfe, 0x5a];
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..8 {
            for len in [0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 150] {
                for offset in 0..5 {
                    let mut a = data[start..start + len].to_vec();
                    let mut b = a.clone();
                    // Work on an unaligned window of a bigger buffer too.
                    let mut big = data.clone();
                    apply_mask(&mut a, key, offset);
                    naive(&mut b, key, offset);
                    assert_eq!(a, b, "start {start} len {len} offset {offset}");
                    apply_mask(&mut big[start..start + len], key, offset);
                    assert_eq!(&big[start..start + len], &b[..]);
                }
            }
        }
    }
}
