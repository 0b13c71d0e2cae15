// SPDX-License-Identifier: GPL-2.0

//! Commits: making a VDI's in-memory tree durable, in the order of
//! Documentation/data-path.rst:
//!
//! 1. the new nodes (nothing on disk links them yet), then a flush, which
//!    also makes durable every data write completed before the commit;
//! 2. the dirty nodes, in place (the commit nodes that link the new ones),
//!    then the VDI record if the root changed, then a flush.
//!
//! A crash before the second flush leaves the previous tree (new blocks
//! leak); after it, the new one. Only the worker (or the detach, once the
//! worker is gone) commits, holding the worker lock, so the tree does not
//! change during a commit.

use core::sync::atomic::Ordering;
use kernel::{alloc::flags::GFP_NOIO, prelude::*};

use super::cache::State;
use super::worker::WorkerState;
use super::Vdi;
use crate::ratelimit::{errname, warn_ratelimited};

impl Vdi {
    /// Commits everything changed, or only flushes the store's device if
    /// nothing changed: either way every write completed before the call
    /// is durable when it returns.
    pub(super) fn commit(&self, ws: &mut WorkerState) -> Result {
        if self.broken.load(Ordering::Relaxed) {
            return Err(EIO);
        }
        let (new_count, dirty_count, root_changed, root) = {
            let state = self.map.lock();
            (
                state.cache.count(State::New),
                state.cache.count(State::Dirty),
                state.root_changed,
                state.tree.root,
            )
        };
        if new_count == 0 && dirty_count == 0 && !root_changed {
            return self.store.bios.flush_sync();
        }
        let mut new = KVec::with_capacity(new_count, GFP_NOIO)?;
        let mut dirty = KVec::with_capacity(dirty_count, GFP_NOIO)?;
        {
            let state = self.map.lock();
            state.cache.collect(State::New, &mut new);
            state.cache.collect(State::Dirty, &mut dirty);
        }
        let written = (|| -> Result {
            self.write_nodes(ws, &new)?;
            self.store.bios.flush_sync()?;
            self.write_nodes(ws, &dirty)?;
            if root_changed {
                self.store
                    .records
                    .lock()
                    .set_root(&self.store, self.slot, root)?;
            }
            self.store.bios.flush_sync()
        })();
        if let Err(e) = written {
            self.broken.store(true, Ordering::Relaxed);
            warn_ratelimited!(
                "{}: commit failed ({}): the disk accepts no more writes\n",
                &*self.name,
                errname(e)
            );
            return Err(EIO);
        }
        let mut state = self.map.lock();
        for &block in Iterator::chain(new.iter(), dirty.iter()) {
            state.cache.mark_clean(block);
        }
        if state.tree.root == root {
            state.root_changed = false;
        }
        drop(state);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        let unlinked = core::mem::take(&mut ws.unlinked);
        let freed: u64 = unlinked.iter().map(|r| r.count).sum();
        // Leaked (for gc) if the allocator has no memory to remember them.
        let _ = self.store.alloc.lock().retire(&self.store.bios, &unlinked);
        self.counters
            .freed_blocks
            .fetch_add(freed, Ordering::Relaxed);
        Ok(())
    }

    /// Writes cached nodes `blocks` to their places, a batch at a time.
    fn write_nodes(&self, ws: &mut WorkerState, blocks: &[u64]) -> Result {
        let id = self.store.id;
        for chunk in blocks.chunks(32) {
            {
                let state = self.map.lock();
                for &block in chunk {
                    // Empty at each chunk (written or reset below), and a
                    // chunk is one batch: full here would be a bug.
                    if ws.batch.is_full() {
                        return Err(EIO);
                    }
                    let entry = state.cache.get(block).ok_or(EIO)?;
                    ws.batch
                        .add(block, |b| entry.node.encode(b, id, block, entry.level))?;
                }
            }
            ws.batch.write(&self.store.bios)?;
        }
        Ok(())
    }
}
