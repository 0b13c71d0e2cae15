// SPDX-License-Identifier: GPL-2.0

//! CRC-32C (Castagnoli), table-driven, `core` only.
//!
//! Same parameters as the kernel's `crc32c()` and iSCSI/ext4: reflected
//! polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF. The
//! kernel's `crc32c(~0, buf, len) ^ ~0` gives the same value, so the driver
//! may swap its accelerated version in.

const POLY: u32 = 0x82F6_3B78;

// Evaluated at compile time: `i < 256` bounds the index.
#[allow(clippy::indexing_slicing)]
const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
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
        table[i] = crc;
        i += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// Continue a CRC-32C over `data`. `crc` is the raw (not inverted) state:
/// start with `!0` and invert the final result, or use [`crc32c`].
pub fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &byte in data {
        let idx = ((crc ^ u32::from(byte)) & 0xff) as usize;
        // `idx` is at most 255, so `get` never misses.
        crc = (crc >> 8) ^ TABLE.get(idx).copied().unwrap_or(0);
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

    #[test]
    fn streaming_matches_one_shot() {
        let data = b"The quick brown fox jumps over the lazy dog";
        let (a, b) = data.split_at(17);
        assert_eq!(!crc32c_update(crc32c_update(!0, a), b), crc32c(data));
    }
}
