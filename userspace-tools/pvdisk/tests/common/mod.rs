// SPDX-License-Identifier: GPL-2.0

//! Shared helpers for the integration tests: temporary stores, block
//! patterns, a tiny deterministic PRNG.

#![allow(dead_code)]

pub mod json;

use pvdisk::format::{Block, BLOCK_SIZE};
use pvdisk::Store;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pvdisk-test-{}-{}-{}",
            tag,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates a sparse file of `bytes`.
pub fn sparse_file(path: &Path, bytes: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(bytes).unwrap();
}

/// Formats a store of `mib` MiB with 1 MiB extents, without fsync.
pub fn new_store(dir: &TempDir, mib: u64) -> (PathBuf, Store) {
    let p = dir.file("store.img");
    sparse_file(&p, mib << 20);
    let mut s = Store::format(&p, Some(1 << 20), false).unwrap();
    s.set_durable(false);
    (p, s)
}

/// Reopens a store for writing, without fsync.
pub fn reopen(p: &Path) -> Store {
    let mut s = Store::open(p, true).unwrap();
    s.set_durable(false);
    s
}

/// A block whose contents are determined by `seed` (0 = zeros).
pub fn pattern(seed: u64) -> Block {
    let mut b = [0u8; BLOCK_SIZE];
    if seed == 0 {
        return b;
    }
    let mut x = seed;
    for chunk in b.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// xorshift64* for deterministic test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
