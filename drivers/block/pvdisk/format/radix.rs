// SPDX-License-Identifier: GPL-2.0

//! Radix tree nodes: a 16-byte header then 510 little-endian `u64`
//! pointers. The level is part of the magic ("PVR1" for nodes whose
//! pointers go to data blocks, "PVR2" one level up, ...), so a pointer that
//! lands on a node of the wrong level is refused like a foreign block.
//!
//! ```text
//!  node:     header (magic "PVR<level>") | ptr[0] | ptr[1] | ... | ptr[509]
//!  pointer:  bit 63: read-only (copy on write below this link)
//!            bits 0..62: block number; 0 = sparse (reads as zeros)
//! ```
//!
//! A VDI of height `h` has its root at level `h`; logical block `lba` uses
//! index `(lba / 510^(l-1)) % 510` at level `l`. Height 1 covers 2 MiB, 2
//! about 1 GiB, 3 about 506 GiB, 4 about 252 TiB.

use super::block::{
    bad_field, get_u64, magic, put_u64, seal, verify, Block, Result, StoreId, BLOCK_SIZE,
    HEADER_SIZE,
};

/// Pointers per radix node.
pub const FANOUT: usize = (BLOCK_SIZE - HEADER_SIZE) / 8;
/// Highest tree height the format allows.
pub const MAX_HEIGHT: u32 = 6;
/// The read-only bit of a pointer.
pub const PTR_RO: u64 = 1 << 63;
/// Mask of the block number in a pointer.
pub const PTR_BLOCK_MASK: u64 = !PTR_RO;

/// Magic of a radix node at `level` (1..=9).
pub const fn radix_magic(level: u32) -> u32 {
    magic(b"PVR0").wrapping_add((level & 0xf) << 24)
}

/// Block number a pointer refers to (0 = sparse).
pub const fn ptr_block(p: u64) -> u64 {
    p & PTR_BLOCK_MASK
}

/// True if the link is read-only.
pub const fn ptr_is_ro(p: u64) -> bool {
    p & PTR_RO != 0
}

/// Builds a pointer.
pub const fn make_ptr(block: u64, ro: bool) -> u64 {
    if ro {
        block | PTR_RO
    } else {
        block & PTR_BLOCK_MASK
    }
}

/// Blocks addressable by a tree of `height` (saturating).
#[inline]
pub fn capacity_blocks(height: u32) -> u64 {
    (FANOUT as u64).saturating_pow(height)
}

/// Smallest height whose tree covers `blocks` blocks (at least 1); `None`
/// beyond [`MAX_HEIGHT`].
pub fn height_for(blocks: u64) -> Option<u32> {
    (1..=MAX_HEIGHT).find(|&h| capacity_blocks(h) >= blocks)
}

/// Index into a node at `level` (1 = bottom) for logical block `lba`.
#[inline]
pub fn index_at(lba: u64, level: u32) -> usize {
    let div = (FANOUT as u64).saturating_pow(level.saturating_sub(1));
    // `div` is never 0; `checked_div` keeps a panic path out of the kernel.
    (lba.checked_div(div).unwrap_or(0) % FANOUT as u64) as usize
}

/// A decoded radix node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadixNode {
    /// The pointers.
    pub ptrs: [u64; FANOUT],
}

impl Default for RadixNode {
    fn default() -> Self {
        RadixNode { ptrs: [0; FANOUT] }
    }
}

impl RadixNode {
    /// Pointer at `i` (0 past the end).
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        self.ptrs.get(i).copied().unwrap_or(0)
    }

    /// Sets pointer `i` (ignored past the end).
    pub fn set(&mut self, i: usize, p: u64) {
        if let Some(slot) = self.ptrs.get_mut(i) {
            *slot = p;
        }
    }

    /// A copy whose non-sparse links are all read-only: the new root of a
    /// snapshot or a clone, or a node copied from below a read-only link.
    pub fn read_only_copy(&self) -> Self {
        let mut n = self.clone();
        n.make_read_only();
        n
    }

    /// [`RadixNode::read_only_copy`] in place, for callers (the kernel)
    /// that keep nodes on the heap and must not put one on the stack.
    pub fn make_read_only(&mut self) {
        for p in self.ptrs.iter_mut() {
            *p = match ptr_block(*p) {
                0 => 0,
                b => make_ptr(b, true),
            };
        }
    }

    /// Encodes into `b`, sealed as block `blocknr` of store `id` at `level`.
    pub fn encode(&self, b: &mut Block, id: StoreId, blocknr: u64, level: u32) {
        *b = [0u8; BLOCK_SIZE];
        for (i, p) in self.ptrs.iter().enumerate() {
            put_u64(b, HEADER_SIZE + i * 8, *p);
        }
        seal(b, id, radix_magic(level), blocknr);
    }

    /// Decodes the node at `blocknr` of store `id`, expected at `level`.
    pub fn decode(b: &Block, id: StoreId, blocknr: u64, level: u32) -> Result<Self> {
        let mut n = RadixNode::default();
        Self::decode_into(b, id, blocknr, level, &mut n)?;
        Ok(n)
    }

    /// [`RadixNode::decode`] into `out`, which holds garbage on error: for
    /// callers (the kernel) that keep nodes on the heap and must not put a
    /// 4 KiB node on the stack.
    pub fn decode_into(
        b: &Block,
        id: StoreId,
        blocknr: u64,
        level: u32,
        out: &mut Self,
    ) -> Result<()> {
        if level == 0 || level > MAX_HEIGHT {
            return Err(bad_field(blocknr, "radix level", level.into()));
        }
        verify(b, id, radix_magic(level), blocknr)?;
        for (i, p) in out.ptrs.iter_mut().enumerate() {
            *p = get_u64(b, HEADER_SIZE + i * 8);
            if *p == PTR_RO {
                return Err(bad_field(blocknr, "read-only sparse pointer", i as u64));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: StoreId = StoreId::PLAIN;

    #[test]
    fn geometry() {
        assert_eq!(FANOUT, 510);
        assert_eq!(height_for(0), Some(1));
        assert_eq!(height_for(510), Some(1));
        assert_eq!(height_for(511), Some(2));
        // 512 GiB needs height 4 with fan-out 510; 500 GiB fits in 3.
        assert_eq!(height_for(500 << 18), Some(3));
        assert_eq!(height_for(256 << 28), Some(5));
        assert_eq!(height_for(u64::MAX), None);
        assert_eq!(index_at(509, 1), 509);
        assert_eq!(index_at(510, 1), 0);
        assert_eq!(index_at(510, 2), 1);
        assert_eq!(index_at(510 * 510 * 3 + 7, 3), 3);
    }

    #[test]
    fn pointers() {
        let p = make_ptr(1234, true);
        assert!(ptr_is_ro(p));
        assert_eq!(ptr_block(p), 1234);
        assert!(!ptr_is_ro(make_ptr(1234, false)));
        assert_ne!(radix_magic(1), radix_magic(2));
        assert_eq!(&radix_magic(3).to_le_bytes(), b"PVR3");
    }

    #[test]
    fn round_trip_and_levels() {
        let mut n = RadixNode::default();
        n.set(0, make_ptr(5, false));
        n.set(509, make_ptr(u64::MAX >> 1, true));
        let mut b = [0u8; BLOCK_SIZE];
        n.encode(&mut b, ID, 99, 2);
        assert_eq!(RadixNode::decode(&b, ID, 99, 2), Ok(n.clone()));
        assert!(RadixNode::decode(&b, ID, 99, 1).is_err());
        assert!(RadixNode::decode(&b, ID, 99, 0).is_err());
        let ro = n.read_only_copy();
        assert!(ptr_is_ro(ro.get(0)) && ro.get(1) == 0);
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut n = RadixNode::default();
        n.set(3, 77);
        let mut b = [0u8; BLOCK_SIZE];
        n.encode(&mut b, ID, 8, 1);
        for i in 0..BLOCK_SIZE {
            let mut x = b;
            x[i] ^= 2;
            assert!(RadixNode::decode(&x, ID, 8, 1).is_err(), "byte {}", i);
        }
    }

    #[test]
    fn ro_sparse_refused() {
        let mut n = RadixNode::default();
        n.set(3, PTR_RO);
        let mut b = [0u8; BLOCK_SIZE];
        n.encode(&mut b, ID, 8, 1);
        assert!(RadixNode::decode(&b, ID, 8, 1).is_err());
    }
}
