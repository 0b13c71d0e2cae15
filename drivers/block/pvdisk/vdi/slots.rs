// SPDX-License-Identifier: GPL-2.0

//! A bound on the bios a disk's worker holds.
//!
//! A VDI disk is bio-based: nothing bounds how many bios its submitters
//! have in flight, as a tag set bounds requests. The worker's queues, its
//! table of copy-on-write writes in flight and the ranges being provisioned
//! are fixed tables, filled under spinlocks where nothing may allocate, so
//! each bio that enters one of them first takes a [`Slot`]: a bio handed to
//! the worker, or a copy-on-write write started at submission. A submitter
//! that finds none waits for the worker to give one back. Reads and
//! in-place writes whose path is cached take none.
//!
//! Slots are taken and given back in process context only (submitters and
//! the worker; a write's slot is given back when the worker finished it,
//! not by a bio completion), so their lock is a plain spinlock.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    new_condvar, new_spinlock,
    prelude::*,
    sync::{Arc, CondVar, SpinLock},
};

/// The slots of one disk.
#[pin_data]
pub(crate) struct Slots {
    #[pin]
    free: SpinLock<usize>,
    #[pin]
    freed: CondVar,
    /// Times a submitter found no slot free and waited (`stats`).
    waits: AtomicU64,
}

impl Slots {
    /// `count` slots, all free.
    pub(crate) fn new(count: usize) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                free <- new_spinlock!(count, "pvdisk::Slots::free"),
                freed <- new_condvar!("pvdisk::Slots::freed"),
                waits: AtomicU64::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// A slot, waiting for one if none is free. Sleeps: from a bio's
    /// submission only, never from the worker, which gives slots back.
    pub(crate) fn take(self: &Arc<Self>) -> Slot {
        let mut free = self.free.lock();
        if *free == 0 {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        while *free == 0 {
            self.freed.wait(&mut free);
        }
        *free -= 1;
        Slot {
            slots: self.clone(),
        }
    }

    /// Times a submitter waited for a slot.
    pub(crate) fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// A slot if one is free.
    pub(crate) fn try_take(self: &Arc<Self>) -> Option<Slot> {
        let mut free = self.free.lock();
        if *free == 0 {
            return None;
        }
        *free -= 1;
        Some(Slot {
            slots: self.clone(),
        })
    }
}

/// One slot, given back when dropped.
pub(crate) struct Slot {
    slots: Arc<Slots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.slots.free.lock() += 1;
        // One waiter per slot given back: each takes one.
        self.slots.freed.notify_one();
    }
}
