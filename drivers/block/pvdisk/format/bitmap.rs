// SPDX-License-Identifier: GPL-2.0

//! Allocation bitmaps. Every metadata or data extent starts with its own
//! bitmap blocks; bit `i` (LSB first within a byte) set means block
//! `extent_start + i` is allocated. The bitmap blocks themselves are
//! covered and always set. A free extent's bitmap is not valid: claiming an
//! extent writes a fresh bitmap before the catalogue entry changes kind.
//!
//! ```text
//!  bitmap block:  off  0  header (magic "PVBM")
//!                 off 16  u32 extent number
//!                 off 20  u32 index of this bitmap block within the extent
//!                 off 24  8 bytes reserved (0)
//!                 off 32  4064 bytes = 32512 bits
//! ```
//! Bits past the end of the extent must be zero.

use super::block::{
    bad_field, get_u32, get_u64, magic, put_bytes, put_u32, seal, verify, Block, Result, StoreId,
    BLOCK_SIZE,
};

/// Magic of a bitmap block.
pub const BITMAP_MAGIC: u32 = magic(b"PVBM");
/// Offset of the bits in a bitmap block.
pub const BITS_OFFSET: usize = 32;
/// Bytes of bits per bitmap block.
pub const BITS_BYTES: usize = BLOCK_SIZE - BITS_OFFSET;
/// Bits (blocks covered) per bitmap block.
pub const BITS_PER_BLOCK: usize = BITS_BYTES * 8;

const OFF_EXTENT: usize = 16;
const OFF_INDEX: usize = 20;
const OFF_RSVD: usize = 24;

/// One decoded bitmap block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitmapBlock {
    /// Extent this bitmap describes.
    pub extent: u32,
    /// Which bitmap block of the extent (0-based).
    pub index: u32,
    /// The bits.
    pub bits: [u8; BITS_BYTES],
}

impl BitmapBlock {
    /// An all-clear bitmap block.
    pub fn new(extent: u32, index: u32) -> Self {
        BitmapBlock {
            extent,
            index,
            bits: [0u8; BITS_BYTES],
        }
    }

    /// Is bit `i` set? Out-of-range bits read as clear.
    pub fn get(&self, i: usize) -> bool {
        self.bits
            .get(i / 8)
            .map(|byte| byte & (1 << (i % 8)) != 0)
            .unwrap_or(false)
    }

    /// Sets or clears bit `i`; out of range is ignored.
    pub fn set(&mut self, i: usize, v: bool) {
        if let Some(byte) = self.bits.get_mut(i / 8) {
            if v {
                *byte |= 1 << (i % 8);
            } else {
                *byte &= !(1 << (i % 8));
            }
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// Encodes into `b`, sealed as block `blocknr` of store `id`.
    pub fn encode(&self, b: &mut Block, id: StoreId, blocknr: u64) {
        *b = [0u8; BLOCK_SIZE];
        put_u32(b, OFF_EXTENT, self.extent);
        put_u32(b, OFF_INDEX, self.index);
        put_bytes(b, BITS_OFFSET, &self.bits);
        seal(b, id, BITMAP_MAGIC, blocknr);
    }

    /// Decodes bitmap block `blocknr` of store `id`, which must be bitmap block `index`
    /// of `extent`, an extent of `extent_blocks` blocks.
    pub fn decode(
        b: &Block,
        id: StoreId,
        blocknr: u64,
        extent: u32,
        index: u32,
        extent_blocks: u32,
    ) -> Result<Self> {
        let mut out = BitmapBlock::new(extent, index);
        Self::decode_into(b, id, blocknr, extent, index, extent_blocks, &mut out)?;
        Ok(out)
    }

    /// [`BitmapBlock::decode`] into `out`, which holds garbage on error:
    /// for callers (the kernel) that must not put 4 KiB on the stack.
    pub fn decode_into(
        b: &Block,
        id: StoreId,
        blocknr: u64,
        extent: u32,
        index: u32,
        extent_blocks: u32,
        out: &mut Self,
    ) -> Result<()> {
        verify(b, id, BITMAP_MAGIC, blocknr)?;
        let e = get_u32(b, OFF_EXTENT);
        if e != extent {
            return Err(bad_field(blocknr, "bitmap extent", e.into()));
        }
        let i = get_u32(b, OFF_INDEX);
        if i != index {
            return Err(bad_field(blocknr, "bitmap index", i.into()));
        }
        let r = get_u64(b, OFF_RSVD);
        if r != 0 {
            return Err(bad_field(blocknr, "bitmap reserved", r));
        }
        out.extent = extent;
        out.index = index;
        if let Some(src) = b.get(BITS_OFFSET..) {
            out.bits.copy_from_slice(src);
        }
        // Bits beyond the end of the extent must be clear.
        let first = u64::from(index) * BITS_PER_BLOCK as u64;
        let valid = u64::from(extent_blocks).saturating_sub(first);
        if valid < BITS_PER_BLOCK as u64 {
            let valid = valid as usize;
            for bit in valid..BITS_PER_BLOCK {
                if out.get(bit) {
                    return Err(bad_field(blocknr, "bitmap bit past extent end", bit as u64));
                }
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
    fn round_trip() {
        let mut m = BitmapBlock::new(4, 0);
        for i in [0usize, 1, 7, 8, 255, 100] {
            m.set(i, true);
        }
        m.set(7, false);
        assert!(m.get(8) && !m.get(7) && !m.get(BITS_PER_BLOCK + 5));
        assert_eq!(m.count(), 5);
        let mut b = [0u8; BLOCK_SIZE];
        m.encode(&mut b, ID, 1024);
        assert_eq!(BitmapBlock::decode(&b, ID, 1024, 4, 0, 256), Ok(m.clone()));
        assert!(BitmapBlock::decode(&b, ID, 1024, 5, 0, 256).is_err());
        assert!(BitmapBlock::decode(&b, ID, 1024, 4, 1, 256).is_err());
        assert!(BitmapBlock::decode(&b, ID, 1024, 4, 0, 200).is_err());
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut m = BitmapBlock::new(1, 0);
        m.set(3, true);
        let mut b = [0u8; BLOCK_SIZE];
        m.encode(&mut b, ID, 256);
        for i in 0..BLOCK_SIZE {
            let mut x = b;
            x[i] ^= 4;
            assert!(
                BitmapBlock::decode(&x, ID, 256, 1, 0, 256).is_err(),
                "byte {}",
                i
            );
        }
    }
}
