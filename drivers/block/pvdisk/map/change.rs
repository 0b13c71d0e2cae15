// SPDX-License-Identifier: GPL-2.0

//! What a write, an unmap or a snapshot changes in memory, in the order
//! the caller makes the changes, and the rebuild of a read-only or sparse
//! path that every copy-on-write shares.
//!
//! # Order and commit nodes
//!
//! A [`Change`] lists its [`Update`]s bottom-up: a node is created
//! ([`Update::NewNode`]) and filled before anything links it, and the
//! change ends with exactly one link from old to new, the *commit*: a
//! [`Update::SetPtrs`] with `commit` set, into the highest node of the
//! path that was already writable, or a [`Update::SetRoot`] when the root
//! itself was copied. On disk, nothing links a new node until the commit
//! node (or VDI record) is written, so the caller writes every new node,
//! flushes, and only then writes commit nodes in place: a crash in
//! between leaves the old tree, with the new blocks leaked, never a link
//! to an unwritten block.

use super::bounded::Bounded;
use super::path::{node_of, Path};
use super::write::MAX_SEGMENTS;
use super::{MapError, NodeSource};
use crate::format::radix::{index_at, make_ptr, ptr_block, RadixNode, FANOUT, MAX_HEIGHT};

/// Most updates one [`Change`] holds: a new node and its link per level,
/// the leaf's data runs and freed runs, the commit and a freed leaf node.
pub const MAX_UPDATES: usize = 2 * MAX_HEIGHT as usize + 2 * MAX_SEGMENTS + 4;

/// One change to the in-memory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Create node `block` at `level`: a zero node if `copy_of` is 0,
    /// otherwise [`RadixNode::read_only_copy`] of node `copy_of` (its
    /// children are shared, so every link in the copy is read-only).
    /// Nothing on disk links it yet: it must reach disk before any commit
    /// node that links it.
    NewNode {
        /// Block allocated for the node.
        block: u64,
        /// Its level.
        level: u32,
        /// Node to copy read-only, 0 for a zero node.
        copy_of: u64,
    },
    /// Set pointers `index..index + count` of node `node` to writable
    /// links to `first, first + 1, ...`, or clear them if `first` is 0.
    SetPtrs {
        /// The node changed.
        node: u64,
        /// Its level.
        level: u32,
        /// First pointer changed.
        index: u32,
        /// Number of pointers changed.
        count: u32,
        /// Block the first pointer links, 0 to clear.
        first: u64,
        /// True when `node` is not one of this change's new nodes: it is
        /// the commit node, changed in place. (If the caller's cache still
        /// holds it as new from an earlier uncommitted change, it stays
        /// new; otherwise it becomes dirty and is written at the commit,
        /// after the flush that makes the new nodes durable.)
        commit: bool,
    },
    /// The VDI's root becomes the writable node `block`; the VDI record,
    /// written after every node, is the commit point.
    SetRoot {
        /// The new root.
        block: u64,
    },
    /// Blocks `first..first + count` are no longer linked once this
    /// change is made: free them after the commit that writes it, and
    /// after I/O to them has drained.
    Free {
        /// First block.
        first: u64,
        /// Number of consecutive blocks.
        count: u64,
    },
}

impl Update {
    /// Makes a [`Update::SetPtrs`] on `node` (the caller's copy of the
    /// node it names); any other update leaves `node` alone.
    pub fn apply_to(&self, node: &mut RadixNode) {
        if let Update::SetPtrs {
            index,
            count,
            first,
            ..
        } = *self
        {
            for i in 0..count {
                let ptr = match first {
                    0 => 0,
                    b => make_ptr(b.wrapping_add(i.into()), false),
                };
                node.set(index.wrapping_add(i) as usize, ptr);
            }
        }
    }
}

/// The updates of one operation on one span, in the order to make them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    updates: Bounded<Update, MAX_UPDATES>,
    count: u64,
    nodes_used: u32,
}

impl Change {
    /// An empty change covering `count` logical blocks.
    pub(crate) fn new(count: u64) -> Self {
        Change {
            updates: Bounded::new(Update::Free { first: 0, count: 0 }),
            count,
            nodes_used: 0,
        }
    }

    /// The updates, in order: see the module documentation.
    pub fn updates(&self) -> &[Update] {
        self.updates.as_slice()
    }

    /// Logical blocks this change covers from the `lba` asked for; the
    /// caller continues at `lba + count`.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many of the node blocks passed in were used, from the start of
    /// the slice. The rest were never linked: the caller takes them back
    /// at once (a concurrent change already created the node they were
    /// for).
    pub fn nodes_used(&self) -> u32 {
        self.nodes_used
    }

    pub(crate) fn push(&mut self, u: Update) -> Result<(), MapError> {
        if self.updates.push(u) {
            Ok(())
        } else {
            Err(MapError::TooManyUpdates)
        }
    }

    /// Pushes a [`Update::Free`] of `block`, merged with the previous one
    /// when consecutive.
    pub(crate) fn free(&mut self, block: u64) -> Result<(), MapError> {
        if let Some(Update::Free { first, count }) = self.updates.last_mut() {
            if first.checked_add(*count) == Some(block) {
                *count += 1;
                return Ok(());
            }
        }
        self.push(Update::Free {
            first: block,
            count: 1,
        })
    }
}

/// The copies (of read-only nodes) and new zero nodes (under sparse
/// links) that bring a path's node at level `bottom` into a writable
/// place, and the commit link above them.
///
/// Invariant: if `top >= bottom`, the links of levels `top..=bottom` are
/// replaced by new nodes `blocks[l - 1]`, and the node at `top + 1` (or
/// the VDI record if `top` is the root's level) is the commit node;
/// otherwise nothing is copied and the path's own node at `bottom` is the
/// commit node.
pub(crate) struct Rebuild<'p> {
    path: &'p Path,
    bottom: u32,
    top: u32,
    blocks: [u64; MAX_HEIGHT as usize],
}

impl<'p> Rebuild<'p> {
    /// Plans the rebuild of `path` down to `bottom`, taking new node
    /// blocks from `nodes` (top-down); [`MapError::NeedBlocks`] if too few.
    /// Every node the change copies or edits must be in `src` (a miss
    /// otherwise), so the caller can make the updates without I/O.
    pub(crate) fn new<S: NodeSource + ?Sized>(
        src: &S,
        path: &'p Path,
        bottom: u32,
        nodes: &[u64],
    ) -> Result<Self, MapError> {
        let top = path
            .first_unwritable()
            .filter(|&t| t >= bottom)
            .unwrap_or(0);
        for level in bottom..=top.max(bottom) {
            let block = ptr_block(path.link(level));
            if block != 0 {
                node_of(src, block, level)?;
            }
        }
        let needed = if top == 0 { 0 } else { top + 1 - bottom };
        if nodes.len() < needed as usize {
            return Err(MapError::NeedBlocks {
                nodes: needed,
                data: 0,
            });
        }
        let mut blocks = [0; MAX_HEIGHT as usize];
        for (i, &b) in nodes.iter().take(needed as usize).enumerate() {
            // nodes[0] is for level `top`, nodes[1] for `top - 1`, ...
            if let Some(slot) = (top as usize)
                .checked_sub(i + 1)
                .and_then(|l| blocks.get_mut(l))
            {
                *slot = b;
            }
        }
        Ok(Rebuild {
            path,
            bottom,
            top,
            blocks,
        })
    }

    /// Number of new node blocks the rebuild uses.
    pub(crate) fn nodes_used(&self) -> u32 {
        if self.top == 0 {
            0
        } else {
            self.top + 1 - self.bottom
        }
    }

    fn new_block(&self, level: u32) -> u64 {
        let i = level.wrapping_sub(1) as usize;
        self.blocks.get(i).copied().unwrap_or(0)
    }

    /// The node at level `bottom` that the operation edits, and whether it
    /// is new (false: it is the commit node, edited in place).
    pub(crate) fn bottom_node(&self) -> (u64, bool) {
        if self.top == 0 {
            (ptr_block(self.path.link(self.bottom)), false)
        } else {
            (self.new_block(self.bottom), true)
        }
    }

    fn new_node(&self, level: u32) -> Update {
        Update::NewNode {
            block: self.new_block(level),
            level,
            copy_of: ptr_block(self.path.link(level)),
        }
    }

    /// Pushes the creation of the bottom node, if it is new; the caller
    /// then pushes its edits of that node.
    pub(crate) fn push_bottom(&self, change: &mut Change) -> Result<(), MapError> {
        change.nodes_used = self.nodes_used();
        if self.top == 0 {
            return Ok(());
        }
        change.push(self.new_node(self.bottom))
    }

    /// Pushes the new nodes above the bottom one, each linking the one
    /// below, then the commit link.
    pub(crate) fn push_above(&self, change: &mut Change) -> Result<(), MapError> {
        if self.top == 0 {
            return Ok(());
        }
        let lba = self.path.lba();
        for level in self.bottom + 1..=self.top {
            change.push(self.new_node(level))?;
            change.push(link(
                self.new_block(level),
                level,
                lba,
                self.new_block(level - 1),
                false,
            ))?;
        }
        let top_block = self.new_block(self.top);
        if self.top == self.path.height() {
            change.push(Update::SetRoot { block: top_block })
        } else {
            let parent = ptr_block(self.path.link(self.top + 1));
            change.push(link(parent, self.top + 1, lba, top_block, true))
        }
    }
}

/// The update setting the pointer of `node` (at `level`) on the way to
/// `lba` to `child`.
pub(crate) fn link(node: u64, level: u32, lba: u64, child: u64, commit: bool) -> Update {
    Update::SetPtrs {
        node,
        level,
        index: index_at(lba, level) as u32,
        count: 1,
        first: child,
        commit,
    }
}

/// True when `index..index + count` of a leaf is the whole node.
pub(crate) fn is_whole_node(index: usize, count: u64) -> bool {
    index == 0 && count == FANOUT as u64
}
