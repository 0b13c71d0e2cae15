// SPDX-License-Identifier: GPL-2.0

//! Library of the `pvdisk` tool: the shared on-disk format plus a
//! userspace reference of the store: allocation, the radix map with
//! copy-on-write, snapshots and clones, check and gc.

#[path = "../../../drivers/block/pvdisk/format/mod.rs"]
pub mod format;

/// The ioctl interface of `/dev/pvdiskN`, the very file the driver
/// compiles, so the two cannot disagree on a byte of the structs.
#[path = "../../../drivers/block/pvdisk/uapi.rs"]
pub mod uapi;

pub mod alloc;
pub mod args;
pub mod cache;
pub mod check;
pub mod commit;
pub mod dev;
pub mod error;
pub mod finding;
pub mod gc;
pub mod host;
pub mod image;
pub mod journal;
pub mod json;
pub mod live;
pub mod map;
pub mod names;
pub mod online;
pub mod progress;
pub mod signature;
pub mod snapshot;
pub mod space;
pub mod store;
pub mod sys;
pub mod tree;
pub mod units;
pub mod vdi;
pub mod walk;

pub use error::{Error, Result};
pub use store::Store;
