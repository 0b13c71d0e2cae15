// SPDX-License-Identifier: GPL-2.0

//! The radix node cache: nodes are read through the shared decoder once,
//! changed in memory (a new node, or an existing one becoming a commit
//! node) and written by the commit ([`Store::flush`]). The radix walk
//! (map.rs) asks the cache for nodes and never writes blocks itself.

use crate::error::{Error, Result};
use crate::format::extent::ExtentKind;
use crate::format::radix::RadixNode;
use crate::format::BLOCK_SIZE;
use crate::store::Store;

/// Where a cached node stands with respect to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeState {
    Clean,
    New,
    Dirty,
}

#[derive(Debug)]
pub(crate) struct CachedNode {
    pub(crate) node: Box<RadixNode>,
    pub(crate) level: u32,
    pub(crate) state: NodeState,
}

/// Clean nodes kept in the cache before it is trimmed.
const NODE_CACHE_MAX: usize = 16384;

impl Store {
    /// Reads the radix node at `block`, expected at `level`.
    pub fn node(&mut self, block: u64, level: u32) -> Result<&RadixNode> {
        self.load_node(block, level)?;
        self.nodes
            .get(&block)
            .map(|c| &*c.node)
            .ok_or_else(|| Error::msg("node vanished"))
    }

    fn load_node(&mut self, block: u64, level: u32) -> Result<()> {
        if let Some(c) = self.nodes.get(&block) {
            if c.level != level {
                return Err(Error::msg(format!(
                    "block {}: radix node reached at level {} and at level {}",
                    block, c.level, level
                )));
            }
            return Ok(());
        }
        if self.kind_of(block) != Some(ExtentKind::Metadata) {
            return Err(Error::msg(format!(
                "block {}: radix pointer outside a metadata extent",
                block
            )));
        }
        if self.nodes.len() >= NODE_CACHE_MAX {
            self.nodes.retain(|_, c| c.state != NodeState::Clean);
        }
        let mut b = [0u8; BLOCK_SIZE];
        self.dev.read_block(block, &mut b)?;
        let node = RadixNode::decode(&b, self.id, block, level)?;
        self.nodes.insert(
            block,
            CachedNode {
                node: Box::new(node),
                level,
                state: NodeState::Clean,
            },
        );
        Ok(())
    }

    /// The node at `block` for modification: it is written at the next
    /// flush (in place, after every new block).
    pub fn node_mut(&mut self, block: u64, level: u32) -> Result<&mut RadixNode> {
        self.load_node(block, level)?;
        let c = self
            .nodes
            .get_mut(&block)
            .ok_or_else(|| Error::msg("node vanished"))?;
        if c.state == NodeState::Clean {
            c.state = NodeState::Dirty;
        }
        Ok(&mut c.node)
    }

    /// Places a new node at a freshly allocated `block`.
    pub fn insert_new_node(&mut self, block: u64, level: u32, node: RadixNode) {
        self.nodes.insert(
            block,
            CachedNode {
                node: Box::new(node),
                level,
                state: NodeState::New,
            },
        );
    }

    /// Number of nodes waiting to be written.
    pub fn pending_nodes(&self) -> usize {
        self.nodes
            .values()
            .filter(|c| c.state != NodeState::Clean)
            .count()
    }

    /// Forgets every cached node (after GC rewrote the world).
    pub fn drop_cache(&mut self) {
        self.nodes.retain(|_, c| c.state != NodeState::Clean);
    }
}
