// SPDX-License-Identifier: GPL-2.0

//! Snapshots and clones: a new writable root that shares everything below
//! an old one through read-only links.

use super::change::{Change, Update};
use super::path::node_of;
use super::{MapError, NodeSource, Tree};
use crate::format::radix::ptr_block;

/// The change that gives `tree` the new live root `new_root`: a read-only
/// copy of its current root (every link read-only), then
/// [`Update::SetRoot`].
///
/// For a snapshot, the old root (`ptr_block(tree.root)`) becomes the
/// snapshot's root: the caller appends it to the snapshot log, writes the
/// new root with the commit's new nodes, and the VDI record (new root and
/// log head) last: the three block writes of a snapshot. No change may
/// reach below the old root in place afterwards, and none does: every path
/// from the new root starts with a read-only link. For a clone, `tree` is
/// the snapshot's tree and the new root goes into the clone's new record.
///
/// Writes to the old tree that are in place and still in flight belong to
/// the snapshot; the caller lets them complete before the snapshot (a
/// copy-on-write write still in flight is not in it, [`super::apply_write`]
/// links it below the new root).
pub fn read_only_root<S: NodeSource + ?Sized>(
    src: &S,
    tree: &Tree,
    new_root: u64,
) -> Result<Change, MapError> {
    let old = ptr_block(tree.root);
    if old == 0 || new_root == 0 {
        return Err(MapError::NoRoot);
    }
    // The caller copies it: it must be in memory.
    node_of(src, old, tree.height)?;
    let mut change = Change::new(0);
    change.push(Update::NewNode {
        block: new_root,
        level: tree.height,
        copy_of: old,
    })?;
    change.push(Update::SetRoot { block: new_root })?;
    Ok(change)
}
