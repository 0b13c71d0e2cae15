// SPDX-License-Identifier: GPL-2.0

//! pvdisk on-disk format, version 1.
//!
//! This module uses only `core` (no alloc, no std, no external crates, no
//! floating point, no `unsafe`). The kernel driver and the userspace tool
//! both compile this very directory through `#[path]`, so the two can never
//! disagree about the format:
//!
//! ```ignore
//! #[path = "format/mod.rs"]
//! mod format;
//! ```
//!
//! Every item is `pub`; a crate that uses only part of it (the driver)
//! should put `#[allow(dead_code, unreachable_pub)]` on the `mod` line.
//!
//! Layout (see Documentation/format.rst for the picture): the device is
//! cut into fixed-size extents. Extent 0 is the system extent: the
//! [`superblock`] at block 0, the [`extent`] catalogue from block 1, then
//! the [`vdi`] registry (one block per VDI). Every other extent is free,
//! metadata ([`radix`] nodes, [`snaplog`] blocks) or data, and starts with
//! its allocation [`bitmap`]. Every metadata block carries a magic, its own
//! block number and a [`crc32c`] ([`block`]) seeded with the store's UUID
//! (a [`StoreId`], which every decoder but the superblock's takes, so a
//! block copied from another store is refused); decoders return
//! [`FormatError`] on anything unexpected and never panic.

#![forbid(unsafe_code)]

pub mod bitmap;
pub mod block;
pub mod crc32c;
pub mod extent;
pub mod radix;
pub mod snaplog;
pub mod superblock;
pub mod vdi;

pub use block::{Block, FormatError, StoreId, BLOCK_SIZE};
