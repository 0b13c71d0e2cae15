// SPDX-License-Identifier: GPL-2.0

//! Host tests of the driver's map layer (`drivers/block/pvdisk/map/`).
//!
//! The crate compiles the kernel's very `format` and `map` directories,
//! as the driver does, and adds what the kernel's store layer would
//! provide around them, kept in memory: an allocator ([`alloc`]), a node
//! cache with clean, dirty and new nodes over a simulated disk that
//! commits in the kernel's order ([`store`]), and tree walks for the
//! checks ([`walk`]). The tests are in `tests/`.

#[path = "../../../drivers/block/pvdisk/format/mod.rs"]
pub mod format;

#[path = "../../../drivers/block/pvdisk/map/mod.rs"]
pub mod map;

pub mod alloc;
pub mod store;
pub mod walk;
