// SPDX-License-Identifier: GPL-2.0

//! A list with a fixed capacity, for results that must not allocate.

/// Up to `N` items of `T`, stored inline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bounded<T: Copy, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy, const N: usize> Bounded<T, N> {
    /// An empty list; `fill` only occupies the unused slots.
    pub(crate) const fn new(fill: T) -> Self {
        Bounded {
            items: [fill; N],
            len: 0,
        }
    }

    /// Appends `item`; false (and nothing changed) when full.
    pub(crate) fn push(&mut self, item: T) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The items pushed so far.
    pub(crate) fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The last item pushed, to extend it in place.
    pub(crate) fn last_mut(&mut self) -> Option<&mut T> {
        let last = self.len.checked_sub(1)?;
        self.items.get_mut(last)
    }
}
