// SPDX-License-Identifier: GPL-2.0

//! Discard and write-zeroes: unlink a range so it reads as zeros. Blocks
//! reached only through writable links belong to this tree alone and are
//! freed (after the commit); blocks behind a read-only link are shared
//! with a snapshot and only unlinked, which copies the path down to the
//! node that holds their links, like a write.

use super::change::{is_whole_node, Change, Rebuild, Update};
use super::path::{node_of, span_len, writable, Path};
use super::write::MAX_SEGMENTS;
use super::{MapError, NodeSource, Tree};
use crate::format::radix::{index_at, ptr_block, RadixNode};

/// The change that unmaps `lba..lba + count` (or its first span), with new
/// nodes from `nodes` where a read-only path must be copied.
///
/// Call it first with no nodes: [`MapError::NeedBlocks`] says how many to
/// allocate (at most the height). A span that covers a whole leaf node
/// unlinks the node from its parent (freeing it and its private data if
/// the node is private) rather than copying it. An empty [`Change`] means
/// nothing was mapped.
pub fn unmap<S: NodeSource + ?Sized>(
    src: &S,
    tree: &Tree,
    lba: u64,
    count: u64,
    nodes: &[u64],
) -> Result<Change, MapError> {
    tree.check_range(lba, count)?;
    let path = Path::walk(src, tree, lba)?;
    let first = index_at(lba, 1);
    let mut span = span_len(lba, count);
    if path.is_sparse() {
        return Ok(Change::new(span));
    }
    let leaf = node_of(src, path.leaf(), 1)?;
    let private = path.first_unwritable().is_none();
    // Only the private blocks are freed; cut the span where their runs
    // would overflow the change.
    if private {
        span = private_span(leaf, first, span);
    }
    let whole_leaf = tree.height > 1 && is_whole_node(first, span);
    if !whole_leaf && (first..first + span as usize).all(|i| leaf.get(i) == 0) {
        return Ok(Change::new(span));
    }
    let mut change = Change::new(span);
    let (bottom, index, edit_count) = if whole_leaf {
        (2, index_at(lba, 2), 1)
    } else {
        (1, first, span as u32)
    };
    let rebuild = Rebuild::new(src, &path, bottom, nodes)?;
    let (node, is_new) = rebuild.bottom_node();
    rebuild.push_bottom(&mut change)?;
    change.push(Update::SetPtrs {
        node,
        level: bottom,
        index: index as u32,
        count: edit_count,
        first: 0,
        commit: !is_new,
    })?;
    rebuild.push_above(&mut change)?;
    if private {
        for i in first..first + span as usize {
            let ptr = leaf.get(i);
            if writable(ptr) {
                change.free(ptr_block(ptr))?;
            }
        }
        if whole_leaf {
            change.free(path.leaf())?;
        }
    }
    Ok(change)
}

/// How much of `leaf`'s pointers `first..first + span` can be freed in at
/// most [`MAX_SEGMENTS`] runs of consecutive data blocks.
fn private_span(leaf: &RadixNode, first: usize, span: u64) -> u64 {
    let mut runs = 0;
    let mut next = 0u64;
    for i in 0..span as usize {
        let ptr = leaf.get(first + i);
        if !writable(ptr) {
            continue;
        }
        let block = ptr_block(ptr);
        if runs == 0 || block != next {
            if runs == MAX_SEGMENTS {
                return i as u64;
            }
            runs += 1;
        }
        next = block.wrapping_add(1);
    }
    span
}
