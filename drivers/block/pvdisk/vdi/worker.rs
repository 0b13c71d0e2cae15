// SPDX-License-Identifier: GPL-2.0

//! The disk's worker: what may sleep. It reads missing nodes into the
//! cache, plans copy-on-write writes and allocates their blocks, links the
//! new blocks once their data is written, unmaps, and commits.
//!
//! The tree changes only under the worker lock (a mutex), which the
//! worker's run, durable snapshots and the detach take, but for the new
//! root of a lazy snapshot; a [`WriteOp`] whose data completed is
//! finished by the worker's next turn. The request path only reads the
//! tree, under the map spinlock.
//! Bio completions only count and queue work: no lock there.

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use kernel::{
    alloc::flags::{GFP_KERNEL, GFP_NOIO, GFP_NOWAIT},
    block::bio::{with_plug, Clones, EndIo, HoldsSource},
    prelude::*,
    sync::{Arc, UniqueArc},
};

use super::apply::{apply_change, Spares};
use super::cache::{Spare, State};
use super::fast::{self, blocks_of, is_fua, map_read, op_of, Mapped, Op, Planned};
use super::slots::Slot;
use super::snapshot::SnapLog;
use super::{Handed, Io, MapState, Tracked, Vdi, RING_SIZE};
use crate::format::{extent::ExtentKind, radix::RadixNode};
use crate::io::EndBio;
use crate::map::{self, Change, MapError, Update, WritePlan};
use crate::ratelimit::{errname, warn_ratelimited};
use crate::ring::Ring;
use crate::store::{
    meta::{corrupt, MetaBatch, MetaBuf},
    LogHead, Run,
};

/// Writes whose data is on the device from which on a copy-on-write write
/// started at submission is held for the worker to send with others
/// (`cow_held`). Below it writes go down at once, so that a few writes in
/// flight (a guest's file system) overlap as they did and never wait for
/// one another; at a deep queue the held ones merge.
const HOLD_AFTER: u32 = 4;

/// What only the holder of the worker lock uses.
pub(crate) struct WorkerState {
    pub(super) buf: MetaBuf,
    /// Nodes a commit writes together.
    pub(super) batch: MetaBatch,
    /// Blocks that unmaps unlinked in memory: the next commit makes that
    /// durable, then hands them to the allocator.
    pub(super) unlinked: KVec<Run>,
    /// Writes whose data completed, taken from the inbox to finish.
    done: Ring<Tracked>,
    /// The snapshot log.
    pub(super) log: SnapLog,
    /// The disk detached: its worker runs no more.
    pub(super) gone: bool,
    /// Room to sort the held writes, one entry per slot.
    sending: KVec<Option<Arc<WriteOp>>>,
}

impl WorkerState {
    pub(super) fn new(log: LogHead) -> Result<Self> {
        Ok(Self {
            buf: MetaBuf::new()?,
            batch: MetaBatch::new()?,
            unlinked: KVec::new(),
            done: Ring::new(RING_SIZE, GFP_KERNEL)?,
            log: SnapLog::new(log)?,
            gone: false,
            sending: KVec::from_elem(None, RING_SIZE, GFP_KERNEL)?,
        })
    }

    /// Remembers the blocks `change` frees.
    fn unlink(&mut self, change: &Change) -> Result {
        for update in change.updates() {
            if let Update::Free { first, count } = *update {
                self.unlinked.push(Run { first, count }, GFP_NOIO)?;
            }
        }
        Ok(())
    }
}

/// Ends the worker's share of a bio with `status`, and gives its slot
/// back.
fn end(handed: Handed, status: Result) {
    handed.io.end(status);
}

/// Submits every clone for the plain completion (ends the bio when the
/// last one completes).
fn submit_all(clones: Clones<'_, Io>) {
    for clone in clones {
        clone.submit::<EndBio>();
    }
}

/// How a write's blocks and memory are had.
#[derive(Clone, Copy)]
struct Alloc {
    flags: kernel::alloc::Flags,
    /// Only from the reserve (no allocator mutex, no bitmap I/O).
    reserve_only: bool,
}

impl Alloc {
    /// The worker: may sleep, may reserve a chunk.
    const WORKER: Self = Self {
        flags: GFP_NOIO,
        reserve_only: false,
    };
    /// Submission (`submit_bio`): never sleeps.
    const NOW: Self = Self {
        flags: GFP_NOWAIT,
        reserve_only: true,
    };
}

/// A copy-on-write (or FUA) write, from its data bios to the end of its
/// bio: its plans, and the blocks allocated for them. The inbox tracks it;
/// when its data bios completed, the worker links its blocks.
pub(crate) struct WriteOp {
    // `vdi` is declared (so dropped) before `io`: see `part_done`.
    vdi: Arc<Vdi>,
    io: Io,
    lba: u64,
    plans: KVec<WritePlan>,
    /// First data block of each plan's fresh blocks (0: none).
    data: KVec<u64>,
    /// First node block of each plan's new nodes (0: none).
    nodes: KVec<u64>,
    /// True when blocks were allocated and a range is being provisioned.
    provisioning: bool,
    /// Data bios in flight, plus one while they are being submitted.
    in_flight: AtomicU32,
    /// The first error of a data bio (an errno), 0 if none.
    error: AtomicI32,
    /// Every data bio completed: the worker finishes the write.
    done: AtomicBool,
}

// SAFETY: A `WriteOp` holds `io` from its creation until it is dropped,
// and never replaces it; `source` always returns it.
unsafe impl HoldsSource<Io> for WriteOp {
    fn source(&self) -> &Io {
        &self.io
    }
}

impl WriteOp {
    /// One data bio (or the submission) is done; the last one wakes the
    /// worker, which finishes the write. (Completion context: atomics and
    /// queueing work only.)
    fn part_done(self: Arc<Self>) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.store(true, Ordering::Release);
            self.vdi.finished_writes.fetch_add(1, Ordering::AcqRel);
            // Before the kick: the worker it wakes sends the held writes.
            self.vdi.writes_in_flight.fetch_sub(1, Ordering::AcqRel);
            // Kick before letting go: once `self` is dropped the worker may
            // have ended the bio, and the disk may be powered off.
            self.vdi.kick();
        }
        // If the worker already finished the op, this ends the bio; the op
        // drops its `vdi` before its `io` (field order), so the disk
        // still holds the VDI then and this is never its last reference.
        drop(self);
    }

    pub(super) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Records `e` as the write's error, unless it has one.
    fn fail(&self, e: Error) {
        let _ = self
            .error
            .compare_exchange(0, e.to_errno(), Ordering::AcqRel, Ordering::Relaxed);
    }

    /// The first fresh data block, by which held writes are sent in
    /// order (0 if none: in place).
    fn first_data(&self) -> u64 {
        self.data.iter().copied().find(|&d| d != 0).unwrap_or(0)
    }
}

/// Completion of a data bio of a [`WriteOp`]: interrupt context, so it only
/// records the status and counts.
struct WriteEnd;

impl EndIo for WriteEnd {
    type Context = Arc<WriteOp>;

    fn end_io(op: Arc<WriteOp>, status: Result) {
        if let Err(e) = status {
            op.fail(e);
        }
        op.part_done();
    }
}

impl Vdi {
    /// The worker's run: bios handed over, then a commit if one is due.
    pub(super) fn run_worker(self: &Arc<Self>) {
        let mut ws = self.worker.lock();
        self.send_held(&mut ws);
        with_plug(|| self.run_inbox(&mut ws));
        if !self.read_only && !self.is_broken() {
            // Ahead of need, so that a write rarely waits for a reserve
            // chunk; running out shows as ENOSPC on the writes themselves.
            let _ = self.store.refill();
        }
    }

    /// Finishes the writes whose data completed and handles what was
    /// handed over, until nothing is left; a due commit goes first.
    fn run_inbox(self: &Arc<Self>, ws: &mut WorkerState) {
        loop {
            self.inbox
                .lock()
                .take_done(&mut ws.done, &self.finished_writes);
            while let Some(Tracked { op, slot }) = ws.done.pop() {
                self.finish_write(ws, op);
                drop(slot);
            }
            // A commit that is due (ticker, cache pressure, lazy
            // snapshots) goes first, so that a steady stream of bios cannot
            // postpone it.
            let (commit, handed) = {
                let mut inbox = self.inbox.lock();
                let commit = core::mem::replace(&mut inbox.commit, false);
                let handed = if commit { None } else { inbox.requests.pop() };
                (commit, handed)
            };
            if commit {
                // A failed commit marked the disk broken and said so.
                let _ = self.commit(ws);
            } else if let Some(handed) = handed {
                self.handle(ws, handed);
            } else {
                break;
            }
        }
    }

    fn handle(self: &Arc<Self>, ws: &mut WorkerState, handed: Handed) {
        let op = op_of(&handed.io);
        if op == Op::Flush {
            if handed.io.bytes() == 0 {
                // Ended by the commit, as soon as it is durable.
                let Handed { io, slot } = handed;
                self.commit_and_end(ws, io);
                drop(slot);
                return;
            }
            // What completed before the flush is durable before the data
            // after it goes down.
            if let Err(e) = self.commit(ws) {
                return end(handed, Err(e));
            }
        }
        match op {
            Op::Read => self.read(ws, handed),
            Op::Write | Op::Flush | Op::Unmap if self.read_only => {
                warn_ratelimited!("{}: read-only snapshot: write refused\n", &*self.name);
                end(handed, Err(EROFS));
            }
            Op::Write | Op::Flush | Op::Unmap if self.broken.load(Ordering::Relaxed) => {
                end(handed, Err(EIO))
            }
            Op::Write | Op::Flush => self.write(ws, handed),
            Op::Unmap => self.unmap(ws, handed),
            Op::Unsupported => end(handed, Err(EINVAL)),
        }
    }

    /// Reads node `block` at `level` into the cache.
    pub(super) fn load(&self, ws: &mut WorkerState, block: u64, level: u32) -> Result {
        let mut spare = Spare::new(GFP_NOIO)?;
        let bytes = ws.buf.read(&self.store.bios, block)?;
        corrupt(RadixNode::decode_into(
            bytes,
            self.store.id,
            block,
            level,
            spare.node_mut(),
        ))?;
        let mut state = self.map.lock();
        state.cache.insert(block, level, State::Clean, spare)?;
        if state.trim_cache() {
            self.inbox.lock().commit = true;
        }
        Ok(())
    }

    /// Makes `handed` wait until no block of `lba..lba + count` is being
    /// provisioned (or hands it back at once if none is any more).
    fn park(self: &Arc<Self>, handed: Handed) {
        let (lba, count) = blocks_of(&handed.io);
        let state = self.map.lock();
        let mut inbox = self.inbox.lock();
        let handed = if state.provisioning(lba, count) {
            match inbox.waiting.push(handed) {
                Ok(()) => return,
                Err(handed) => handed,
            }
        } else {
            handed
        };
        if let Err(handed) = inbox.requests.push(handed) {
            drop(inbox);
            drop(state);
            end(handed, Err(EIO));
            return;
        }
        drop(inbox);
        drop(state);
        self.kick();
    }

    fn read(self: &Arc<Self>, ws: &mut WorkerState, handed: Handed) {
        loop {
            match map_read(self, &handed.io, GFP_NOIO) {
                Ok(Mapped::Ready(clones)) => return submit_all(clones),
                Ok(Mapped::Miss { block, level }) => {
                    if let Err(e) = self.load(ws, block, level) {
                        return end(handed, Err(e));
                    }
                }
                Ok(Mapped::Wait) => return self.park(handed),
                Ok(Mapped::NotInPlace) => return end(handed, Err(EIO)),
                Err(e) => return end(handed, Err(e)),
            }
        }
    }

    /// Plans every span of a write, reading missing nodes. `None` when the
    /// range is being provisioned (park the bio).
    fn plan(self: &Arc<Self>, ws: &mut WorkerState, io: &Io) -> Result<Option<KVec<WritePlan>>> {
        let (_, count) = blocks_of(io);
        loop {
            // Room for every plan: nothing is allocated under the lock.
            let plans = KVec::with_capacity(count as usize + 1, GFP_NOIO)?;
            match fast::plan_write(self, io, plans)? {
                Planned::Plans(plans) => return Ok(Some(plans)),
                Planned::Wait => return Ok(None),
                Planned::Miss { block, level } => self.load(ws, block, level)?,
            }
        }
    }

    fn write(self: &Arc<Self>, ws: &mut WorkerState, handed: Handed) {
        let plans = match self.plan(ws, &handed.io) {
            Ok(Some(plans)) => plans,
            Ok(None) => return self.park(handed),
            Err(e) => return end(handed, Err(e)),
        };
        let provisioning = plans.iter().any(|p| !p.is_in_place());
        if !provisioning && !is_fua(&handed.io) {
            // Wholly in place: the plans say where; nothing to link.
            let (lba, _) = blocks_of(&handed.io);
            let mut clones = fast::clones_of(self, &handed.io);
            for plan in plans.iter() {
                if let Err(e) = fast::add_plan(&mut clones, lba, plan, 0, GFP_NOIO) {
                    return end(handed, Err(e));
                }
            }
            return submit_all(clones);
        }
        let Handed { io, slot } = handed;
        if let Err(e) = self.start_write(&io, slot, plans, provisioning, Alloc::WORKER) {
            io.end(Err(e));
        }
    }

    /// Starts a copy-on-write write at submission, when a slot is free, its
    /// path is cached and the reserve has its blocks: no sleeping, no I/O
    /// but the data bios. Otherwise (or without memory) gives `io` back,
    /// untouched, for the worker; a broken tree ends it.
    pub(crate) fn start_write_now(self: &Arc<Self>, io: Io) -> Option<Io> {
        let Some(slot) = self.try_slot() else {
            return Some(io);
        };
        let plans = match fast::plan_write(self, &io, KVec::new()) {
            Ok(Planned::Plans(plans)) => plans,
            Ok(Planned::Miss { .. } | Planned::Wait) => return Some(io),
            // Only no memory for a plan is worth another try.
            Err(e) if e == ENOMEM => return Some(io),
            Err(e) => {
                io.end(Err(e));
                return None;
            }
        };
        let provisioning = plans.iter().any(|p| !p.is_in_place());
        match self.start_write(&io, slot, plans, provisioning, Alloc::NOW) {
            Ok(()) => {
                self.counters.cow_at_submit.fetch_add(1, Ordering::Relaxed);
                // The worker refills at the end of its run: wake it before
                // the next write finds the reserve short.
                if self.store.reserve_low() {
                    self.kick();
                }
                None
            }
            // Everything was given back and the range ended.
            Err(_) => Some(io),
        }
    }

    /// Allocates the blocks of a planned write, and submits its data bios
    /// under a [`WriteOp`] that the worker finishes. On failure everything
    /// is given back and the range is no longer being provisioned.
    ///
    /// The worker calls this with [`Alloc::WORKER`], submission (through
    /// [`Vdi::start_write_now`]) with [`Alloc::NOW`].
    fn start_write(
        self: &Arc<Self>,
        io: &Io,
        slot: Slot,
        plans: KVec<WritePlan>,
        provisioning: bool,
        how: Alloc,
    ) -> Result {
        let flags = how.flags;
        let (lba, _) = blocks_of(io);
        // The op's memory first: failing later would strand its blocks.
        let (memory, (data, nodes)) = UniqueArc::<WriteOp>::new_uninit(flags)
            .map_err(Error::from)
            .and_then(|memory| Ok((memory, self.allocate(&plans, how)?)))
            .inspect_err(|_| self.end_provisioning(lba, provisioning))?;
        let undo = |plans: &KVec<WritePlan>, data: &KVec<u64>, nodes: &KVec<u64>| {
            self.give_back(plans, data, nodes);
            self.end_provisioning(lba, provisioning);
        };
        // Enough writes on the device already: this one's data goes down
        // with the others that arrive meanwhile, when one of those
        // completes.
        let hold = how.reserve_only && self.writes_in_flight.load(Ordering::Acquire) >= HOLD_AFTER;
        let clones = if hold {
            None
        } else {
            match self.clone_plans(io, &plans, &data, flags) {
                Ok(clones) => Some(clones),
                Err(e) => {
                    undo(&plans, &data, &nodes);
                    return Err(e);
                }
            }
        };
        let op: Arc<WriteOp> = memory
            .write(WriteOp {
                vdi: self.clone(),
                io: io.clone(),
                lba,
                plans,
                data,
                nodes,
                provisioning,
                in_flight: AtomicU32::new(1),
                error: AtomicI32::new(0),
                done: AtomicBool::new(false),
            })
            .into();
        let tracked = Tracked {
            op: op.clone(),
            slot,
        };
        if let Err(tracked) = self.inbox.lock().track(tracked) {
            // Cannot happen (an entry per slot): never lose a bio.
            drop(tracked);
            undo(&op.plans, &op.data, &op.nodes);
            return Err(EBUSY);
        }
        match clones {
            Some(clones) => self.submit_op(op, clones),
            None => self.hold(op),
        }
        Ok(())
    }

    /// Submits the data bios of `op`, then lets go of its submission
    /// share.
    fn submit_op(&self, op: Arc<WriteOp>, clones: Clones<'_, Io>) {
        self.writes_in_flight.fetch_add(1, Ordering::AcqRel);
        for clone in clones {
            op.in_flight.fetch_add(1, Ordering::AcqRel);
            if clone.submit_with::<WriteEnd>(op.clone()).is_err() {
                op.in_flight.fetch_sub(1, Ordering::AcqRel);
                op.fail(EIO);
            }
        }
        op.part_done();
    }

    /// Leaves `op`'s data bios to the worker. A write in flight wakes the
    /// worker when it completes; with none left, wake it now.
    fn hold(self: &Arc<Self>, op: Arc<WriteOp>) {
        let pushed = self.inbox.lock().held.push(op);
        match pushed {
            Ok(()) => {
                self.counters.cow_held.fetch_add(1, Ordering::Relaxed);
                if self.writes_in_flight.load(Ordering::Acquire) == 0 {
                    self.kick();
                }
            }
            // Cannot happen (room for every slot): send it now.
            Err(op) => self.send(op, GFP_NOWAIT),
        }
    }

    /// Builds and submits the data bios of a held write.
    fn send(&self, op: Arc<WriteOp>, flags: kernel::alloc::Flags) {
        match self.clone_plans(&op.io, &op.plans, &op.data, flags) {
            Ok(clones) => self.submit_op(op, clones),
            Err(e) => {
                // Its blocks are given back when the worker finishes it.
                op.fail(e);
                self.writes_in_flight.fetch_add(1, Ordering::AcqRel);
                op.part_done();
            }
        }
    }

    /// Sends the held writes down together, in the order of their blocks,
    /// under one plug: the block layer merges the neighbours into one
    /// request to the device.
    fn send_held(self: &Arc<Self>, ws: &mut WorkerState) {
        let sending = &mut ws.sending;
        let mut count = 0;
        {
            let mut inbox = self.inbox.lock();
            for entry in sending.iter_mut() {
                let Some(op) = inbox.held.pop() else { break };
                *entry = Some(op);
                count += 1;
            }
        }
        let Some(batch) = sending.get_mut(..count) else {
            return;
        };
        batch.sort_unstable_by_key(|op| op.as_ref().map_or(u64::MAX, |op| op.first_data()));
        with_plug(|| {
            for op in batch.iter_mut().filter_map(Option::take) {
                self.send(op, GFP_NOIO);
            }
        });
    }

    /// Allocates the fresh data blocks of each plan (one consecutive run
    /// per plan) and its new nodes, reserving more first if needed.
    fn allocate(&self, plans: &KVec<WritePlan>, how: Alloc) -> Result<(KVec<u64>, KVec<u64>)> {
        let mut data = KVec::with_capacity(plans.len(), how.flags)?;
        let mut nodes = KVec::with_capacity(plans.len(), how.flags)?;
        let store = &self.store;
        let alloc = |kind, count: u32| {
            if how.reserve_only {
                store.take_reserved(kind, count.into()).ok_or(EAGAIN)
            } else {
                store.alloc_blocks(kind, count.into())
            }
        };
        for plan in plans.iter() {
            let got = alloc(ExtentKind::Data, plan.new_data()).and_then(|d| {
                alloc(ExtentKind::Metadata, plan.new_nodes())
                    .inspect_err(|_| store.give_back(ExtentKind::Data, d, plan.new_data().into()))
                    .map(|n| (d, n))
            });
            let pushed = got.and_then(|(d, n)| {
                // Cannot fail: the capacity is one per plan.
                data.push(d, GFP_NOIO)?;
                nodes.push(n, GFP_NOIO)?;
                Ok(())
            });
            if let Err(e) = pushed {
                self.give_back(plans, &data, &nodes);
                return Err(e);
            }
        }
        Ok((data, nodes))
    }

    /// Gives back blocks allocated for `plans` and never linked.
    pub(super) fn give_back(&self, plans: &KVec<WritePlan>, data: &KVec<u64>, nodes: &KVec<u64>) {
        for ((plan, &d), &n) in plans.iter().zip(data.iter()).zip(nodes.iter()) {
            self.store
                .give_back(ExtentKind::Data, d, plan.new_data().into());
            self.store
                .give_back(ExtentKind::Metadata, n, plan.new_nodes().into());
        }
    }

    /// The data bios of a write: each segment in place or to its fresh
    /// blocks.
    fn clone_plans<'a>(
        &'a self,
        io: &Io,
        plans: &KVec<WritePlan>,
        data: &KVec<u64>,
        flags: kernel::alloc::Flags,
    ) -> Result<Clones<'a, Io>> {
        let (lba, _) = blocks_of(io);
        let mut clones = fast::clones_of(self, io);
        for (plan, &first_data) in plans.iter().zip(data.iter()) {
            fast::add_plan(&mut clones, lba, plan, first_data, flags)?;
        }
        Ok(clones)
    }

    /// The range of the write at `lba` is no longer being provisioned:
    /// the bios that waited for it go again.
    fn end_provisioning(self: &Arc<Self>, lba: u64, provisioning: bool) {
        if !provisioning {
            return;
        }
        {
            let mut state = self.map.lock();
            state.end_provisioning(lba);
            let mut inbox = self.inbox.lock();
            let inbox = &mut *inbox;
            inbox.waiting.move_into(&mut inbox.requests);
        }
        self.kick();
    }

    /// The end of a write whose data bios completed: link the fresh blocks
    /// (copy-on-write), commit if it is FUA, end the bio.
    fn finish_write(self: &Arc<Self>, ws: &mut WorkerState, op: Arc<WriteOp>) {
        let error = op.error.load(Ordering::Acquire);
        let mut status = if error != 0 {
            let e = Error::from_errno(error);
            warn_ratelimited!("{}: write failed: {}\n", &*self.name, errname(e));
            self.give_back(&op.plans, &op.data, &op.nodes);
            Err(e)
        } else {
            self.link(ws, &op)
        };
        self.end_provisioning(op.lba, op.provisioning);
        if status.is_ok() && is_fua(&op.io) {
            status = self.commit(ws);
        }
        if let Err(e) = status {
            op.io.fail(e);
        }
        // Dropping the last reference to `op` ends the bio.
    }

    /// Puts every plan's fresh blocks into the tree.
    fn link(&self, ws: &mut WorkerState, op: &WriteOp) -> Result {
        let plans = op.plans.iter().zip(op.data.iter()).zip(op.nodes.iter());
        for ((plan, &data), &first_node) in plans {
            if plan.is_in_place() {
                continue;
            }
            let mut nodes = KVec::with_capacity(plan.new_nodes() as usize, GFP_NOIO)?;
            for i in 0..u64::from(plan.new_nodes()) {
                nodes.push(first_node + i, GFP_NOIO)?;
            }
            let used = loop {
                let mut spares = Spares::new(nodes.len(), GFP_NOIO)?;
                let mut state = self.map.lock();
                match map::apply_write(&state.cache, &state.tree, plan, &nodes, data) {
                    Ok(change) => {
                        self.make_change(&mut state, &change, &mut spares)?;
                        break change.nodes_used() as usize;
                    }
                    Err(MapError::Miss { block, level }) => {
                        drop(state);
                        self.load(ws, block, level)?;
                    }
                    Err(MapError::NeedBlocks { nodes: n, .. }) => {
                        // A snapshot since the plan made more of the path
                        // read-only: copy it too.
                        drop(state);
                        if let Err(e) = self.more_nodes(&mut nodes, n as usize) {
                            self.give_back_nodes(&nodes, plan.new_nodes() as usize);
                            return Err(e);
                        }
                    }
                    Err(e) => {
                        warn_ratelimited!("{}: block {}: {}\n", &*self.name, plan.lba(), e);
                        return Err(EIO);
                    }
                }
            };
            self.give_back_nodes(&nodes, used);
            self.counters
                .cow_blocks
                .fetch_add(plan.new_data().into(), Ordering::Relaxed);
        }
        Ok(())
    }

    /// Adds node blocks to `nodes` until it has `count`.
    fn more_nodes(&self, nodes: &mut KVec<u64>, count: usize) -> Result {
        let more = count.saturating_sub(nodes.len());
        if more == 0 {
            return Ok(());
        }
        let first = self.store.alloc_blocks(ExtentKind::Metadata, more as u64)?;
        nodes.reserve(more, GFP_NOIO)?;
        for i in 0..more as u64 {
            nodes.push(first + i, GFP_NOIO)?;
        }
        Ok(())
    }

    /// Gives back the node blocks of `nodes` from the `used`-th on.
    fn give_back_nodes(&self, nodes: &[u64], used: usize) {
        for &block in nodes.iter().skip(used) {
            self.store.give_back(ExtentKind::Metadata, block, 1);
        }
    }

    /// Makes `change` in the tree under the map lock, then trims the cache
    /// (asking for a commit under pressure). A change that cannot be made
    /// leaves the tree half changed: the disk stops taking writes.
    pub(super) fn make_change(
        &self,
        state: &mut MapState,
        change: &Change,
        spares: &mut Spares,
    ) -> Result {
        if let Err(e) = apply_change(state, change, spares) {
            self.broken.store(true, Ordering::Relaxed);
            return Err(e);
        }
        if state.trim_cache() {
            self.inbox.lock().commit = true;
        }
        Ok(())
    }

    /// Discard and write-zeroes: unlink the range.
    fn unmap(self: &Arc<Self>, ws: &mut WorkerState, handed: Handed) {
        let (lba, count) = blocks_of(&handed.io);
        if self.map.lock().provisioning(lba, count) {
            return self.park(handed);
        }
        let status = self.unmap_range(ws, lba, lba + count);
        let status = if status.is_ok() && is_fua(&handed.io) {
            self.commit(ws)
        } else {
            status
        };
        end(handed, status);
    }

    fn unmap_range(&self, ws: &mut WorkerState, lba: u64, end_lba: u64) -> Result {
        let mut cur = lba;
        let mut nodes: KVec<u64> = KVec::new();
        while cur < end_lba {
            let mut spares = Spares::new(nodes.len(), GFP_NOIO)?;
            let mut state = self.map.lock();
            match map::unmap(&state.cache, &state.tree, cur, end_lba - cur, &nodes) {
                Ok(change) => {
                    self.make_change(&mut state, &change, &mut spares)?;
                    drop(state);
                    // Without memory to remember them, the blocks leak
                    // (gc reclaims them): never freed early.
                    let _ = ws.unlink(&change);
                    cur += change.count().max(1);
                    self.give_back_nodes(&nodes, change.nodes_used() as usize);
                    nodes = KVec::new();
                }
                Err(MapError::Miss { block, level }) => {
                    drop(state);
                    self.load(ws, block, level)?;
                }
                Err(MapError::NeedBlocks { nodes: n, .. }) => {
                    drop(state);
                    self.more_nodes(&mut nodes, n as usize)?;
                }
                Err(e) => {
                    warn_ratelimited!("{}: block {}: {}\n", &*self.name, cur, e);
                    return Err(EIO);
                }
            }
        }
        Ok(())
    }
}
