// SPDX-License-Identifier: GPL-2.0

//! The data path: blk-mq requests become bios on the backing device.
//!
//! The bios of a request are cloned for the backing device all at once
//! (same pages, same flags, so FUA travels down; a discard or write-zeroes
//! bio is cloned the same way) before any is submitted, so a request is
//! either wholly in flight or, when bios run out, requeued untouched. Each
//! clone holds a reference on the request; whichever completes last ends
//! the request with the first error any clone saw. A flush request becomes
//! an empty `REQ_PREFLUSH` bio. Nothing here takes a lock; `queue_rq` may
//! sleep (the tag set is blocking) because submitting to the backing
//! device may wait for its tags.
//!
//! This is the pass-through stage: a clone goes to the same sector it was
//! aimed at. The radix map will choose the sector (and split requests at
//! block boundaries) at the one marked place in [`PassThrough::queue_rq`].

use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    alloc::flags::GFP_NOWAIT,
    block::{
        bdev::BdevFile,
        bio::{BioSet, EndIo, OwnedBio, RequestClones},
        mq::{Operations, Request},
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ARef,
    ThisModule,
};

use crate::ratelimit::{errname, warn_ratelimited};

/// Bios kept in reserve for the backing device, so that a disk makes
/// progress under memory pressure.
const BIO_POOL_SIZE: u32 = 64;

/// What a powered disk sends its I/O to.
#[pin_data]
pub(crate) struct Backend {
    /// Bios for the backing device, which the set owns.
    #[pin]
    bios: BioSet,
    /// Fault injection for tests: this many of the next requests pretend
    /// to run out of bios after cloning, and are requeued.
    fail_allocations: AtomicU32,
}

impl Backend {
    pub(crate) fn new(file: BdevFile) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            bios <- BioSet::new(file, BIO_POOL_SIZE),
            fail_allocations: AtomicU32::new(0),
        }? Error)
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
}

/// The blk-mq operations of a pass-through disk.
pub(crate) struct PassThrough;

#[vtable]
impl Operations for PassThrough {
    const OWNER: &'static ThisModule = &crate::THIS_MODULE;
    type QueueData = Arc<Backend>;

    fn queue_rq(
        backend: ArcBorrow<'_, Backend>,
        rq: ARef<Request<Self>>,
        _is_last: bool,
    ) -> Result {
        if backend.bios.target_is_dead() {
            warn_ratelimited!("backing device is gone; failing I/O\n");
            return Err(EIO);
        }
        if rq.is_flush() {
            // ENOMEM here leaves nothing in flight: blk-mq requeues.
            let bio = OwnedBio::flush(&backend.bios, GFP_NOWAIT)?;
            bio.submit::<EndRequest>(rq);
            return Ok(());
        }
        // Every clone or none: on ENOMEM blk-mq requeues the request.
        let clones = RequestClones::new(&backend.bios, &rq, GFP_NOWAIT)?;
        if backend.injected_allocation_failure() {
            return Err(ENOMEM);
        }
        for clone in clones {
            // The radix map will choose the backing sector here
            // (`ClonedBio::set_sector`); pass-through keeps the clone's.
            clone.submit::<EndRequest>();
        }
        Ok(())
    }

    fn commit_rqs(_backend: ArcBorrow<'_, Backend>) {}
}

/// Completion of one backing bio of a request.
struct EndRequest;

impl EndIo for EndRequest {
    type Context = ARef<Request<PassThrough>>;

    fn end_io(rq: ARef<Request<PassThrough>>, status: Result) {
        if let Err(e) = status {
            warn_ratelimited!(
                "backing I/O error at sector {}: {}\n",
                rq.sector(),
                errname(e)
            );
        }
        Request::end_when_last(rq, status);
    }
}
