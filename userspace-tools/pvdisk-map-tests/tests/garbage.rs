// SPDX-License-Identifier: GPL-2.0

//! The map never panics, whatever the nodes hold: pointers to anywhere,
//! huge block numbers, read-only bits, a node that links itself, wrong
//! levels, and any range or node list asked for.

use proptest::prelude::*;
use pvdisk_map_tests::format::radix::{capacity_blocks, make_ptr, RadixNode, FANOUT, MAX_HEIGHT};
use pvdisk_map_tests::map::{
    apply_write, extent, lookup, plan_write, read_only_root, unmap, NodeSource, Tree,
};
use std::collections::HashMap;

/// Every node of a few blocks, served at whatever level is asked.
#[derive(Debug)]
struct Garbage(HashMap<u64, RadixNode>);

impl NodeSource for Garbage {
    fn node(&self, block: u64, _level: u32) -> Option<&RadixNode> {
        self.0.get(&block)
    }
}

/// Mostly links among the few nodes there are, some sparse, some wild.
fn pointer() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        6 => (1..6u64, any::<bool>()).prop_map(|(b, ro)| make_ptr(b, ro)),
        1 => any::<u64>(),
    ]
}

/// Mostly the first few slots, which the small logical blocks use.
fn slot() -> impl Strategy<Value = usize> {
    prop_oneof![0..8usize, 0..FANOUT]
}

fn garbage() -> impl Strategy<Value = Garbage> {
    proptest::collection::vec(proptest::collection::vec((slot(), pointer()), 0..40), 5).prop_map(
        |nodes| {
            let mut map = HashMap::new();
            for (b, ptrs) in nodes.into_iter().enumerate() {
                let mut n = RadixNode::default();
                for (i, p) in ptrs {
                    n.set(i, p);
                }
                map.insert(b as u64 + 1, n);
            }
            Garbage(map)
        },
    )
}

fn tree() -> impl Strategy<Value = Tree> {
    let height = prop_oneof![8 => 1..=3u32, 1 => 0..=MAX_HEIGHT + 1];
    let blocks = prop_oneof![8 => Just(None), 1 => any::<u64>().prop_map(Some)];
    (pointer(), height, blocks).prop_map(|(root, height, blocks)| Tree {
        root,
        height,
        // Mostly a size that fits the height.
        blocks: blocks.unwrap_or(capacity_blocks(height).min(3000)),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn no_panic(
        src in garbage(),
        tree in tree(),
        lba in prop_oneof![8 => 0..3000u64, 1 => any::<u64>()],
        count in prop_oneof![8 => 1..600u64, 1 => any::<u64>()],
        nodes in proptest::collection::vec(pointer(), 0..8),
        data in any::<u64>(),
    ) {
        let _ = lookup(&src, &tree, lba);
        let _ = extent(&src, &tree, lba, count);
        if let Ok(plan) = plan_write(&src, &tree, lba, count) {
            let _ = apply_write(&src, &tree, &plan, &nodes, data);
            let _ = plan.new_nodes_after(&plan);
        }
        let _ = unmap(&src, &tree, lba, count, &nodes);
        let _ = read_only_root(&src, &tree, data);
    }
}
