// SPDX-License-Identifier: GPL-2.0

//! The I/O path: what a disk is given becomes bios on the backing device.
//!
//! Every disk is bio-based. A disk is either a VDI of a store
//! ([`crate::vdi`]: reads and in-place writes are mapped here, copy-on-write
//! writes whose path is cached start here, and everything else goes to the
//! disk's worker) or, when no `vdi` is set, a pass-through of the raw
//! device, which clones each bio it is given once, flags and all, as
//! device-mapper's linear target does. The pass-through is the baseline
//! the benchmark measures the VDI against.
//!
//! The clones of a bio are allocated all at once before any is submitted,
//! so a bio is either wholly in flight or, when clones run out without
//! waiting, handed to the worker untouched (a VDI) or cloned again waiting
//! for the set's reserve (the pass-through). Each clone holds a share of
//! the bio; whichever completes last ends it with the first error any
//! clone saw. Nothing here takes a lock but a VDI's map spinlock, briefly,
//! and nothing here waits for metadata.

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    alloc::flags::{GFP_NOIO, GFP_NOWAIT},
    block::{
        bio::{BioSet, Clones, EndIo, IncomingBio},
        mq::{gen_disk::OpenMode, Operations, Request},
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ARef,
    ThisModule,
};

use crate::disk::ReleaseOnDrop;
use crate::format::block::BLOCK_SIZE;
use crate::ratelimit::{errname, warn_ratelimited};
use crate::store::meta::SECTORS_PER_BLOCK;
use crate::vdi::{
    fast::{is_fua, map_read, map_write_in_place, op_of, Mapped, Op},
    Io, Vdi,
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
    /// Fault injection for tests: this many of the next bios pretend to
    /// run out of clones after cloning without waiting, and take the slow
    /// way (the worker, or waiting for the set's reserve).
    fail_allocations: AtomicU32,
    /// Says, when dropped after `target` (the last field), that the
    /// backing device or VDI is let go.
    _released: ReleaseOnDrop,
}

impl Backend {
    pub(crate) fn new(target: Target, released: ReleaseOnDrop) -> Self {
        Self {
            target,
            fail_allocations: AtomicU32::new(0),
            _released: released,
        }
    }

    /// Make the next `count` bios fail to allocate, as if out of clones.
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
}

/// The operations of a pvdisk disk (bio-based).
pub(crate) struct DiskOps;

#[vtable]
impl Operations for DiskOps {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    type QueueData = Arc<Backend>;

    /// Bio-based disks get no requests.
    fn queue_rq(
        _backend: ArcBorrow<'_, Backend>,
        _rq: ARef<Request<Self>>,
        _is_last: bool,
    ) -> Result {
        Err(EIO)
    }

    fn submit_bio(backend: ArcBorrow<'_, Backend>, bio: IncomingBio) {
        match &backend.target {
            Target::Raw(bios) => pass_bio_through(&backend, bios, bio),
            Target::Vdi(vdi) => map_or_hand_over(&backend, vdi, bio),
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
/// once (reads, with `read_offload` set, only while the store's device
/// is not that busy), and so do copy-on-write writes that can start
/// without sleeping; the rest goes to the disk's worker.
fn map_or_hand_over(backend: &Backend, vdi: &Arc<Vdi>, io: Io) {
    if backing_gone(&vdi.store.bios) {
        return io.end(Err(EIO));
    }
    // The map works in whole blocks; the block layer checks a bio against
    // the disk's logical block size only where its submitter asks it to.
    if io.sector() % SECTORS_PER_BLOCK != 0 || io.bytes() as usize % BLOCK_SIZE != 0 {
        warn_ratelimited!(
            "{}: I/O not aligned to 4 KiB at sector {}\n",
            &*vdi.name,
            io.sector()
        );
        return io.end(Err(EINVAL));
    }
    let mapped = match op_of(&io) {
        // With `read_offload` set, the worker maps reads at depth.
        Op::Read if vdi.read_goes_to_worker() => return vdi.hand_over_read(io),
        Op::Read => map_read(vdi, &io, GFP_NOWAIT),
        // A broken disk's worker refuses writes.
        Op::Write if !vdi.read_only && !is_fua(&io) && !vdi.is_broken() => {
            map_write_in_place(vdi, &io, GFP_NOWAIT)
        }
        _ => return vdi.hand_over(io),
    };
    match mapped {
        Ok(Mapped::Ready(clones)) if !backend.injected_allocation_failure() => {
            for clone in clones {
                clone.submit::<EndBio>();
            }
        }
        Ok(Mapped::NotInPlace) => {
            if let Some(io) = vdi.start_write_now(io) {
                vdi.hand_over(io);
            }
        }
        // A broken tree; out of memory is for the worker to retry.
        Err(e) if e != ENOMEM => io.end(Err(e)),
        // Not cached, being provisioned, or no clones without waiting.
        _ => vdi.hand_over(io),
    }
}

/// Completion of a clone of a disk's bio.
pub(crate) struct EndBio;

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
