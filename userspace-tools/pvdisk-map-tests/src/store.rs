// SPDX-License-Identifier: GPL-2.0

//! An in-memory stand-in for the kernel's store layer around the map: a
//! node cache (clean, dirty and new nodes, clean ones evictable) over a
//! simulated disk, VDI records, and the commit of
//! Documentation/data-path-map.rst:
//! new nodes, flush, commit nodes in place, VDI records, flush, then the
//! blocks the commit unlinked are freed.
//!
//! Data writes reach the disk at once (they complete before the map
//! links them); nodes and records only at a commit, one block at a time,
//! with a caller's check after every block so a crash can be judged at
//! every point.

use crate::alloc::Allocator;
use crate::format::radix::{make_ptr, RadixNode, FANOUT};
use crate::map::{self, Change, MapError, NodeSource, Target, Tree, Update, WritePlan};
use std::collections::HashMap;

/// Content of a data block after it was freed at a commit: a read of it
/// through any tree is stale data.
pub const POISON: u64 = u64::MAX;

/// Where a cached node stands against the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Same as on disk; may be evicted.
    Clean,
    /// On disk and changed in place since: a commit node.
    Dirty,
    /// Nothing on disk links it yet; written first at the commit.
    New,
}

#[derive(Debug, Clone)]
struct Cached {
    node: RadixNode,
    level: u32,
    state: NodeState,
}

/// A VDI record: the live root and the snapshot roots, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Block of the live root.
    pub root: u64,
    /// Roots of the snapshots, oldest first.
    pub snapshots: Vec<u64>,
}

/// What the disk holds.
#[derive(Debug, Default)]
pub struct Disk {
    /// Radix nodes written, with their level.
    pub nodes: HashMap<u64, (u32, RadixNode)>,
    /// Data blocks written: their content id.
    pub data: HashMap<u64, u64>,
    /// VDI records written (index = VDI).
    pub records: Vec<Option<Record>>,
}

impl NodeSource for Disk {
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode> {
        self.nodes
            .get(&block)
            .filter(|(l, _)| *l == level)
            .map(|(_, n)| n)
    }
}

/// Counters a test reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Misses answered by reading a node.
    pub misses: u64,
    /// Node blocks allocated for a plan but left unused by its change.
    pub spare_nodes: u64,
    /// Changes made.
    pub changes: u64,
    /// Retries after [`MapError::NeedBlocks`] at apply time.
    pub replans: u64,
    /// Commits.
    pub commits: u64,
    /// Blocks (nodes and records) written by commits.
    pub commit_writes: u64,
}

/// A write request whose data is on disk and whose new blocks are not
/// linked yet.
#[derive(Debug)]
pub struct PendingWrite {
    vdi: usize,
    /// The plan of each span, in order, with the first of its data blocks.
    plans: Vec<(WritePlan, u64)>,
    /// Node blocks for the whole request, used from the front.
    nodes: Vec<u64>,
    /// Content of each fresh block, in logical order.
    fresh: Vec<(u64, u64)>,
}

/// The store: one tree height and size for every VDI.
#[derive(Debug)]
pub struct Store {
    cache: HashMap<u64, Cached>,
    /// The simulated disk.
    pub disk: Disk,
    /// The block allocator.
    pub alloc: Allocator,
    /// In-memory VDI records.
    pub vdis: Vec<Record>,
    height: u32,
    blocks: u64,
    pending_free: Vec<u64>,
    /// Counters.
    pub stats: Stats,
}

/// The store's nodes as the map sees them: only what is cached.
impl NodeSource for Store {
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode> {
        self.cache
            .get(&block)
            .filter(|c| c.level == level)
            .map(|c| &c.node)
    }
}

/// The store's nodes for a check: the cache, else the disk.
pub struct MemView<'a>(pub &'a Store);

impl NodeSource for MemView<'_> {
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode> {
        self.0
            .node(block, level)
            .or_else(|| self.0.disk.node(block, level))
    }
}

impl Store {
    /// A store with one empty VDI (index 0) of `blocks` blocks in a tree
    /// of `height`, committed.
    pub fn new(height: u32, blocks: u64) -> Self {
        let mut s = Store {
            cache: HashMap::new(),
            disk: Disk::default(),
            alloc: Allocator::default(),
            vdis: Vec::new(),
            height,
            blocks,
            pending_free: Vec::new(),
            stats: Stats::default(),
        };
        let root = s.alloc.alloc();
        s.insert_new(root, height, RadixNode::default());
        s.vdis.push(Record {
            root,
            snapshots: Vec::new(),
        });
        s.commit(&mut |_, _| {});
        s
    }

    /// The live tree of `vdi`.
    pub fn tree(&self, vdi: usize) -> Tree {
        self.tree_at(make_ptr(self.vdis[vdi].root, false))
    }

    /// The tree under root pointer `root` (read-only for a snapshot).
    pub fn tree_at(&self, root: u64) -> Tree {
        Tree {
            root,
            height: self.height,
            blocks: self.blocks,
        }
    }

    /// Runs `f` until it does not miss, reading each missing node from
    /// disk as the kernel's worker would.
    pub fn retry<T>(&mut self, f: impl Fn(&Self) -> Result<T, MapError>) -> Result<T, MapError> {
        loop {
            match f(self) {
                Err(MapError::Miss { block, level }) => self.load(block, level),
                r => return r,
            }
        }
    }

    fn load(&mut self, block: u64, level: u32) {
        let (l, node) = self
            .disk
            .nodes
            .get(&block)
            .unwrap_or_else(|| panic!("miss on node {} which is not on disk", block));
        assert_eq!(*l, level, "node {} read at the wrong level", block);
        assert!(
            !self.cache.contains_key(&block),
            "miss on cached node {}",
            block
        );
        self.stats.misses += 1;
        let node = node.clone();
        self.cache.insert(
            block,
            Cached {
                node,
                level,
                state: NodeState::Clean,
            },
        );
    }

    /// Forgets every clean node: the next walks miss and read them back.
    pub fn evict_clean(&mut self) {
        self.cache.retain(|_, c| c.state != NodeState::Clean);
    }

    /// Content of logical block `lba` of `tree` through [`map::lookup`]
    /// (0 if sparse).
    pub fn read(&mut self, tree: Tree, lba: u64) -> u64 {
        let m = self.retry(|s| map::lookup(s, &tree, lba)).expect("lookup");
        self.content(m.block)
    }

    /// Contents of `lba..lba + count` of `tree` through [`map::extent`],
    /// checking that each extent is what it claims.
    pub fn read_range(&mut self, tree: Tree, lba: u64, count: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cur = lba;
        while cur < lba + count {
            let e = self
                .retry(|s| map::extent(s, &tree, cur, lba + count - cur))
                .expect("extent");
            assert!(e.lba == cur && e.count >= 1, "extent {:?} at {}", e, cur);
            // Block by block, the extent says what a lookup says.
            for i in 0..e.count {
                let m = self
                    .retry(|s| map::lookup(s, &tree, cur + i))
                    .expect("lookup");
                let block = if e.block == 0 { 0 } else { e.block + i };
                assert_eq!(
                    (m.block, m.writable),
                    (block, e.writable),
                    "block {} of extent {:?}",
                    i,
                    e
                );
            }
            for i in 0..e.count {
                out.push(match e.block {
                    0 => 0,
                    b => self.content(b + i),
                });
            }
            cur += e.count;
        }
        out
    }

    /// Checks `plan`, planned for `asked` blocks, against a plan made
    /// block by block from [`map::lookup`]: a segment per run of
    /// consecutive in-place blocks or of fresh ones, at most
    /// [`map::MAX_SEGMENTS`], cut before the first that does not fit.
    fn check_plan(&mut self, tree: Tree, plan: &WritePlan, asked: u64) {
        let fanout = FANOUT as u64;
        let span = (fanout - plan.lba() % fanout).min(asked);
        let mut want: Vec<map::Segment> = Vec::new();
        let mut fresh = 0u32;
        for i in 0..span {
            let lba = plan.lba() + i;
            let m = self.retry(|s| map::lookup(s, &tree, lba)).expect("lookup");
            let target = match (plan.new_nodes(), m.writable) {
                (0, true) => Target::InPlace { block: m.block },
                _ => Target::Fresh { first: fresh },
            };
            let continues = want.last().is_some_and(|last| match (last.target, target) {
                (Target::InPlace { block }, Target::InPlace { block: n }) => {
                    block + u64::from(last.count) == n
                }
                (Target::Fresh { .. }, Target::Fresh { .. }) => true,
                _ => false,
            });
            if continues {
                if let Some(last) = want.last_mut() {
                    last.count += 1;
                }
            } else if want.len() == map::MAX_SEGMENTS {
                break;
            } else {
                want.push(map::Segment {
                    lba,
                    count: 1,
                    target,
                });
            }
            if let Target::Fresh { .. } = target {
                fresh += 1;
            }
        }
        let count: u64 = want.iter().map(|seg| u64::from(seg.count)).sum();
        assert_eq!(plan.segments(), &want[..], "plan at {}", plan.lba());
        assert_eq!((plan.count(), plan.new_data()), (count, fresh));
    }

    fn content(&self, block: u64) -> u64 {
        match block {
            0 => 0,
            b => *self
                .disk
                .data
                .get(&b)
                .unwrap_or_else(|| panic!("data block {} mapped but never written", b)),
        }
    }

    /// Plans a write of `contents` at `lba` of `vdi`, allocates and writes
    /// the data (in-place blocks and fresh ones). Returns the in-place
    /// writes done, visible at once, and the request whose fresh blocks
    /// [`Store::finish_write`] links.
    ///
    /// Every span is planned before anything is allocated, as the kernel
    /// does: the fresh blocks of the whole request come from one run, so
    /// consecutive logical blocks get consecutive data blocks even across
    /// leaf nodes, and a new node shared by two spans is allocated once.
    pub fn begin_write(
        &mut self,
        vdi: usize,
        lba: u64,
        contents: &[u64],
    ) -> (Vec<(u64, u64)>, PendingWrite) {
        let tree = self.tree(vdi);
        let end = lba + contents.len() as u64;
        let mut plans: Vec<WritePlan> = Vec::new();
        let mut nodes = 0;
        let mut cur = lba;
        while cur < end {
            let plan = self
                .retry(|s| map::plan_write(s, &tree, cur, end - cur))
                .expect("plan_write");
            self.check_plan(tree, &plan, end - cur);
            nodes += match plans.last() {
                Some(prev) => plan.new_nodes_after(prev),
                None => plan.new_nodes(),
            };
            cur += plan.count();
            plans.push(plan);
        }
        let mut p = PendingWrite {
            vdi,
            plans: Vec::new(),
            nodes: (0..nodes).map(|_| self.alloc.alloc()).collect(),
            fresh: Vec::new(),
        };
        let mut data = self
            .alloc
            .alloc_run(plans.iter().map(WritePlan::new_data).sum());
        let mut in_place = Vec::new();
        for plan in plans {
            for seg in plan.segments() {
                for i in 0..u64::from(seg.count) {
                    let l = seg.lba + i;
                    let c = contents[(l - lba) as usize];
                    match seg.target {
                        Target::InPlace { block } => {
                            self.disk.data.insert(block + i, c);
                            in_place.push((l, c));
                        }
                        Target::Fresh { first } => {
                            self.disk.data.insert(data + u64::from(first) + i, c);
                            p.fresh.push((l, c));
                        }
                    }
                }
            }
            let next = data + u64::from(plan.new_data());
            p.plans.push((plan, data));
            data = next;
        }
        (in_place, p)
    }

    /// Links a write request's fresh blocks (its data is written) into
    /// the tree as it is now, span by span in order; returns the logical
    /// blocks it linked. Node blocks left over (the tree changed since
    /// the plans) go back to the allocator.
    pub fn finish_write(&mut self, mut p: PendingWrite) -> Vec<(u64, u64)> {
        let tree = self.tree(p.vdi);
        let mut used = 0;
        for (plan, data) in &p.plans {
            let change = loop {
                let r = self.retry(|s| map::apply_write(s, &tree, plan, &p.nodes[used..], *data));
                match r {
                    Err(MapError::NeedBlocks { nodes, .. }) => {
                        self.stats.replans += 1;
                        while p.nodes.len() < used + nodes as usize {
                            p.nodes.push(self.alloc.alloc());
                        }
                    }
                    r => break r.expect("apply_write"),
                }
            };
            used += change.nodes_used() as usize;
            self.apply(p.vdi, &change);
        }
        for &b in &p.nodes[used..] {
            self.stats.spare_nodes += 1;
            self.alloc.free(b);
        }
        p.fresh
    }

    /// Writes `contents` at `lba` of `vdi`: plan, data, apply.
    pub fn write(&mut self, vdi: usize, lba: u64, contents: &[u64]) {
        let (_, pending) = self.begin_write(vdi, lba, contents);
        self.finish_write(pending);
    }

    /// Unmaps `lba..lba + count` of `vdi`.
    pub fn unmap(&mut self, vdi: usize, lba: u64, count: u64) {
        let tree = self.tree(vdi);
        let mut done = 0;
        while done < count {
            let mut nodes = Vec::new();
            let change = loop {
                let r = self.retry(|s| map::unmap(s, &tree, lba + done, count - done, &nodes));
                match r {
                    Err(MapError::NeedBlocks { nodes: n, .. }) => {
                        while nodes.len() < n as usize {
                            nodes.push(self.alloc.alloc());
                        }
                    }
                    r => break r.expect("unmap"),
                }
            };
            for &b in &nodes[change.nodes_used() as usize..] {
                self.stats.spare_nodes += 1;
                self.alloc.free(b);
            }
            self.apply(vdi, &change);
            done += change.count();
        }
    }

    /// Snapshots `vdi`; returns the snapshot's root.
    pub fn snapshot(&mut self, vdi: usize) -> u64 {
        let old = self.vdis[vdi].root;
        let new_root = self.alloc.alloc();
        self.retry(|s| map::read_only_root(s, &s.tree(vdi), new_root))
            .map(|c| self.apply(vdi, &c))
            .expect("snapshot");
        self.vdis[vdi].snapshots.push(old);
        old
    }

    /// A new VDI cloned from the snapshot whose root is `snapshot_root`;
    /// returns its index.
    pub fn clone_from(&mut self, snapshot_root: u64) -> usize {
        let vdi = self.vdis.len();
        self.vdis.push(Record {
            root: snapshot_root,
            snapshots: Vec::new(),
        });
        let new_root = self.alloc.alloc();
        let tree = self.tree_at(make_ptr(snapshot_root, true));
        let change = self
            .retry(|s| map::read_only_root(s, &tree, new_root))
            .expect("clone");
        self.apply(vdi, &change);
        vdi
    }

    fn insert_new(&mut self, block: u64, level: u32, node: RadixNode) {
        let old = self.cache.insert(
            block,
            Cached {
                node,
                level,
                state: NodeState::New,
            },
        );
        assert!(old.is_none(), "new node {} already cached", block);
    }

    /// Makes `change`'s updates to `vdi`'s tree in memory, checking the
    /// order the map promises: nodes created before anything links them,
    /// one commit point, last among the links.
    pub fn apply(&mut self, vdi: usize, change: &Change) {
        self.stats.changes += 1;
        let mut created = Vec::new();
        let mut commit_point = None;
        for u in change.updates() {
            match *u {
                Update::NewNode {
                    block,
                    level,
                    copy_of,
                } => {
                    assert!(
                        commit_point.is_none(),
                        "node created after the commit: {:?}",
                        change
                    );
                    let node = match copy_of {
                        0 => RadixNode::default(),
                        c => self
                            .node(c, level)
                            .expect("copied node cached")
                            .read_only_copy(),
                    };
                    self.insert_new(block, level, node);
                    created.push(block);
                }
                Update::SetPtrs {
                    node,
                    level,
                    commit,
                    first,
                    ..
                } => {
                    assert_eq!(commit, !created.contains(&node), "commit flag: {:?}", u);
                    if level > 1 && first != 0 {
                        assert!(
                            self.cache.contains_key(&first),
                            "link to unknown node {}",
                            first
                        );
                    }
                    if commit {
                        assert!(
                            commit_point.is_none() || commit_point == Some(node),
                            "two commit nodes in {:?}",
                            change
                        );
                        commit_point = Some(node);
                    } else {
                        assert!(commit_point.is_none(), "new node edited after the commit");
                    }
                    let c = self.cache.get_mut(&node).expect("changed node cached");
                    assert_eq!(c.level, level);
                    u.apply_to(&mut c.node);
                    if commit && c.state == NodeState::Clean {
                        c.state = NodeState::Dirty;
                    }
                }
                Update::SetRoot { block } => {
                    assert!(commit_point.is_none(), "two commit points in {:?}", change);
                    commit_point = Some(block);
                    self.vdis[vdi].root = block;
                }
                Update::Free { first, count } => {
                    for b in first..first + count {
                        assert!(self.alloc.is_allocated(b), "freeing free block {}", b);
                        self.cache.remove(&b);
                        self.pending_free.push(b);
                    }
                }
            }
        }
    }

    /// Commits: new nodes, flush, commit nodes, records, flush, then frees
    /// what the commit unlinked. `check(store, stage)` runs after every
    /// block written, as if the machine crashed right then.
    pub fn commit(&mut self, check: &mut dyn FnMut(&Store, &str)) {
        self.stats.commits += 1;
        let mut order: Vec<(u64, NodeState)> = self
            .cache
            .iter()
            .filter(|(_, c)| c.state != NodeState::Clean)
            .map(|(&b, c)| (b, c.state))
            .collect();
        // New nodes first, then the commit nodes; any order inside each.
        order.sort_by_key(|&(b, s)| (s == NodeState::Dirty, b));
        for (b, state) in order {
            let c = &self.cache[&b];
            self.disk.nodes.insert(b, (c.level, c.node.clone()));
            self.stats.commit_writes += 1;
            check(
                self,
                if state == NodeState::New {
                    "new node"
                } else {
                    "commit node"
                },
            );
        }
        for v in 0..self.vdis.len() {
            if self.disk.records.len() <= v {
                self.disk.records.resize(v + 1, None);
            }
            self.disk.records[v] = Some(self.vdis[v].clone());
            self.stats.commit_writes += 1;
            check(self, "VDI record");
        }
        for c in self.cache.values_mut() {
            c.state = NodeState::Clean;
        }
        for b in std::mem::take(&mut self.pending_free) {
            self.disk.nodes.remove(&b);
            if let Some(d) = self.disk.data.get_mut(&b) {
                *d = POISON;
            }
            self.alloc.free(b);
        }
        check(self, "after commit");
    }
}
