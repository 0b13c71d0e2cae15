// SPDX-License-Identifier: GPL-2.0

//! `gc`: Parallax-style mark and sweep.
//!
//! Mark: the level-by-level walk of [`crate::walk`] from every live VDI root,
//! every live snapshot root and every live snapshot log, into an in-memory
//! reachability bitmap. Deleted VDIs and deleted snapshots are not roots.
//! GC refuses to sweep a store on which the walk found corruption: freeing
//! blocks on the word of a damaged tree could free live data.
//!
//! Sweep: registry slots of deleted VDIs are cleared first (nothing then
//! refers to their blocks), then every metadata and data extent's bitmap
//! is rewritten to exactly "its own bitmap blocks plus reachable blocks";
//! an extent left with nothing reachable is returned to the free pool.

use crate::alloc::ExtentBitmap;
use crate::error::{Error, Result};
use crate::format::vdi::VdiRecord;
use crate::progress::Progress;
use crate::store::Store;
use crate::walk::Walk;

/// What a collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcStats {
    /// Blocks freed.
    pub freed: u64,
    /// Extents returned to the free pool.
    pub extents_released: u64,
    /// Deleted VDI records removed.
    pub vdis_removed: u64,
    /// Reachable blocks kept.
    pub kept: u64,
}

/// Collects `store`.
pub fn gc(store: &mut Store, progress: &mut Progress) -> Result<GcStats> {
    store.flush()?;
    let walk = Walk::run(store, progress)?;
    if let Some(first) = walk.corrupt.first() {
        return Err(Error::msg(format!(
            "{} (and {} more problems); gc frees nothing on a corrupt store, run pvdisk check",
            first,
            walk.corrupt.len() - 1
        )));
    }
    let mut stats = GcStats {
        kept: walk.reach.count(),
        ..GcStats::default()
    };
    for slot in 0..store.vdis.len() as u32 {
        let r = store.vdis[slot as usize];
        if !r.is_empty() && r.is_deleted() {
            store.set_vdi(slot, VdiRecord::default());
            stats.vdis_removed += 1;
        }
    }
    store.flush()?;
    let nb = store.sb.bitmap_blocks();
    for (e, old) in walk.bitmaps {
        let start = store.sb.extent_start(e);
        let mut fresh = ExtentBitmap::fresh(&store.sb, e);
        let mut reachable = 0u64;
        for off in nb..store.sb.extent_blocks {
            if walk.reach.get(start + u64::from(off)) {
                fresh.set(off, true);
                reachable += 1;
            }
        }
        stats.freed += u64::from(old.used) - u64::from(fresh.used);
        if reachable == 0 {
            store.release_extent(e);
            stats.extents_released += 1;
            continue;
        }
        if old.blocks != fresh.blocks {
            // Only blocks that differ are written.
            for (i, d) in fresh.dirty.iter_mut().enumerate() {
                *d = old.blocks.get(i) != fresh.blocks.get(i);
            }
            store.replace_bitmap(e, fresh);
        } else {
            store.replace_bitmap(e, old);
        }
    }
    store.flush()?;
    store.drop_cache();
    Ok(stats)
}
