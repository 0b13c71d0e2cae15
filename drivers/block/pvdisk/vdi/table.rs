// SPDX-License-Identifier: GPL-2.0

//! A fixed table of entries, one per slot, that the request path and the
//! worker scan under a spinlock: the ranges being provisioned and the
//! writes in flight.
//!
//! An entry goes in the lowest free place, so the entries in use stay
//! packed at the start, and the table remembers how far they reach: a
//! scan stops there instead of walking every slot. At a queue depth of 32
//! that is a few dozen places rather than 256, which matters while the
//! submitter and the worker take turns at the lock on every write.

use kernel::{alloc::Flags, prelude::*};

pub(crate) struct Table<T> {
    entries: KVec<Option<T>>,
    /// Entries at and beyond this place are free.
    reach: usize,
    /// Entries in use.
    len: usize,
}

impl<T> Table<T> {
    /// A table of `capacity` free entries.
    pub(crate) fn new(capacity: usize, flags: Flags) -> Result<Self> {
        let mut entries = KVec::with_capacity(capacity, flags)?;
        for _ in 0..capacity {
            entries.push(None, flags)?;
        }
        Ok(Self {
            entries,
            reach: 0,
            len: 0,
        })
    }

    /// Entries in use.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Puts `item` in the lowest free place; gives it back if the table
    /// is full.
    pub(crate) fn insert(&mut self, item: T) -> Result<(), T> {
        match self.entries.iter().position(|e| e.is_none()) {
            Some(i) => {
                if let Some(entry) = self.entries.get_mut(i) {
                    *entry = Some(item);
                }
                self.len += 1;
                self.reach = self.reach.max(i + 1);
                Ok(())
            }
            None => Err(item),
        }
    }

    /// The entries in use.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.entries.iter().take(self.reach).flatten()
    }

    /// Takes out the first entry `pred` accepts.
    pub(crate) fn remove_first(&mut self, mut pred: impl FnMut(&T) -> bool) -> Option<T> {
        let taken = self
            .entries
            .iter_mut()
            .take(self.reach)
            .find(|e| e.as_ref().is_some_and(&mut pred))
            .and_then(Option::take);
        self.forget(taken.is_some() as usize);
        taken
    }

    /// Takes out every entry `pred` accepts and gives it to `sink`, in
    /// order, until `sink` gives one back (it stays, and the rest wait).
    pub(crate) fn drain_where(
        &mut self,
        mut pred: impl FnMut(&T) -> bool,
        mut sink: impl FnMut(T) -> Result<(), T>,
    ) {
        let mut taken = 0;
        for entry in self.entries.iter_mut().take(self.reach) {
            if !entry.as_ref().is_some_and(&mut pred) {
                continue;
            }
            if let Some(item) = entry.take() {
                if let Err(item) = sink(item) {
                    *entry = Some(item);
                    break;
                }
                taken += 1;
            }
        }
        self.forget(taken);
    }

    /// `taken` entries went out: count them, and pull the reach back over
    /// the free places at its end.
    fn forget(&mut self, taken: usize) {
        self.len -= taken;
        while self.reach > 0
            && self
                .entries
                .get(self.reach - 1)
                .is_some_and(Option::is_none)
        {
            self.reach -= 1;
        }
    }
}
