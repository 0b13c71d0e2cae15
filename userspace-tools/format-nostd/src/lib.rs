// SPDX-License-Identifier: GPL-2.0

//! Build check: the on-disk format module, the radix map built on it and
//! the ioctl structs must compile as they are in a `#![no_std]` crate
//! without `alloc`, the way the kernel driver includes them.
//! Lints approximate the kernel's Rust flags; any warning fails the build.

#![no_std]
#![cfg_attr(not(test), deny(warnings))]
#![cfg_attr(
    not(test),
    deny(missing_docs, rust_2018_idioms, unreachable_pub, unsafe_code)
)]
#![cfg_attr(
    not(test),
    deny(clippy::float_arithmetic, clippy::unwrap_used, clippy::expect_used)
)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic))]

#[path = "../../../drivers/block/pvdisk/format/mod.rs"]
pub mod format;

#[path = "../../../drivers/block/pvdisk/map/mod.rs"]
pub mod map;

#[path = "../../../drivers/block/pvdisk/uapi.rs"]
pub mod uapi;
