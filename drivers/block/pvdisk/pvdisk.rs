// SPDX-License-Identifier: GPL-2.0

//! pvdisk: many copy-on-write virtual disks on one shared block device.
//!
//! Each disk (`/dev/pvdiskN`, configured in configfs) shows one VDI of a
//! pvdisk store (read-write) or one of its snapshots (read-only); the
//! store is the format of Documentation/format.rst that the `pvdisk` tool
//! writes. Without a VDI a disk passes I/O through to the raw device, the
//! baseline the benchmark measures.
//!
//! Layers, one way down (Documentation/data-path.rst):
//!
//! - [`config`]: configfs, one directory per disk; [`disk`] makes and
//!   removes the block device; [`registry`] hands out disk numbers;
//! - [`io`]: the request path, requests to bios;
//! - [`vdi`]: one attached VDI: its tree through the node cache, its
//!   worker for everything that may sleep, and its commits;
//! - [`map`]: the radix map as pure logic (shared with the host tests);
//! - [`store`]: one per backing device: superblock, allocator, VDI
//!   records, metadata block I/O;
//! - [`format`]: the on-disk structures (shared with the tool).

// `pin_init!` of `vdi::Vdi`, a struct of many fields, expands past the
// default macro recursion limit of 128.
#![recursion_limit = "256"]

use kernel::{c_str, configfs, prelude::*, sync::Arc};

mod config;
mod control;
mod disk;
// The on-disk format, shared with the userspace tool: compiled here from the
// same files so the two cannot disagree.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod format;
mod io;
// The radix map (lookup, copy-on-write plans, unmap, snapshot roots), pure
// logic shared with the host tests.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod map;
mod ratelimit;
mod registry;
mod ring;
mod store;
// The ioctl structs, shared with the tool.
#[allow(dead_code, unreachable_pub)]
mod uapi;
mod vdi;
mod workers;

module! {
    type: PvdiskModule,
    name: "pvdisk",
    author: "The pvdisk authors",
    description: "Copy-on-write virtual disks on a shared block device",
    license: "GPL v2",
}

/// What every disk directory shares: the open stores and the workers.
#[pin_data]
pub(crate) struct Shared {
    #[pin]
    pub(crate) stores: store::Stores,
    pub(crate) workers: Arc<workers::Workers>,
}

struct PvdiskModule {
    _subsystem: configfs::Subsystem<config::DiskConfig>,
    shared: Arc<Shared>,
}

impl kernel::Module for PvdiskModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let workers = workers::Workers::new()?;
        let shared_workers = workers.clone();
        let shared = match Arc::pin_init(
            pin_init!(Shared {
                stores <- store::Stores::new(),
                workers: shared_workers,
            }),
            GFP_KERNEL,
        ) {
            Ok(shared) => shared,
            Err(e) => {
                workers.stop();
                return Err(e);
            }
        };
        let subsystem =
            match configfs::Subsystem::register(module, c_str!("pvdisk"), shared.clone()) {
                Ok(s) => s,
                Err(e) => {
                    workers.stop();
                    return Err(e);
                }
            };
        pr_info!("loaded; configure disks in /sys/kernel/config/pvdisk\n");
        Ok(Self {
            _subsystem: subsystem,
            shared,
        })
    }
}

impl Drop for PvdiskModule {
    fn drop(&mut self) {
        // No disk is left (configfs keeps the module while directories
        // exist); stop the ticker before the queues go.
        self.shared.workers.stop();
    }
}
