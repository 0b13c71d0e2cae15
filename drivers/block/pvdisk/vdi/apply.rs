// SPDX-License-Identifier: GPL-2.0

//! Making a map [`Change`] in the in-memory tree, under the map lock,
//! with nodes allocated before the lock was taken.

use kernel::{alloc::Flags, prelude::*};

use super::cache::Spare;
use super::MapState;
use crate::map::{Change, Update};

/// Nodes and cache slots allocated ahead for the new nodes of a change.
pub(super) struct Spares {
    items: KVec<Option<Spare>>,
}

impl Spares {
    pub(super) fn new(count: usize, flags: Flags) -> Result<Self> {
        let mut items = KVec::with_capacity(count, flags)?;
        for _ in 0..count {
            items.push(Some(Spare::new(flags)?), flags)?;
        }
        Ok(Self { items })
    }

    fn take(&mut self) -> Option<Spare> {
        self.items.iter_mut().find_map(|s| s.take())
    }
}

/// Makes `change`'s updates, in order: new nodes are created, pointers
/// set (a clean commit node becomes dirty), the root replaced, and freed
/// nodes dropped from the cache.
///
/// An error leaves the tree half changed: the caller stops the disk from
/// writing (it cannot happen unless the map and the cache disagree).
pub(super) fn apply_change(state: &mut MapState, change: &Change, spares: &mut Spares) -> Result {
    for update in change.updates() {
        match *update {
            Update::NewNode {
                block,
                level,
                copy_of,
            } => {
                let spare = spares.take().ok_or(EIO)?;
                state.cache.insert_new(block, level, copy_of, spare)?;
            }
            Update::SetPtrs { node, .. } => {
                update.apply_to(state.cache.modify(node)?);
            }
            Update::SetRoot { block } => {
                state.tree.root = block;
                state.root_changed = true;
            }
            Update::Free { first, count } => {
                // Data blocks are not cached; unlinked nodes leave the
                // cache. The blocks stay allocated until `pvdisk gc`.
                for block in first..first.saturating_add(count) {
                    state.cache.forget(block);
                }
            }
        }
    }
    Ok(())
}
