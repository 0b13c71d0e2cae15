// SPDX-License-Identifier: GPL-2.0

//! The superblock (block 0) and the store geometry it describes.
//!
//! ```text
//!  off  size  field
//!    0    16  header (magic "PVSB")
//!   16     4  version (1)
//!   20     4  block_size (4096)
//!   24     8  compat features
//!   32     8  ro_compat features
//!   40     8  incompat features
//!   48     8  total_blocks (device size at format time, in blocks)
//!   56     4  extent_blocks (blocks per extent)
//!   60     4  extent_count
//!   64     8  catalogue_start (always 1)
//!   72     4  catalogue_blocks
//!   76     4  vdi_slots
//!   80     8  registry_start (catalogue_start + catalogue_blocks)
//!   88    16  uuid (seeds every other block's checksum, see `StoreId`)
//!  104     8  created (seconds since the epoch)
//!  112  3984  reserved (0)
//! ```
//!
//! The geometry is fully determined by `total_blocks` and `extent_blocks`
//! ([`Superblock::new`]); the decoder recomputes it and refuses a
//! superblock whose layout fields disagree.

use super::bitmap::BITS_PER_BLOCK;
use super::block::{
    bad_field, get_array, get_u32, get_u64, magic, put_bytes, put_u32, put_u64, seal, verify,
    Block, FormatError, Result, StoreId, BLOCK_SIZE,
};
use super::extent::ENTRIES_PER_BLOCK;

/// Magic of the superblock.
pub const SUPERBLOCK_MAGIC: u32 = magic(b"PVSB");
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Incompatible features this code understands (none yet).
pub const INCOMPAT_KNOWN: u64 = 0;
/// Read-only-compatible features this code understands (none yet).
pub const RO_COMPAT_KNOWN: u64 = 0;
/// Smallest extent: 1 MiB.
pub const MIN_EXTENT_BLOCKS: u32 = 256;
/// Largest extent: 64 GiB.
pub const MAX_EXTENT_BLOCKS: u32 = 1 << 24;
/// Default extent: 1 GiB.
pub const DEFAULT_EXTENT_BLOCKS: u32 = 1 << 18;
/// Upper bound on VDI registry slots.
pub const MAX_VDI_SLOTS: u32 = 1024;

/// The decoded superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Format version, [`FORMAT_VERSION`].
    pub version: u32,
    /// Compatible features (ignored if unknown).
    pub compat: u64,
    /// Read-only compatible features (unknown ones forbid writing).
    pub ro_compat: u64,
    /// Incompatible features (unknown ones forbid attaching).
    pub incompat: u64,
    /// Device size at format time, in blocks.
    pub total_blocks: u64,
    /// Blocks per extent.
    pub extent_blocks: u32,
    /// Number of whole extents; extent 0 is the system extent.
    pub extent_count: u32,
    /// Number of extent catalogue blocks, starting at block 1.
    pub catalogue_blocks: u32,
    /// Number of VDI registry slots (one block each).
    pub vdi_slots: u32,
    /// Store identity.
    pub uuid: [u8; 16],
    /// Format time, seconds since the epoch.
    pub created: u64,
}

const OFF_VERSION: usize = 16;
const OFF_BLOCK_SIZE: usize = 20;
const OFF_COMPAT: usize = 24;
const OFF_RO_COMPAT: usize = 32;
const OFF_INCOMPAT: usize = 40;
const OFF_TOTAL: usize = 48;
const OFF_EXTENT_BLOCKS: usize = 56;
const OFF_EXTENT_COUNT: usize = 60;
const OFF_CAT_START: usize = 64;
const OFF_CAT_BLOCKS: usize = 72;
const OFF_VDI_SLOTS: usize = 76;
const OFF_REG_START: usize = 80;
const OFF_UUID: usize = 88;
const OFF_CREATED: usize = 104;
const OFF_END: usize = 112;

/// Block number of the first extent catalogue block.
pub const CATALOGUE_START: u64 = 1;

impl Superblock {
    /// Lays out a new store of `total_blocks` blocks cut into extents of
    /// `extent_blocks` blocks. Refuses a device that cannot hold the system
    /// extent plus one more extent, or whose catalogue would not fit in the
    /// system extent.
    pub fn new(
        total_blocks: u64,
        extent_blocks: u32,
        uuid: [u8; 16],
        created: u64,
    ) -> Result<Self> {
        if extent_blocks < MIN_EXTENT_BLOCKS {
            return Err(FormatError::BadGeometry {
                reason: "extent smaller than 1 MiB",
            });
        }
        if extent_blocks > MAX_EXTENT_BLOCKS {
            return Err(FormatError::BadGeometry {
                reason: "extent larger than 64 GiB",
            });
        }
        let count = total_blocks / u64::from(extent_blocks);
        if count < 2 {
            return Err(FormatError::BadGeometry {
                reason: "device smaller than two extents (system extent plus one)",
            });
        }
        let extent_count = u32::try_from(count).map_err(|_| FormatError::BadGeometry {
            reason: "too many extents",
        })?;
        let catalogue_blocks = extent_count.div_ceil(ENTRIES_PER_BLOCK as u32);
        // Superblock + catalogue + at least 16 VDI slots in the system extent.
        let fixed = 1 + catalogue_blocks;
        if fixed + 16 > extent_blocks {
            return Err(FormatError::BadGeometry {
                reason: "extent catalogue does not fit in the system extent",
            });
        }
        let vdi_slots = (extent_blocks - fixed).min(MAX_VDI_SLOTS);
        Ok(Superblock {
            version: FORMAT_VERSION,
            compat: 0,
            ro_compat: 0,
            incompat: 0,
            total_blocks,
            extent_blocks,
            extent_count,
            catalogue_blocks,
            vdi_slots,
            uuid,
            created,
        })
    }

    /// First block of the VDI registry.
    pub fn registry_start(&self) -> u64 {
        CATALOGUE_START + u64::from(self.catalogue_blocks)
    }

    /// Block holding VDI registry slot `slot`.
    pub fn vdi_block(&self, slot: u32) -> u64 {
        self.registry_start() + u64::from(slot)
    }

    /// Catalogue block and entry index that describe `extent`.
    pub fn catalogue_pos(&self, extent: u32) -> (u64, usize) {
        let per = ENTRIES_PER_BLOCK as u32;
        (
            CATALOGUE_START + u64::from(extent / per),
            (extent % per) as usize,
        )
    }

    /// First block of `extent`.
    pub fn extent_start(&self, extent: u32) -> u64 {
        u64::from(extent) * u64::from(self.extent_blocks)
    }

    /// The extent holding `block`, if it is inside one.
    pub fn extent_of(&self, block: u64) -> Option<u32> {
        // `extent_blocks` is never 0 in a decoded superblock; `checked_div`
        // keeps a panic path out of the kernel.
        let e = block.checked_div(u64::from(self.extent_blocks))?;
        if e < u64::from(self.extent_count) {
            u32::try_from(e).ok()
        } else {
            None
        }
    }

    /// Number of bitmap blocks at the head of each non-system extent.
    pub fn bitmap_blocks(&self) -> u32 {
        self.extent_blocks.div_ceil(BITS_PER_BLOCK as u32)
    }

    /// Blocks of an extent available for metadata or data.
    pub fn usable_blocks_per_extent(&self) -> u32 {
        self.extent_blocks - self.bitmap_blocks()
    }

    /// Total bytes of the store covered by extents.
    pub fn store_bytes(&self) -> u64 {
        u64::from(self.extent_count) * u64::from(self.extent_blocks) * BLOCK_SIZE as u64
    }

    /// Encodes the superblock into `b`, sealed as block 0.
    pub fn encode(&self, b: &mut Block) {
        *b = [0u8; BLOCK_SIZE];
        put_u32(b, OFF_VERSION, self.version);
        put_u32(b, OFF_BLOCK_SIZE, BLOCK_SIZE as u32);
        put_u64(b, OFF_COMPAT, self.compat);
        put_u64(b, OFF_RO_COMPAT, self.ro_compat);
        put_u64(b, OFF_INCOMPAT, self.incompat);
        put_u64(b, OFF_TOTAL, self.total_blocks);
        put_u32(b, OFF_EXTENT_BLOCKS, self.extent_blocks);
        put_u32(b, OFF_EXTENT_COUNT, self.extent_count);
        put_u64(b, OFF_CAT_START, CATALOGUE_START);
        put_u32(b, OFF_CAT_BLOCKS, self.catalogue_blocks);
        put_u32(b, OFF_VDI_SLOTS, self.vdi_slots);
        put_u64(b, OFF_REG_START, self.registry_start());
        put_bytes(b, OFF_UUID, &self.uuid);
        put_u64(b, OFF_CREATED, self.created);
        seal(b, StoreId::PLAIN, SUPERBLOCK_MAGIC, 0);
    }

    /// Decodes and validates block 0.
    pub fn decode(b: &Block) -> Result<Self> {
        verify(b, StoreId::PLAIN, SUPERBLOCK_MAGIC, 0)?;
        let version = get_u32(b, OFF_VERSION);
        if version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion { version });
        }
        let incompat = get_u64(b, OFF_INCOMPAT);
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(FormatError::UnknownIncompat {
                flags: incompat & !INCOMPAT_KNOWN,
            });
        }
        if b.get(OFF_END..).unwrap_or(&[]).iter().any(|&c| c != 0) {
            return Err(bad_field(0, "superblock reserved bytes", 0));
        }
        let bs = get_u32(b, OFF_BLOCK_SIZE);
        if bs as usize != BLOCK_SIZE {
            return Err(bad_field(0, "block size", bs.into()));
        }
        let total = get_u64(b, OFF_TOTAL);
        let eb = get_u32(b, OFF_EXTENT_BLOCKS);
        let uuid = get_array::<16>(b, OFF_UUID);
        let created = get_u64(b, OFF_CREATED);
        let mut sb = Superblock::new(total, eb, uuid, created)
            .map_err(|_| bad_field(0, "geometry", u64::from(eb)))?;
        sb.compat = get_u64(b, OFF_COMPAT);
        sb.ro_compat = get_u64(b, OFF_RO_COMPAT);
        sb.incompat = incompat;
        let checks: [(&'static str, u64, u64); 5] = [
            (
                "extent count",
                get_u32(b, OFF_EXTENT_COUNT).into(),
                sb.extent_count.into(),
            ),
            (
                "catalogue start",
                get_u64(b, OFF_CAT_START),
                CATALOGUE_START,
            ),
            (
                "catalogue size",
                get_u32(b, OFF_CAT_BLOCKS).into(),
                sb.catalogue_blocks.into(),
            ),
            (
                "VDI slot count",
                get_u32(b, OFF_VDI_SLOTS).into(),
                sb.vdi_slots.into(),
            ),
            (
                "registry start",
                get_u64(b, OFF_REG_START),
                sb.registry_start(),
            ),
        ];
        for (field, found, want) in checks {
            if found != want {
                return Err(bad_field(0, field, found));
            }
        }
        Ok(sb)
    }

    /// The identity every other metadata block's checksum is bound to.
    pub fn store_id(&self) -> StoreId {
        StoreId::from_uuid(&self.uuid)
    }

    /// True if this code may modify the store (no unknown ro_compat bits).
    pub fn writable(&self) -> bool {
        self.ro_compat & !RO_COMPAT_KNOWN == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock::new(10_000, 256, [7u8; 16], 1_700_000_000).unwrap()
    }

    #[test]
    fn round_trip() {
        let sb = sample();
        assert_eq!(sb.extent_count, 39);
        assert_eq!(sb.catalogue_blocks, 1);
        assert_eq!(sb.vdi_slots, 254);
        let mut b = [0u8; BLOCK_SIZE];
        sb.encode(&mut b);
        assert_eq!(Superblock::decode(&b), Ok(sb));
    }

    #[test]
    fn geometry_limits() {
        assert!(Superblock::new(511, 256, [0; 16], 0).is_err());
        assert!(Superblock::new(512, 256, [0; 16], 0).is_ok());
        assert!(Superblock::new(1 << 20, 255, [0; 16], 0).is_err());
        // 1 MiB extents on a 4 TiB device: catalogue would not fit.
        assert!(Superblock::new(1 << 30, 256, [0; 16], 0).is_err());
        let big = Superblock::new(1 << 32, DEFAULT_EXTENT_BLOCKS, [0; 16], 0).unwrap();
        assert_eq!(big.extent_count, 16384);
        assert_eq!(big.vdi_slots, MAX_VDI_SLOTS);
        assert_eq!(big.bitmap_blocks(), 9);
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        sample().encode(&mut b);
        for i in 0..BLOCK_SIZE {
            let mut c = b;
            c[i] ^= 1;
            assert!(Superblock::decode(&c).is_err(), "byte {}", i);
        }
    }

    #[test]
    fn version_and_features() {
        let mut sb = sample();
        sb.incompat = 1 << 5;
        let mut b = [0u8; BLOCK_SIZE];
        sb.encode(&mut b);
        assert_eq!(
            Superblock::decode(&b),
            Err(FormatError::UnknownIncompat { flags: 1 << 5 })
        );
        let mut sb = sample();
        sb.version = 2;
        sb.encode(&mut b);
        assert_eq!(
            Superblock::decode(&b),
            Err(FormatError::UnsupportedVersion { version: 2 })
        );
        let mut sb = sample();
        sb.compat = 0xff;
        sb.ro_compat = 1;
        sb.encode(&mut b);
        let d = Superblock::decode(&b).unwrap();
        assert!(!d.writable());
        assert_eq!(d.compat, 0xff);
    }

    #[test]
    fn inconsistent_layout_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        sample().encode(&mut b);
        put_u32(&mut b, OFF_VDI_SLOTS, 3);
        seal(&mut b, StoreId::PLAIN, SUPERBLOCK_MAGIC, 0);
        assert!(matches!(
            Superblock::decode(&b),
            Err(FormatError::BadField {
                field: "VDI slot count",
                ..
            })
        ));
    }

    #[test]
    fn extent_helpers() {
        let sb = sample();
        assert_eq!(sb.extent_of(0), Some(0));
        assert_eq!(sb.extent_of(256), Some(1));
        assert_eq!(sb.extent_of(39 * 256), None);
        assert_eq!(sb.extent_start(3), 768);
        assert_eq!(sb.catalogue_pos(0), (1, 0));
        assert_eq!(sb.vdi_block(0), 2);
    }
}
