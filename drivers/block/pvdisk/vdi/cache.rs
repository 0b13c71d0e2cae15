// SPDX-License-Identifier: GPL-2.0

//! The node cache of one disk: decoded radix nodes by block number, with
//! their commit state, bounded by `cache_mb` and evicted by a clock sweep.
//!
//! Only clean nodes are evicted: a new node (nothing on disk links it
//! yet) or a dirty one (a commit node changed in place) stays until the
//! commit that writes it. When those alone fill the cache, the caller asks
//! for a commit. Nothing here allocates: the worker allocates a node and
//! its tree slot before it takes the lock.
//!
//! The new and dirty nodes are also listed apart, so that a commit finds
//! them without walking the whole cache under the map lock (a walk of a
//! few thousand nodes per fsync showed in the fsync-per-write figures).
//! The list has a fixed room; past it, a commit walks the cache instead.

use core::cell::Cell;
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

use crate::format::{block::BLOCK_SIZE, radix::RadixNode};
use crate::map::NodeSource;

/// Bytes one cached node costs: the node and its tree entry.
const NODE_COST: usize = BLOCK_SIZE + 128;

/// Most new and dirty nodes listed apart (16 KiB of block numbers): a
/// commit of more walks the cache, which such a commit's writes dwarf.
const UNWRITTEN_LIST_MAX: usize = 2048;

/// Where a cached node stands with respect to the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// As on disk.
    Clean,
    /// Linked on disk and changed in memory: a commit node.
    Dirty,
    /// Not linked by anything on disk yet: written before commit nodes.
    New,
}

pub(crate) struct Entry {
    pub(crate) node: KBox<RadixNode>,
    pub(crate) level: u32,
    pub(crate) state: State,
    referenced: Cell<bool>,
}

/// A node and its tree slot, allocated before the cache lock is taken.
pub(crate) struct Spare {
    node: KBox<RadixNode>,
    slot: RBTreeNodeReservation<u64, Entry>,
}

impl Spare {
    #[inline(never)]
    pub(crate) fn new(flags: kernel::alloc::Flags) -> Result<Self> {
        Ok(Self {
            node: KBox::new(RadixNode::default(), flags)?,
            slot: RBTreeNodeReservation::new(flags)?,
        })
    }

    /// The node to fill (a node read from disk is decoded into it).
    pub(crate) fn node_mut(&mut self) -> &mut RadixNode {
        &mut self.node
    }
}

/// Counters shown in `stats`.
#[derive(Default, Clone, Copy)]
pub(crate) struct CacheStats {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) evictions: u64,
    pub(crate) nodes: usize,
    pub(crate) dirty: usize,
}

pub(crate) struct NodeCache {
    nodes: RBTree<u64, Entry>,
    len: usize,
    /// Clean nodes may be evicted beyond this many nodes.
    budget: usize,
    /// Nodes that are new, and nodes that are dirty.
    new: usize,
    dirty: usize,
    /// In its first `listed` places, the blocks of the new and dirty
    /// nodes (and, until [`NodeCache::settle`], of nodes forgotten or
    /// written since), unless `unlisted`.
    unwritten: KVec<u64>,
    listed: usize,
    /// A node became new or dirty while `unwritten` was full: only a walk
    /// of the cache finds them all, until none is left.
    unlisted: bool,
    /// The clock hand: the sweep resumes at this block.
    hand: u64,
    hits: Cell<u64>,
    misses: Cell<u64>,
    evictions: u64,
}

impl NodeCache {
    pub(crate) fn new(cache_mb: u32) -> Result<Self> {
        let budget = (cache_mb as usize * 1024 * 1024 / NODE_COST).max(16);
        // Commits come when half the budget is unwritten, and on every
        // flush and second: most find room in a quarter. (A small cache,
        // as the cache-pressure test's, walks often: both ways are tested.)
        let room = (budget / 4).min(UNWRITTEN_LIST_MAX);
        let mut unwritten = KVec::with_capacity(room, GFP_KERNEL)?;
        unwritten.extend_with(room, 0, GFP_KERNEL)?;
        Ok(Self {
            nodes: RBTree::new(),
            len: 0,
            budget,
            new: 0,
            dirty: 0,
            unwritten,
            listed: 0,
            unlisted: false,
            hand: 0,
            hits: Cell::new(0),
            misses: Cell::new(0),
            evictions: 0,
        })
    }

    /// Node `block` became new or dirty: list it.
    fn list_unwritten(&mut self, block: u64) {
        if self.unlisted {
            // Until a commit leaves none unwritten, commits walk anyway.
            return;
        }
        if self.listed == self.unwritten.len() {
            self.settle();
        }
        match self.unwritten.get_mut(self.listed) {
            Some(place) => {
                *place = block;
                self.listed += 1;
            }
            None => self.unlisted = true,
        }
    }

    /// Drops listed blocks that are no longer new or dirty, and those
    /// listed twice (a node forgotten and made again), leaving the rest in
    /// block order. With none left at all, the list is complete again.
    pub(crate) fn settle(&mut self) {
        if self.new + self.dirty == 0 {
            self.listed = 0;
            self.unlisted = false;
            return;
        }
        if self.unlisted {
            return;
        }
        let listed = &mut self.unwritten[..self.listed];
        listed.sort_unstable();
        let mut kept = 0;
        for i in 0..listed.len() {
            let block = listed[i];
            let unwritten = self
                .nodes
                .get(&block)
                .is_some_and(|e| e.state != State::Clean);
            if unwritten && (kept == 0 || listed[kept - 1] != block) {
                listed[kept] = block;
                kept += 1;
            }
        }
        self.listed = kept;
    }

    fn count_in(&mut self, state: State, delta: isize) {
        let count = match state {
            State::Clean => return,
            State::New => &mut self.new,
            State::Dirty => &mut self.dirty,
        };
        *count = count.wrapping_add_signed(delta);
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.get(),
            misses: self.misses.get(),
            evictions: self.evictions,
            nodes: self.len,
            dirty: self.new + self.dirty,
        }
    }

    /// True when new and dirty nodes alone fill the cache: time to commit.
    pub(crate) fn under_pressure(&self) -> bool {
        self.new + self.dirty >= self.budget / 2
    }

    pub(crate) fn get(&self, block: u64) -> Option<&Entry> {
        self.nodes.get(&block)
    }

    /// Adds `spare`'s node as `block` at `level` in `state`. A node read
    /// from disk while another change created it meanwhile is dropped (the
    /// cached one is newer); `EIO` if the block is cached at another level.
    /// The cache may exceed its budget until [`NodeCache::trim`].
    pub(crate) fn insert(&mut self, block: u64, level: u32, state: State, spare: Spare) -> Result {
        if let Some(e) = self.nodes.get(&block) {
            return if e.level == level { Ok(()) } else { Err(EIO) };
        }
        let entry = Entry {
            node: spare.node,
            level,
            state,
            referenced: Cell::new(true),
        };
        self.nodes.insert(spare.slot.into_node(block, entry));
        self.len += 1;
        if state != State::Clean {
            self.count_in(state, 1);
            self.list_unwritten(block);
        }
        Ok(())
    }

    /// Creates new node `block` from `spare`: zeros, or a read-only copy
    /// of cached node `copy_of`.
    pub(crate) fn insert_new(
        &mut self,
        block: u64,
        level: u32,
        copy_of: u64,
        mut spare: Spare,
    ) -> Result {
        if copy_of == 0 {
            spare.node.ptrs.fill(0);
        } else {
            let source = self.nodes.get(&copy_of).ok_or(EIO)?;
            spare.node.ptrs.copy_from_slice(&source.node.ptrs);
            spare.node.make_read_only();
        }
        // A block handed out by the allocator is not cached: it cannot be.
        self.insert(block, level, State::New, spare)
    }

    /// The node `block`, to change in place: a clean one becomes dirty.
    pub(crate) fn modify(&mut self, block: u64) -> Result<&mut RadixNode> {
        let entry = self.nodes.get_mut(&block).ok_or(EIO)?;
        if entry.state == State::Clean {
            entry.state = State::Dirty;
            self.dirty += 1;
            self.list_unwritten(block);
        }
        let entry = self.nodes.get_mut(&block).ok_or(EIO)?;
        Ok(&mut entry.node)
    }

    /// Drops node `block` (unlinked by an unmap), if cached.
    pub(crate) fn forget(&mut self, block: u64) {
        if let Some(entry) = self.nodes.remove(&block) {
            self.len -= 1;
            self.count_in(entry.state, -1);
        }
    }

    /// The blocks of the nodes in `state`, into `out` (which has room),
    /// in block order.
    pub(crate) fn collect(&mut self, state: State, out: &mut KVec<u64>) {
        let mut add = |block: u64| {
            if out.len() < out.capacity() {
                // Cannot fail: there is room.
                let _ = out.push(block, GFP_NOWAIT);
            }
        };
        if self.unlisted {
            for (&block, entry) in self.nodes.iter() {
                if entry.state == state {
                    add(block);
                }
            }
            return;
        }
        self.settle();
        for &block in &self.unwritten[..self.listed] {
            if self.nodes.get(&block).is_some_and(|e| e.state == state) {
                add(block);
            }
        }
    }

    /// Number of nodes in `state`.
    pub(crate) fn count(&self, state: State) -> usize {
        match state {
            State::Clean => self.len - self.new - self.dirty,
            State::New => self.new,
            State::Dirty => self.dirty,
        }
    }

    /// Node `block` was written by a commit: it is clean now.
    pub(crate) fn mark_clean(&mut self, block: u64) {
        if let Some(entry) = self.nodes.get_mut(&block) {
            let was = core::mem::replace(&mut entry.state, State::Clean);
            self.count_in(was, -1);
        }
    }

    /// Evicts clean nodes not referenced since the hand last passed them,
    /// until the cache is within its budget or a whole sweep found none.
    /// Never called in the middle of a change, whose nodes must stay.
    pub(crate) fn trim(&mut self) {
        let mut steps = 2 * self.len;
        while self.len > self.budget && steps > 0 {
            let mut cursor = match self.nodes.cursor_lower_bound(&self.hand) {
                Some(c) => c,
                None => match self.nodes.cursor_front() {
                    Some(c) => c,
                    None => return,
                },
            };
            loop {
                if self.len <= self.budget || steps == 0 {
                    break;
                }
                steps -= 1;
                let (_, entry) = cursor.current();
                let evictable = entry.state == State::Clean && !entry.referenced.replace(false);
                let next = if evictable {
                    let (next, _gone) = cursor.remove_current();
                    self.len -= 1;
                    self.evictions += 1;
                    next
                } else {
                    cursor.move_next()
                };
                // The hand stays on the next node; past the end it wraps.
                match next {
                    Some(c) => {
                        self.hand = *c.current().0;
                        cursor = c;
                    }
                    None => {
                        self.hand = 0;
                        break;
                    }
                }
            }
        }
    }
}

impl NodeSource for NodeCache {
    #[inline]
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode> {
        match self.nodes.get(&block) {
            Some(e) if e.level == level => {
                e.referenced.set(true);
                self.hits.set(self.hits.get() + 1);
                Some(&e.node)
            }
            _ => {
                self.misses.set(self.misses.get() + 1);
                None
            }
        }
    }
}
