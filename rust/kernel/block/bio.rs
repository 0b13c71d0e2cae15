// SPDX-License-Identifier: GPL-2.0

//! Bios: building, submitting and completing block I/O.
//!
//! A driver that stacks on another block device (a remapper, a
//! copy-on-write store) turns its own requests into bios for the lower
//! device. It allocates them from a [`BioSet`], which owns the lower device
//! and outlives every bio allocated from it: dropping the set waits until
//! its submitted bios have completed, and only then lets the device go.
//!
//! [`OwnedBio`] is a new bio before submission; [`OwnedBio::submit`] hands it
//! to the block layer together with a context, and the context comes back to
//! [`EndIo::end_io`] when the bio completes. [`Clones`] clones every bio of
//! what the driver received, a blk-mq request or the bio of a bio-based
//! disk ([`IncomingBio`]), at once; each clone holds a share of it, so it
//! cannot end, and take the pages the clone shares, before the clone
//! completed.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

use crate::{
    alloc::{flags::GFP_NOIO, Flags},
    bindings,
    block::bdev::{BdevFile, BlockDevice},
    block::mq::{Operations, Request},
    error::{
        code::{EINVAL, EIO, ENOMEM},
        to_result, Error, Result,
    },
    init::{self, PinInit},
    page::{Page, PAGE_SIZE},
    pin_init,
    sync::{Arc, Completion},
    types::{ARef, ForeignOwnable, Opaque},
};
use macros::pin_data;

use core::{
    mem::MaybeUninit,
    ptr::{addr_of_mut, NonNull},
    sync::atomic::{AtomicUsize, Ordering},
};

/// A borrowed `struct bio`, for example one of the bios of a request.
///
/// # Invariants
///
/// `self.0` is a valid `struct bio` that is not changed by anyone else for
/// as long as the reference exists.
#[repr(transparent)]
pub struct Bio(Opaque<bindings::bio>);

impl Bio {
    /// Borrow the bio at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `struct bio` that stays valid and
    /// unchanged for `'a`.
    #[inline]
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Self {
        // SAFETY: `Bio` is a transparent wrapper of `struct bio`, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The sector (512-byte unit) the bio starts at.
    #[inline]
    pub fn sector(&self) -> u64 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_iter.bi_sector }
    }

    /// The number of bytes the bio transfers.
    #[inline]
    pub fn size(&self) -> u32 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_iter.bi_size }
    }

    /// The operation and flags of the bio (`REQ_OP_*` | `REQ_*`).
    #[inline]
    pub fn opf(&self) -> u32 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_opf }
    }
}

/// A bio submitted to a bio-based disk (see
/// [`Operations::submit_bio`]), shared between the parts of the driver that
/// complete it, as [`ARef<Request>`] shares a request: each value is one
/// share, and the bio ends when the last share is dropped, with the error
/// one of them recorded ([`IncomingBio::end`]), if any.
///
/// Each share also holds a usage count of the disk's queue, which removing
/// the disk waits for: a bio-based disk is removed only after the driver
/// ended every bio it was given.
///
/// [`Operations::submit_bio`]: crate::block::mq::Operations::submit_bio
///
/// # Invariants
///
/// `bio` is a bio submitted to a bio-based disk that has not ended; `self`
/// owns one count of its `__bi_remaining` and one usage count of the
/// disk's queue.
pub struct IncomingBio {
    bio: NonNull<bindings::bio>,
}

// SAFETY: A share may end the bio from any thread: `bio_endio` is callable
// from any context, and the counts it owns are atomic.
unsafe impl Send for IncomingBio {}

// SAFETY: Through a shared reference a share only reads fields the block
// layer does not change while the bio is in the driver's hands, and records
// an error atomically ([`IncomingBio::fail`]).
unsafe impl Sync for IncomingBio {}

impl IncomingBio {
    /// The first share of `bio`.
    ///
    /// # Safety
    ///
    /// `bio` was submitted to a bio-based disk, whose queue usage the caller
    /// holds for the duration of the call; the caller hands the bio over:
    /// it ends once, when the last share is dropped.
    pub(crate) unsafe fn from_submitted(bio: *mut bindings::bio) -> Self {
        // SAFETY: By the safety requirements the queue usage is held, so
        // taking another count is allowed.
        unsafe { bindings::blk_queue_get_usage(Self::queue_of(bio)) };
        // INVARIANT: the bio's initial count of `__bi_remaining` is the
        // submitter's, handed over to us; the queue count was taken above.
        Self {
            // SAFETY: `bio` is not null: the block layer submitted it.
            bio: unsafe { NonNull::new_unchecked(bio) },
        }
    }

    /// The queue of the disk `bio` was submitted to.
    ///
    /// # Safety
    ///
    /// `bio` is a valid bio submitted to a disk that is not freed.
    #[inline]
    unsafe fn queue_of(bio: *mut bindings::bio) -> *mut bindings::request_queue {
        // SAFETY: By the safety requirements.
        unsafe { (*(*(*bio).bi_bdev).bd_disk).queue }
    }

    #[inline]
    fn bio(&self) -> &Bio {
        // SAFETY: By type invariant the bio has not ended; the block layer
        // and the driver only read it meanwhile.
        unsafe { Bio::from_raw(self.bio.as_ptr()) }
    }

    /// The sector (512-byte unit) the bio starts at.
    #[inline]
    pub fn sector(&self) -> u64 {
        self.bio().sector()
    }

    /// The number of bytes the bio transfers; zero for an empty flush.
    #[inline]
    pub fn bytes(&self) -> u32 {
        self.bio().size()
    }

    /// The operation and flags of the bio (`REQ_OP_*` | `REQ_*`).
    #[inline]
    pub fn opf(&self) -> u32 {
        self.bio().opf()
    }

    /// The operation of the bio (`REQ_OP_*`).
    #[inline]
    pub fn op(&self) -> u32 {
        self.opf() & ((1 << bindings::REQ_OP_BITS) - 1)
    }

    /// Record `error` as the bio's status, unless a share recorded one
    /// already; the bio ends with it when the last share is dropped.
    pub fn fail(&self, error: Error) {
        // SAFETY: `errno_to_blk_status` accepts any errno.
        let status = unsafe { bindings::errno_to_blk_status(error.to_errno()) };
        // SAFETY: By type invariant the bio has not ended. Shares record
        // their status concurrently, so the field is only accessed
        // atomically here; the block layer reads it after the last share.
        let field = unsafe {
            core::sync::atomic::AtomicU8::from_ptr(addr_of_mut!((*self.bio.as_ptr()).bi_status))
        };
        let _ = field.compare_exchange(0, status, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Drop this share, recording `status` if it is an error.
    #[inline]
    pub fn end(self, status: Result) {
        if let Err(e) = status {
            self.fail(e);
        }
    }
}

impl Clone for IncomingBio {
    #[inline]
    fn clone(&self) -> Self {
        // SAFETY: By type invariant the bio has not ended and its queue
        // usage is held by `self`, so both counts may be taken again.
        unsafe {
            bindings::bio_inc_remaining(self.bio.as_ptr());
            bindings::blk_queue_get_usage(Self::queue_of(self.bio.as_ptr()));
        }
        // INVARIANT: the counts taken above belong to the new share.
        Self { bio: self.bio }
    }
}

impl Drop for IncomingBio {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By type invariant the bio has not ended, and the queue
        // usage we hold keeps the disk.
        let queue = unsafe { Self::queue_of(self.bio.as_ptr()) };
        // SAFETY: We own one count of `__bi_remaining`: the last one ends
        // the bio, which may be freed then.
        unsafe { bindings::bio_endio(self.bio.as_ptr()) };
        // SAFETY: We own one usage count of the queue; the queue is not
        // freed before the disk's removal waited for it.
        unsafe { bindings::blk_queue_put_usage(queue) };
    }
}

// An `IncomingBio` can be handed to C (as the `bi_private` of a clone) and
// taken back; it keeps its counts meanwhile.
impl ForeignOwnable for IncomingBio {
    type Borrowed<'a> = &'a Bio;

    #[inline]
    fn into_foreign(self) -> *const crate::ffi::c_void {
        let this = core::mem::ManuallyDrop::new(self);
        this.bio.as_ptr().cast_const().cast()
    }

    #[inline]
    unsafe fn borrow<'a>(ptr: *const crate::ffi::c_void) -> &'a Bio {
        // SAFETY: By the safety requirements `ptr` came from `into_foreign`,
        // whose share keeps the bio from ending.
        unsafe { Bio::from_raw(ptr.cast_mut().cast()) }
    }

    #[inline]
    unsafe fn from_foreign(ptr: *const crate::ffi::c_void) -> Self {
        Self {
            // SAFETY: By the safety requirements `ptr` came from
            // `into_foreign` on a share whose counts we now take back.
            bio: unsafe { NonNull::new_unchecked(ptr.cast_mut().cast()) },
        }
    }
}

// SAFETY: A share keeps the bio from ending, and the bio a bio-based disk
// was given is a single bio.
unsafe impl CloneSource for IncomingBio {
    fn for_each_bio(&self, mut f: impl FnMut(&Bio) -> Result) -> Result {
        f(self.bio())
    }

    fn sectors(&self) -> u64 {
        u64::from(self.bytes() >> 9)
    }

    /// None: a bio-based disk gets `REQ_PREFLUSH` and `REQ_FUA` as they
    /// were submitted, and a driver that remaps passes them down.
    fn strip_flags(&self) -> u32 {
        0
    }

    fn same_io(&self, other: &Self) -> bool {
        self.bio == other.bio
    }
}

/// What to do when a submitted bio completes.
pub trait EndIo {
    /// Handed to [`OwnedBio::submit`] and given back to [`EndIo::end_io`],
    /// on whichever CPU the bio completes.
    type Context: ForeignOwnable + Send;

    /// Called once per bio, from the bio's completion (interrupt or softirq
    /// context: must not sleep), with the bio's status. The bio is gone.
    ///
    /// The context must not hold the last reference to the [`BioSet`] the
    /// bio came from: dropping a set sleeps.
    fn end_io(context: Self::Context, status: Result);
}

/// How a synchronous write is ordered against the device's volatile write
/// cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// A plain write: durable once a later flush completed.
    Cached,
    /// `REQ_FUA`: durable when the write completes.
    Fua,
    /// `REQ_PREFLUSH | REQ_FUA`: every write that completed before it is
    /// durable before it is written, and it is durable when it completes.
    /// One round trip for what "flush, write, flush" does: the write that
    /// ends a commit.
    FlushFua,
}

impl Durability {
    /// The operation and flags of a write this durable.
    fn write_opf(self) -> u32 {
        let flags = match self {
            Durability::Cached => 0,
            Durability::Fua => bindings::REQ_FUA,
            Durability::FlushFua => bindings::REQ_PREFLUSH | bindings::REQ_FUA,
        };
        bindings::req_op_REQ_OP_WRITE | flags
    }
}

/// A pool of bios for one lower block device, which a stacking driver
/// allocates from so that it never waits on a pool that the I/O above it
/// already drew from.
///
/// The set owns the device its bios are aimed at. Dropping the set waits
/// for the bios submitted from it to complete, then frees the pool, then
/// releases the device, so neither can go while a bio still uses it.
///
/// C header: [`include/linux/bio.h`](srctree/include/linux/bio.h) (`struct bio_set`)
///
/// # Invariants
///
/// - `set` was initialised by `bioset_init`, is pinned, and is exited on
///   drop, after `in_flight` dropped to zero.
/// - `in_flight` counts the bios from `set` that were submitted and whose
///   completion has not yet run to its end.
/// - Every bio allocated from `set` is aimed at `target`.
#[repr(C)]
pub struct BioSet {
    // First field: a `struct bio_set` pointer is a pointer to the `BioSet`.
    set: Opaque<bindings::bio_set>,
    in_flight: AtomicUsize,
    target: BdevFile,
}

// SAFETY: A `bio_set` is used from any CPU; its mempools lock internally. The
// counter is atomic and `BdevFile` is `Send`.
unsafe impl Send for BioSet {}
// SAFETY: As above, all operations on a `bio_set` are internally synchronised.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A pool that keeps `pool_size` bios in reserve, for bios aimed at
    /// `target`.
    pub fn new(target: BdevFile, pool_size: u32) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes of a `BioSet`.
            unsafe {
                addr_of_mut!((*slot).target).write(target);
                addr_of_mut!((*slot).in_flight).write(AtomicUsize::new(0));
            }
            // SAFETY: `slot` is valid for writes. `bioset_init` expects a
            // zeroed set (it leaves optional parts, like the rescuer, alone).
            let set = unsafe { addr_of_mut!((*slot).set) };
            // SAFETY: As above.
            unsafe { core::ptr::write_bytes(set, 0, 1) };
            // SAFETY: `set` is valid for writes and `Opaque` is a transparent
            // wrapper of `struct bio_set`. `bioset_init` sets up the zeroed
            // set, and cleans up after itself on failure.
            let ret = to_result(unsafe {
                bindings::bioset_init(
                    set.cast(),
                    pool_size,
                    0,
                    (bindings::BIOSET_NEED_BVECS | bindings::BIOSET_NEED_RESCUER)
                        as crate::ffi::c_int,
                )
            });
            if ret.is_err() {
                // SAFETY: `target` was written above and is dropped once.
                unsafe { core::ptr::drop_in_place(addr_of_mut!((*slot).target)) };
            }
            ret
        };
        // SAFETY: On success the slot is fully initialised; on failure
        // nothing is left to clean up. The set is never moved: it is only
        // used through the pinned slot.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// The device the set's bios are aimed at.
    #[inline]
    pub fn target(&self) -> &BlockDevice {
        self.target.bdev()
    }

    /// Bios from the set submitted and not yet completed: how busy the
    /// target is with the driver's I/O. A snapshot, racing submissions and
    /// completions.
    #[inline]
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the target device went away (see [`BdevFile::is_dead`]).
    #[inline]
    pub fn target_is_dead(&self) -> bool {
        self.target.is_dead()
    }

    #[inline]
    fn as_ptr(&self) -> *mut bindings::bio_set {
        self.set.get()
    }

    /// Read the page-sized block at `sector` into `page`, and wait for it.
    /// Sleeps: for metadata I/O from a worker, never from a completion.
    pub fn read_page_sync(&self, page: &mut Page, sector: u64) -> Result {
        self.page_io_sync(page, sector, bindings::req_op_REQ_OP_READ)
    }

    /// Write `page` to the page-sized block at `sector`, ordered against
    /// the device's volatile write cache as `durability` says, and wait for
    /// it. Sleeps, like [`Self::read_page_sync`].
    pub fn write_page_sync(&self, page: &Page, sector: u64, durability: Durability) -> Result {
        self.page_io_sync(page, sector, durability.write_opf())
    }

    /// [`Self::write_page_sync`], and `E::end_io` gets `context` with the
    /// write's status from the write's completion, before the waiter
    /// wakes (or at once, with the error, if no bio could be had): what
    /// waits for the write (another bio) can end there, one wake-up
    /// sooner than through the caller. Sleeps, like
    /// [`Self::read_page_sync`].
    pub fn write_page_sync_with<E: EndIo>(
        &self,
        page: &Page,
        sector: u64,
        durability: Durability,
        context: E::Context,
    ) -> Result {
        wait_with_or_end::<E>(self.page_bio(page, sector, durability.write_opf()), context)
    }

    /// Flush the device's volatile write cache, and wait for it. Sleeps.
    pub fn flush_sync(&self) -> Result {
        OwnedBio::flush(self, GFP_NOIO)?.submit_wait()
    }

    /// [`Self::flush_sync`], and `E::end_io` gets `context` as
    /// [`Self::write_page_sync_with`] says. Sleeps.
    pub fn flush_sync_with<E: EndIo>(&self, context: E::Context) -> Result {
        wait_with_or_end::<E>(OwnedBio::flush(self, GFP_NOIO), context)
    }

    /// Write each `(page, sector)` of `pages`, all in flight at once, and
    /// wait until every one completed; the first error of any is returned.
    /// Sleeps, like [`Self::read_page_sync`].
    pub fn write_pages_sync(&self, pages: &[(&Page, u64)]) -> Result {
        let Some((&(page, sector), rest)) = pages.split_last() else {
            return Ok(());
        };
        let write = bindings::req_op_REQ_OP_WRITE;
        let parent = self.page_bio(page, sector, write)?;
        for &(page, sector) in rest {
            let child = match self.page_bio(page, sector, write) {
                Ok(child) => child,
                Err(e) => {
                    // Wait for the children already in flight (the parent's
                    // own page is written too: the caller rewrites all).
                    let _ = parent.submit_wait();
                    return Err(e);
                }
            };
            let child = child.into_raw();
            // SAFETY: `child` and `parent` are unsubmitted bios from this
            // set; after `bio_chain` the parent completes only after the
            // child did (with the child's error, if any). Submitting the
            // child hands our reference to the block layer; its page stays
            // borrowed until the parent completed, below.
            unsafe {
                bindings::bio_chain(child, parent.bio.as_ptr());
                bindings::submit_bio(child);
            }
        }
        parent.submit_wait()
    }

    /// A bio doing `opf` on the page-sized block at `sector` with `page`.
    fn page_bio(&self, page: &Page, sector: u64, opf: u32) -> Result<OwnedBio<'_>> {
        let mut bio = OwnedBio::new(self, 1, opf, GFP_NOIO)?;
        bio.set_sector(sector);
        // SAFETY: We own the unsubmitted bio, which has room for one page;
        // the caller keeps the page borrowed until the bio completed.
        let added =
            unsafe { bindings::bio_add_page(bio.bio.as_ptr(), page.as_ptr(), PAGE_SIZE as u32, 0) };
        if added as usize != PAGE_SIZE {
            return Err(EIO);
        }
        Ok(bio)
    }

    fn page_io_sync(&self, page: &Page, sector: u64, opf: u32) -> Result {
        self.page_bio(page, sector, opf)?.submit_wait()
    }
}

impl Drop for BioSet {
    fn drop(&mut self) {
        // Waiting sleeps (and so does `bioset_exit`): dropping the last
        // reference to a set from a completion is a bug that
        // CONFIG_DEBUG_ATOMIC_SLEEP reports. Bios complete in interrupt context, where nothing may wait for
        // us; a short sleep loop is enough for a path that only runs when a
        // device is torn down with I/O still in flight, which is rare.
        while self.in_flight.load(Ordering::Acquire) != 0 {
            // SAFETY: We are in process context (checked above).
            unsafe { bindings::msleep(1) };
        }
        // SAFETY: By type invariant the set was initialised and no bio from
        // it is in flight any more; unsubmitted bios borrow the set, so
        // none exists either.
        unsafe { bindings::bioset_exit(self.set.get()) };
        // `target` is released after this, with no bio aimed at it left.
    }
}

/// A bio allocated by this driver and not yet submitted.
///
/// # Invariants
///
/// `self.bio` is a valid bio from `self.set` with one reference owned by
/// `self`.
pub struct OwnedBio<'a> {
    bio: NonNull<bindings::bio>,
    set: &'a BioSet,
}

impl<'a> OwnedBio<'a> {
    /// A bio for the set's device with room for `nr_vecs` pages, doing
    /// `opf`.
    pub fn new(set: &'a BioSet, nr_vecs: u16, opf: u32, gfp: Flags) -> Result<Self> {
        // SAFETY: The device and `set` are valid; the call returns a new bio
        // or null.
        let bio = unsafe {
            bindings::bio_alloc_bioset(
                set.target().as_ptr(),
                nr_vecs,
                opf,
                gfp.as_raw(),
                set.as_ptr(),
            )
        };
        // INVARIANT: a non-null result is a new bio with one reference.
        NonNull::new(bio).map(|bio| Self { bio, set }).ok_or(ENOMEM)
    }

    /// An empty bio that flushes the volatile write cache of the device.
    pub fn flush(set: &'a BioSet, gfp: Flags) -> Result<Self> {
        Self::new(
            set,
            0,
            bindings::req_op_REQ_OP_WRITE | bindings::REQ_PREFLUSH,
            gfp,
        )
    }

    /// Point the bio at `sector` (512-byte units) of its device.
    pub fn set_sector(&mut self, sector: u64) {
        // SAFETY: By type invariant we own the unsubmitted bio.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_sector = sector };
    }

    /// Give up ownership: the caller owns the bio's reference.
    fn into_raw(self) -> *mut bindings::bio {
        let bio = self.bio.as_ptr();
        core::mem::forget(self);
        bio
    }

    /// Submit the bio and wait until it completed. Sleeps.
    pub fn submit_wait(self) -> Result {
        // SAFETY: We own the unsubmitted bio. `submit_bio_wait` returns after
        // it completed; our reference stays ours, and `self` puts it.
        let ret = unsafe { bindings::submit_bio_wait(self.bio.as_ptr()) };
        to_result(ret)
    }

    /// Submit the bio and wait until it completed, like
    /// [`Self::submit_wait`]; its completion gives `context` and the
    /// status to `E::end_io` first, then wakes the waiter. Sleeps.
    // `stack_pin_init!` declares its binding `mut`, which is not needed
    // here.
    #[allow(unused_mut)]
    pub fn submit_wait_with<E: EndIo>(self, context: E::Context) -> Result {
        crate::stack_pin_init!(let waiter = WaitWith::new(context.into_foreign()));
        let bio = self.bio.as_ptr();
        // SAFETY: We own the unsubmitted bio. Its completion runs
        // `wait_with_callback` once, which takes the context back and
        // touches `waiter` last by completing it; `waiter` lives (pinned
        // on this stack) until the wait below returned. Our reference to
        // the bio stays ours: the callback does not put it.
        unsafe {
            (*bio).bi_private = (&*waiter as *const WaitWith).cast_mut().cast();
            (*bio).bi_end_io = Some(wait_with_callback::<E>);
            bindings::submit_bio(bio);
        }
        waiter.done.wait_for_completion_io();
        // SAFETY: The bio completed and is still ours (`self` puts it).
        status_of(unsafe { (*bio).bi_status })
    }

    /// Submit the bio. `E::end_io` gets `context` back when it completes.
    pub fn submit<E: EndIo>(self, context: E::Context) {
        let bio = self.bio.as_ptr();
        let set = self.set;
        core::mem::forget(self);
        // SAFETY: `bio` is an unsubmitted bio from `set` that we own.
        unsafe { submit_raw::<E>(set, bio, context) };
    }
}

impl Drop for OwnedBio<'_> {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own one reference to the bio, which
        // was never submitted.
        unsafe { bindings::bio_put(self.bio.as_ptr()) };
    }
}

/// The I/O a stacking driver received and clones: a blk-mq request
/// ([`ARef<Request>`]) or a bio of a bio-based disk ([`IncomingBio`]).
///
/// # Safety
///
/// While a value exists, the I/O it refers to does not end, so the pages of
/// its bios stay; [`CloneSource::for_each_bio`] visits the same bios, in
/// the same order, each time.
pub unsafe trait CloneSource: Clone + ForeignOwnable + Send {
    /// Calls `f` with each bio of the I/O, in order, until `f` fails.
    fn for_each_bio(&self, f: impl FnMut(&Bio) -> Result) -> Result;

    /// The number of 512-byte sectors the I/O covers.
    fn sectors(&self) -> u64;

    /// The `REQ_*` flags its clones must not carry.
    fn strip_flags(&self) -> u32;

    /// True when `self` and `other` are shares of the same I/O.
    fn same_io(&self, other: &Self) -> bool;
}

// SAFETY: An `ARef` keeps the request from ending, and a started request's
// bios do not change.
unsafe impl<T: Operations + 'static> CloneSource for ARef<Request<T>> {
    fn for_each_bio(&self, f: impl FnMut(&Bio) -> Result) -> Result {
        self.bios().try_for_each(f)
    }

    fn sectors(&self) -> u64 {
        u64::from(self.bytes() >> 9)
    }

    /// `REQ_PREFLUSH` always: blk-mq sends the flush of a `REQ_PREFLUSH`
    /// write to the driver as a flush request of its own before the data,
    /// so passing the flag on would flush the lower device twice.
    /// `REQ_FUA` unless the request still has it: a disk without FUA gets
    /// the flush that emulates it as a request of its own as well (the
    /// flush machinery clears `REQ_FUA` on the request, but not on its
    /// bios).
    fn strip_flags(&self) -> u32 {
        if self.opf() & bindings::REQ_FUA != 0 {
            bindings::REQ_PREFLUSH
        } else {
            bindings::REQ_PREFLUSH | bindings::REQ_FUA
        }
    }

    fn same_io(&self, other: &Self) -> bool {
        core::ptr::eq::<Request<T>>(&**self, &**other)
    }
}

/// Clones of the bios of an I/O the driver received (see [`CloneSource`]),
/// aimed at a [`BioSet`]'s device, allocated together before any is
/// submitted: the I/O is either wholly in flight or not at all, so a failed
/// allocation can be retried (a request by requeueing it).
///
/// [`Clones::new`] clones every bio as it is (a pass-through);
/// [`Clones::empty`] and [`Clones::add_range`] clone parts of the data and
/// aim each at a sector of their own (a remapping driver, which splits the
/// I/O at its mapping's boundaries).
///
/// A clone shares the pages of its source bio, and each clone keeps the
/// I/O from ending until it completes. The flags of
/// [`CloneSource::strip_flags`] are cleared on the clones.
///
/// # Invariants
///
/// `list` holds unsubmitted clones from `set` of bios of `source`, each
/// with one reference owned by `self`. `source` is a share of the I/O
/// until the iterator hands it, with the last clone, to that clone; then
/// the list is empty.
pub struct Clones<'a, S: CloneSource> {
    list: CloneList,
    set: &'a BioSet,
    source: Option<S>,
    /// The `REQ_*` flags cleared on each clone.
    strip: u32,
}

/// Clones of the bios of a blk-mq request.
pub type RequestClones<'a, T> = Clones<'a, ARef<Request<T>>>;

impl<'a, S: CloneSource> Clones<'a, S> {
    /// Clone every bio of `source` for the device of `set`, at the same
    /// sector, with the same operation and flags (but those of
    /// [`CloneSource::strip_flags`]).
    /// Fails with `ENOMEM` if any clone cannot be allocated, freeing the
    /// others.
    pub fn new(set: &'a BioSet, source: &S, gfp: Flags) -> Result<Self> {
        let mut clones = Self::empty(set, source);
        source.for_each_bio(|bio| {
            let clone = clone_bio(clones.set, clones.strip, bio, gfp)?;
            clones.list.push(clone);
            Ok(())
        })?;
        Ok(clones)
    }

    /// No clones yet; add them with [`Self::add_range`].
    pub fn empty(set: &'a BioSet, source: &S) -> Self {
        Self {
            list: CloneList {
                head: core::ptr::null_mut(),
                last: core::ptr::null_mut(),
            },
            set,
            source: Some(source.clone()),
            strip: source.strip_flags(),
        }
    }

    /// Clear `flags` too on the clones added from now on: a driver that
    /// handles `REQ_PREFLUSH` or `REQ_FUA` itself (before or after the data
    /// goes down) does not pass them on.
    pub fn strip_also(&mut self, flags: u32) {
        self.strip |= flags;
    }

    /// Clone the source's data at `offset..offset + sectors` (in sectors
    /// from its start), aimed at `target` and on: one clone per bio of the
    /// source that the range overlaps.
    ///
    /// Fails with `EINVAL` if the range is empty or reaches past the end of
    /// the source, or once the iterator took the last clone (and with it
    /// the list's share of the source), and with `ENOMEM` if a clone cannot
    /// be allocated; the clones added before stay.
    pub fn add_range(&mut self, offset: u64, sectors: u64, target: u64, gfp: Flags) -> Result {
        self.for_each_part(offset, sectors, gfp, |list, clone, done| {
            // SAFETY: `clone` is an unsubmitted clone that we own.
            unsafe { (*clone).bi_iter.bi_sector = target + done };
            list.push(clone);
        })
    }

    /// Fill the source's data at `offset..offset + sectors` (in sectors
    /// from its start) with zeros: a read of a range that holds no data.
    /// Errors as [`Self::add_range`].
    pub fn zero_range(&mut self, offset: u64, sectors: u64, gfp: Flags) -> Result {
        self.for_each_part(offset, sectors, gfp, |_, clone, _| {
            // SAFETY: `clone` is an unsubmitted clone that we own; it covers
            // pages of the source (which `source` keeps), and its iterator
            // the part of them to zero. It is put right after.
            unsafe {
                bindings::zero_fill_bio_iter(clone, (*clone).bi_iter);
                bindings::bio_put(clone);
            }
        })
    }

    /// Calls `f` with a clone of each part of the source's bios that
    /// `offset..offset + sectors` overlaps, trimmed to the overlap, and the
    /// number of sectors of the range before it. `f` owns the clone.
    fn for_each_part(
        &mut self,
        offset: u64,
        sectors: u64,
        gfp: Flags,
        mut f: impl FnMut(&mut CloneList, *mut bindings::bio, u64),
    ) -> Result {
        let end = offset.checked_add(sectors).ok_or(EINVAL)?;
        let Self {
            list,
            set,
            source,
            strip,
        } = self;
        // No source left: the iterator handed it on with the last clone.
        let Some(source) = source.as_ref() else {
            return Err(EINVAL);
        };
        if sectors == 0 || end > source.sectors() {
            return Err(EINVAL);
        }
        let mut start = 0u64;
        source.for_each_bio(|bio| {
            let len = u64::from(bio.size() >> 9);
            let (lo, hi) = (start.max(offset), (start + len).min(end));
            if lo < hi {
                let clone = clone_bio(set, *strip, bio, gfp)?;
                if (lo, hi) != (start, start + len) {
                    // SAFETY: `clone` is an unsubmitted clone of `bio` that
                    // we own, and `lo - start + (hi - lo)` is within its
                    // `len`.
                    unsafe { bindings::bio_trim(clone, lo - start, hi - lo) };
                }
                f(list, clone, lo - offset);
            }
            start += len;
            Ok(())
        })
    }
}

/// A clone of `bio` for the device of `set`, without the flags `strip`,
/// owned by the caller.
fn clone_bio(set: &BioSet, strip: u32, bio: &Bio, gfp: Flags) -> Result<*mut bindings::bio> {
    // SAFETY: All pointers are valid; the call returns a new bio or null.
    let clone = unsafe {
        bindings::bio_alloc_clone(
            set.target().as_ptr(),
            bio.0.get(),
            gfp.as_raw(),
            set.as_ptr(),
        )
    };
    if clone.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `clone` is a new bio that we own.
    unsafe {
        (*clone).bi_opf &= !strip;
        (*clone).bi_next = core::ptr::null_mut();
    }
    Ok(clone)
}

/// The unsubmitted clones of a [`Clones`], linked through `bi_next`.
///
/// # Invariants
///
/// `head` is a list, linked through `bi_next`, of unsubmitted clones, each
/// with one reference owned by the list's [`Clones`]; `last` is its last
/// element, or null when it is empty.
struct CloneList {
    head: *mut bindings::bio,
    last: *mut bindings::bio,
}

impl CloneList {
    /// Append `clone`, an unsubmitted clone from the set of the list's
    /// [`Clones`] of a bio of its source, whose reference the caller hands
    /// over.
    fn push(&mut self, clone: *mut bindings::bio) {
        if self.last.is_null() {
            self.head = clone;
        } else {
            // SAFETY: By type invariant `last` is a clone we own.
            unsafe { (*self.last).bi_next = clone };
        }
        // INVARIANT: `clone` is the new last element of the list.
        self.last = clone;
    }
}

impl<'a, S: CloneSource> Iterator for Clones<'a, S> {
    type Item = ClonedBio<'a, S>;

    fn next(&mut self) -> Option<ClonedBio<'a, S>> {
        let bio = NonNull::new(self.list.head)?;
        // SAFETY: By type invariant `bio` is a clone we own.
        let next = unsafe { (*bio.as_ptr()).bi_next };
        // The last clone takes our share over: one share fewer to take and
        // drop for each I/O (most have a single clone).
        let source = if next.is_null() {
            self.source.take()
        } else {
            self.source.clone()
        }?;
        // SAFETY: By type invariant `bio` is a clone we own; unlinking it
        // moves its reference to the `ClonedBio`.
        unsafe {
            self.list.head = next;
            (*bio.as_ptr()).bi_next = core::ptr::null_mut();
        }
        if self.list.head.is_null() {
            // INVARIANT: the list is empty now that `source` is handed on.
            self.list.last = core::ptr::null_mut();
        }
        Some(ClonedBio {
            bio,
            set: self.set,
            source,
        })
    }
}

impl<S: CloneSource> Drop for Clones<'_, S> {
    fn drop(&mut self) {
        while let Some(bio) = NonNull::new(self.list.head) {
            // SAFETY: By type invariant we own the unsubmitted clone.
            unsafe {
                self.list.head = (*bio.as_ptr()).bi_next;
                bindings::bio_put(bio.as_ptr());
            }
        }
    }
}

/// A completion context for a clone that shares the pages of an I/O the
/// driver received (see [`CloneSource`]): while a value of the type exists,
/// the I/O cannot end.
///
/// # Safety
///
/// While a value of the implementing type exists, the I/O that
/// [`SourceContext::source`] returns a share of does not end: the value
/// holds that share, which it neither drops nor replaces before the value
/// itself is dropped, and `source` always returns it.
pub unsafe trait SourceContext<S: CloneSource>: ForeignOwnable + Send {
    /// The share that keeps the I/O from ending.
    fn source(&self) -> &S;
}

// SAFETY: Every `ARef` to a request is a share of its completion: the
// request ends only when the last one is dropped.
unsafe impl<T: Operations + 'static> SourceContext<ARef<Request<T>>> for ARef<Request<T>> {
    fn source(&self) -> &ARef<Request<T>> {
        self
    }
}

// SAFETY: Every `IncomingBio` is a share of the bio's completion: the bio
// ends only when the last one is dropped.
unsafe impl SourceContext<IncomingBio> for IncomingBio {
    fn source(&self) -> &IncomingBio {
        self
    }
}

/// A structure of the driver's that holds a share of an I/O it received
/// for as long as it lives, so that an [`Arc`] of it can be the completion
/// context of the I/O's clones ([`ClonedBio::submit_with`]).
///
/// # Safety
///
/// A value holds the share [`HoldsSource::source`] returns from its
/// creation until it is dropped, never replaces it, and `source` always
/// returns it.
pub unsafe trait HoldsSource<S: CloneSource> {
    /// The share that keeps the I/O from ending.
    fn source(&self) -> &S;
}

// SAFETY: The `Arc` keeps its value, and so the value's share, alive.
unsafe impl<S: CloneSource, T: HoldsSource<S> + Send + Sync + 'static> SourceContext<S> for Arc<T> {
    fn source(&self) -> &S {
        T::source(self)
    }
}

/// One clone from [`Clones`], not yet submitted.
///
/// # Invariants
///
/// `bio` is an unsubmitted clone from `set` of a bio of `source`, with one
/// reference owned by `self`.
pub struct ClonedBio<'a, S: CloneSource> {
    bio: NonNull<bindings::bio>,
    set: &'a BioSet,
    source: S,
}

impl<S: CloneSource> ClonedBio<'_, S> {
    /// The sector (512-byte units) the clone is aimed at.
    pub fn sector(&self) -> u64 {
        // SAFETY: By type invariant we own the unsubmitted bio.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_sector }
    }

    /// Point the clone at `sector` (512-byte units) of its device.
    pub fn set_sector(&mut self, sector: u64) {
        // SAFETY: By type invariant we own the unsubmitted bio.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_sector = sector };
    }

    /// Submit the clone. `E::end_io` gets the source back when the clone
    /// completes; dropping it there ends the source if it was the last
    /// part (see [`Request::end_when_last`], [`IncomingBio`]).
    pub fn submit<E: EndIo<Context = S>>(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: We take the source out of `this`, which is never used or
        // dropped again.
        let source = unsafe { core::ptr::read(&this.source) };
        // SAFETY: By type invariant `bio` is an unsubmitted bio from `set`
        // that we own. Its pages belong to the source, which the context
        // keeps from ending until the clone completed.
        unsafe { submit_raw::<E>(this.set, this.bio.as_ptr(), source) };
    }
}

impl<S: CloneSource> ClonedBio<'_, S> {
    /// Submit the clone with a context of the driver's, which keeps the
    /// clone's source from ending (for example a driver structure that
    /// holds the request or bio until work after the I/O is done). Fails
    /// with `EINVAL`, dropping the clone, if the context holds another I/O.
    pub fn submit_with<E: EndIo>(self, context: E::Context) -> Result
    where
        E::Context: SourceContext<S>,
    {
        if !context.source().same_io(&self.source) {
            return Err(EINVAL);
        }
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: We take the share out of `this`, which is never used or
        // dropped again. Dropping it cannot end the I/O: `context` holds
        // it too (`SourceContext`).
        drop(unsafe { core::ptr::read(&this.source) });
        // SAFETY: By type invariant `bio` is an unsubmitted bio from `set`
        // that we own. Its pages belong to the source, which the context
        // keeps from ending until the clone completed.
        unsafe { submit_raw::<E>(this.set, this.bio.as_ptr(), context) };
        Ok(())
    }
}

impl<S: CloneSource> Drop for ClonedBio<'_, S> {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own the unsubmitted clone.
        unsafe { bindings::bio_put(self.bio.as_ptr()) };
    }
}

/// Runs `f` under a block plug of the running task: the bios `f` submits
/// are held, merged where they are contiguous on their device, and sent
/// down together when `f` returns (or earlier, if `f` sleeps or the plug
/// fills). Under a plug the task already has, `f` runs under that one.
pub fn with_plug<R>(f: impl FnOnce() -> R) -> R {
    let mut plug = MaybeUninit::<bindings::blk_plug>::uninit();
    // SAFETY: `plug` stays in this frame until `blk_finish_plug` below has
    // taken it off the task. `blk_start_plug` initialises it and sets it as
    // the task's plug, or leaves it untouched when the task has one; then
    // `blk_finish_plug` sees it is not the task's plug and does nothing.
    unsafe { bindings::blk_start_plug(plug.as_mut_ptr()) };
    let result = f();
    // SAFETY: The same task and frame as `blk_start_plug` above.
    unsafe { bindings::blk_finish_plug(plug.as_mut_ptr()) };
    result
}

/// Runs `f` with the running task's block plug set aside, so that bios `f`
/// submits go down at once.
///
/// A blk-mq driver that stacks on another device submits bios from its
/// `queue_rq`, which may run while the block layer flushes the caller's
/// plug (at `blk_finish_plug`, or when the plug is full). The flush zeroes
/// the plug's count before it pops the requests one by one; a lower
/// device's request added to that same plug in the middle would be popped
/// and issued with the rest while the count says one is left, and the
/// next request plugged would find a count without a list. With the plug
/// set aside the lower requests are issued directly; the plug is put back
/// afterwards.
pub fn without_plug<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: `get_current` returns the running task, valid while it runs.
    let task = unsafe { bindings::get_current() };
    // SAFETY: Only the task itself reads or writes its `plug` field, and we
    // are that task; the field is put back before returning.
    let plug = unsafe { core::ptr::replace(addr_of_mut!((*task).plug), core::ptr::null_mut()) };
    let result = f();
    // SAFETY: As above.
    unsafe { *addr_of_mut!((*task).plug) = plug };
    result
}

/// Submit `bio` with `context` for `E::end_io`.
///
/// # Safety
///
/// `bio` is an unsubmitted bio allocated from `set`, whose one reference
/// the caller owns and hands over.
unsafe fn submit_raw<E: EndIo>(set: &BioSet, bio: *mut bindings::bio, context: E::Context) {
    // INVARIANT: counted until `end_io_callback` is done with the bio; the
    // set cannot be dropped meanwhile.
    set.in_flight.fetch_add(1, Ordering::Relaxed);
    // SAFETY: We own the unsubmitted bio. Setting the completion fields and
    // submitting passes our reference to the block layer, which calls
    // `end_io_callback` exactly once.
    unsafe {
        (*bio).bi_private = context.into_foreign().cast_mut();
        (*bio).bi_end_io = Some(end_io_callback::<E>);
        bindings::submit_bio(bio);
    }
}

/// Submits `bio` and waits as [`OwnedBio::submit_wait_with`] does; if there
/// is no bio, `E::end_io` gets the error at once: either way `context` goes
/// to `E::end_io` exactly once.
fn wait_with_or_end<E: EndIo>(bio: Result<OwnedBio<'_>>, context: E::Context) -> Result {
    match bio {
        Ok(bio) => bio.submit_wait_with::<E>(context),
        Err(e) => {
            E::end_io(context, Err(e));
            Err(e)
        }
    }
}

/// What a bio submitted by [`OwnedBio::submit_wait_with`] points to.
#[pin_data]
struct WaitWith {
    #[pin]
    done: Completion,
    /// The caller's context, from `into_foreign`; the completion takes it
    /// back.
    context: *const core::ffi::c_void,
}

impl WaitWith {
    fn new(context: *const core::ffi::c_void) -> impl PinInit<Self> {
        pin_init!(Self {
            done <- Completion::new(),
            context,
        })
    }
}

/// The `bi_end_io` of a bio submitted by [`OwnedBio::submit_wait_with`].
///
/// # Safety
///
/// Called by the block layer once, for a bio whose `bi_private` points to
/// the pinned [`WaitWith`] of a caller waiting for it, whose `context`
/// came from `E::Context::into_foreign`.
unsafe extern "C" fn wait_with_callback<E: EndIo>(bio: *mut bindings::bio) {
    // SAFETY: The bio is valid (its submitter holds a reference), and so is
    // the waiter it points to until completed below.
    let (waiter, status) = unsafe { ((*bio).bi_private.cast::<WaitWith>(), (*bio).bi_status) };
    // SAFETY: The context came from `into_foreign` in `submit_wait_with`,
    // and this is the only place it is taken back.
    let context = unsafe { E::Context::from_foreign((*waiter).context) };
    E::end_io(context, status_of(status));
    // SAFETY: The waiter is valid until completed: this is the last use
    // of it (its stack frame may be gone once the completion's lock is
    // released).
    unsafe { (*waiter).done.complete_all() };
}

/// A bio's status as a `Result`.
fn status_of(status: bindings::blk_status_t) -> Result {
    if status == bindings::BLK_STS_OK as bindings::blk_status_t {
        Ok(())
    } else {
        // SAFETY: `blk_status_to_errno` accepts any status.
        Err(Error::from_errno(unsafe {
            bindings::blk_status_to_errno(status)
        }))
    }
}

/// The `bi_end_io` of bios submitted through [`submit_raw`].
///
/// # Safety
///
/// Called by the block layer once, for a bio from a [`BioSet`] whose
/// `bi_private` came from `E::Context::into_foreign` in [`submit_raw`].
unsafe extern "C" fn end_io_callback<E: EndIo>(bio: *mut bindings::bio) {
    // SAFETY: The bio is valid until we drop our reference below. Its pool
    // is the `struct bio_set` at the start of a `BioSet` (`repr(C)`).
    let (private, status, set) = unsafe {
        (
            (*bio).bi_private,
            (*bio).bi_status,
            (*bio).bi_pool.cast::<BioSet>(),
        )
    };
    // SAFETY: We own the reference `submit_raw` passed to the block layer.
    unsafe { bindings::bio_put(bio) };
    // SAFETY: The set cannot be dropped while this bio counts as in flight.
    // After the decrement it may be gone: it is not touched again.
    unsafe { (*set).in_flight.fetch_sub(1, Ordering::Release) };
    let status = status_of(status);
    // SAFETY: `private` came from `into_foreign` in `submit_raw`, and this
    // is the only place it is taken back.
    let context = unsafe { E::Context::from_foreign(private) };
    E::end_io(context, status);
}
