// SPDX-License-Identifier: GPL-2.0

//! The self-describing blocks of the crash workload
//! (`tests/pvdisk_crashload.c`): every 4 KiB block written starts with
//!
//! ```text
//! le32 magic   "PCRW"
//! le32 tag     the VDI's tag in the workload (1, 2, ...)
//! le64 lba     the block's logical address in the VDI
//! le32 gen     the operation that wrote it (per VDI: 1, 2, ...)
//! le32 seed    the run's pattern seed
//! le32 rsvd    0
//! le32 crc     crc32c of the 28 bytes before it
//! ```
//!
//! and goes on with a fill drawn from (seed, tag, lba, gen), so a block
//! read back is judged alone: zeros, a whole valid block of some
//! (tag, lba, gen), or garbage (a torn or foreign block).

use pvdisk::format::crc32c::crc32c;

/// Block size.
pub const BS: usize = 4096;
/// "PCRW", little-endian.
pub const MAGIC: u32 = u32::from_le_bytes(*b"PCRW");
const HDR: usize = 32;

/// What a block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// All zeros.
    Zero,
    /// A whole valid block written by the workload.
    Block {
        /// The VDI's tag.
        tag: u32,
        /// The logical block it was written to.
        lba: u64,
        /// The operation that wrote it.
        gen: u32,
    },
    /// Anything else, described.
    Garbage(String),
}

impl std::fmt::Display for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Content::Zero => write!(f, "zeros"),
            Content::Block { tag, lba, gen } => write!(f, "tag {} lba {} gen {}", tag, lba, gen),
            Content::Garbage(s) => write!(f, "{}", s),
        }
    }
}

fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn header(seed: u32, tag: u32, lba: u64, gen: u32) -> [u8; HDR] {
    let mut h = [0u8; HDR];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&tag.to_le_bytes());
    h[8..16].copy_from_slice(&lba.to_le_bytes());
    h[16..20].copy_from_slice(&gen.to_le_bytes());
    h[20..24].copy_from_slice(&seed.to_le_bytes());
    let crc = crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Fills `b` with the block of (`seed`, `tag`, `lba`, `gen`).
pub fn make(b: &mut [u8; BS], seed: u32, tag: u32, lba: u64, gen: u32) {
    b[..HDR].copy_from_slice(&header(seed, tag, lba, gen));
    let mut x =
        mix64(mix64(mix64(mix64(u64::from(seed)) ^ u64::from(tag)) ^ lba) ^ u64::from(gen)) | 1;
    for w in b[HDR..].chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// What block `b` holds, for a run of pattern seed `seed`.
pub fn decode(b: &[u8; BS], seed: u32) -> Content {
    if b.iter().all(|&x| x == 0) {
        return Content::Zero;
    }
    let (tag, gen, their_seed) = (le32(b, 4), le32(b, 16), le32(b, 20));
    let mut l = [0u8; 8];
    l.copy_from_slice(&b[8..16]);
    let lba = u64::from_le_bytes(l);
    if le32(b, 0) != MAGIC || le32(b, 28) != crc32c(&b[..28]) {
        let nz = b.iter().position(|&x| x != 0).unwrap_or(0);
        return Content::Garbage(format!(
            "a foreign block (first non-zero byte at {}: {:02x?})",
            nz,
            &b[nz..(nz + 4).min(BS)]
        ));
    }
    if their_seed != seed {
        return Content::Garbage(format!(
            "a block of another run (seed {:#x}, tag {} lba {} gen {})",
            their_seed, tag, lba, gen
        ));
    }
    let mut want = [0u8; BS];
    make(&mut want, seed, tag, lba, gen);
    if let Some(off) = (0..BS).find(|&i| want[i] != b[i]) {
        return Content::Garbage(format!(
            "tag {} lba {} gen {} damaged at byte {}",
            tag, lba, gen, off
        ));
    }
    Content::Block { tag, lba, gen }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let mut b = [0u8; BS];
        assert_eq!(decode(&b, 5), Content::Zero);
        make(&mut b, 5, 2, 77, 9);
        assert_eq!(
            decode(&b, 5),
            Content::Block {
                tag: 2,
                lba: 77,
                gen: 9
            }
        );
        assert!(matches!(decode(&b, 6), Content::Garbage(s) if s.contains("another run")));
        let mut torn = b;
        torn[2048..].fill(0);
        assert!(
            matches!(decode(&torn, 5), Content::Garbage(s) if s.contains("damaged at byte 2048"))
        );
        let mut hdr = b;
        hdr[8] ^= 1;
        assert!(matches!(decode(&hdr, 5), Content::Garbage(s) if s.contains("foreign")));
    }

    /// The same bytes as the C workload's make_block: the header and the
    /// first fill word that `pvdisk_crashload block 1 2 3 4` prints.
    #[test]
    fn matches_the_c_workload() {
        let mut b = [0u8; BS];
        make(&mut b, 1, 2, 3, 4);
        let hex: String = b[..40].iter().map(|x| format!("{:02x}", x)).collect();
        assert_eq!(
            hex,
            "504352570200000003000000000000000400000001000000000000006c1ba825ae6ddbf3032a76ba"
        );
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }
}
