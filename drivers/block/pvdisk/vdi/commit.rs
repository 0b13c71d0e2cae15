// SPDX-License-Identifier: GPL-2.0

//! Commits: making a VDI's in-memory tree durable, in the order of
//! Documentation/data-path.rst:
//!
//! 1. the new nodes and a new snapshot-log head (nothing on disk links
//!    them yet);
//! 2. if any node is dirty, a flush, which also makes durable every data
//!    write completed before the commit, then the dirty nodes in place
//!    (the commit nodes that link the new ones);
//! 3. if the root or the log changed, the VDI record, written with
//!    `REQ_PREFLUSH | REQ_FUA`; else a flush.
//!
//! A commit of one dirty node and no record (an fsync after writes under
//! one leaf) writes the node with `REQ_PREFLUSH | REQ_FUA`: the device
//! flushes, writes and flushes as in steps 2 and 3, but the worker waits
//! for one bio instead of three.
//!
//! An empty flush that such a commit, or a commit with nothing to write
//! (one device flush), covers is ended by the completion of that one bio
//! ([`Vdi::commit_and_end`]): its submitter wakes from there, without
//! waiting for the worker to wake first.
//!
//! A crash before the last step completed leaves the previous tree (new
//! blocks leak) or the new one. The flush before the record keeps a
//! snapshot whole: the record names the snapshot's root only once the
//! root's last in-place write is durable. A snapshot of an idle disk is
//! two round trips: the new root and log head, then the record.
//!
//! A commit holds the worker lock (the worker's, a durable snapshot's
//! caller, live management, the detach), so below the root the tree
//! changes under it only by a lazy snapshot, which adds a root and never
//! touches a node it collected.

use core::sync::atomic::Ordering;
use kernel::{
    alloc::flags::GFP_NOIO,
    block::bio::{Durability, EndIo},
    prelude::*,
    sync::Arc,
};

use super::cache::State;
use super::snapshot::UNLOGGED_MAX;
use super::worker::WorkerState;
use super::{Io, Vdi};
use crate::ratelimit::{errname, warn_ratelimited};
use crate::store::Run;

/// An empty flush that the one bio of a commit covers, ended from that
/// bio's completion (interrupt context).
struct FlushEnding {
    vdi: Arc<Vdi>,
    flush: Io,
    /// The bio writes a node: if it fails, so did the commit.
    writes_node: bool,
}

impl EndIo for FlushEnding {
    type Context = KBox<FlushEnding>;

    fn end_io(ending: KBox<FlushEnding>, status: Result) {
        let FlushEnding {
            vdi,
            flush,
            writes_node,
        } = KBox::into_inner(ending);
        match status {
            Err(_) if writes_node => {
                // Broken before the flush fails, as when the worker ends
                // it, so that no write is acknowledged after the failed
                // flush. The worker says so in dmesg when its wait
                // returns.
                vdi.broken.store(true, Ordering::Relaxed);
                flush.end(Err(EIO));
            }
            // A flush with nothing to commit fails as the device's did,
            // and breaks nothing: the tree on disk is the one in memory.
            status => flush.end(status),
        }
        // `vdi` is not the last reference: the committing worker's stays
        // until its wait for this bio returned.
    }
}

impl FlushEnding {
    /// Ends the flush from the bio that writes a commit's node.
    fn for_node(mut self: KBox<Self>) -> KBox<Self> {
        self.writes_node = true;
        self
    }
}

impl Vdi {
    /// Commits everything changed, or only flushes the store's device if
    /// nothing changed: either way every write completed before the call
    /// is durable when it returns.
    pub(super) fn commit(&self, ws: &mut WorkerState) -> Result {
        self.commit_ending(ws, &mut None)
    }

    /// Commits as [`Vdi::commit`] and ends `flush`, an empty flush, with
    /// the outcome: from the completion of the commit's bio when it is
    /// one bio, else (or without memory for that) when the commit
    /// returned.
    pub(super) fn commit_and_end(self: &Arc<Self>, ws: &mut WorkerState, flush: Io) {
        // Room first: a flush dropped unended would end as done.
        let Ok(room) = KBox::<FlushEnding>::new_uninit(GFP_NOIO) else {
            let status = self.commit(ws);
            return flush.end(status);
        };
        let mut ending = Some(room.write(FlushEnding {
            vdi: self.clone(),
            flush,
            writes_node: false,
        }));
        let status = self.commit_ending(ws, &mut ending);
        if let Some(ending) = ending {
            KBox::into_inner(ending).flush.end(status);
        }
    }

    /// [`Vdi::commit`]; a one-bio commit with nothing left to log after it
    /// takes `flush` and ends it from its bio's completion.
    fn commit_ending(&self, ws: &mut WorkerState, flush: &mut Option<KBox<FlushEnding>>) -> Result {
        // A commit logs one block of snapshots: a full list takes two, and
        // lazy ones may join meanwhile (then the worker commits again).
        for _ in 0..3 {
            if !self.commit_once(ws, flush)? {
                break;
            }
        }
        Ok(())
    }

    /// One commit; returns whether snapshots are left to log. Takes
    /// `flush` if the commit is one bio and none are.
    fn commit_once(
        &self,
        ws: &mut WorkerState,
        flush: &mut Option<KBox<FlushEnding>>,
    ) -> Result<bool> {
        if self.broken.load(Ordering::Relaxed) {
            return Err(EIO);
        }
        let (new_count, dirty_count, root_changed, snapshots) = {
            let state = self.map.lock();
            (
                state.cache.count(State::New),
                state.cache.count(State::Dirty),
                state.root_changed,
                !state.unlogged.is_empty(),
            )
        };
        if new_count == 0 && dirty_count == 0 && !root_changed && !snapshots {
            let bios = &self.store.bios;
            let flushed = match flush.take() {
                Some(flush) => bios.flush_sync_with::<FlushEnding>(flush),
                None => bios.flush_sync(),
            };
            return flushed.map(|()| false);
        }
        // Lazy snapshots taken meanwhile add a new node each (their root),
        // and nothing else adds any: room for a full list.
        let mut new = KVec::with_capacity(new_count + UNLOGGED_MAX + 1, GFP_NOIO)?;
        let mut dirty = KVec::with_capacity(dirty_count, GFP_NOIO)?;
        // A log head that cannot be read leaves the snapshots listed (the
        // record keeps the old head): the disk goes on, and a later
        // commit logs them once it can.
        let start = match snapshots {
            true => self
                .start_log(ws)
                .inspect_err(|&e| {
                    warn_ratelimited!(
                        "{}: snapshot log unreadable ({}): snapshots wait to be logged\n",
                        &*self.name,
                        errname(e)
                    )
                })
                .ok(),
            false => None,
        };
        // One look at the tree: the nodes, the root and the snapshots to
        // log, so the record names a root whose new nodes this commit
        // writes, and snapshots whose trees it writes. The tree below the
        // root only changes under the worker lock, which the caller holds.
        let (root, root_changed, log, more) = {
            let mut state = self.map.lock();
            state.cache.collect(State::New, &mut new);
            state.cache.collect(State::Dirty, &mut dirty);
            let log = start
                .as_ref()
                .map(|start| self.log_unlogged(ws, &mut state, start));
            let more = !state.unlogged.is_empty();
            (state.tree.root, state.root_changed, log, more)
        };
        let record = root_changed || log.is_some();
        let one_bio = match (record, &dirty[..]) {
            (false, [block]) => Some(*block),
            _ => None,
        };
        let written = (|| -> Result {
            self.write_nodes(ws, &new, log.map(|(head, _)| head.block))?;
            if let Some(block) = one_bio {
                self.encode_node(ws, block)?;
                let bios = &self.store.bios;
                // Taken only here: a flush left in the caller's hands is
                // ended there, with the commit's error if it failed. Not
                // when snapshots taken meanwhile are left to log: the
                // flush is not done before they are.
                let flush = if more { None } else { flush.take() };
                return match flush {
                    Some(flush) => ws.buf.write_with::<FlushEnding>(
                        bios,
                        block,
                        Durability::FlushFua,
                        flush.for_node(),
                    ),
                    None => ws.buf.write(bios, block, Durability::FlushFua),
                };
            }
            if !record || !dirty.is_empty() {
                self.store.bios.flush_sync()?;
                self.write_nodes(ws, &dirty, None)?;
            }
            if !record {
                return self.store.bios.flush_sync();
            }
            // The record's write flushes first: it names the new root and
            // log only once they, and a snapshot root's last in-place
            // write, are durable.
            self.store.records.lock().write_root(
                &self.store,
                self.slot,
                root,
                log.map(|(head, _)| head),
            )
        })();
        if let Err(e) = written {
            return Err(self.commit_failed(e));
        }
        let mut state = self.map.lock();
        for &block in Iterator::chain(new.iter(), dirty.iter()) {
            state.cache.mark_clean(block);
        }
        state.cache.settle();
        if state.tree.root == root {
            state.root_changed = false;
        }
        drop(state);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        if one_bio.is_some() {
            self.counters
                .one_bio_commits
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some((head, old)) = log {
            ws.log.head = head;
            // The block is the committed head now.
            ws.log.loaded = true;
            if let Some(old) = old {
                // Leaked (for gc) without memory to remember it.
                let _ = ws.unlinked.push(
                    Run {
                        first: old,
                        count: 1,
                    },
                    GFP_NOIO,
                );
            }
        }
        let unlinked = core::mem::take(&mut ws.unlinked);
        let freed: u64 = unlinked.iter().map(|r| r.count).sum();
        // Leaked (for gc) if the allocator has no memory to remember them.
        let _ = self.store.alloc.lock().retire(&self.store.bios, &unlinked);
        self.counters
            .freed_blocks
            .fetch_add(freed, Ordering::Relaxed);
        Ok(more)
    }

    /// A commit failed: nothing more is acknowledged (the tree in memory
    /// may be ahead of what any commit can make durable).
    fn commit_failed(&self, e: Error) -> Error {
        self.broken.store(true, Ordering::Relaxed);
        warn_ratelimited!(
            "{}: commit failed ({}): the disk accepts no more writes\n",
            &*self.name,
            errname(e)
        );
        EIO
    }

    /// Encodes cached node `block` into the worker's buffer.
    fn encode_node(&self, ws: &mut WorkerState, block: u64) -> Result {
        let state = self.map.lock();
        let entry = state.cache.get(block).ok_or(EIO)?;
        entry
            .node
            .encode(ws.buf.block_mut()?, self.store.id, block, entry.level);
        Ok(())
    }

    /// Writes cached nodes `blocks` to their places, a batch at a time,
    /// and the new snapshot-log head if `log` names one (in the last
    /// batch when it has room: a snapshot of an idle disk is then one
    /// batch).
    fn write_nodes(&self, ws: &mut WorkerState, blocks: &[u64], log: Option<u64>) -> Result {
        let id = self.store.id;
        let mut log = log;
        let mut chunks = blocks.chunks(32).peekable();
        while let Some(chunk) = chunks.next() {
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
            if chunks.peek().is_none() && !ws.batch.is_full() {
                if let Some(block) = log.take() {
                    let head = &ws.log.block;
                    ws.batch.add(block, |b| head.encode(b, id, block))?;
                }
            }
            ws.batch.write(&self.store.bios)?;
        }
        if let Some(block) = log {
            let head = &ws.log.block;
            ws.batch.add(block, |b| head.encode(b, id, block))?;
            ws.batch.write(&self.store.bios)?;
        }
        Ok(())
    }
}
