// SPDX-License-Identifier: GPL-2.0

//! Userspace reference of the radix map: lookup, in-place write and
//! copy-on-write of a read-only or sparse path.
//!
//! A write walks from the VDI's root. While every link is writable it
//! descends in place. At the first read-only or sparse link the node
//! holding that link is the *commit node*: below it the path is copied
//! (read-only node: a copy whose links are all read-only, because its
//! children are shared with a snapshot; sparse: a zero node) into newly
//! allocated blocks, and the data goes to a new data block. The new nodes
//! and the data are written before the commit node is rewritten (see
//! [`Store::flush`]), so a crash leaves either the old or the new mapping.

use crate::error::{Error, Result};
use crate::format::extent::ExtentKind;
use crate::format::radix::{index_at, make_ptr, ptr_block, ptr_is_ro, RadixNode, FANOUT};
use crate::format::{Block, BLOCK_SIZE};
use crate::store::Store;

/// Where a logical block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// Data block, 0 if sparse.
    pub block: u64,
    /// True if some link on the path is read-only (shared).
    pub shared: bool,
}

impl Store {
    /// Looks `lba` up in the tree at `root` of `height`.
    pub fn lookup(&mut self, root: u64, height: u32, lba: u64) -> Result<Mapping> {
        let mut blk = root;
        let mut shared = false;
        let mut level = height;
        loop {
            let p = self.node(blk, level)?.get(index_at(lba, level));
            shared |= ptr_is_ro(p);
            if ptr_block(p) == 0 {
                return Ok(Mapping { block: 0, shared });
            }
            if level == 1 {
                return Ok(Mapping {
                    block: ptr_block(p),
                    shared,
                });
            }
            blk = ptr_block(p);
            level -= 1;
        }
    }

    /// Reads logical block `lba` of the tree (zeros where sparse).
    pub fn read_lba(&mut self, root: u64, height: u32, lba: u64, out: &mut Block) -> Result<()> {
        let m = self.lookup(root, height, lba)?;
        if m.block == 0 {
            *out = [0u8; BLOCK_SIZE];
            return Ok(());
        }
        if self.kind_of(m.block) != Some(ExtentKind::Data) {
            return Err(Error::msg(format!(
                "block {}: data pointer outside a data extent",
                m.block
            )));
        }
        self.read_raw(m.block, out)
    }

    /// Writes `data` at `lba` of the tree rooted at the writable `root`
    /// (copy on write where needed). Durable at the next flush.
    pub fn write_lba(&mut self, root: u64, height: u32, lba: u64, data: &Block) -> Result<()> {
        let mut blk = root;
        let mut level = height;
        loop {
            let idx = index_at(lba, level);
            let p = self.node(blk, level)?.get(idx);
            let writable = ptr_block(p) != 0 && !ptr_is_ro(p);
            if level == 1 {
                if writable {
                    let target = ptr_block(p);
                    if self.kind_of(target) != Some(ExtentKind::Data) {
                        return Err(Error::msg(format!(
                            "block {}: data pointer outside a data extent",
                            target
                        )));
                    }
                    return self.write_raw(target, data);
                }
                let nb = self.alloc(ExtentKind::Data)?;
                self.write_raw(nb, data)?;
                self.node_mut(blk, level)?.set(idx, make_ptr(nb, false));
                return Ok(());
            }
            if writable {
                blk = ptr_block(p);
                level -= 1;
                continue;
            }
            let child = if ptr_block(p) == 0 {
                RadixNode::default()
            } else {
                self.node(ptr_block(p), level - 1)?.read_only_copy()
            };
            let nb = self.alloc(ExtentKind::Metadata)?;
            self.insert_new_node(nb, level - 1, child);
            self.node_mut(blk, level)?.set(idx, make_ptr(nb, false));
            blk = nb;
            level -= 1;
        }
    }

    /// The blocks only the tree at `root` owns: the root itself and every
    /// node and data block reached from it through writable links (a
    /// read-only link leads to blocks shared with a snapshot).
    pub fn private_blocks(&mut self, root: u64, height: u32) -> Result<Vec<u64>> {
        struct Private(Vec<u64>);
        impl TreeVisitor for Private {
            fn node(&mut self, blk: u64, _level: u32, private: bool) -> Result<bool> {
                if private {
                    self.0.push(blk);
                }
                Ok(private)
            }
            fn data(&mut self, _lba: u64, blk: u64, private: bool) -> Result<()> {
                if private {
                    self.0.push(blk);
                }
                Ok(())
            }
        }
        let mut v = Private(Vec::new());
        self.visit_tree(root, height, &mut v)?;
        Ok(v.0)
    }

    /// Calls `f(lba, data_block)` for every mapped block of the tree, in
    /// increasing `lba` order.
    pub fn for_each_mapped(
        &mut self,
        root: u64,
        height: u32,
        f: &mut dyn FnMut(u64, u64) -> Result<()>,
    ) -> Result<()> {
        struct Mapped<'f>(&'f mut dyn FnMut(u64, u64) -> Result<()>);
        impl TreeVisitor for Mapped<'_> {
            fn data(&mut self, lba: u64, blk: u64, _private: bool) -> Result<()> {
                (self.0)(lba, blk)
            }
        }
        self.visit_tree(root, height, &mut Mapped(f))
    }

    /// Walks the tree at `root` of `height` depth first, in increasing
    /// logical order, reporting every node and mapped data block to `v`
    /// (see [`TreeVisitor`]). Shared by export, import (the old tree's
    /// private blocks) and space accounting; check and gc use the
    /// level-by-level walk of [`crate::walk`], which visits each block of
    /// the whole store once.
    pub fn visit_tree(&mut self, root: u64, height: u32, v: &mut dyn TreeVisitor) -> Result<()> {
        if v.node(root, height, true)? {
            self.visit_below(root, height, 0, true, v)?;
        }
        Ok(())
    }

    fn visit_below(
        &mut self,
        blk: u64,
        level: u32,
        base: u64,
        private: bool,
        v: &mut dyn TreeVisitor,
    ) -> Result<()> {
        let node = self.node(blk, level)?.clone();
        let span = (FANOUT as u64).saturating_pow(level - 1);
        for (i, &p) in node.ptrs.iter().enumerate() {
            let b = ptr_block(p);
            if b == 0 {
                continue;
            }
            let lba = base + i as u64 * span;
            let private = private && !ptr_is_ro(p);
            if level == 1 {
                v.data(lba, b, private)?;
            } else if v.node(b, level - 1, private)? {
                self.visit_below(b, level - 1, lba, private, v)?;
            }
        }
        Ok(())
    }
}

/// What [`Store::visit_tree`] reports. `private` is true when every link
/// from the root down is writable (the block belongs to this tree only).
pub trait TreeVisitor {
    /// A radix node at `level`; returns whether to walk below it.
    fn node(&mut self, _blk: u64, _level: u32, _private: bool) -> Result<bool> {
        Ok(true)
    }

    /// A mapped data block at logical block `lba`.
    fn data(&mut self, _lba: u64, _blk: u64, _private: bool) -> Result<()> {
        Ok(())
    }
}
