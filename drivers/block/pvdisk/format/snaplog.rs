// SPDX-License-Identifier: GPL-2.0

//! Snapshot-log blocks. A VDI's snapshots form a chain of log blocks in
//! metadata extents, newest first, linked through `prev`. Each block holds
//! up to 63 entries; entry `i` is snapshot number `first_seq + i` (1-based
//! over the VDI's life). Log blocks are copied on write: appending or
//! changing an entry writes a new head block (and copies of any newer
//! blocks), then the VDI record is rewritten to point at it.
//!
//! ```text
//!  log block:  off  0  header (magic "PVSL")
//!              off 16  u64 prev: older log block, 0 = none
//!              off 24  u64 VDI id
//!              off 32  u32 count of entries (0..=63)
//!              off 36  u32 reserved (0)
//!              off 40  u64 first_seq: number of entry 0
//!              off 48  63 x 64-byte entries
//!  entry:      off  0  u64 root: radix root of the snapshot (immutable)
//!              off  8  u64 timestamp, seconds since the epoch
//!              off 16  u32 flags (bit 0 deleted)
//!              off 20  u32 reserved (0)
//!              off 24  40 bytes label, UTF-8, NUL padded ("" = none)
//! ```
//! Unused entries are all zero.

use super::block::{
    bad_field, check_name, get_array, get_u32, get_u64, magic, name_str, put_bytes, put_u32,
    put_u64, seal, verify, Block, Result, StoreId, BLOCK_SIZE,
};

/// Magic of a snapshot-log block.
pub const SNAPLOG_MAGIC: u32 = magic(b"PVSL");
/// Offset of the first entry.
pub const ENTRIES_OFFSET: usize = 48;
/// Size of an entry.
pub const ENTRY_SIZE: usize = 64;
/// Entries per log block.
pub const ENTRIES_PER_BLOCK: usize = (BLOCK_SIZE - ENTRIES_OFFSET) / ENTRY_SIZE;
/// Longest label, in bytes.
pub const LABEL_LEN: usize = 40;
/// The snapshot has been deleted; GC reclaims its blocks.
pub const SNAP_DELETED: u32 = 1;

const OFF_PREV: usize = 16;
const OFF_VDI: usize = 24;
const OFF_COUNT: usize = 32;
const OFF_RSVD: usize = 36;
const OFF_FIRST: usize = 40;

/// One snapshot in a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapEntry {
    /// Radix root of the snapshot.
    pub root: u64,
    /// Snapshot time, seconds since the epoch.
    pub timestamp: u64,
    /// `SNAP_*` flags.
    pub flags: u32,
    /// NUL-padded UTF-8 label.
    pub label: [u8; LABEL_LEN],
}

impl Default for SnapEntry {
    fn default() -> Self {
        SnapEntry {
            root: 0,
            timestamp: 0,
            flags: 0,
            label: [0; LABEL_LEN],
        }
    }
}

impl SnapEntry {
    /// The label ("" if none).
    pub fn label(&self) -> &str {
        name_str(&self.label)
    }

    /// True if deleted.
    pub fn is_deleted(&self) -> bool {
        self.flags & SNAP_DELETED != 0
    }
}

/// A decoded snapshot-log block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapLogBlock {
    /// Older log block, 0 if none.
    pub prev: u64,
    /// VDI this log belongs to.
    pub vdi: u64,
    /// Number of used entries.
    pub count: u32,
    /// Snapshot number of `entries[0]`.
    pub first_seq: u64,
    /// Entries; only the first `count` are meaningful.
    pub entries: [SnapEntry; ENTRIES_PER_BLOCK],
}

impl SnapLogBlock {
    /// An empty log block.
    pub fn new(vdi: u64, prev: u64, first_seq: u64) -> Self {
        SnapLogBlock {
            prev,
            vdi,
            count: 0,
            first_seq,
            entries: [SnapEntry::default(); ENTRIES_PER_BLOCK],
        }
    }

    /// The used entries.
    pub fn used(&self) -> &[SnapEntry] {
        self.entries.get(..self.count as usize).unwrap_or(&[])
    }

    /// Appends an entry; false if the block is full.
    pub fn push(&mut self, e: SnapEntry) -> bool {
        match self.entries.get_mut(self.count as usize) {
            Some(slot) => {
                *slot = e;
                self.count += 1;
                true
            }
            None => false,
        }
    }

    /// Encodes into `b`, sealed as block `blocknr` of store `id`.
    pub fn encode(&self, b: &mut Block, id: StoreId, blocknr: u64) {
        *b = [0u8; BLOCK_SIZE];
        put_u64(b, OFF_PREV, self.prev);
        put_u64(b, OFF_VDI, self.vdi);
        put_u32(b, OFF_COUNT, self.count);
        put_u64(b, OFF_FIRST, self.first_seq);
        for (i, e) in self.used().iter().enumerate() {
            let off = ENTRIES_OFFSET + i * ENTRY_SIZE;
            put_u64(b, off, e.root);
            put_u64(b, off + 8, e.timestamp);
            put_u32(b, off + 16, e.flags);
            put_bytes(b, off + 24, &e.label);
        }
        seal(b, id, SNAPLOG_MAGIC, blocknr);
    }

    /// Decodes log block `blocknr` of store `id`.
    pub fn decode(b: &Block, id: StoreId, blocknr: u64) -> Result<Self> {
        let mut out = SnapLogBlock::new(0, 0, 0);
        Self::decode_into(b, id, blocknr, &mut out)?;
        Ok(out)
    }

    /// [`SnapLogBlock::decode`] into `out`, which holds garbage on error:
    /// for callers (the kernel) that must not put 4 KiB on the stack.
    pub fn decode_into(b: &Block, id: StoreId, blocknr: u64, out: &mut Self) -> Result<()> {
        verify(b, id, SNAPLOG_MAGIC, blocknr)?;
        let count = get_u32(b, OFF_COUNT);
        if count == 0 || count as usize > ENTRIES_PER_BLOCK {
            return Err(bad_field(blocknr, "snapshot-log count", count.into()));
        }
        if get_u32(b, OFF_RSVD) != 0 {
            return Err(bad_field(blocknr, "snapshot-log reserved", 0));
        }
        let first_seq = get_u64(b, OFF_FIRST);
        if first_seq == 0 {
            return Err(bad_field(blocknr, "snapshot-log first number", 0));
        }
        let vdi = get_u64(b, OFF_VDI);
        if vdi == 0 {
            return Err(bad_field(blocknr, "snapshot-log VDI id", 0));
        }
        let prev = get_u64(b, OFF_PREV);
        if prev == blocknr {
            return Err(bad_field(blocknr, "snapshot-log prev", prev));
        }
        out.vdi = vdi;
        out.prev = prev;
        out.first_seq = first_seq;
        out.count = count;
        for (i, e) in out.entries.iter_mut().enumerate() {
            let off = ENTRIES_OFFSET + i * ENTRY_SIZE;
            if i >= count as usize {
                *e = SnapEntry::default();
                let raw = b.get(off..off + ENTRY_SIZE).unwrap_or(&[]);
                if raw.iter().any(|&c| c != 0) {
                    return Err(bad_field(blocknr, "unused snapshot-log entry", i as u64));
                }
                continue;
            }
            e.root = get_u64(b, off);
            e.timestamp = get_u64(b, off + 8);
            e.flags = get_u32(b, off + 16);
            e.label = get_array::<LABEL_LEN>(b, off + 24);
            if e.root == 0 || e.root & (1 << 63) != 0 {
                return Err(bad_field(blocknr, "snapshot root", e.root));
            }
            if e.flags & !SNAP_DELETED != 0 {
                return Err(bad_field(blocknr, "snapshot flags", e.flags.into()));
            }
            if get_u32(b, off + 20) != 0 {
                return Err(bad_field(blocknr, "snapshot reserved", i as u64));
            }
            check_name(blocknr, "snapshot label", &e.label)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::block::make_name;
    use super::*;

    const ID: StoreId = StoreId::PLAIN;

    fn sample() -> SnapLogBlock {
        let mut l = SnapLogBlock::new(4, 900, 64);
        assert!(l.push(SnapEntry {
            root: 1000,
            timestamp: 1_700_000_000,
            flags: 0,
            label: make_name("before-upgrade").unwrap(),
        }));
        assert!(l.push(SnapEntry {
            root: 1001,
            timestamp: 1_700_000_100,
            flags: SNAP_DELETED,
            label: [0; LABEL_LEN],
        }));
        l
    }

    #[test]
    fn round_trip() {
        assert_eq!(ENTRIES_PER_BLOCK, 63);
        let l = sample();
        let mut b = [0u8; BLOCK_SIZE];
        l.encode(&mut b, ID, 901);
        let d = SnapLogBlock::decode(&b, ID, 901).unwrap();
        assert_eq!(d, l);
        assert_eq!(d.used()[0].label(), "before-upgrade");
        assert!(d.used()[1].is_deleted());
    }

    #[test]
    fn full_block() {
        let mut l = SnapLogBlock::new(1, 0, 1);
        for i in 0..ENTRIES_PER_BLOCK {
            assert!(l.push(SnapEntry {
                root: 10 + i as u64,
                ..Default::default()
            }));
        }
        assert!(!l.push(SnapEntry::default()));
        let mut b = [0u8; BLOCK_SIZE];
        l.encode(&mut b, ID, 5);
        assert_eq!(SnapLogBlock::decode(&b, ID, 5), Ok(l));
    }

    #[test]
    fn every_byte_flip_refused() {
        let mut b = [0u8; BLOCK_SIZE];
        sample().encode(&mut b, ID, 901);
        for i in 0..BLOCK_SIZE {
            let mut x = b;
            x[i] ^= 0xff;
            assert!(SnapLogBlock::decode(&x, ID, 901).is_err(), "byte {}", i);
        }
    }
}
