// SPDX-License-Identifier: GPL-2.0

//! pvdisk: many copy-on-write virtual disks on one shared block device.
//!
//! Supported features (this stage: the pass-through skeleton):
//!
//! - configfs control: `mkdir /sys/kernel/config/pvdisk/NAME`, set
//!   `backing`, write 1 to `power` to get `/dev/pvdiskN`,
//! - blk-mq interface, asynchronous completion from the backing device's
//!   bio completions, many requests in flight, no lock on the data path,
//! - flush and FUA passed down to the backing device,
//! - block size 4 KiB.
//!
//! Requests flow one way: [`io`] turns each request into bios for the
//! backing device and ends the request when the last bio completes.
//! [`config`] owns the settings of each disk, [`disk`] makes and removes
//! the block device, [`registry`] hands out disk numbers.

use kernel::{c_str, configfs, prelude::*};

mod config;
mod disk;
// The on-disk format, shared with the userspace tool: compiled here from the
// same files so the two cannot disagree. The radix map is its first user.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod format;
mod io;
// The radix map (lookup, copy-on-write plans, unmap, snapshot roots), pure
// logic shared with the host tests; compiled here so the kernel's lints
// and `no_std` see the code the driver will run. The store layer is its
// first user.
#[allow(dead_code, unreachable_pub, unused_imports)]
mod map;
mod ratelimit;
mod registry;

module! {
    type: PvdiskModule,
    name: "pvdisk",
    author: "The pvdisk authors",
    description: "Copy-on-write virtual disks on a shared block device",
    license: "GPL v2",
}

struct PvdiskModule {
    _subsystem: configfs::Subsystem<config::DiskConfig>,
}

impl kernel::Module for PvdiskModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let subsystem = configfs::Subsystem::register(module, c_str!("pvdisk"), ())?;
        pr_info!("loaded; configure disks in /sys/kernel/config/pvdisk\n");
        Ok(Self {
            _subsystem: subsystem,
        })
    }
}
