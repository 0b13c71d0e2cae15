// SPDX-License-Identifier: GPL-2.0

//! Model-based test of the map layer: random writes, overwrites, unmaps,
//! snapshots, clones, evictions and commits on a store, compared block by
//! block with a model after every operation, in memory and on the
//! simulated disk after every block a commit writes.
//!
//! Checked after every operation: every VDI and snapshot reads exactly as
//! the model says (through lookup, extents and a full walk); snapshots
//! never change; every block reachable from any tree is allocated, and a
//! block private to a live tree has exactly one link in the whole store.
//! Checked after every block a commit writes (a crash there): every tree
//! the disk's records name is complete (no link to an unwritten node or
//! data block, nor to a freed one), each logical block of a VDI reads a
//! value it held since the last commit, and each committed snapshot reads
//! exactly as when it was taken.

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use pvdisk_map_tests::format::radix::{capacity_blocks, make_ptr, FANOUT};
use pvdisk_map_tests::store::{MemView, Store, POISON};
use pvdisk_map_tests::walk::{mapped, walk};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static CASES: AtomicU64 = AtomicU64::new(0);
static OPS: AtomicU64 = AtomicU64::new(0);
static COMPARED: AtomicU64 = AtomicU64::new(0);
static CRASH_POINTS: AtomicU64 = AtomicU64::new(0);

/// What a VDI holds, by the model.
#[derive(Debug, Clone, Default)]
struct VdiModel {
    /// Content of every logical block ever touched (0 = zeros).
    cur: BTreeMap<u64, u64>,
    /// Every value each block held since the last commit.
    since_commit: BTreeMap<u64, BTreeSet<u64>>,
    /// The snapshots, oldest first.
    snaps: Vec<BTreeMap<u64, u64>>,
}

impl VdiModel {
    fn set(&mut self, lba: u64, content: u64) {
        let before = self.cur.insert(lba, content).unwrap_or(0);
        let seen = self.since_commit.entry(lba);
        seen.or_insert_with(|| BTreeSet::from([before]))
            .insert(content);
    }

    fn committed(&mut self) {
        self.since_commit = self
            .cur
            .iter()
            .map(|(&l, &c)| (l, BTreeSet::from([c])))
            .collect();
    }

    fn mapped(&self) -> BTreeMap<u64, u64> {
        mapped_only(&self.cur)
    }
}

fn mapped_only(m: &BTreeMap<u64, u64>) -> BTreeMap<u64, u64> {
    m.iter()
        .filter(|(_, &c)| c != 0)
        .map(|(&l, &c)| (l, c))
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        vdi: usize,
        lba: u64,
        count: u64,
    },
    Unmap {
        vdi: usize,
        lba: u64,
        count: u64,
    },
    Snapshot {
        vdi: usize,
    },
    Clone {
        vdi: usize,
    },
    Evict,
    Commit,
    /// A write whose data is in flight while `other` runs.
    Overlapped {
        vdi: usize,
        lba: u64,
        count: u64,
        other: Box<Op>,
    },
}

struct World {
    store: Store,
    model: Vec<VdiModel>,
    next_content: u64,
    height: u32,
}

impl World {
    fn new(height: u32, blocks: u64) -> Self {
        let mut w = World {
            store: Store::new(height, blocks),
            model: vec![VdiModel::default()],
            next_content: 1,
            height,
        };
        w.model[0].committed();
        w
    }

    fn contents(&mut self, count: u64) -> Vec<u64> {
        let first = self.next_content;
        self.next_content += count;
        (first..first + count).collect()
    }

    fn run(&mut self, op: &Op) {
        OPS.fetch_add(1, Relaxed);
        let n = self.model.len();
        match *op {
            Op::Write { vdi, lba, count } => {
                let c = self.contents(count);
                let spares = self.store.stats.spare_nodes;
                self.store.write(vdi % n, lba, &c);
                // Alone, a request allocates each new node exactly once.
                assert_eq!(self.store.stats.spare_nodes, spares, "spare nodes");
                for (i, &c) in c.iter().enumerate() {
                    self.model[vdi % n].set(lba + i as u64, c);
                }
            }
            Op::Unmap { vdi, lba, count } => {
                self.store.unmap(vdi % n, lba, count);
                for l in lba..lba + count {
                    self.model[vdi % n].set(l, 0);
                }
            }
            Op::Snapshot { vdi } => {
                self.store.snapshot(vdi % n);
                let frozen = self.model[vdi % n].cur.clone();
                self.model[vdi % n].snaps.push(frozen);
            }
            Op::Clone { vdi } => {
                if self.store.vdis[vdi % n].snapshots.is_empty() {
                    self.run(&Op::Snapshot { vdi });
                }
                let root = *self.store.vdis[vdi % n].snapshots.last().unwrap();
                let snap = self.model[vdi % n].snaps.last().unwrap().clone();
                self.store.clone_from(root);
                let mut m = VdiModel {
                    cur: snap,
                    ..VdiModel::default()
                };
                m.committed();
                self.model.push(m);
            }
            Op::Evict => self.store.evict_clean(),
            Op::Commit => self.commit(),
            Op::Overlapped {
                vdi,
                lba,
                count,
                ref other,
            } => self.overlapped(vdi % n, lba, count, other),
        }
        self.check_memory();
    }

    /// Begins a write, runs `other` while its data is in flight (unless
    /// it touches the same blocks: the kernel serialises those), then
    /// links it.
    fn overlapped(&mut self, vdi: usize, lba: u64, count: u64, other: &Op) {
        let c = self.contents(count);
        let (in_place, pending) = self.store.begin_write(vdi, lba, &c);
        for (l, c) in in_place {
            self.model[vdi].set(l, c);
        }
        let clashes = match *other {
            Op::Write {
                vdi: v,
                lba: l,
                count: k,
            }
            | Op::Unmap {
                vdi: v,
                lba: l,
                count: k,
            } => v % self.model.len() == vdi && l < lba + count && lba < l + k,
            Op::Overlapped { .. } => true,
            _ => false,
        };
        if !clashes {
            self.run(other);
        }
        for (l, c) in self.store.finish_write(pending) {
            self.model[vdi].set(l, c);
        }
    }

    fn commit(&mut self) {
        let model = &self.model;
        let height = self.height;
        self.store
            .commit(&mut |s, stage| check_disk(s, model, height, stage));
        for m in &mut self.model {
            m.committed();
        }
    }

    /// Every tree in memory reads as the model says; ownership holds.
    fn check_memory(&mut self) {
        for v in 0..self.model.len() {
            let tree = self.store.tree(v);
            let want = self.model[v].mapped();
            assert_eq!(self.contents_of(tree.root), want, "VDI {} in memory", v);
            // The same through lookup and extents, sparse blocks included.
            let touched: Vec<u64> = self.model[v].cur.keys().copied().collect();
            for &l in touched.iter().step_by(7) {
                assert_eq!(
                    self.store.read(tree, l),
                    self.model[v].cur[&l],
                    "VDI {} lba {}",
                    v,
                    l
                );
            }
            for (lo, hi) in clusters(&touched) {
                let got = self.store.read_range(tree, lo, hi + 1 - lo);
                for (i, g) in got.iter().enumerate() {
                    let l = lo + i as u64;
                    assert_eq!(
                        *g,
                        *self.model[v].cur.get(&l).unwrap_or(&0),
                        "extent read {}",
                        l
                    );
                }
                COMPARED.fetch_add(got.len() as u64, Relaxed);
            }
            for (i, &root) in self.store.vdis[v].snapshots.clone().iter().enumerate() {
                let want = mapped_only(&self.model[v].snaps[i]);
                assert_eq!(
                    self.contents_of(make_ptr(root, true)),
                    want,
                    "VDI {} snapshot {}",
                    v,
                    i
                );
            }
        }
        check_ownership(&self.store);
    }

    fn contents_of(&self, root: u64) -> BTreeMap<u64, u64> {
        let view = MemView(&self.store);
        let m = mapped(&view, root, self.height).expect("memory tree complete");
        COMPARED.fetch_add(m.len() as u64, Relaxed);
        m.iter()
            .map(|&(l, b)| (l, self.store.disk.data[&b]))
            .collect()
    }
}

/// The touched logical blocks as ranges `(first, last)`, split where
/// two of them are more than a leaf node apart (extents cross leaves).
fn clusters(touched: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &l in touched {
        match out.last_mut() {
            Some((_, hi)) if l <= *hi + FANOUT as u64 => *hi = l,
            _ => out.push((l, l)),
        }
    }
    out
}

/// Every block reachable in memory is allocated and used as one thing; a
/// block private to a live tree has exactly one link in the store.
fn check_ownership(s: &Store) {
    let view = MemView(s);
    let mut roots: Vec<(u64, bool)> = Vec::new();
    for r in &s.vdis {
        roots.push((r.root, true));
        roots.extend(r.snapshots.iter().map(|&b| (b, false)));
    }
    let mut links: HashMap<u64, BTreeSet<Option<(u64, usize)>>> = HashMap::new();
    let mut level_of: HashMap<u64, u32> = HashMap::new();
    let mut private = BTreeSet::new();
    for &(root, live) in &roots {
        let root_ptr = make_ptr(root, !live);
        walk(&view, root_ptr, s.tree(0).height, &mut |l| {
            assert!(
                s.alloc.is_allocated(l.block),
                "block {} reachable but free",
                l.block
            );
            let lv = *level_of.entry(l.block).or_insert(l.level);
            assert_eq!(lv, l.level, "block {} used at two levels", l.block);
            if l.level == 0 {
                assert_ne!(
                    s.disk.data.get(&l.block),
                    Some(&POISON),
                    "stale data {}",
                    l.block
                );
            }
            links.entry(l.block).or_default().insert(l.parent);
            if l.private {
                private.insert(l.block);
            }
        })
        .expect("memory tree complete");
    }
    for b in private {
        assert_eq!(
            links[&b].len(),
            1,
            "private block {} linked {:?}",
            b,
            links[&b]
        );
    }
}

/// The disk after a crash right now: every tree a record names is
/// complete and fresh, VDIs read old or new values, snapshots unchanged.
fn check_disk(s: &Store, model: &[VdiModel], height: u32, stage: &str) {
    CRASH_POINTS.fetch_add(1, Relaxed);
    for (v, rec) in s.disk.records.iter().enumerate() {
        let Some(rec) = rec else { continue };
        let read = |root: u64| -> BTreeMap<u64, u64> {
            let m = mapped(&s.disk, root, height)
                .unwrap_or_else(|e| panic!("{}: VDI {} on disk: {}", stage, v, e));
            m.iter()
                .map(|&(l, b)| {
                    let c = s.disk.data.get(&b).copied();
                    assert!(
                        c.is_some() && c != Some(POISON),
                        "{}: lba {} -> block {}",
                        stage,
                        l,
                        b
                    );
                    assert!(
                        s.alloc.is_allocated(b),
                        "{}: free block {} linked",
                        stage,
                        b
                    );
                    (l, c.unwrap())
                })
                .collect()
        };
        let live = read(make_ptr(rec.root, false));
        for (&l, allowed) in &model[v].since_commit {
            let got = live.get(&l).copied().unwrap_or(0);
            assert!(
                allowed.contains(&got),
                "{}: VDI {} lba {} reads {} not in {:?}",
                stage,
                v,
                l,
                got,
                allowed
            );
        }
        for l in live.keys() {
            assert!(
                model[v].since_commit.contains_key(l),
                "{}: VDI {} maps untouched {}",
                stage,
                v,
                l
            );
        }
        for (i, &root) in rec.snapshots.iter().enumerate() {
            let want = mapped_only(&model[v].snaps[i]);
            assert_eq!(
                read(make_ptr(root, true)),
                want,
                "{}: VDI {} snapshot {} on disk",
                stage,
                v,
                i
            );
        }
    }
}

/// Logical blocks near the edges of leaf nodes (and, for height 3, of a
/// level-2 node), where spans and paths split.
fn lba_in(height: u32) -> BoxedStrategy<u64> {
    let f = FANOUT as u64;
    let bases: Vec<u64> = match height {
        1 => vec![0],
        2 => vec![0, f, 3 * f],
        _ => vec![0, f, f * f - f, f * f],
    };
    let span = if height == 1 { f } else { 2 * f };
    (proptest::sample::select(bases), 0..span)
        .prop_map(|(b, o)| b + o)
        .boxed()
}

fn blocks_for(height: u32) -> u64 {
    match height {
        1 => capacity_blocks(1),
        2 => 5 * FANOUT as u64,
        _ => (FANOUT * FANOUT + 2 * FANOUT) as u64,
    }
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 1..4u64, 3 => 1..40u64, 1 => Just(FANOUT as u64), 1 => 300..700u64]
}

fn simple_op(height: u32) -> impl Strategy<Value = Op> {
    let blocks = blocks_for(height);
    let fit = move |lba: u64, count: u64| count.min(blocks - lba);
    prop_oneof![
        8 => (0..4usize, lba_in(height), count())
            .prop_map(move |(vdi, lba, c)| Op::Write { vdi, lba, count: fit(lba, c) }),
        3 => (0..4usize, lba_in(height), count())
            .prop_map(move |(vdi, lba, c)| Op::Unmap { vdi, lba, count: fit(lba, c) }),
        2 => (0..4usize).prop_map(|vdi| Op::Snapshot { vdi }),
        1 => (0..4usize).prop_map(|vdi| Op::Clone { vdi }),
        1 => Just(Op::Evict),
        2 => Just(Op::Commit),
    ]
}

fn op(height: u32) -> impl Strategy<Value = Op> {
    let blocks = blocks_for(height);
    prop_oneof![
        6 => simple_op(height),
        2 => (0..4usize, lba_in(height), count(), simple_op(height)).prop_map(
            move |(vdi, lba, c, other)| Op::Overlapped {
                vdi,
                lba,
                count: c.min(blocks - lba),
                other: Box::new(other),
            }
        ),
    ]
}

fn scenario() -> impl Strategy<Value = (u32, Vec<Op>)> {
    (1..=3u32).prop_flat_map(|h| (Just(h), proptest::collection::vec(op(h), 1..50)))
}

/// 128 cases, or `PROPTEST_CASES` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128)
}

#[test]
fn map_matches_model() {
    let config = ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&scenario(), |(height, ops)| {
        CASES.fetch_add(1, Relaxed);
        let mut w = World::new(height, blocks_for(height));
        for op in &ops {
            w.run(op);
        }
        w.commit();
        // After the last commit the disk is the memory.
        for v in 0..w.model.len() {
            let tree = w.store.tree(v);
            let on_disk = mapped(&w.store.disk, tree.root, height).expect("disk tree");
            let in_mem = mapped(&MemView(&w.store), tree.root, height).expect("memory tree");
            prop_assert_eq!(on_disk, in_mem);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}", e);
    }
    eprintln!(
        "map model: {} cases, {} operations, {} blocks compared, {} crash points",
        CASES.load(Relaxed),
        OPS.load(Relaxed),
        COMPARED.load(Relaxed),
        CRASH_POINTS.load(Relaxed)
    );
}
