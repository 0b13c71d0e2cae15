// SPDX-License-Identifier: GPL-2.0

//! The I/O path: what a disk is given becomes bios on the backing device.
//!
//! A disk is either a VDI of a store ([`crate::vdi`]: a blk-mq disk, whose
//! reads and in-place writes are mapped here and everything else goes to
//! the disk's worker) or, when no `vdi` is set, a pass-through of the raw
//! device: a bio-based disk, which clones each bio it is given once, flags
//! and all, as device-mapper's linear target does. The pass-through is the
//! baseline the benchmark measures the two front ends against.
//!
//! The bios of a request are cloned all at once (same pages and flags, so
//! FUA travels down) before any is submitted, so a request is either
//! wholly in flight or, when bios run out, requeued untouched. Each clone
//! holds a reference on the request; whichever completes last ends the
//! request with the first error any clone saw. Nothing here takes a lock
//! but a VDI's map spinlock, briefly; `queue_rq` may sleep (the tag set is
//! blocking) only because submitting to the backing device may wait for
//! its tags, never for metadata.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    alloc::flags::{GFP_NOIO, GFP_NOWAIT},
    block::{
        bio::{without_plug, BioSet, Clones, EndIo, IncomingBio, RequestClones},
        mq::{gen_disk::OpenMode, Operations, Request},
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ARef,
    ThisModule,
};

use crate::ratelimit::{errname, warn_ratelimited};
use crate::vdi::{
    fast::{is_fua, map_read, map_write_in_place, op_of, Mapped, Op},
    Vdi,
};

/// What a disk sends its I/O to.
pub(crate) enum Target {
    /// The raw device, sector for sector.
    Raw(Pin<KBox<BioSet>>),
    /// A VDI of a store.
    Vdi(Arc<Vdi>),
}

/// The queue data of a powered disk.
pub(crate) struct Backend {
    pub(crate) target: Target,
    /// Fault injection for tests: this many of the next requests pretend
    /// to run out of bios after cloning, and are requeued.
    fail_allocations: AtomicU32,
}

impl Backend {
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            fail_allocations: AtomicU32::new(0),
        }
    }

    fn bios(&self) -> &BioSet {
        match &self.target {
            Target::Raw(bios) => bios,
            Target::Vdi(vdi) => &vdi.store.bios,
        }
    }

    /// Make the next `count` requests fail to allocate, as if out of bios.
    pub(crate) fn inject_allocation_failures(&self, count: u32) {
        self.fail_allocations.store(count, Ordering::Relaxed);
    }

    /// Injected allocation failures not yet consumed.
    pub(crate) fn pending_allocation_failures(&self) -> u32 {
        self.fail_allocations.load(Ordering::Relaxed)
    }

    /// Consume one injected allocation failure, if any is pending.
    fn injected_allocation_failure(&self) -> bool {
        self.fail_allocations
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Submits `clones`, unless an injected failure asks for a requeue.
    fn submit(&self, clones: RequestClones<'_, DiskOps>) -> Result {
        if self.injected_allocation_failure() {
            return Err(ENOMEM);
        }
        for clone in clones {
            clone.submit::<EndRequest>();
        }
        Ok(())
    }
}

/// The blk-mq operations of a pvdisk disk.
pub(crate) struct DiskOps;

#[vtable]
impl Operations for DiskOps {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    type QueueData = Arc<Backend>;

    fn queue_rq(
        backend: ArcBorrow<'_, Backend>,
        rq: ARef<Request<Self>>,
        _is_last: bool,
    ) -> Result {
        if backing_gone(backend.bios()) {
            return Err(EIO);
        }
        // queue_rq may run inside the flush of the caller's plug: the
        // backing device's requests must not join that plug.
        without_plug(|| match &backend.target {
            // Raw disks are bio-based: no requests.
            Target::Raw(_) => Err(EIO),
            Target::Vdi(vdi) => map_or_hand_over(&backend, vdi, rq),
        })
    }

    fn submit_bio(backend: ArcBorrow<'_, Backend>, bio: IncomingBio) {
        match &backend.target {
            Target::Raw(bios) => pass_bio_through(&backend, bios, bio),
            // VDI disks are blk-mq disks: no bios.
            Target::Vdi(_) => bio.end(Err(EIO)),
        }
    }

    fn commit_rqs(_backend: ArcBorrow<'_, Backend>) {}

    fn ioctl(backend: ArcBorrow<'_, Backend>, mode: OpenMode, cmd: u32, arg: usize) -> Result<i32> {
        crate::control::ioctl(&backend, mode, cmd, arg)
    }
}

/// A raw disk's bio goes down as one clone, `REQ_PREFLUSH` and `REQ_FUA`
/// included, so the backing device sees exactly the flushes it was sent.
fn pass_bio_through(backend: &Backend, bios: &BioSet, bio: IncomingBio) {
    if backing_gone(bios) {
        return bio.end(Err(EIO));
    }
    // First without waiting; then (or after an injected failure) waiting
    // for the set's reserve, which the clones in flight give back.
    let clones = match Clones::new(bios, &bio, GFP_NOWAIT) {
        Ok(clones) if !backend.injected_allocation_failure() => clones,
        _ => match Clones::new(bios, &bio, GFP_NOIO) {
            Ok(clones) => clones,
            Err(e) => return bio.end(Err(e)),
        },
    };
    for clone in clones {
        clone.submit::<EndBio>();
    }
}

/// A VDI disk: reads and in-place writes whose path is cached go down at
/// once; the rest goes to the disk's worker.
fn map_or_hand_over(backend: &Backend, vdi: &Arc<Vdi>, rq: ARef<Request<DiskOps>>) -> Result {
    let mapped = match op_of(&rq) {
        Op::Read => map_read(vdi, &rq, GFP_NOWAIT)?,
        // A broken disk's worker refuses writes.
        Op::Write if !vdi.read_only && !is_fua(&rq) && !vdi.is_broken() => {
            map_write_in_place(vdi, &rq, GFP_NOWAIT)?
        }
        _ => return vdi.hand_over(rq),
    };
    match mapped {
        Mapped::Ready(clones) => backend.submit(clones),
        Mapped::NotInPlace => match vdi.start_write_now(rq)? {
            None => Ok(()),
            Some(rq) => vdi.hand_over(rq),
        },
        _ => vdi.hand_over(rq),
    }
}

/// Completion of one backing bio of a request.
pub(crate) struct EndRequest;

impl EndIo for EndRequest {
    type Context = ARef<Request<DiskOps>>;

    fn end_io(rq: ARef<Request<DiskOps>>, status: Result) {
        report_backing_error(rq.sector(), status);
        Request::end_when_last(rq, status);
    }
}

/// Completion of the clone of a raw disk's bio.
struct EndBio;

impl EndIo for EndBio {
    type Context = IncomingBio;

    fn end_io(bio: IncomingBio, status: Result) {
        report_backing_error(bio.sector(), status);
        bio.end(status);
    }
}

/// True, with a line in the log, if the backing device went away: I/O
/// fails with `EIO` from then on.
fn backing_gone(bios: &BioSet) -> bool {
    let gone = bios.target_is_dead();
    if gone {
        warn_ratelimited!("backing device is gone; failing I/O\n");
    }
    gone
}

/// Logs a failed backing bio of the I/O at `sector` of the disk.
fn report_backing_error(sector: u64, status: Result) {
    if let Err(e) = status {
        warn_ratelimited!("backing I/O error at sector {}: {}\n", sector, errname(e));
    }
}
