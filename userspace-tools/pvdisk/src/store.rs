// SPDX-License-Identifier: GPL-2.0

//! An open pvdisk store: superblock, extent catalogue, VDI registry and
//! the holds they record; opening (with the store lock), formatting and
//! reading the tables. The layers on top of it live in their own files:
//! the allocator (alloc.rs), the radix node cache (cache.rs) and the
//! commit protocol (commit.rs).

use crate::alloc::ExtentBitmap;
use crate::cache::CachedNode;
use crate::dev::{BlockIo, Dev};
use crate::error::{Error, Result};
use crate::format::extent::{CatalogueBlock, ExtentEntry, ExtentKind};
use crate::format::superblock::{Superblock, CATALOGUE_START, SUPERBLOCK_MAGIC};
use crate::format::vdi::VdiRecord;
use crate::format::{block, Block, StoreId, BLOCK_SIZE};
use crate::journal::{Journal, JournalHandle};
use crate::units::fmt_size;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// How a command means to use a store (see [`Store::open_for`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// The command changes the store.
    pub write: bool,
    /// Wait for another pvdisk command instead of failing.
    pub wait: bool,
    /// Act even though a driver holds the store.
    pub force: bool,
}

/// What [`Store::open_for_change`] found.
#[derive(Debug)]
pub enum Opened {
    /// The store, open for the change, and the holds `force` overrides.
    Offline(Box<Store>, Vec<String>),
    /// A block device the kernel has claimed: nothing is open.
    Claimed,
}

/// An open store.
#[derive(Debug)]
pub struct Store {
    /// The device.
    pub(crate) dev: Box<dyn BlockIo>,
    /// Its superblock.
    pub(crate) sb: Superblock,
    /// The identity its metadata checksums are bound to.
    pub(crate) id: StoreId,
    /// Catalogue entry of every extent.
    pub(crate) extents: Vec<ExtentEntry>,
    /// VDI registry, by slot. A slot that failed to decode reads as
    /// empty here and is listed in `bad_slots`.
    pub(crate) vdis: Vec<VdiRecord>,
    /// Registry slots whose block is damaged, with the reason: they cost
    /// only their own VDI, are never reused, and make check fail.
    pub(crate) bad_slots: Vec<(u32, String)>,
    pub(crate) cat_dirty: BTreeSet<u64>,
    pub(crate) bitmaps: BTreeMap<u32, ExtentBitmap>,
    pub(crate) vdi_dirty: BTreeSet<u32>,
    pub(crate) nodes: HashMap<u64, CachedNode>,
    pub(crate) pending_free: Vec<u64>,
    pub(crate) durable: bool,
    pub(crate) use_reserve: bool,
}

impl Store {
    /// Its superblock.
    pub fn sb(&self) -> &Superblock {
        &self.sb
    }

    /// The device it is on.
    pub fn dev(&self) -> &dyn BlockIo {
        &*self.dev
    }

    /// Starts recording every block write and sync (crash tests); the
    /// handle takes the record.
    pub fn start_journal(&mut self) -> JournalHandle {
        let inner = std::mem::replace(&mut self.dev, Box::new(Closed));
        let (j, handle) = Journal::new(inner);
        self.dev = Box::new(j);
        handle
    }

    /// The VDI registry by slot (damaged slots read as empty).
    pub fn records(&self) -> &[VdiRecord] {
        &self.vdis
    }

    /// Registry slots whose block is damaged, with the reason.
    pub fn bad_slots(&self) -> &[(u32, String)] {
        &self.bad_slots
    }

    /// Writes a new, empty store on `path` with extents of `extent_bytes`
    /// (by default scaled to the device, [`default_extent_bytes`]).
    /// Refuses a device that already holds a pvdisk store, a file system,
    /// a volume or a partition table unless `force`, and a device too
    /// small to hold a VDI block.
    pub fn format(path: &Path, extent_bytes: Option<u64>, force: bool) -> Result<Store> {
        let dev = Dev::open(path, true, false)?;
        let mut b = [0u8; BLOCK_SIZE];
        let bytes = dev.blocks() * BLOCK_SIZE as u64;
        let mut head = vec![0u8; crate::signature::HEAD_BYTES.min(bytes as usize)];
        dev.read_blocks(0, &mut head)?;
        if let Some(what) = crate::signature::recognise(&head) {
            if !force {
                return Err(Error::Refused(format!(
                    "{}: already holds {} (use --force to overwrite it)",
                    path.display(),
                    what
                )));
            }
        }
        let extent_bytes = extent_bytes.unwrap_or_else(|| default_extent_bytes(bytes));
        if !extent_bytes.is_multiple_of(BLOCK_SIZE as u64) {
            return Err(Error::msg(
                "extent size must be a multiple of 4096 bytes".to_string(),
            ));
        }
        let extent_blocks = u32::try_from(extent_bytes / BLOCK_SIZE as u64)
            .map_err(|_| Error::msg("extent size too large".to_string()))?;
        let sb = Superblock::new(dev.blocks(), extent_blocks, make_uuid(), now()).map_err(|e| {
            Error::msg(format!(
                "{}: cannot format {} with {} extents: {}",
                path.display(),
                fmt_size(bytes),
                fmt_size(extent_bytes),
                e
            ))
        })?;
        if sb.extent_count < 3 {
            return Err(Error::msg(format!(
                "{}: {} holds only {} extents of {}, and a store needs three (system, metadata, data) to hold a VDI block; use a smaller --extent-size",
                path.display(),
                fmt_size(bytes),
                sb.extent_count,
                fmt_size(extent_bytes)
            )));
        }
        // Zap the old superblock first: a half-written format is not a store.
        dev.write_block(0, &[0u8; BLOCK_SIZE])?;
        dev.sync()?;
        let empty = VdiRecord::default();
        let id = sb.store_id();
        for slot in 0..sb.vdi_slots {
            empty.encode(&mut b, id, sb.vdi_block(slot));
            dev.write_block(sb.vdi_block(slot), &b)?;
        }
        let mut extents = vec![ExtentEntry::FREE; sb.extent_count as usize];
        extents[0].kind = ExtentKind::System;
        let mut store = Store {
            dev: Box::new(dev),
            sb,
            id,
            extents,
            vdis: vec![empty; sb.vdi_slots as usize],
            bad_slots: Vec::new(),
            cat_dirty: (0..u64::from(sb.catalogue_blocks))
                .map(|i| CATALOGUE_START + i)
                .collect(),
            bitmaps: BTreeMap::new(),
            vdi_dirty: BTreeSet::new(),
            nodes: HashMap::new(),
            pending_free: Vec::new(),
            durable: true,
            use_reserve: false,
        };
        store.write_catalogue()?;
        store.dev.sync()?;
        sb.encode(&mut b);
        store.dev.write_block(0, &b)?;
        store.dev.sync()?;
        Ok(store)
    }

    /// Opens an existing store, read-only unless `write`; fails at once if
    /// another process has it locked.
    pub fn open(path: &Path, write: bool) -> Result<Store> {
        Store::open_wait(path, write, false)
    }

    /// Opens a store the way `access` says: the one place that decides
    /// the lock (shared to read, exclusive to change), `O_EXCL` on a block
    /// device opened for writing (a live driver or a mount refuses it),
    /// and the holds policy (a change is refused while a driver holds
    /// anything, unless `force`). Returns the store and the holds that
    /// `force` overrides, for the caller to report.
    ///
    /// A change to a block device the kernel has claimed (a powered disk's
    /// driver has it open exclusively) is refused even with `force`; the
    /// refusal names the holds, read through a plain read-only open, so it
    /// says which host holds what.
    ///
    /// This is the offline path: the tool acts on the store directly. The
    /// live path, asking the driver through its ioctls, starts from
    /// [`Store::open_for_change`], which tells a device the kernel has
    /// claimed apart (`crate::live`).
    pub fn open_for(path: &Path, access: Access) -> Result<(Store, Vec<String>)> {
        match Store::open_for_change(path, access)? {
            Opened::Offline(store, overridden) => Ok((*store, overridden)),
            Opened::Claimed => Err(claimed(path, access)),
        }
    }

    /// [`Store::open_for`], but a block device the kernel refuses to open
    /// exclusively (`O_EXCL` gives `EBUSY`: a driver or a mount has
    /// claimed it) is [`Opened::Claimed`] rather than an error, so that
    /// the caller can look for a powered disk of the store.
    pub fn open_for_change(path: &Path, access: Access) -> Result<Opened> {
        if !access.write {
            let store = Store::open_wait(path, false, access.wait)?;
            return Ok(Opened::Offline(Box::new(store), Vec::new()));
        }
        let Some(dev) = Dev::open_unless_claimed(path, true, access.wait)? else {
            return Ok(Opened::Claimed);
        };
        let store = Store::on_dev(dev, path, true)?;
        let overridden = store.check_holds(access.force)?;
        Ok(Opened::Offline(Box::new(store), overridden))
    }

    /// Opens an existing store, read-only unless `write`, with a shared
    /// (read) or exclusive (write) lock; if `wait`, waits for a busy store
    /// instead of failing.
    pub fn open_wait(path: &Path, write: bool, wait: bool) -> Result<Store> {
        Store::on_dev(Dev::open(path, write, wait)?, path, write)
    }

    /// Reads the superblock and the tables of the store on `dev`, opened
    /// from `path`, for writing if `write`.
    fn on_dev(dev: Dev, path: &Path, write: bool) -> Result<Store> {
        let mut b = [0u8; BLOCK_SIZE];
        if dev.blocks() == 0 {
            return Err(Error::msg(format!(
                "{}: empty device, not a pvdisk store",
                path.display()
            )));
        }
        dev.read_block(0, &mut b)?;
        if block::block_magic(&b) != SUPERBLOCK_MAGIC {
            return Err(Error::msg(format!(
                "{}: not a pvdisk store (no superblock magic in block 0)",
                path.display()
            )));
        }
        let sb = Superblock::decode(&b)?;
        let id = sb.store_id();
        if dev.blocks() < sb.total_blocks {
            return Err(Error::msg(format!(
                "{}: device has {} blocks but the store was formatted with {}",
                path.display(),
                dev.blocks(),
                sb.total_blocks
            )));
        }
        if write && !sb.writable() {
            return Err(Error::msg(format!(
                "block 0: unknown read-only-compatible features {:#x}, refusing to write",
                sb.ro_compat
            )));
        }
        let (extents, vdis, bad_slots) = read_tables(&dev, &sb)?;
        Ok(Store {
            dev: Box::new(dev),
            sb,
            id,
            extents,
            vdis,
            bad_slots,
            cat_dirty: BTreeSet::new(),
            bitmaps: BTreeMap::new(),
            vdi_dirty: BTreeSet::new(),
            nodes: HashMap::new(),
            pending_free: Vec::new(),
            durable: true,
            use_reserve: false,
        })
    }

    /// Turns fsync at commit points on or off (tests on temp files).
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    // ---- holds ------------------------------------------------------

    /// The distinct hosts that hold anything on the store (VDIs attached,
    /// extents owned), in ascending order.
    pub fn holders(&self) -> Vec<u64> {
        let mut hosts: BTreeSet<u64> = self
            .vdis
            .iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.attached_by)
            .collect();
        hosts.extend(self.extents.iter().map(|e| e.owner));
        hosts.remove(&0);
        hosts.into_iter().collect()
    }

    /// Describes every hold on the store: one sentence per attached VDI,
    /// then one per host owning extents, e.g. `VDI 'v' is attached by
    /// host 42 (this host)`, `extents 3-5, 9 are held by host 42`. A host
    /// is marked `(this host)` when its id is this host's
    /// ([`crate::host::this_host`]).
    pub fn holds(&self) -> Vec<String> {
        let me = crate::host::this_host();
        let mut out = Vec::new();
        for r in self
            .vdis
            .iter()
            .filter(|r| !r.is_empty() && r.attached_by != 0)
        {
            out.push(format!(
                "VDI '{}' is attached by {}",
                r.name(),
                crate::host::describe(r.attached_by, me)
            ));
        }
        let mut owned: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        for (i, e) in self.extents.iter().enumerate() {
            if e.owner != 0 {
                owned.entry(e.owner).or_default().push(i as u32);
            }
        }
        for (host, extents) in owned {
            out.push(format!(
                "{} {} held by {}",
                extent_ranges(&extents),
                if extents.len() == 1 { "is" } else { "are" },
                crate::host::describe(host, me)
            ));
        }
        out
    }

    /// Refuses an offline change while a driver holds anything, unless
    /// `force`; returns the holds that `force` overrides, for the caller
    /// to say so.
    pub fn check_holds(&self, force: bool) -> Result<Vec<String>> {
        let holds = self.holds();
        if holds.is_empty() || force {
            return Ok(holds);
        }
        Err(Error::Busy(format!(
            "store is in use: {} (power the disks off first, or use --force)",
            holds_text(&holds)
        )))
    }
}

/// The refusal of a change to a block device the kernel has claimed:
/// with the holds if a plain read-only open can read them, else the
/// device-busy sentence (a mount, or a driver that holds nothing).
pub fn claimed(path: &Path, access: Access) -> Error {
    let holds = Store::open_wait(path, false, access.wait)
        .map(|s| s.holds())
        .unwrap_or_default();
    if holds.is_empty() {
        return Error::Busy(format!(
            "{}: device is busy (held by a driver or a mount); detach it first",
            path.display()
        ));
    }
    Error::Busy(format!(
        "store is in use: {}; the kernel has {} open (power the disks off first{})",
        holds_text(&holds),
        path.display(),
        if access.force {
            "; --force cannot override a device the kernel holds open"
        } else {
            ""
        }
    ))
}

/// Holds as one clause: the first few joined with "; ", then how many
/// more.
fn holds_text(holds: &[String]) -> String {
    const SHOW: usize = 4;
    let mut s = holds
        .iter()
        .take(SHOW)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if holds.len() > SHOW {
        s.push_str(&format!(" and {} more holds", holds.len() - SHOW));
    }
    s
}

/// `extent 3` or `extents 3-5, 9` for extent numbers in ascending order.
pub fn extent_ranges(extents: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&first) = extents.get(i) {
        let mut last = first;
        while extents.get(i + 1) == Some(&(last + 1)) {
            last += 1;
            i += 1;
        }
        parts.push(if last == first {
            first.to_string()
        } else {
            format!("{}-{}", first, last)
        });
        i += 1;
    }
    format!(
        "{} {}",
        if extents.len() == 1 {
            "extent"
        } else {
            "extents"
        },
        parts.join(", ")
    )
}

/// The catalogue and the registry as on disk: extent entries, VDI records
/// by slot, and the slots that failed to decode.
type Tables = (Vec<ExtentEntry>, Vec<VdiRecord>, Vec<(u32, String)>);

/// Reads the catalogue and the registry of the store `sb` describes.
pub(crate) fn read_tables(dev: &dyn BlockIo, sb: &Superblock) -> Result<Tables> {
    let id = sb.store_id();
    let mut b = [0u8; BLOCK_SIZE];
    let mut extents = Vec::with_capacity(sb.extent_count as usize);
    for i in 0..u64::from(sb.catalogue_blocks) {
        let nr = CATALOGUE_START + i;
        dev.read_block(nr, &mut b)?;
        let cat = CatalogueBlock::decode(&b, id, nr)?;
        extents.extend_from_slice(&cat.entries);
    }
    extents.truncate(sb.extent_count as usize);
    if extents.first().map(|e| e.kind) != Some(ExtentKind::System) {
        return Err(Error::msg(format!(
            "block {}: extent 0 is not the system extent",
            CATALOGUE_START
        )));
    }
    if let Some(i) = extents
        .iter()
        .skip(1)
        .position(|e| e.kind == ExtentKind::System)
    {
        return Err(Error::msg(format!(
            "block {}: extent {} claims to be a system extent",
            sb.catalogue_pos(i as u32 + 1).0,
            i + 1
        )));
    }
    let mut raw = vec![0u8; sb.vdi_slots as usize * BLOCK_SIZE];
    dev.read_blocks(sb.registry_start(), &mut raw)?;
    let mut vdis = Vec::with_capacity(sb.vdi_slots as usize);
    let mut bad_slots = Vec::new();
    for (slot, chunk) in raw.chunks_exact(BLOCK_SIZE).enumerate() {
        let blk: &Block = chunk.try_into().map_err(|_| Error::msg("short read"))?;
        match VdiRecord::decode(blk, id, sb.vdi_block(slot as u32)) {
            Ok(r) => vdis.push(r),
            Err(e) => {
                bad_slots.push((slot as u32, format!("{} (VDI slot {})", e, slot)));
                vdis.push(VdiRecord::default());
            }
        }
    }
    Ok((extents, vdis, bad_slots))
}

/// The extent size `format` uses unless told: the largest power of two
/// from 1 MiB to 1 GiB that cuts the device into at least 16 extents, so a
/// small device does not spend most of itself on the system extent.
pub fn default_extent_bytes(device_bytes: u64) -> u64 {
    let mut e: u64 = 1 << 30;
    while e > 1 << 20 && device_bytes / e < 16 {
        e >>= 1;
    }
    e
}

/// A store identity from the clock and the process id (no randomness
/// crate; uniqueness, not secrecy, is what matters).
fn make_uuid() -> [u8; 16] {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out
}

/// Stands in for the device while it is being wrapped.
#[derive(Debug)]
struct Closed;

impl BlockIo for Closed {
    fn blocks(&self) -> u64 {
        0
    }
    fn read_blocks(&self, nr: u64, _buf: &mut [u8]) -> Result<()> {
        Err(Error::Io(format!("block {}: device closed", nr)))
    }
    fn write_block(&self, nr: u64, _buf: &Block) -> Result<()> {
        Err(Error::Io(format!("block {}: device closed", nr)))
    }
    fn sync(&self) -> Result<()> {
        Err(Error::Io("device closed".to_string()))
    }
}
