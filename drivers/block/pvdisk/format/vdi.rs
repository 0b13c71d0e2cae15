// SPDX-License-Identifier: GPL-2.0

//! VDI records: the registry is `vdi_slots` blocks right after the extent
//! catalogue, one block per VDI. A slot with id 0 is empty (and then every
//! other field is zero).
//!
//! ```text
//!  off  size  field
//!    0    16  header (magic "PVVD")
//!   16     8  id (unique, never reused; 0 = empty slot)
//!   24     4  flags (bit 0 deleted)
//!   28     4  radix tree height (1..=6)
//!   32     8  size in bytes (multiple of 4096, fits the height)
//!   40     8  root: block of the writable radix root
//!   48     8  snapshot log head: newest snapshot-log block, 0 = none
//!   56     8  snapshot count (entries in the log)
//!   64     8  parent VDI id (clone), 0 = none
//!   72     8  parent snapshot number in the parent's log (1-based)
//!   80     8  attached_by: host id that has the VDI attached, 0 = none
//!   88     8  created (seconds since the epoch)
//!   96     8  generation, bumped on every rewrite of the record
//!  104    24  reserved (0)
//!  128    64  name, UTF-8, NUL padded
//! ```

use super::block::{
    bad_field, check_name, get_array, get_u32, get_u64, magic, name_str, put_bytes, put_u32,
    put_u64, seal, verify, Block, Result, StoreId, BLOCK_SIZE,
};
use super::radix::{capacity_blocks, MAX_HEIGHT};

/// Magic of a VDI record block.
pub const VDI_MAGIC: u32 = magic(b"PVVD");
/// Longest VDI name, in bytes.
pub const VDI_NAME_LEN: usize = 64;
/// The VDI has been deleted; GC reclaims it.
pub const VDI_DELETED: u32 = 1;
/// Flags this code knows.
pub const VDI_FLAGS_KNOWN: u32 = VDI_DELETED;

const OFF_ID: usize = 16;
const OFF_FLAGS: usize = 24;
const OFF_HEIGHT: usize = 28;
const OFF_SIZE: usize = 32;
const OFF_ROOT: usize = 40;
const OFF_LOG: usize = 48;
const OFF_SNAPS: usize = 56;
const OFF_PARENT: usize = 64;
const OFF_PARENT_SEQ: usize = 72;
const OFF_ATTACHED: usize = 80;
const OFF_CREATED: usize = 88;
const OFF_GEN: usize = 96;
const OFF_RSVD: usize = 104;
const RSVD_LEN: usize = 24;
const OFF_NAME: usize = 128;
const END: usize = OFF_NAME + VDI_NAME_LEN;

/// A decoded VDI record (or an empty slot when `id == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdiRecord {
    /// VDI id, 0 for an empty slot.
    pub id: u64,
    /// `VDI_*` flags.
    pub flags: u32,
    /// Radix tree height.
    pub height: u32,
    /// Size in bytes.
    pub size: u64,
    /// Root radix node.
    pub root: u64,
    /// Newest snapshot-log block, 0 if none.
    pub snaplog: u64,
    /// Number of snapshots in the log.
    pub snap_count: u64,
    /// Parent VDI of a clone, 0 if none.
    pub parent: u64,
    /// Snapshot number in the parent's log.
    pub parent_seq: u64,
    /// Host holding the VDI attached, 0 if none.
    pub attached_by: u64,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Rewrite counter.
    pub generation: u64,
    /// NUL-padded UTF-8 name.
    pub name: [u8; VDI_NAME_LEN],
}

impl Default for VdiRecord {
    fn default() -> Self {
        VdiRecord {
            id: 0,
            flags: 0,
            height: 0,
            size: 0,
            root: 0,
            snaplog: 0,
            snap_count: 0,
            parent: 0,
            parent_seq: 0,
            attached_by: 0,
            created: 0,
            generation: 0,
            name: [0; VDI_NAME_LEN],
        }
    }
}

impl VdiRecord {
    /// True for an empty registry slot.
    pub fn is_empty(&self) -> bool {
        self.id == 0
    }

    /// True if deleted (awaiting GC).
    pub fn is_deleted(&self) -> bool {
        self.flags & VDI_DELETED != 0
    }

    /// The name as a string.
    pub fn name(&self) -> &str {
        name_str(&self.name)
    }

    /// Encodes into `b`, sealed as block `blocknr` of store `id`.
    pub fn encode(&self, b: &mut Block, id: StoreId, blocknr: u64) {
        *b = [0u8; BLOCK_SIZE];
        put_u64(b, OFF_ID, self.id);
        put_u32(b, OFF_FLAGS, self.flags);
        put_u32(b, OFF_HEIGHT, self.height);
        put_u64(b, OFF_SIZE, self.size);
        put_u64(b, OFF_ROOT, self.root);
        put_u64(b, OFF_LOG, self.snaplog);
        put_u64(b, OFF_SNAPS, self.snap_count);
        put_u64(b, OFF_PARENT, self.parent);
        put_u64(b, OFF_PARENT_SEQ, self.parent_seq);
        put_u64(b, OFF_ATTACHED, self.attached_by);
        put_u64(b, OFF_CREATED, self.created);
        put_u64(b, OFF_GEN, self.generation);
        put_bytes(b, OFF_NAME, &self.name);
        seal(b, id, VDI_MAGIC, blocknr);
    }

    /// Decodes VDI registry block `blocknr` of store `id`.
    pub fn decode(b: &Block, id: StoreId, blocknr: u64) -> Result<Self> {
        verify(b, id, VDI_MAGIC, blocknr)?;
        let r = VdiRecord {
            id: get_u64(b, OFF_ID),
            flags: get_u32(b, OFF_FLAGS),
            height: get_u32(b, OFF_HEIGHT),
            size: get_u64(b, OFF_SIZE),
            root: get_u64(b, OFF_ROOT),
            snaplog: get_u64(b, OFF_LOG),
            snap_count: get_u64(b, OFF_SNAPS),
            parent: get_u64(b, OFF_PARENT),
            parent_seq: get_u64(b, OFF_PARENT_SEQ),
            attached_by: get_u64(b, OFF_ATTACHED),
            created: get_u64(b, OFF_CREATED),
            generation: get_u64(b, OFF_GEN),
            name: get_array::<VDI_NAME_LEN>(b, OFF_NAME),
        };
        let rsvd = b.get(OFF_RSVD..OFF_RSVD + RSVD_LEN).unwrap_or(&[]);
        if rsvd.iter().any(|&c| c != 0) || b.get(END..).unwrap_or(&[]).iter().any(|&c| c != 0) {
            return Err(bad_field(blocknr, "VDI reserved bytes", 0));
        }
        if r.id == 0 {
            if r != VdiRecord::default() {
                return Err(bad_field(blocknr, "empty VDI slot contents", 0));
            }
            return Ok(r);
        }
        if r.flags & !VDI_FLAGS_KNOWN != 0 {
            return Err(bad_field(blocknr, "VDI flags", r.flags.into()));
        }
        if r.height == 0 || r.height > MAX_HEIGHT {
            return Err(bad_field(blocknr, "VDI tree height", r.height.into()));
        }
        if r.size & (BLOCK_SIZE as u64 - 1) != 0
            || r.size / BLOCK_SIZE as u64 > capacity_blocks(r.height)
        {
            return Err(bad_field(blocknr, "VDI size", r.size));
        }
        if r.root == 0 {
            return Err(bad_field(blocknr, "VDI root", 0));
        }
        if (r.snaplog == 0) != (r.snap_count == 0) {
            return Err(bad_field(blocknr, "VDI snapshot count", r.snap_count));
        }
        if (r.parent == 0) != (r.parent_seq == 0) || r.parent == r.id {
            return Err(bad_field(blocknr, "VDI parent", r.parent));
        }
        check_name(blocknr, "VDI name", &r.name)?;
        if r.name().is_empty() {
            return Err(bad_field(blocknr, "VDI name", 0));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::make_name;
    use super::*;

    const ID: StoreId = StoreId::PLAIN;

    pub(crate) fn sample() -> VdiRecord {
        VdiRecord {
            id: 3,
            flags: 0,
            height: 2,
            size: 1 << 29,
            root: 777,
            snaplog: 778,
            snap_count: 4,
            parent: 1,
            parent_seq: 2,
            attached_by: 0,
            created: 1_700_000_000,
            generation: 9,
            name: make_name("golden").unwrap(),
        }
    }

    #[test]
    fn round_trip() {
        let r = sample();
        let mut b = [0u8; BLOCK_SIZE];
        r.encode(&mut b, ID, 12);
        let d = VdiRecord::decode(&b, ID, 12).unwrap();
        assert_eq!(d, r);
        assert_eq!(d.name(), "golden");
        let e = VdiRecord::default();
        e.encode(&mut b, ID, 13);
        assert!(VdiRecord::decode(&b, ID, 13).unwrap().is_empty());
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        sample().encode(&mut b, ID, 5);
        for i in 0..BLOCK_SIZE {
            let mut x = b;
            x[i] ^= 0x41;
            assert!(VdiRecord::decode(&x, ID, 5).is_err(), "byte {}", i);
        }
    }

    #[test]
    fn invalid_fields_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        let cases: [fn(&mut VdiRecord); 7] = [
            |r| r.height = 0,
            |r| r.height = MAX_HEIGHT + 1,
            |r| r.size = 4095,
            |r| r.size = (capacity_blocks(2) + 1) * 4096,
            |r| r.root = 0,
            |r| r.flags = 0x80,
            |r| r.name = [0; VDI_NAME_LEN],
        ];
        for f in cases {
            let mut r = sample();
            f(&mut r);
            r.encode(&mut b, ID, 5);
            assert!(VdiRecord::decode(&b, ID, 5).is_err(), "{:?}", r);
        }
    }
}
