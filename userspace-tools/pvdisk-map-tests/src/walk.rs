// SPDX-License-Identifier: GPL-2.0

//! Whole-tree walks for the checks, over any [`NodeSource`] (the memory
//! view of a store or its simulated disk).

use crate::format::radix::{ptr_block, ptr_is_ro, FANOUT};
use crate::map::NodeSource;

/// One link of a tree, as the walk meets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// The node holding the link and the index in it; `None` for the root.
    pub parent: Option<(u64, usize)>,
    /// The block linked.
    pub block: u64,
    /// Level of the node linked; 0 for a data block.
    pub level: u32,
    /// First logical block below the link.
    pub lba: u64,
    /// True when every link from the root down to this one is writable:
    /// the block belongs to this tree alone.
    pub private: bool,
}

/// Calls `f` for every non-sparse link of the tree whose root pointer is
/// `root`, depth first in logical order. A node the source lacks is an
/// error (a link to a block that was never written).
pub fn walk<S: NodeSource + ?Sized>(
    src: &S,
    root: u64,
    height: u32,
    f: &mut dyn FnMut(Link),
) -> Result<(), String> {
    let top = Link {
        parent: None,
        block: ptr_block(root),
        level: height,
        lba: 0,
        private: !ptr_is_ro(root),
    };
    f(top);
    below(src, top, f)
}

fn below<S: NodeSource + ?Sized>(src: &S, at: Link, f: &mut dyn FnMut(Link)) -> Result<(), String> {
    let node = src.node(at.block, at.level).ok_or_else(|| {
        format!(
            "node {} (level {}) is linked but missing",
            at.block, at.level
        )
    })?;
    let span = (FANOUT as u64).pow(at.level - 1);
    for (i, &p) in node.ptrs.iter().enumerate() {
        if ptr_block(p) == 0 {
            continue;
        }
        let link = Link {
            parent: Some((at.block, i)),
            block: ptr_block(p),
            level: at.level - 1,
            lba: at.lba + i as u64 * span,
            private: at.private && !ptr_is_ro(p),
        };
        f(link);
        if link.level > 0 {
            below(src, link, f)?;
        }
    }
    Ok(())
}

/// The mapped logical blocks of a tree and their data blocks, in order.
pub fn mapped<S: NodeSource + ?Sized>(
    src: &S,
    root: u64,
    height: u32,
) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    walk(src, root, height, &mut |l| {
        if l.level == 0 {
            out.push((l.lba, l.block));
        }
    })?;
    Ok(out)
}
