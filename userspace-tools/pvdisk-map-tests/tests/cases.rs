// SPDX-License-Identifier: GPL-2.0

//! The map's answers in the cases the kernel relies on, spelled out:
//! which updates a change makes, which node is its commit node, misses,
//! shared nodes and extents.

use pvdisk_map_tests::format::radix::{make_ptr, ptr_block, RadixNode, FANOUT};
use pvdisk_map_tests::map::{
    self, apply_write, extent, lookup, plan_write, read_only_root, unmap, MapError, NodeSource,
    Target, Tree, Update,
};
use pvdisk_map_tests::store::Store;

const F: u64 = FANOUT as u64;

/// The updates of a write of one block at `lba` of VDI 0, made.
fn write_one(s: &mut Store, lba: u64) -> Vec<Update> {
    let tree = s.tree(0);
    let plan = plan_write(s, &tree, lba, 1).unwrap();
    let nodes: Vec<u64> = (0..plan.new_nodes()).map(|_| s.alloc.alloc()).collect();
    let data = s.alloc.alloc_run(plan.new_data());
    s.disk.data.insert(data, 7);
    let change = apply_write(s, &tree, &plan, &nodes, data).unwrap();
    s.apply(0, &change);
    change.updates().to_vec()
}

#[test]
fn first_write_creates_the_path_and_commits_in_the_root() {
    let mut s = Store::new(3, F * F * 2);
    let root = s.vdis[0].root;
    let u = write_one(&mut s, F * F + 3);
    // Leaf first, filled, then its parent, then the one link from the
    // root (already writable): the commit node.
    let [Update::NewNode {
        block: leaf,
        level: 1,
        copy_of: 0,
    }, Update::SetPtrs {
        node: n1,
        level: 1,
        index: 3,
        count: 1,
        commit: false,
        ..
    }, Update::NewNode {
        block: mid,
        level: 2,
        copy_of: 0,
    }, Update::SetPtrs {
        node: n2,
        level: 2,
        index: 0,
        first: f2,
        commit: false,
        ..
    }, Update::SetPtrs {
        node: n3,
        level: 3,
        index: 1,
        first: f3,
        commit: true,
        ..
    }] = u[..]
    else {
        panic!("{:?}", u)
    };
    assert_eq!((n1, n2, f2, n3, f3), (leaf, mid, leaf, root, mid));
    // The second write under the same leaf goes in that leaf, in place.
    let u = write_one(&mut s, F * F + 4);
    assert!(
        matches!(u[..], [Update::SetPtrs { node, level: 1, index: 4, commit: true, .. }] if node == leaf)
    );
}

#[test]
fn overwrite_in_place_needs_nothing() {
    let mut s = Store::new(2, F * 2);
    s.write(0, 5, &[1, 2, 3]);
    let tree = s.tree(0);
    let plan = plan_write(&s, &tree, 4, 5).unwrap();
    let segs = plan.segments();
    assert!(matches!(segs[0].target, Target::Fresh { first: 0 }));
    assert!(matches!(segs[1].target, Target::InPlace { .. }) && segs[1].count == 3);
    assert!(matches!(segs[2].target, Target::Fresh { first: 1 }));
    assert_eq!((plan.new_nodes(), plan.new_data()), (0, 2));
    let in_place = plan_write(&s, &tree, 5, 3).unwrap();
    assert!(in_place.is_in_place());
    // Applying it links nothing, even if a snapshot came in between.
    s.snapshot(0);
    let change = apply_write(&s, &s.tree(0), &in_place, &[], 0).unwrap();
    assert_eq!((change.updates(), change.count()), (&[][..], 3));
}

#[test]
fn after_a_snapshot_the_new_root_is_the_commit_node() {
    let mut s = Store::new(2, F * 2);
    s.write(0, 1, &[1]);
    let snap = s.snapshot(0);
    let new_root = s.vdis[0].root;
    let u = write_one(&mut s, 2);
    let old_leaf = ptr_block(s.node(snap, 2).unwrap().get(0));
    assert!(
        matches!(
            u[..],
            [Update::NewNode { level: 1, copy_of, .. }, Update::SetPtrs { level: 1, index: 2, commit: false, .. }, Update::SetPtrs { node, level: 2, commit: true, .. }]
            if copy_of == old_leaf && node == new_root
        ),
        "{:?}",
        u
    );
    // The copy shares block 1's data read-only.
    let m = lookup(&s, &s.tree(0), 1).unwrap();
    assert!(m.block != 0 && !m.writable);
}

#[test]
fn a_read_only_root_is_replaced_through_the_record() {
    let mut s = Store::new(1, F);
    s.write(0, 0, &[1]);
    let mut tree = s.tree(0);
    tree.root = make_ptr(s.vdis[0].root, true);
    let plan = plan_write(&s, &tree, 0, 1).unwrap();
    assert_eq!((plan.new_nodes(), plan.new_data()), (1, 1));
    let change = apply_write(&s, &tree, &plan, &[100], 200).unwrap();
    assert!(matches!(
        change.updates().last(),
        Some(Update::SetRoot { block: 100 })
    ));
}

#[test]
fn an_uncached_node_is_a_miss_not_a_wait() {
    let mut s = Store::new(2, F * 2);
    s.write(0, F + 1, &[1]);
    s.commit(&mut |_, _| {});
    s.evict_clean();
    let root = s.vdis[0].root;
    let tree = s.tree(0);
    let miss = |s: &Store| lookup(s, &tree, F + 1).unwrap_err();
    assert_eq!(
        miss(&s),
        MapError::Miss {
            block: root,
            level: 2
        }
    );
    assert_eq!(s.read(tree, F + 1), 1);
}

#[test]
fn concurrent_plans_share_the_new_node() {
    let mut s = Store::new(2, F * 2);
    let tree = s.tree(0);
    let a = plan_write(&s, &tree, 3, 1).unwrap();
    let b = plan_write(&s, &tree, 9, 1).unwrap();
    assert_eq!((a.new_nodes(), b.new_nodes()), (1, 1));
    let ca = apply_write(&s, &tree, &a, &[50], 60).unwrap();
    s.apply(0, &ca);
    let cb = apply_write(&s, &tree, &b, &[51], 61).unwrap();
    // B links into A's leaf: its node block is spare.
    assert_eq!((ca.nodes_used(), cb.nodes_used()), (1, 0));
    assert!(matches!(
        cb.updates()[..],
        [Update::SetPtrs {
            node: 50,
            index: 9,
            first: 61,
            ..
        }]
    ));
}

#[test]
fn spans_of_one_request_share_their_new_nodes() {
    let mut s = Store::new(3, F * F * 2);
    s.write(0, F - 1, &[1, 2]);
    s.snapshot(0);
    // Both spans copy the level-2 node and their own leaf: 3 nodes, not 4.
    let tree = s.tree(0);
    let a = plan_write(&s, &tree, F - 1, 2).unwrap();
    let b = plan_write(&s, &tree, F, 1).unwrap();
    assert_eq!((a.count(), a.new_nodes(), b.new_nodes()), (1, 2, 2));
    assert_eq!(b.new_nodes_after(&a), 1);
    let far = plan_write(&s, &tree, F * F, 1).unwrap();
    assert_eq!(far.new_nodes_after(&a), far.new_nodes());
    let before = s.stats.spare_nodes;
    s.write(0, F - 1, &[3, 4]);
    assert_eq!(s.stats.spare_nodes, before);
}

#[test]
fn a_snapshot_between_plan_and_apply_asks_for_nodes() {
    let mut s = Store::new(2, F * 2);
    s.write(0, 1, &[1]);
    let plan = plan_write(&s, &s.tree(0), 2, 1).unwrap();
    assert_eq!(plan.new_nodes(), 0);
    s.snapshot(0);
    let err = apply_write(&s, &s.tree(0), &plan, &[], 70).unwrap_err();
    assert_eq!(err, MapError::NeedBlocks { nodes: 1, data: 0 });
}

#[test]
fn unmap_frees_private_blocks_and_unlinks_shared_ones() {
    let mut s = Store::new(2, F * 2);
    s.write(0, 0, &[1, 2, 3]);
    let data = lookup(&s, &s.tree(0), 0).unwrap().block;
    let c = unmap(&s, &s.tree(0), 0, 2, &[]).unwrap();
    assert!(c.updates().contains(&Update::Free {
        first: data,
        count: 2
    }));
    s.apply(0, &c);
    s.snapshot(0);
    // Block 2 is shared now: unlinking it copies the leaf, frees nothing.
    let err = unmap(&s, &s.tree(0), 2, 1, &[]).unwrap_err();
    assert_eq!(err, MapError::NeedBlocks { nodes: 1, data: 0 });
    let c = unmap(&s, &s.tree(0), 2, 1, &[90]).unwrap();
    assert!(!c.updates().iter().any(|u| matches!(u, Update::Free { .. })));
    // A whole shared leaf is unlinked without a copy.
    let c = unmap(&s, &s.tree(0), 0, F, &[]).unwrap();
    assert!(matches!(
        c.updates()[..],
        [Update::SetPtrs {
            level: 2,
            first: 0,
            commit: true,
            ..
        }]
    ));
}

#[test]
fn extents_follow_physical_runs() {
    let mut s = Store::new(2, F * 3);
    s.write(0, F - 2, &[1, 2, 3, 4]); // crosses a leaf, one data run
    let tree = s.tree(0);
    let e = extent(&s, &tree, 0, F * 3).unwrap();
    assert_eq!((e.lba, e.count, e.block), (0, F - 2, 0));
    let e = extent(&s, &tree, F - 2, F * 2).unwrap();
    assert_eq!((e.count, e.writable), (4, true));
    assert_eq!(
        extent(&s, &tree, F * 3 - 1, 2).unwrap_err(),
        MapError::OutOfRange {
            lba: F * 3 - 1,
            count: 2
        }
    );
}

#[test]
fn snapshot_copies_the_cached_root() {
    let s = Store::new(2, F);
    let root = s.vdis[0].root;
    let c = read_only_root(&s, &s.tree(0), 9).unwrap();
    assert_eq!(
        c.updates(),
        &[
            Update::NewNode {
                block: 9,
                level: 2,
                copy_of: root
            },
            Update::SetRoot { block: 9 }
        ]
    );
    let empty = map::Tree {
        root: 0,
        ..s.tree(0)
    };
    assert_eq!(read_only_root(&s, &empty, 9).unwrap_err(), MapError::NoRoot);
}

#[test]
fn results_fit_on_a_kernel_stack() {
    // The worker keeps a plan and a change on its stack (16 KiB in all).
    assert!(std::mem::size_of::<map::Change>() <= 1536);
    assert!(std::mem::size_of::<map::WritePlan>() <= 512);
    eprintln!(
        "Change: {} bytes, WritePlan: {} bytes",
        std::mem::size_of::<map::Change>(),
        std::mem::size_of::<map::WritePlan>()
    );
}

/// A two-level tree with one leaf whose pointers are given: a node
/// source for plans and extents over pointers a run of writes rarely
/// makes (read-only neighbours of writable blocks).
struct OneLeaf {
    root: RadixNode,
    leaf: RadixNode,
}

const ONE_LEAF_ROOT: u64 = 1;
const ONE_LEAF_LEAF: u64 = 2;

impl OneLeaf {
    fn new(ptrs: &[u64]) -> (Self, Tree) {
        let mut root = RadixNode::default();
        root.set(0, make_ptr(ONE_LEAF_LEAF, false));
        let mut leaf = RadixNode::default();
        for (i, &p) in ptrs.iter().enumerate() {
            leaf.set(i, p);
        }
        let tree = Tree {
            root: make_ptr(ONE_LEAF_ROOT, false),
            height: 2,
            blocks: F * F,
        };
        (Self { root, leaf }, tree)
    }
}

impl NodeSource for OneLeaf {
    fn node(&self, block: u64, level: u32) -> Option<&RadixNode> {
        match (block, level) {
            (ONE_LEAF_ROOT, 2) => Some(&self.root),
            (ONE_LEAF_LEAF, 1) => Some(&self.leaf),
            _ => None,
        }
    }
}

#[test]
fn runs_break_where_writability_or_contiguity_does() {
    let rw = |b| make_ptr(b, false);
    let ro = |b| make_ptr(b, true);
    let ptrs = [
        rw(10),
        ro(11),
        rw(12),
        rw(13),
        0,
        ro(20),
        rw(21),
        ro(22), // 0..8
        ro(30),
        ro(31),
        ro(32),
        rw(33), // 8..12
    ];
    let (src, tree) = OneLeaf::new(&ptrs);
    let plan = plan_write(&src, &tree, 0, 12).unwrap();
    let segs: Vec<(u64, u32, Target)> = plan
        .segments()
        .iter()
        .map(|s| (s.lba, s.count, s.target))
        .collect();
    assert_eq!(
        segs,
        [
            (0, 1, Target::InPlace { block: 10 }),
            (1, 1, Target::Fresh { first: 0 }),
            (2, 2, Target::InPlace { block: 12 }),
            (4, 2, Target::Fresh { first: 1 }),
            (6, 1, Target::InPlace { block: 21 }),
            // Sparse or read-only: fresh blocks, one run.
            (7, 4, Target::Fresh { first: 3 }),
            (11, 1, Target::InPlace { block: 33 }),
        ][..]
    );
    assert_eq!((plan.count(), plan.new_data()), (12, 7));
    let plan = plan_write(&src, &tree, 8, 4).unwrap();
    assert_eq!(plan.new_data(), 3);
    assert_eq!(plan.segments().len(), 2);
    // Extents: one block, physical run and writability each.
    let runs: Vec<(u64, u64, u64, bool)> = {
        let mut out = Vec::new();
        let mut lba = 0;
        while lba < 12 {
            let e = extent(&src, &tree, lba, 12 - lba).unwrap();
            out.push((e.lba, e.count, e.block, e.writable));
            lba += e.count;
        }
        out
    };
    assert_eq!(
        runs,
        [
            (0, 1, 10, true),
            (1, 1, 11, false),
            (2, 2, 12, true),
            (4, 1, 0, false),
            (5, 1, 20, false),
            (6, 1, 21, true),
            (7, 1, 22, false),
            (8, 3, 30, false),
            (11, 1, 33, true),
        ][..]
    );
}
