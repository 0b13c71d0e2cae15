// SPDX-License-Identifier: GPL-2.0

//! `check`: a read-only fsck of a store.
//!
//! Verifies every checksum on the way (superblock, catalogue, registry,
//! bitmaps, snapshot logs, every reachable radix node), that every pointer
//! lands inside an extent of the right kind and on an allocated block,
//! that blocks writable from a live VDI are not shared, that snapshot roots
//! are reached only as snapshot roots (immutable), and compares the
//! bitmaps with reachability.
//!
//! Corruption (anything a driver could trip over) makes the check fail.
//! Leaks (blocks allocated but reachable from nothing: deleted VDIs and
//! snapshots not yet collected, or blocks orphaned by a crash) are
//! reported but do not fail it: they are the expected state after a crash
//! and `gc` reclaims them.
//!
//! A store with holds may be in use by a live driver, which commits while
//! check reads: the driver's pre-claimed reserve and its uncommitted new
//! blocks are leaks, and a commit that lands between two of check's reads
//! can look like damage (a node linking a block whose bitmap was read
//! before the block was claimed). [`confirm`] keeps only the findings that
//! a second, fresh read shows again: real damage stays, a race does not.

use crate::error::Result;
use crate::finding::{Finding, Problem};
use crate::format::extent::ExtentKind;
use crate::progress::Progress;
use crate::store::Store;
use crate::walk::Walk;
use std::collections::{HashMap, HashSet};

/// Result of a check.
#[derive(Debug)]
pub struct Report {
    /// The walk (reachability and counts).
    pub walk: Walk,
    /// Corruption, one sentence each.
    pub corrupt: Vec<Finding>,
    /// Leaked (allocated, unreachable) blocks.
    pub leaks: Vec<u64>,
    /// Blocks allocated in metadata and data extents.
    pub allocated: u64,
}

impl Report {
    /// True if no corruption was found (leaks allowed).
    pub fn clean(&self) -> bool {
        self.corrupt.is_empty()
    }
}

/// Checks `store` without writing to it.
pub fn check(store: &mut Store, progress: &mut Progress) -> Result<Report> {
    let mut corrupt = Vec::new();
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for (slot, r) in store.vdis.iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        let nr = store.sb.vdi_block(slot as u32);
        if !ids.insert(r.id) {
            corrupt.push(Finding::new(
                Problem::Registry,
                format!("block {}: duplicate VDI id {}", nr, r.id),
            ));
        }
        if !r.is_deleted() && !names.insert(r.name().to_string()) {
            corrupt.push(Finding::new(
                Problem::Registry,
                format!("block {}: duplicate VDI name '{}'", nr, r.name()),
            ));
        }
    }
    check_labels(store, &names, &mut corrupt);
    let mut walk = Walk::run(store, progress)?;
    corrupt.append(&mut walk.corrupt);
    let mut leaks = Vec::new();
    let mut allocated = 0u64;
    let bitmap_blocks = store.sb.bitmap_blocks();
    for (&e, bm) in &walk.bitmaps {
        let start = store.sb.extent_start(e);
        for off in bitmap_blocks..store.sb.extent_blocks {
            if bm.get(off) {
                allocated += 1;
                let blk = start + u64::from(off);
                if !walk.reach.get(blk) {
                    leaks.push(blk);
                }
            }
        }
    }
    for e in 0..store.sb.extent_count {
        let x = store.extents[e as usize];
        if x.kind == ExtentKind::Free && x.owner != 0 {
            corrupt.push(Finding::new(
                Problem::Registry,
                format!(
                    "block {}: free extent {} has an owner ({})",
                    store.sb.catalogue_pos(e).0,
                    e,
                    x.owner
                ),
            ));
        }
    }
    Ok(Report {
        walk,
        corrupt,
        leaks,
        allocated,
    })
}

/// How many times `pvdisk check` reads a store in use before it reports
/// corruption: a finding counts only if every read shows it.
pub const LIVE_READS: usize = 3;

/// Combines two checks of the same live store, `earlier` then `later`:
/// the corruption both show (the same sentence), the walk and the leaks
/// of the later one.
pub fn confirm(earlier: &Report, later: Report) -> Report {
    let Report {
        walk,
        corrupt,
        leaks,
        allocated,
    } = later;
    let corrupt = corrupt
        .into_iter()
        .filter(|f| earlier.corrupt.contains(f))
        .collect();
    Report {
        walk,
        corrupt,
        leaks,
        allocated,
    }
}

/// Labels of live snapshots are unique and distinct from live VDI names
/// (`names`). A damaged log is skipped here: the walk reports it.
fn check_labels(store: &Store, names: &HashSet<String>, corrupt: &mut Vec<Finding>) {
    let mut labels: HashMap<String, String> = HashMap::new();
    for (_, rec) in store.live_vdis() {
        let Ok(log) = store.read_log(&rec) else {
            continue;
        };
        for (nr, l) in log.iter().rev() {
            for (i, e) in l.used().iter().enumerate() {
                if e.is_deleted() || e.label().is_empty() {
                    continue;
                }
                let me = format!("{}@{}", rec.name(), l.first_seq + i as u64);
                if let Some(other) = labels.get(e.label()) {
                    corrupt.push(Finding::new(
                        Problem::Label,
                        format!(
                            "block {}: snapshot {} has the label '{}' of snapshot {}",
                            nr,
                            me,
                            e.label(),
                            other
                        ),
                    ));
                } else if names.contains(e.label()) {
                    corrupt.push(Finding::new(
                        Problem::Label,
                        format!(
                            "block {}: snapshot {} is labelled '{}', the name of a VDI",
                            nr,
                            me,
                            e.label()
                        ),
                    ));
                } else {
                    labels.insert(e.label().to_string(), me);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::Bits;
    use std::collections::BTreeMap;

    fn report(corrupt: &[&str], leaks: &[u64]) -> Report {
        Report {
            walk: Walk {
                reach: Bits::new(64),
                nodes: 0,
                logs: 0,
                data: 0,
                vdis: 0,
                snapshots: 0,
                corrupt: Vec::new(),
                bitmaps: BTreeMap::new(),
            },
            corrupt: corrupt
                .iter()
                .map(|t| Finding::new(Problem::Bitmap, *t))
                .collect(),
            leaks: leaks.to_vec(),
            allocated: 0,
        }
    }

    #[test]
    fn confirm_keeps_what_both_reads_show() {
        let first = report(&["block 9: a race", "block 5: real"], &[1]);
        let second = report(&["block 5: real", "block 7: another race"], &[2, 3]);
        let r = confirm(&first, second);
        assert_eq!(
            r.corrupt,
            vec![Finding::new(Problem::Bitmap, "block 5: real")]
        );
        assert_eq!(r.leaks, vec![2, 3]);
        let r = confirm(&r, report(&["block 8: a third race"], &[]));
        assert!(r.clean());
    }
}
