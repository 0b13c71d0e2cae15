// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), table-driven, `core` only.
//!
//! Same parameters as the kernel's `crc32c()` and iSCSI/ext4: reflected
//! polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF. The
//! kernel's `crc32c(~0, buf, len) ^ ~0` gives the same value, so the driver
//! may swap its accelerated version in.

const POLY: u32 = 0x82F6_3B78;

// Evaluated at compile time: the loop bounds keep every index in range.
// TABLES[0] is the classic byte table; TABLES[k][i] is the CRC of byte i
// followed by k zero bytes, for slicing by 8.
#[allow(clippy::indexing_slicing)]
const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            k += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            k += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Looks up `TABLES[k][idx]`; the callers mask `idx` to 0..=255.
#[inline(always)]
fn tab(k: usize, idx: u32) -> u32 {
    TABLES
        .get(k)
        .and_then(|t| t.get((idx & 0xff) as usize))
        .copied()
        .unwrap_or(0)
}

/// Continue a CRC-32C over `data`. `crc` is the raw (not inverted) state:
/// start with `!0` and invert the final result, or use [`crc32c`].
///
/// Slicing by 8: eight table lookups per 8 bytes instead of one per byte.
pub fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // `chunks_exact(8)` makes the conversion infallible.
        let w = u64::from_le_bytes(c.try_into().unwrap_or([0u8; 8]));
        let lo = (w as u32) ^ crc;
        let hi = (w >> 32) as u32;
        crc = tab(7, lo)
            ^ tab(6, lo >> 8)
            ^ tab(5, lo >> 16)
            ^ tab(4, lo >> 24)
            ^ tab(3, hi)
            ^ tab(2, hi >> 8)
            ^ tab(1, hi >> 16)
            ^ tab(0, hi >> 24);
    }
    for &byte in chunks.remainder() {
        crc = (crc >> 8) ^ tab(0, crc ^ u32::from(byte));
    }
    crc
}

/// CRC-32C of `data` (initial value and final xor `0xFFFF_FFFF`).
pub fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        // RFC 3720 B.4 and the usual check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
        assert_eq!(crc32c(b""), 0);
    }

    /// The bytewise reference the sliced version must match.
    fn reference(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn sliced_matches_bitwise() {
        let mut data = [0u8; 300];
        let mut x = 0x1234_5678u32;
        for d in data.iter_mut() {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *d = (x >> 16) as u8;
        }
        for start in 0..9 {
            for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 100, 291] {
                let s = &data[start..start + len];
                assert_eq!(crc32c(s), reference(s), "start {} len {}", start, len);
            }
        }
    }

    #[test]
    fn streaming_matches_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        let (a, b) = data.split_at(17);
        assert_eq!(!crc32c_update(crc32c_update(!0, a), b), crc32c(data));
    }
}
