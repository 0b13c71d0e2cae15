// SPDX-License-Identifier: GPL-2.0

//! One attached VDI (or read-only snapshot): the disk's view of its radix
//! tree, through the map layer and the node cache, and the worker that does
//! everything that may sleep.
//!
//! The disk is bio-based. Its submission path ([`fast`]) maps reads and
//! in-place writes under the map lock and submits them at once, and starts
//! copy-on-write writes whose path is cached. Everything else goes to the
//! disk's worker ([`worker`]): bios whose path is not cached, the other
//! copy-on-write writes, FUA writes, flushes and unmaps, and the commits
//! ([`commit`]). [`slots`] bounds what the worker holds.
//! Only the holder of the worker lock changes the tree below its root,
//! so a commit sees nodes that nothing changes under it; a snapshot only
//! replaces the root, under the map lock ([`snapshot`]).

mod apply;
mod cache;
mod commit;
pub(crate) mod fast;
mod manage;
mod slots;
mod snapshot;
mod table;
mod worker;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    alloc::flags::GFP_KERNEL,
    block::bio::IncomingBio,
    fmt, new_mutex, new_spinlock,
    prelude::*,
    str::CString,
    sync::{Arc, Mutex, SpinLock},
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

use crate::format::{extent::ExtentKind, vdi::VDI_NAME_LEN};
use crate::map::Tree;
use crate::ratelimit::errname;
use crate::ring::Ring;
use crate::store::{LogHead, Store, Stores};
use crate::workers::Workers;
pub(crate) use cache::CacheStats;
use cache::NodeCache;
use slots::{Slot, Slots};
use snapshot::Unlogged;
use table::Table;
use worker::{WorkerState, WriteOp};

/// What a VDI disk is given: a bio (the disk is bio-based).
pub(crate) type Io = IncomingBio;

/// Bios the worker holds at most, per disk: the size of its tables.
pub(crate) const RING_SIZE: usize = 256;

/// A bio in the worker's hands, with the slot that bounds them.
pub(crate) struct Handed {
    pub(crate) io: Io,
    pub(crate) slot: Slot,
}

/// `read_offload` of a new disk: 0, reads are mapped by their submitter.
///
/// With `read_offload` N > 0, a read that finds N or more of the store's
/// bios in flight on its device goes to the worker instead, which runs
/// on an unbound queue (so on another CPU if one has room) and submits
/// what gathered under one plug: for a host whose submitting CPU is the
/// limit under a deep queue. In the bench VM (two vCPUs, TCG) 4 against
/// 0 gave no gain beyond the bench's spread in three A/B runs of 9 to 30
/// repetitions (Documentation/testing.rst), and the hand-over costs a
/// wake-up and a context switch, hence off by default.
pub(crate) const READ_OFFLOAD_DEFAULT: u32 = 0;
/// Largest `read_offload`: the store's bio set holds no more in flight
/// than its disks' queues can send, far below this.
pub(crate) const READ_OFFLOAD_MAX: u32 = 4096;

/// Node cache size bounds, in MiB (`cache_mb`).
pub(crate) const CACHE_MB_MIN: u32 = 1;
pub(crate) const CACHE_MB_MAX: u32 = 4096;
pub(crate) const CACHE_MB_DEFAULT: u32 = 64;

/// A range of logical blocks being provisioned (copy-on-write in flight).
#[derive(Clone, Copy)]
pub(crate) struct Range {
    pub(crate) lba: u64,
    pub(crate) count: u64,
}

impl Range {
    fn overlaps(&self, lba: u64, count: u64) -> bool {
        lba < self.lba + self.count && self.lba < lba + count
    }
}

/// What the map lock protects.
pub(crate) struct MapState {
    pub(crate) tree: Tree,
    pub(crate) cache: NodeCache,
    /// Copy-on-write writes in flight (room for one per [`Slot`]); most
    /// requests find none and skip the scan.
    provisioning: Table<Range>,
    /// The root changed: the commit rewrites the VDI record.
    pub(crate) root_changed: bool,
    /// Snapshots taken and not yet in the log.
    pub(crate) unlogged: Unlogged,
}

impl MapState {
    /// True when a copy-on-write of a block of `lba..lba + count` is in
    /// flight: the request waits for it.
    pub(crate) fn provisioning(&self, lba: u64, count: u64) -> bool {
        self.provisioning.len() != 0 && self.provisioning.iter().any(|r| r.overlaps(lba, count))
    }

    fn start_provisioning(&mut self, range: Range) -> Result {
        self.provisioning.insert(range).map_err(|_| EBUSY)
    }

    fn end_provisioning(&mut self, lba: u64) {
        self.provisioning.remove_first(|r| r.lba == lba);
    }

    /// Evicts what the budget asks for, and says whether the new and dirty
    /// nodes alone fill the cache (a commit is due). Between changes only.
    pub(crate) fn trim_cache(&mut self) -> bool {
        self.cache.trim();
        self.cache.under_pressure()
    }

    /// Anything the next commit must write.
    pub(crate) fn is_dirty(&self) -> bool {
        self.root_changed || self.cache.stats().dirty > 0 || !self.unlogged.is_empty()
    }
}

/// The worker's input.
struct Inbox {
    /// Bios handed over at submission (or again after waiting).
    requests: Ring<Handed>,
    /// Bios waiting for a range being provisioned.
    waiting: Ring<Handed>,
    /// A commit is due (ticker, cache pressure, lazy snapshots).
    commit: bool,
    /// Writes with data bios in flight (room for one per [`Slot`]).
    ops: Table<Tracked>,
    /// Copy-on-write writes started at submission whose data bios wait
    /// for the worker to send them down together (each is also in `ops`).
    held: Ring<Arc<WriteOp>>,
}

impl Inbox {
    /// Tracks `op` until its data completed.
    fn track(&mut self, tracked: Tracked) -> Result<(), Tracked> {
        self.ops.insert(tracked)
    }

    /// Moves the writes whose data completed into `done` (those that do
    /// not fit wait for the next round).
    fn take_done(&mut self, done: &mut Ring<Tracked>, finished: &AtomicU64) {
        if finished.load(Ordering::Acquire) == 0 {
            return;
        }
        self.ops.drain_where(
            |t| t.op.is_done(),
            |t| {
                done.push(t)?;
                finished.fetch_sub(1, Ordering::AcqRel);
                Ok(())
            },
        );
    }
}

/// A write in flight and its slot. The slot is kept here, not in the
/// [`WriteOp`], so that it is given back by the worker when it finished the
/// write, never by the data bio's completion (which may drop the op last):
/// the slots' lock is not taken with interrupts off.
pub(crate) struct Tracked {
    pub(crate) op: Arc<WriteOp>,
    pub(crate) slot: Slot,
}

/// Counters shown in `stats` besides the cache's.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) cow_blocks: AtomicU64,
    /// Copy-on-write writes started at submission (the rest start in the
    /// worker).
    pub(crate) cow_at_submit: AtomicU64,
    pub(crate) commits: AtomicU64,
    /// Commits of one dirty node and no record, written as one bio.
    pub(crate) one_bio_commits: AtomicU64,
    /// Copy-on-write writes whose data bios the worker sent down together
    /// with others, rather than their submitter at once.
    pub(crate) cow_held: AtomicU64,
    /// Reads handed to the worker at submission because the store's
    /// device was busy ([`Vdi::read_goes_to_worker`]).
    pub(crate) worker_reads: AtomicU64,
    pub(crate) freed_blocks: AtomicU64,
}

/// What a disk shows of its VDI.
pub(crate) struct Shows {
    /// The VDI's id and name, as its record has them.
    pub(crate) id: u64,
    pub(crate) name: [u8; VDI_NAME_LEN],
    /// N for a disk showing snapshot `VDI@N`, 0 for the VDI itself.
    pub(crate) snapshot: u64,
    /// Snapshots taken of the VDI so far.
    pub(crate) snap_count: AtomicU64,
}

#[pin_data]
pub(crate) struct Vdi {
    pub(crate) store: Arc<Store>,
    workers: Arc<Workers>,
    /// The VDI's (or `VDI@N` snapshot's) name, for log lines.
    pub(crate) name: CString,
    /// What the disk shows, for `PVDISK_IOC_INFO`.
    pub(crate) shows: Shows,
    slot: u32,
    pub(crate) read_only: bool,
    pub(crate) blocks: u64,
    #[pin]
    pub(crate) map: SpinLock<MapState>,
    #[pin]
    inbox: SpinLock<Inbox>,
    /// What only the worker (or the final commit at detach) uses.
    #[pin]
    worker: Mutex<WorkerState>,
    #[pin]
    work: Work<Vdi>,
    /// Bounds the bios the worker holds.
    slots: Arc<Slots>,
    pub(crate) counters: Counters,
    /// `read_offload`: the depth from which reads go to the worker, 0
    /// for never.
    read_offload: AtomicU32,
    /// A metadata write failed: no more writes are acknowledged.
    pub(crate) broken: AtomicBool,
    /// Tracked writes whose data completed and that the worker has not
    /// taken yet: it scans the inbox only when there are some.
    finished_writes: AtomicU64,
    /// Writes whose data bios are on the store's device: while there are
    /// any, copy-on-write writes started at submission are held.
    writes_in_flight: AtomicU32,
}

impl_has_work! {
    impl HasWork<Self> for Vdi { self.work }
}

impl WorkItem for Vdi {
    type Pointer = Arc<Vdi>;

    fn run(this: Arc<Vdi>) {
        this.run_worker();
    }
}

impl Vdi {
    /// Attaches `spec` (a VDI name, a snapshot label or `VDI@N`) of the
    /// store on `path`, opening the store if no other disk uses it.
    pub(crate) fn attach(
        stores: &Stores,
        workers: &Arc<Workers>,
        path: &CStr,
        spec: &[u8],
        cache_mb: u32,
    ) -> Result<Arc<Self>> {
        let store = stores.get(path)?;
        match Self::attach_to(&store, workers, spec, cache_mb) {
            Ok(vdi) => Ok(vdi),
            Err(e) => {
                stores.put(store);
                Err(e)
            }
        }
    }

    fn attach_to(
        store: &Arc<Store>,
        workers: &Arc<Workers>,
        spec: &[u8],
        cache_mb: u32,
    ) -> Result<Arc<Self>> {
        // A snapshot taken lazily is found once logged.
        Self::log_lazy_snapshots(workers, store);
        let target = store.records.lock().find(store, spec)?;
        if !target.read_only() && store.read_only {
            return Err(EROFS);
        }
        let tree = Tree {
            root: target.root,
            height: target.record.height,
            blocks: target.blocks(),
        };
        let name = match target.snapshot {
            Some(n) => CString::try_from_fmt(fmt!("{}@{}", target.record.name(), n))?,
            None => CString::try_from_fmt(fmt!("{}", target.record.name()))?,
        };
        let provisioning = Table::new(RING_SIZE, GFP_KERNEL)?;
        let ops = Table::new(RING_SIZE, GFP_KERNEL)?;
        let inbox = Inbox {
            ops,
            requests: Ring::new(RING_SIZE, GFP_KERNEL)?,
            waiting: Ring::new(RING_SIZE, GFP_KERNEL)?,
            commit: false,
            held: Ring::new(RING_SIZE, GFP_KERNEL)?,
        };
        let worker = WorkerState::new(LogHead {
            block: target.record.snaplog,
            count: target.record.snap_count,
        })?;
        let unlogged = Unlogged::new(target.record.snap_count)?;
        let slots = Slots::new(RING_SIZE)?;
        let cache = NodeCache::new(cache_mb)?;
        let (slot, read_only) = (target.slot, target.read_only());
        store.records.lock().attach(store, &target)?;
        let vdi = Arc::pin_init(
            pin_init!(Self {
                store: store.clone(),
                workers: workers.clone(),
                name,
                shows: Shows {
                    id: target.record.id,
                    name: target.record.name,
                    snapshot: target.snapshot.unwrap_or(0),
                    snap_count: AtomicU64::new(target.record.snap_count),
                },
                slot,
                read_only,
                blocks: tree.blocks,
                map <- new_spinlock!(MapState {
                    tree,
                    cache,
                    provisioning,
                    root_changed: false,
                    unlogged,
                }, "pvdisk::Vdi::map"),
                inbox <- new_spinlock!(inbox, "pvdisk::Vdi::inbox"),
                worker <- new_mutex!(worker, "pvdisk::Vdi::worker"),
                work <- new_work!("pvdisk::Vdi::work"),
                slots,
                counters: Counters::default(),
                read_offload: AtomicU32::new(READ_OFFLOAD_DEFAULT),
                broken: AtomicBool::new(false),
                finished_writes: AtomicU64::new(0),
                writes_in_flight: AtomicU32::new(0),
            }),
            GFP_KERNEL,
        );
        let vdi = match vdi.and_then(|v| workers.add(&v).map(|()| v)) {
            Ok(v) => v,
            Err(e) => {
                let _ = store.records.lock().detach(store, slot, target.snapshot);
                return Err(e);
            }
        };
        Ok(vdi)
    }

    /// Detaches: the disk is gone, so no request is left. Waits for the
    /// worker, commits what is left and clears the hold.
    pub(crate) fn detach(self: Arc<Self>, stores: &Stores) {
        self.workers.remove(&self);
        if !self.read_only {
            let mut ws = self.worker.lock();
            if let Err(e) = self.commit(&mut ws) {
                pr_warn!("{}: final commit failed: {}\n", &*self.name, errname(e));
            }
            // Live management that finds this disk now leaves its log to
            // the store (`manage`).
            ws.gone = true;
            // A log block a lazy snapshot set aside after the last commit
            // took the one before: nothing links it.
            let spare = core::mem::take(&mut self.map.lock().unlogged.log_block);
            if spare != 0 {
                self.store.give_back(ExtentKind::Metadata, spare, 1);
            }
        }
        let shown = (self.shows.snapshot != 0).then_some(self.shows.snapshot);
        if let Err(e) = self
            .store
            .records
            .lock()
            .detach(&self.store, self.slot, shown)
        {
            pr_warn!(
                "{}: clearing the hold failed: {}\n",
                &*self.name,
                errname(e)
            );
        }
        let store = self.store.clone();
        drop(self);
        stores.put(store);
    }

    /// A commit failed: writes are refused from now on.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.blocks * 4096
    }

    pub(crate) fn cache_stats(&self) -> CacheStats {
        self.map.lock().cache.stats()
    }

    pub(crate) fn reserve_free(&self) -> u64 {
        self.store.reserve_free()
    }

    /// The ticker's visit: commit if anything is uncommitted.
    pub(crate) fn tick(self: &Arc<Self>, _workers: &Workers) {
        if self.read_only || self.broken.load(Ordering::Relaxed) {
            return;
        }
        if self.map.lock().is_dirty() {
            self.inbox.lock().commit = true;
            self.kick();
        }
    }

    /// Makes sure the worker runs.
    pub(crate) fn kick(self: &Arc<Self>) {
        // Already queued is fine: it will see what was just added.
        let _ = self.workers.io.enqueue(self.clone());
    }

    /// Hands `io` to the worker, first waiting for a slot if the worker
    /// holds as many bios as it has room for. Sleeps: from the disk's
    /// `submit_bio` only.
    pub(crate) fn hand_over(self: &Arc<Self>, io: Io) {
        let slot = self.slots.take();
        self.hand_over_with(Handed { io, slot });
    }

    /// True when the store's device has `read_offload` or more of the
    /// store's bios in flight (this disk's or another's): a read is then
    /// mapped by the worker.
    #[inline]
    pub(crate) fn read_goes_to_worker(&self) -> bool {
        let at = self.read_offload.load(Ordering::Relaxed);
        at != 0 && self.store.bios.in_flight() >= at as usize
    }

    /// Sets `read_offload` (at most [`READ_OFFLOAD_MAX`]).
    pub(crate) fn set_read_offload(&self, at: u32) {
        self.read_offload
            .store(at.min(READ_OFFLOAD_MAX), Ordering::Relaxed);
    }

    /// Hands a read to the worker because the device is busy. Sleeps (see
    /// [`Vdi::hand_over`]).
    pub(crate) fn hand_over_read(self: &Arc<Self>, io: Io) {
        self.counters.worker_reads.fetch_add(1, Ordering::Relaxed);
        self.hand_over(io);
    }

    /// Hands `handed` to the worker.
    pub(crate) fn hand_over_with(self: &Arc<Self>, handed: Handed) {
        if let Err(handed) = self.inbox.lock().requests.push(handed) {
            // Cannot happen: the ring has room for every slot.
            handed.io.end(Err(EIO));
            return;
        }
        self.kick();
    }

    /// Times a submitter waited for the worker to give a slot back.
    pub(crate) fn slot_waits(&self) -> u64 {
        self.slots.waits()
    }

    /// A slot if one is free, for a write started at submission.
    pub(crate) fn try_slot(&self) -> Option<Slot> {
        self.slots.try_take()
    }
}
