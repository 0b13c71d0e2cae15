// SPDX-License-Identifier: GPL-2.0

//! Short non-fuzzer smoke test of every decoder: random blocks, valid
//! blocks with random mutations, and valid blocks with valid checksums but
//! random field values. No decoder may panic; a mutated block is refused
//! unless the mutation left it byte-identical.

mod common;

use common::Rng;
use pvdisk::format::bitmap::BitmapBlock;
use pvdisk::format::block::{make_name, seal, verify};
use pvdisk::format::extent::{CatalogueBlock, ExtentKind};
use pvdisk::format::radix::{radix_magic, RadixNode};
use pvdisk::format::snaplog::{SnapEntry, SnapLogBlock};
use pvdisk::format::superblock::Superblock;
use pvdisk::format::superblock::SUPERBLOCK_MAGIC;
use pvdisk::format::vdi::VdiRecord;
use pvdisk::format::{Block, StoreId, BLOCK_SIZE};

/// The store of the test blocks (its superblock's UUID is `[3; 16]`).
fn id() -> StoreId {
    StoreId::from_uuid(&[3; 16])
}

/// The checksum seed of a block with `magic`: plain for the superblock.
fn id_for(magic: u32) -> StoreId {
    if magic == SUPERBLOCK_MAGIC {
        StoreId::PLAIN
    } else {
        id()
    }
}

/// Runs every decoder on `b` as block `nr` of the test store; true if
/// any accepted it.
fn decode_all(b: &Block, nr: u64) -> [bool; 6] {
    decode_all_in(b, id(), nr)
}

/// Runs every decoder on `b` as block `nr` of store `id`.
fn decode_all_in(b: &Block, id: StoreId, nr: u64) -> [bool; 6] {
    [
        nr == 0 && Superblock::decode(b).is_ok(),
        CatalogueBlock::decode(b, id, nr).is_ok(),
        BitmapBlock::decode(b, id, nr, 1, 0, 256).is_ok(),
        VdiRecord::decode(b, id, nr).is_ok(),
        (1..=6).any(|l| RadixNode::decode(b, id, nr, l).is_ok()),
        SnapLogBlock::decode(b, id, nr).is_ok(),
    ]
}

fn valid_blocks() -> Vec<(Block, u64)> {
    let mut out = Vec::new();
    let mut b = [0u8; BLOCK_SIZE];
    Superblock::new(1 << 20, 256, [3; 16], 5)
        .unwrap()
        .encode(&mut b);
    out.push((b, 0));
    let mut c = CatalogueBlock::default();
    c.entries[0].kind = ExtentKind::System;
    c.entries[1].kind = ExtentKind::Data;
    c.encode(&mut b, id(), 1);
    out.push((b, 1));
    let mut m = BitmapBlock::new(1, 0);
    m.set(0, true);
    m.set(100, true);
    m.encode(&mut b, id(), 256);
    out.push((b, 256));
    let r = VdiRecord {
        id: 1,
        height: 2,
        size: 1 << 20,
        root: 300,
        name: make_name("x").unwrap(),
        ..VdiRecord::default()
    };
    r.encode(&mut b, id(), 2);
    out.push((b, 2));
    let mut n = RadixNode::default();
    n.set(0, 301);
    n.set(7, 302 | (1 << 63));
    n.encode(&mut b, id(), 300, 2);
    out.push((b, 300));
    let mut l = SnapLogBlock::new(1, 0, 1);
    l.push(SnapEntry {
        root: 299,
        timestamp: 1,
        flags: 0,
        label: make_name("lbl").unwrap(),
    });
    l.encode(&mut b, id(), 303);
    out.push((b, 303));
    out
}

#[test]
fn random_blocks_never_decode() {
    let mut rng = Rng(0xfeed);
    for i in 0..3000u64 {
        let mut b = [0u8; BLOCK_SIZE];
        for chunk in b.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        assert_eq!(decode_all(&b, i), [false; 6]);
        // Random bodies with a real magic and a valid checksum must not
        // panic either (they may or may not decode).
        for magic in [
            u32::from_le_bytes(*b"PVSB"),
            u32::from_le_bytes(*b"PVEC"),
            u32::from_le_bytes(*b"PVBM"),
            u32::from_le_bytes(*b"PVVD"),
            radix_magic(1 + (i % 6) as u32),
            u32::from_le_bytes(*b"PVSL"),
        ] {
            let mut x = b;
            seal(&mut x, id_for(magic), magic, i);
            assert!(verify(&x, id_for(magic), magic, i).is_ok());
            let _ = decode_all(&x, i);
        }
    }
}

#[test]
fn mutated_valid_blocks_are_refused() {
    let mut rng = Rng(0xbeef);
    let valid = valid_blocks();
    for (b, nr) in &valid {
        let accepted = decode_all(b, *nr);
        assert_eq!(accepted.iter().filter(|&&x| x).count(), 1, "block {}", nr);
        for _ in 0..2000 {
            let mut x = *b;
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(BLOCK_SIZE as u64) as usize;
                x[at] = rng.next() as u8;
            }
            if x == *b {
                continue;
            }
            assert_eq!(
                decode_all(&x, *nr),
                [false; 6],
                "mutated block {} decoded",
                nr
            );
        }
        // Misdirected: the same bytes read from another block number.
        assert_eq!(decode_all(b, nr + 1), [false; 6]);
        // Foreign: the same bytes read as a block of another store (the
        // superblock has a plain checksum and is told apart by its UUID).
        if *nr != 0 {
            let other = StoreId::from_uuid(&[4; 16]);
            assert_eq!(decode_all_in(b, other, *nr), [false; 6], "block {}", nr);
        }
    }
}

#[test]
fn resealed_field_garbage_is_refused_or_consistent() {
    // Garbage in fields under a fresh checksum: every decoder must either
    // refuse or return values that re-encode to the very same block.
    let mut rng = Rng(0xabc);
    for (b, nr) in valid_blocks() {
        let magic = u32::from_le_bytes(b[..4].try_into().unwrap());
        for _ in 0..2000 {
            let mut x = b;
            let at = 16 + rng.below(200) as usize;
            x[at] = rng.next() as u8;
            seal(&mut x, id_for(magic), magic, nr);
            let mut y = [0u8; BLOCK_SIZE];
            if let Ok(v) = Superblock::decode(&x) {
                v.encode(&mut y);
                assert!(x == y);
            }
            if let Ok(v) = CatalogueBlock::decode(&x, id(), nr) {
                v.encode(&mut y, id(), nr);
                assert!(x == y);
            }
            if let Ok(v) = BitmapBlock::decode(&x, id(), nr, 1, 0, 256) {
                v.encode(&mut y, id(), nr);
                assert!(x == y);
            }
            if let Ok(v) = VdiRecord::decode(&x, id(), nr) {
                v.encode(&mut y, id(), nr);
                assert!(x == y);
            }
            if let Ok(v) = RadixNode::decode(&x, id(), nr, 2) {
                v.encode(&mut y, id(), nr, 2);
                assert!(x == y);
            }
            if let Ok(v) = SnapLogBlock::decode(&x, id(), nr) {
                v.encode(&mut y, id(), nr);
                assert!(x == y);
            }
        }
    }
}
