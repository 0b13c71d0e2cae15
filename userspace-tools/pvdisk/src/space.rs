// SPDX-License-Identifier: GPL-2.0

//! Space accounting: what each VDI maps and what deleting it would free,
//! and how full the store is. Computed here, printed by `list` and `info`
//! as text or JSON.

use crate::error::Result;
use crate::format::extent::ExtentKind;
use crate::format::superblock::Superblock;
use crate::format::BLOCK_SIZE;
use crate::map::TreeVisitor;
use crate::snapshot::SnapRef;
use crate::store::Store;
use std::collections::{HashMap, HashSet};

/// Used share of the store from which `info` and `list` warn.
pub const LOW_SPACE_PERCENT: u64 = 90;

const BS: u64 = BLOCK_SIZE as u64;

/// Space one live VDI takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VdiSpace {
    /// Bytes mapped in its live tree (data blocks, shared or not).
    pub mapped: u64,
    /// Bytes that deleting it (with its snapshots) would free: data and
    /// metadata blocks no other VDI, snapshot or clone reaches.
    pub exclusive: u64,
}

/// How full a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreSpace {
    /// Bytes of data blocks allocated.
    pub data_used: u64,
    /// Bytes still free in data extents.
    pub data_free: u64,
    /// Bytes of metadata blocks allocated.
    pub meta_used: u64,
    /// Bytes still free in metadata extents.
    pub meta_free: u64,
    /// Usable bytes of free extents (either kind can claim them).
    pub unclaimed: u64,
    /// Sum of the sizes of live VDIs.
    pub provisioned: u64,
}

impl StoreSpace {
    /// Bytes usable for metadata and data in all.
    pub fn capacity(&self) -> u64 {
        self.data_used + self.data_free + self.meta_used + self.meta_free + self.unclaimed
    }

    /// Percent of the capacity in use.
    pub fn used_percent(&self) -> u64 {
        (self.data_used + self.meta_used).saturating_mul(100) / self.capacity().max(1)
    }

    /// Provisioned bytes per byte of capacity, in hundredths (thin
    /// provisioning overcommits when above 100).
    pub fn overcommit_hundredths(&self) -> u64 {
        self.provisioned.saturating_mul(100) / self.capacity().max(1)
    }

    /// A warning sentence when the store is nearly full.
    pub fn warning(&self) -> Option<String> {
        let p = self.used_percent();
        (p >= LOW_SPACE_PERCENT)
            .then(|| format!("store is {}% full; delete VDIs or snapshots and run gc", p))
    }
}

/// Space accounting of the store as a whole.
pub fn store_space(store: &mut Store) -> Result<StoreSpace> {
    let mut s = StoreSpace::default();
    let usable = u64::from(store.sb.usable_blocks_per_extent()) * BS;
    let own = u64::from(store.sb.bitmap_blocks());
    for kind in [ExtentKind::Metadata, ExtentKind::Data, ExtentKind::Free] {
        for e in store.extents_of(kind) {
            if kind == ExtentKind::Free {
                s.unclaimed += usable;
                continue;
            }
            let used = (u64::from(store.bitmap(e)?.used) - own) * BS;
            let (u, f) = if kind == ExtentKind::Data {
                (&mut s.data_used, &mut s.data_free)
            } else {
                (&mut s.meta_used, &mut s.meta_free)
            };
            *u += used;
            *f += usable - used;
        }
    }
    s.provisioned = store.live_vdis().iter().map(|(_, r)| r.size).sum();
    Ok(s)
}

/// Marks `blk` as reached by VDI `who`; a block reached by two VDIs is
/// shared.
fn mark(owner: &mut HashMap<u64, u32>, blk: u64, who: u32) {
    owner
        .entry(blk)
        .and_modify(|o| {
            if *o != who {
                *o = u32::MAX;
            }
        })
        .or_insert(who);
}

/// Marks, for VDI `who`, every block of a tree not yet `seen` by it, and
/// counts the data blocks newly reached.
struct Owners<'a> {
    owner: &'a mut HashMap<u64, u32>,
    seen: &'a mut HashSet<u64>,
    who: u32,
    data: u64,
}

impl TreeVisitor for Owners<'_> {
    fn node(&mut self, blk: u64, _level: u32, _private: bool) -> Result<bool> {
        if !self.seen.insert(blk) {
            return Ok(false);
        }
        mark(self.owner, blk, self.who);
        Ok(true)
    }

    fn data(&mut self, _lba: u64, blk: u64, _private: bool) -> Result<()> {
        if self.seen.insert(blk) {
            mark(self.owner, blk, self.who);
            self.data += 1;
        }
        Ok(())
    }
}

/// Walks the tree at `root` for VDI `who`; returns the data blocks newly
/// reached.
fn walk(
    store: &mut Store,
    owner: &mut HashMap<u64, u32>,
    seen: &mut HashSet<u64>,
    who: u32,
    root: u64,
    height: u32,
) -> Result<u64> {
    let mut v = Owners {
        owner,
        seen,
        who,
        data: 0,
    };
    store.visit_tree(root, height, &mut v)?;
    Ok(v.data)
}

/// Space of every live VDI, by slot; `None` for a VDI whose metadata
/// could not be read (check says why).
pub fn vdi_space(store: &mut Store) -> HashMap<u32, Option<VdiSpace>> {
    let mut owner: HashMap<u64, u32> = HashMap::new();
    let mut mapped: HashMap<u32, Option<u64>> = HashMap::new();
    for (slot, rec) in store.live_vdis() {
        let mut seen = HashSet::new();
        let mut one = || -> Result<u64> {
            let m = walk(store, &mut owner, &mut seen, slot, rec.root, rec.height)?;
            for (nr, l) in store.read_log(&rec)? {
                mark(&mut owner, nr, slot);
                for e in l.used().iter().filter(|e| !e.is_deleted()) {
                    walk(store, &mut owner, &mut seen, slot, e.root, rec.height)?;
                }
            }
            Ok(m)
        };
        mapped.insert(slot, one().ok());
    }
    let mut exclusive: HashMap<u32, u64> = HashMap::new();
    for &who in owner.values() {
        *exclusive.entry(who).or_default() += 1;
    }
    mapped
        .into_iter()
        .map(|(slot, m)| {
            let space = m.map(|m| VdiSpace {
                mapped: m * BS,
                exclusive: exclusive.get(&slot).copied().unwrap_or(0) * BS,
            });
            (slot, space)
        })
        .collect()
}

/// One VDI as `list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VdiRow {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: u64,
    /// Its size in bytes.
    pub size: u64,
    /// Bytes its live tree maps (`None` if its metadata is damaged).
    pub mapped: Option<u64>,
    /// Bytes deleting it would free (`None` if its metadata is damaged).
    pub exclusive: Option<u64>,
    /// Its radix tree height.
    pub height: u32,
    /// Snapshots in its log.
    pub snapshots: u64,
    /// The snapshot it was cloned from, as `VDI@N`.
    pub parent: Option<String>,
    /// Host that has it attached, 0 if none.
    pub attached_by: u64,
}

/// The live VDIs with their space, in registry order.
pub fn listing(store: &mut Store) -> Vec<VdiRow> {
    let space = vdi_space(store);
    store
        .live_vdis()
        .into_iter()
        .map(|(slot, r)| {
            let parent = (r.parent != 0).then(|| match store.vdi_by_id(r.parent) {
                Some((slot, _)) => store.snap_name(SnapRef {
                    slot,
                    seq: r.parent_seq,
                }),
                None => format!("(deleted VDI {})@{}", r.parent, r.parent_seq),
            });
            let s = space.get(&slot).copied().flatten();
            VdiRow {
                name: r.name().to_string(),
                id: r.id,
                size: r.size,
                mapped: s.map(|s| s.mapped),
                exclusive: s.map(|s| s.exclusive),
                height: r.height,
                snapshots: r.snap_count,
                parent,
                attached_by: r.attached_by,
            }
        })
        .collect()
}

/// What `info` shows about a store.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    /// The superblock.
    pub sb: Superblock,
    /// The UUID in hex.
    pub uuid: String,
    /// Device size at format time, bytes.
    pub device: u64,
    /// Extent size, bytes.
    pub extent: u64,
    /// Number of extents of each kind.
    pub extents: Vec<(ExtentKind, usize)>,
    /// Space use.
    pub space: StoreSpace,
    /// Live VDIs.
    pub live: u64,
    /// Deleted VDIs not yet collected.
    pub deleted: u64,
    /// Damaged registry slots, as sentences.
    pub damaged: Vec<String>,
    /// Holds, as sentences.
    pub holds: Vec<String>,
}

/// Gathers what `info` shows.
pub fn store_info(store: &mut Store) -> Result<StoreInfo> {
    let sb = *store.sb();
    let kinds = [
        ExtentKind::System,
        ExtentKind::Metadata,
        ExtentKind::Data,
        ExtentKind::Free,
    ];
    Ok(StoreInfo {
        sb,
        uuid: sb.uuid.iter().map(|b| format!("{:02x}", b)).collect(),
        device: sb.total_blocks * BS,
        extent: u64::from(sb.extent_blocks) * BS,
        extents: kinds
            .iter()
            .map(|&k| (k, store.extents_of(k).len()))
            .collect(),
        space: store_space(store)?,
        live: store.live_vdis().len() as u64,
        deleted: store
            .records()
            .iter()
            .filter(|r| !r.is_empty() && r.is_deleted())
            .count() as u64,
        damaged: store.bad_slots().iter().map(|(_, w)| w.clone()).collect(),
        holds: store.holds(),
    })
}
