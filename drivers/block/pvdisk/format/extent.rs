// SPDX-License-Identifier: GPL-2.0

//! The extent catalogue: one 16-byte entry per extent, 255 per block,
//! starting at block 1.
//!
//! ```text
//!  catalogue block:  header (magic "PVEC") | 255 x entry
//!  entry:   off 0  u16 kind (0 free, 1 system, 2 metadata, 3 data)
//!           off 2  u16 flags (none defined, must be 0)
//!           off 4  u32 reserved (0)
//!           off 8  u64 owner: host id allocating from it, 0 = none
//! ```

use super::block::{
    bad_field, get_u16, get_u32, get_u64, magic, put_u16, put_u64, seal, verify, Block, Result,
    StoreId, BLOCK_SIZE, HEADER_SIZE,
};

/// Magic of an extent catalogue block.
pub const CATALOGUE_MAGIC: u32 = magic(b"PVEC");
/// Size of one catalogue entry.
pub const ENTRY_SIZE: usize = 16;
/// Catalogue entries per block.
pub const ENTRIES_PER_BLOCK: usize = (BLOCK_SIZE - HEADER_SIZE) / ENTRY_SIZE;

/// What an extent holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExtentKind {
    /// Not in use; its bitmap is not valid.
    Free,
    /// Extent 0: superblock, catalogue, VDI registry (static layout).
    System,
    /// Radix nodes and snapshot-log blocks.
    Metadata,
    /// VDI data blocks.
    Data,
}

impl ExtentKind {
    /// On-disk code.
    pub fn code(self) -> u16 {
        match self {
            ExtentKind::Free => 0,
            ExtentKind::System => 1,
            ExtentKind::Metadata => 2,
            ExtentKind::Data => 3,
        }
    }

    /// From the on-disk code.
    pub fn from_code(c: u16) -> Option<Self> {
        match c {
            0 => Some(ExtentKind::Free),
            1 => Some(ExtentKind::System),
            2 => Some(ExtentKind::Metadata),
            3 => Some(ExtentKind::Data),
            _ => None,
        }
    }

    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ExtentKind::Free => "free",
            ExtentKind::System => "system",
            ExtentKind::Metadata => "metadata",
            ExtentKind::Data => "data",
        }
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtentEntry {
    /// What the extent holds.
    pub kind: ExtentKind,
    /// Host that allocates from this extent (0 = none).
    pub owner: u64,
}

impl ExtentEntry {
    /// A free, unowned extent.
    pub const FREE: ExtentEntry = ExtentEntry {
        kind: ExtentKind::Free,
        owner: 0,
    };
}

/// One decoded catalogue block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueBlock {
    /// Entries; entries past the last extent are `FREE`.
    pub entries: [ExtentEntry; ENTRIES_PER_BLOCK],
}

impl Default for CatalogueBlock {
    fn default() -> Self {
        CatalogueBlock {
            entries: [ExtentEntry::FREE; ENTRIES_PER_BLOCK],
        }
    }
}

impl CatalogueBlock {
    /// Encodes into `b`, sealed as block `blocknr` of store `id`.
    pub fn encode(&self, b: &mut Block, id: StoreId, blocknr: u64) {
        *b = [0u8; BLOCK_SIZE];
        for (i, e) in self.entries.iter().enumerate() {
            let off = HEADER_SIZE + i * ENTRY_SIZE;
            put_u16(b, off, e.kind.code());
            put_u64(b, off + 8, e.owner);
        }
        seal(b, id, CATALOGUE_MAGIC, blocknr);
    }

    /// Decodes catalogue block `blocknr` of store `id`.
    pub fn decode(b: &Block, id: StoreId, blocknr: u64) -> Result<Self> {
        let mut out = CatalogueBlock::default();
        Self::decode_into(b, id, blocknr, &mut out)?;
        Ok(out)
    }

    /// [`CatalogueBlock::decode`] into `out`, which holds garbage on
    /// error: for callers (the kernel) that must not put 4 KiB on the
    /// stack.
    pub fn decode_into(b: &Block, id: StoreId, blocknr: u64, out: &mut Self) -> Result<()> {
        verify(b, id, CATALOGUE_MAGIC, blocknr)?;
        for (i, e) in out.entries.iter_mut().enumerate() {
            let off = HEADER_SIZE + i * ENTRY_SIZE;
            let code = get_u16(b, off);
            e.kind = ExtentKind::from_code(code)
                .ok_or_else(|| bad_field(blocknr, "extent kind", code.into()))?;
            let flags = get_u16(b, off + 2);
            if flags != 0 {
                return Err(bad_field(blocknr, "extent flags", flags.into()));
            }
            let rsvd = get_u32(b, off + 4);
            if rsvd != 0 {
                return Err(bad_field(blocknr, "extent reserved", rsvd.into()));
            }
            e.owner = get_u64(b, off + 8);
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
        assert_eq!(ENTRIES_PER_BLOCK, 255);
        let mut c = CatalogueBlock::default();
        c.entries[0].kind = ExtentKind::System;
        c.entries[1] = ExtentEntry {
            kind: ExtentKind::Metadata,
            owner: 0x1234,
        };
        c.entries[254].kind = ExtentKind::Data;
        let mut b = [0u8; BLOCK_SIZE];
        c.encode(&mut b, ID, 3);
        assert_eq!(CatalogueBlock::decode(&b, ID, 3), Ok(c));
        assert!(CatalogueBlock::decode(&b, ID, 4).is_err());
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut c = CatalogueBlock::default();
        c.entries[5].kind = ExtentKind::Data;
        let mut b = [0u8; BLOCK_SIZE];
        c.encode(&mut b, ID, 1);
        for i in 0..BLOCK_SIZE {
            let mut x = b;
            x[i] ^= 0x80;
            assert!(CatalogueBlock::decode(&x, ID, 1).is_err(), "byte {}", i);
        }
    }

    #[test]
    fn unknown_kind_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        CatalogueBlock::default().encode(&mut b, ID, 1);
        put_u16(&mut b, HEADER_SIZE + 16, 9);
        seal(&mut b, ID, CATALOGUE_MAGIC, 1);
        assert!(matches!(
            CatalogueBlock::decode(&b, ID, 1),
            Err(super::super::block::FormatError::BadField {
                field: "extent kind",
                value: 9,
                ..
            })
        ));
    }
}
