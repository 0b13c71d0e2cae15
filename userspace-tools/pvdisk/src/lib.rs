// SPDX-License-Identifier: GPL-2.0

//! Library of the `pvdisk` tool: the shared on-disk format plus a userspace
//! reference of the radix map, snapshots, check and gc.

#[path = "../../../drivers/block/pvdisk/format/mod.rs"]
pub mod format;
