// SPDX-License-Identifier: GPL-2.0

//! A block allocator that reuses freed blocks as soon as it may (lowest
//! first), so a block that is freed too early or still linked is reused
//! and caught by the checks.

use std::collections::{BTreeSet, HashSet};

/// Hands out block numbers from 1 up; block 0 is never valid.
#[derive(Debug)]
pub struct Allocator {
    next: u64,
    free: BTreeSet<u64>,
    allocated: HashSet<u64>,
}

impl Default for Allocator {
    fn default() -> Self {
        Allocator {
            next: 1,
            free: BTreeSet::new(),
            allocated: HashSet::new(),
        }
    }
}

impl Allocator {
    /// One block, a freed one if any.
    pub fn alloc(&mut self) -> u64 {
        let b = self.free.pop_first().unwrap_or_else(|| self.fresh());
        self.mark(b);
        b
    }

    /// `n` consecutive blocks (the first returned; 0 if `n` is 0), from
    /// the freed blocks if they hold such a run.
    pub fn alloc_run(&mut self, n: u32) -> u64 {
        let n = u64::from(n);
        if n == 0 {
            return 0;
        }
        let first = self.free_run(n).unwrap_or_else(|| {
            let first = self.next;
            self.next += n;
            first
        });
        for b in first..first + n {
            self.free.remove(&b);
            self.mark(b);
        }
        first
    }

    /// Returns block `b`.
    pub fn free(&mut self, b: u64) {
        assert!(self.allocated.remove(&b), "block {} freed twice", b);
        self.free.insert(b);
    }

    /// True while `b` is handed out.
    pub fn is_allocated(&self, b: u64) -> bool {
        self.allocated.contains(&b)
    }

    fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next - 1
    }

    fn mark(&mut self, b: u64) {
        assert!(self.allocated.insert(b), "block {} allocated twice", b);
    }

    fn free_run(&self, n: u64) -> Option<u64> {
        let mut start = 0;
        let mut len = 0;
        for &b in &self.free {
            if len > 0 && b == start + len {
                len += 1;
            } else {
                start = b;
                len = 1;
            }
            if len == n {
                return Some(start);
            }
        }
        None
    }
}
