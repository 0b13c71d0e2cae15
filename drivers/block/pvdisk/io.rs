// SPDX-License-Identifier: GPL-2.0

//! The data path: blk-mq requests become bios on the backing device.
//!
//! Each bio of a request is cloned for the backing device (same pages,
//! same flags, so FUA travels down; a discard or write-zeroes bio is
//! cloned the same way) and each clone holds a reference on
//! the request; whichever clone completes last ends the request with the
//! first error any clone saw. A flush request has no bios and becomes an
//! empty `REQ_PREFLUSH` bio. Nothing here takes a lock; `queue_rq` may
//! sleep (the tag set is blocking) because submitting to the backing
//! device may wait for its tags.
//!
//! This is the pass-through stage: a clone goes to the same sector it was
//! aimed at. The radix map will choose the sector (and split requests at
//! block boundaries) at the one marked place in [`PassThrough::queue_rq`].

use kernel::{
    alloc::flags::GFP_NOWAIT,
    block::{
        bdev::BdevFile,
        bio::{BioSet, EndIo, OwnedBio},
        mq::{Operations, Request},
    },
    prelude::*,
    sync::{Arc, ArcBorrow},
    types::ARef,
};

use crate::ratelimit::{errname, warn_ratelimited};

/// Bios kept in reserve for the backing device, so that a disk makes
/// progress under memory pressure.
const BIO_POOL_SIZE: u32 = 64;

/// What a powered disk sends its I/O to.
#[pin_data]
pub(crate) struct Backend {
    file: BdevFile,
    #[pin]
    bios: BioSet,
}

impl Backend {
    pub(crate) fn new(file: BdevFile) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            file,
            bios <- BioSet::new(BIO_POOL_SIZE),
        }? Error)
    }
}

/// The blk-mq operations of a pass-through disk.
pub(crate) struct PassThrough;

#[vtable]
impl Operations for PassThrough {
    type QueueData = Arc<Backend>;

    fn queue_rq(
        backend: ArcBorrow<'_, Backend>,
        rq: ARef<Request<Self>>,
        _is_last: bool,
    ) -> Result {
        let bdev = backend.file.bdev();
        let mut submitted = 0usize;

        if rq.bios().next().is_none() {
            // A flush: discard and write-zeroes requests carry bios
            // (without pages), so this is the only request with none.
            let bio = OwnedBio::flush(&backend.bios, bdev, GFP_NOWAIT)?;
            bio.submit::<EndRequest>(rq.clone());
            submitted += 1;
        }
        for bio in rq.bios() {
            let mut clone = match OwnedBio::clone_of(&backend.bios, bio, bdev, GFP_NOWAIT) {
                Ok(clone) => clone,
                // Nothing in flight yet: blk-mq requeues on ENOMEM.
                Err(e) if submitted == 0 => return Err(e),
                Err(e) => {
                    warn_ratelimited!("out of bios mid-request: {}\n", errname(e));
                    Request::end_when_last(rq, Err(EIO));
                    return Ok(());
                }
            };
            // The radix map chooses the backing sector here.
            clone.set_sector(bio.sector());
            clone.submit::<EndRequest>(rq.clone());
            submitted += 1;
        }
        // Drop our own reference; ends the request if every bio is done.
        Request::end_when_last(rq, Ok(()));
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
