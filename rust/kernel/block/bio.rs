// SPDX-License-Identifier: GPL-2.0

//! Bios: building, submitting and completing block I/O.
//!
//! A driver that stacks on another block device (a remapper, a
//! copy-on-write store) turns its own requests into bios for the lower
//! device. [`OwnedBio`] is such a bio before submission; [`OwnedBio::submit`]
//! hands it to the block layer together with a context, and the context
//! comes back to [`EndIo::end_io`] when the bio completes.
//!
//! C header: [`include/linux/bio.h`](srctree/include/linux/bio.h)
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

use crate::{
    alloc::Flags,
    bindings,
    block::bdev::BlockDevice,
    error::{to_result, Error, Result},
    init::{self, PinInit},
    types::{ForeignOwnable, Opaque},
};
use core::{marker::PhantomData, ptr::NonNull};

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
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::bio) -> &'a Self {
        // SAFETY: `Bio` is a transparent wrapper of `struct bio`, and the
        // caller guarantees validity for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The sector (512-byte unit) the bio starts at.
    pub fn sector(&self) -> u64 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_iter.bi_sector }
    }

    /// The number of bytes the bio transfers.
    pub fn size(&self) -> u32 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_iter.bi_size }
    }

    /// The operation and flags of the bio (`REQ_OP_*` | `REQ_*`).
    pub fn opf(&self) -> u32 {
        // SAFETY: By type invariant, the bio is valid and stable.
        unsafe { (*self.0.get()).bi_opf }
    }
}

/// What to do when a submitted bio completes.
pub trait EndIo {
    /// Handed to [`OwnedBio::submit`] and given back to [`EndIo::end_io`].
    type Context: ForeignOwnable;

    /// Called once per bio, from the bio's completion (interrupt or softirq
    /// context: must not sleep), with the bio's status. The bio is gone.
    fn end_io(context: Self::Context, status: Result);
}

/// A pool of bios that a stacking driver allocates from, so that it never
/// waits on a pool that the I/O above it already drew from.
///
/// C header: [`include/linux/bio.h`](srctree/include/linux/bio.h) (`struct bio_set`)
///
/// # Invariants
///
/// `self.0` was initialised by `bioset_init`, is pinned, and is exited on
/// drop.
#[repr(transparent)]
pub struct BioSet(Opaque<bindings::bio_set>);

// SAFETY: A `bio_set` is used from any CPU; its mempools lock internally.
unsafe impl Send for BioSet {}
// SAFETY: As above, all operations on a `bio_set` are internally synchronised.
unsafe impl Sync for BioSet {}

impl BioSet {
    /// A pool that keeps `pool_size` bios in reserve.
    pub fn new(pool_size: u32) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes. `bioset_init` expects a
            // zeroed set (it leaves optional parts, like the rescuer, alone).
            unsafe { core::ptr::write_bytes(slot, 0, 1) };
            // SAFETY: `slot` is valid for writes and `BioSet` is a
            // transparent wrapper of `struct bio_set`. `bioset_init` sets up
            // the zeroed set, and cleans up after itself on failure.
            to_result(unsafe {
                bindings::bioset_init(
                    slot.cast(),
                    pool_size,
                    0,
                    bindings::BIOSET_NEED_BVECS as crate::ffi::c_int,
                )
            })
        };
        // SAFETY: On success the slot is fully initialised by `bioset_init`;
        // on failure nothing is left to clean up. The set is never moved: it
        // is only used through the pinned slot.
        unsafe { init::pin_init_from_closure(init) }
    }

    fn as_ptr(&self) -> *mut bindings::bio_set {
        self.0.get()
    }
}

impl Drop for BioSet {
    fn drop(&mut self) {
        // SAFETY: By type invariant the set was initialised. No bio from it
        // is outstanding: each `OwnedBio` borrows the set, and the owner of
        // the set (a disk) waits for submitted bios before letting it go.
        unsafe { bindings::bioset_exit(self.0.get()) };
    }
}

/// A bio allocated by this driver and not yet submitted.
///
/// # Invariants
///
/// `self.bio` is a valid bio with one reference owned by `self`.
pub struct OwnedBio<'a> {
    bio: NonNull<bindings::bio>,
    _set: PhantomData<&'a BioSet>,
}

impl<'a> OwnedBio<'a> {
    /// A bio for `bdev` with room for `nr_vecs` pages, doing `opf`.
    pub fn new(
        set: &'a BioSet,
        bdev: &BlockDevice,
        nr_vecs: u16,
        opf: u32,
        gfp: Flags,
    ) -> Result<Self> {
        // SAFETY: `bdev` and `set` are valid; the call returns a new bio or
        // null.
        let bio = unsafe {
            bindings::bio_alloc_bioset(bdev.as_ptr(), nr_vecs, opf, gfp.as_raw(), set.as_ptr())
        };
        // INVARIANT: a non-null result is a new bio with one reference.
        NonNull::new(bio)
            .map(|bio| Self {
                bio,
                _set: PhantomData,
            })
            .ok_or(crate::error::code::ENOMEM)
    }

    /// An empty bio that flushes the volatile write cache of `bdev`.
    pub fn flush(set: &'a BioSet, bdev: &BlockDevice, gfp: Flags) -> Result<Self> {
        Self::new(
            set,
            bdev,
            0,
            bindings::req_op_REQ_OP_WRITE | bindings::REQ_PREFLUSH,
            gfp,
        )
    }

    /// A bio for `bdev` that transfers the same pages, at the same sector,
    /// with the same operation and flags as `source`.
    ///
    /// The clone shares the page vector of `source`, so `source` must not
    /// complete before the clone does; a request that submits clones of
    /// its own bios and ends only when they completed guarantees that.
    pub fn clone_of(set: &'a BioSet, source: &Bio, bdev: &BlockDevice, gfp: Flags) -> Result<Self> {
        // SAFETY: All pointers are valid; the call returns a new bio or null.
        let bio = unsafe {
            bindings::bio_alloc_clone(bdev.as_ptr(), source.0.get(), gfp.as_raw(), set.as_ptr())
        };
        // INVARIANT: a non-null result is a new bio with one reference.
        NonNull::new(bio)
            .map(|bio| Self {
                bio,
                _set: PhantomData,
            })
            .ok_or(crate::error::code::ENOMEM)
    }

    /// Point the bio at `sector` (512-byte units) of its device.
    pub fn set_sector(&mut self, sector: u64) {
        // SAFETY: By type invariant we own the unsubmitted bio.
        unsafe { (*self.bio.as_ptr()).bi_iter.bi_sector = sector };
    }

    /// Submit the bio. `E::end_io` gets `context` back when it completes.
    pub fn submit<E: EndIo>(self, context: E::Context) {
        let bio = self.bio.as_ptr();
        core::mem::forget(self);
        // SAFETY: We own the unsubmitted bio (type invariant). Setting the
        // completion fields and submitting passes our reference to the
        // block layer, which calls `end_io_callback` exactly once.
        unsafe {
            (*bio).bi_private = context.into_foreign().cast_mut();
            (*bio).bi_end_io = Some(end_io_callback::<E>);
            bindings::submit_bio(bio);
        }
    }
}

impl Drop for OwnedBio<'_> {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own one reference to the bio, which
        // was never submitted.
        unsafe { bindings::bio_put(self.bio.as_ptr()) };
    }
}

/// The `bi_end_io` of bios submitted through [`OwnedBio::submit`].
///
/// # Safety
///
/// Called by the block layer once, for a bio whose `bi_private` came from
/// `E::Context::into_foreign` in [`OwnedBio::submit`].
unsafe extern "C" fn end_io_callback<E: EndIo>(bio: *mut bindings::bio) {
    // SAFETY: The bio is valid until we drop our reference below.
    let (private, status) = unsafe { ((*bio).bi_private, (*bio).bi_status) };
    // SAFETY: We own the reference `submit` passed to the block layer.
    unsafe { bindings::bio_put(bio) };
    let status = if status == bindings::BLK_STS_OK as bindings::blk_status_t {
        Ok(())
    } else {
        // SAFETY: `blk_status_to_errno` accepts any status.
        Err(Error::from_errno(unsafe {
            bindings::blk_status_to_errno(status)
        }))
    };
    // SAFETY: `private` came from `into_foreign` in `submit`, and this is
    // the only place it is taken back.
    let context = unsafe { E::Context::from_foreign(private) };
    E::end_io(context, status);
}
