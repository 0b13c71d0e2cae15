// SPDX-License-Identifier: GPL-2.0

//! A first-in first-out queue of fixed capacity, allocated up front, so
//! that pushing under a spinlock or from a bio completion never allocates.

use kernel::{alloc::Flags, prelude::*};

/// A FIFO of at most `capacity` items.
///
/// Invariant: `slots[(head + i) % capacity]` is `Some` for `i < len` and
/// `None` otherwise.
pub(crate) struct Ring<T> {
    slots: KVec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> Ring<T> {
    /// An empty ring for `capacity` items.
    pub(crate) fn new(capacity: usize, flags: Flags) -> Result<Self> {
        let mut slots = KVec::with_capacity(capacity, flags)?;
        for _ in 0..capacity {
            slots.push(None, flags)?;
        }
        Ok(Self {
            slots,
            head: 0,
            len: 0,
        })
    }

    /// Appends `item`, or gives it back when the ring is full.
    pub(crate) fn push(&mut self, item: T) -> Result<(), T> {
        let capacity = self.slots.len();
        if self.len == capacity {
            return Err(item);
        }
        let index = (self.head + self.len).checked_rem(capacity).unwrap_or(0);
        match self.slots.get_mut(index) {
            Some(slot) => {
                *slot = Some(item);
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Number of items in the ring.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when the ring holds no item.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes the oldest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let capacity = self.slots.len();
        let item = self.slots.get_mut(self.head)?.take();
        self.head = (self.head + 1).checked_rem(capacity).unwrap_or(0);
        self.len -= 1;
        item
    }

    /// Moves every item into `other` (in order) as far as it has room.
    pub(crate) fn move_into(&mut self, other: &mut Ring<T>) {
        while self.len > 0 && other.len < other.slots.len() {
            if let Some(item) = self.pop() {
                // Cannot fail: `other` has room.
                let _ = other.push(item);
            }
        }
    }
}
