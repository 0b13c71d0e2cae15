// SPDX-License-Identifier: GPL-2.0

//! configfs: one directory per disk, its attributes validated here.
//!
//! ```text
//! /sys/kernel/config/pvdisk/NAME/
//!     backing   rw  path of the store's block device
//!     vdi       rw  VDI name (read-write disk), or snapshot label or
//!                   VDI@N (read-only disk); empty: pass-through of the
//!                   raw device
//!     cache_mb  rw  node cache size in MiB, 1..4096, default 64
//!     power     rw  1 creates /dev/pvdiskN, 0 removes it
//!     name      ro  pvdiskN while powered, empty otherwise
//!     size      ro  disk size in bytes while powered, else 0
//!     stats     ro  cache and commit counters, one `key value` a line
//!     fail_alloc rw (root only) testing: the next N requests (bios of
//!               a pass-through) fail to allocate: requeued (wait)
//! ```
//!
//! Every write is checked before anything changes: a rejected write leaves
//! the disk exactly as it was. While a disk is powered its directory
//! cannot be removed (`EBUSY`); power it off first.

use kernel::{
    alloc::flags::GFP_KERNEL,
    block::bdev::{self, BdevFile},
    c_str,
    configfs::{self, attribute, Attribute, AttributeOperations, Dependency, ItemRef},
    fmt, new_mutex,
    prelude::*,
    str::CString,
    sync::Mutex,
};

use crate::{
    disk::{Disk, Source},
    ratelimit::{errname, warn_ratelimited},
    registry,
    vdi::{
        Vdi, CACHE_MB_DEFAULT, CACHE_MB_MAX, CACHE_MB_MIN, READ_OFFLOAD_DEFAULT, READ_OFFLOAD_MAX,
    },
    Shared,
};
use kernel::sync::Arc;

/// Longest backing path accepted (`PATH_MAX` without the NUL).
const MAX_PATH: usize = 4095;

// The attributes, in the order their files are listed.
const BACKING: usize = 0;
const POWER: usize = 1;
const NAME: usize = 2;
const FAIL_ALLOC: usize = 3;
const VDI: usize = 4;
const CACHE_MB: usize = 5;
const SIZE: usize = 6;
const STATS: usize = 7;
const READ_OFFLOAD: usize = 8;

/// Longest `vdi` value: a VDI name (63 bytes), `@` and a number.
const MAX_VDI_SPEC: usize = 96;

/// Most allocation failures one write to `fail_alloc` may ask for.
const MAX_FAIL_ALLOC: u32 = 1_000_000;

/// A disk declared by `mkdir`.
#[pin_data]
pub(crate) struct DiskConfig {
    /// The directory name, for log lines.
    name: CString,
    shared: Arc<Shared>,
    #[pin]
    state: Mutex<DiskState>,
}

struct DiskState {
    backing: Option<CString>,
    vdi: Option<KVec<u8>>,
    cache_mb: u32,
    read_offload: u32,
    powered: Option<Powered>,
}

/// What exists only while `power` is 1.
struct Powered {
    disk: Disk,
    /// Keeps `rmdir` from removing the directory of a powered disk.
    _no_rmdir: Dependency,
}

impl Powered {
    fn power_off(self, shared: &Shared) {
        let index = self.disk.index();
        // Removes /dev/pvdiskN (waiting for its requests), then commits and
        // detaches the VDI (the last disk of a store closes it) or releases
        // the raw device, before the number can be reused.
        if let Some(vdi) = self.disk.remove() {
            vdi.detach(&shared.stores);
        }
        registry::give_back(index);
    }
}

/// Parses a decimal number from an attribute write.
fn parse_u32(data: &[u8]) -> Option<u32> {
    core::str::from_utf8(trim_newline(data))
        .ok()
        .and_then(|text| text.parse::<u32>().ok())
}

/// `data` without one trailing newline, as `echo` writes it.
fn trim_newline(data: &[u8]) -> &[u8] {
    data.strip_suffix(b"\n").unwrap_or(data)
}

/// Copy `text` into the page `configfs` gave, returning its length.
fn show_text(page: &mut [u8], text: &[u8]) -> Result<usize> {
    let dst = page.get_mut(..text.len()).ok_or(EINVAL)?;
    dst.copy_from_slice(text);
    Ok(text.len())
}

impl DiskConfig {
    fn store_backing(&self, data: &[u8]) -> Result {
        let mut state = self.state.lock();
        if state.powered.is_some() {
            warn_ratelimited!("{}: backing: cannot change while powered\n", &*self.name);
            return Err(EBUSY);
        }
        let path = trim_newline(data);
        if path.is_empty() || path.len() > MAX_PATH || path.contains(&0) {
            warn_ratelimited!("{}: backing: not a usable path\n", &*self.name);
            return Err(EINVAL);
        }
        let mut bytes = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
        bytes.extend_from_slice(path, GFP_KERNEL)?;
        bytes.push(0, GFP_KERNEL)?;
        let path = CString::try_from(CStr::from_bytes_with_nul(&bytes)?)?;
        if let Err(e) = bdev::lookup(&path) {
            warn_ratelimited!("{}: backing {}: {}\n", &*self.name, &*path, errname(e));
            return Err(e);
        }
        state.backing = Some(path);
        Ok(())
    }

    fn store_vdi(&self, data: &[u8]) -> Result {
        let mut state = self.state.lock();
        if state.powered.is_some() {
            warn_ratelimited!("{}: vdi: cannot change while powered\n", &*self.name);
            return Err(EBUSY);
        }
        let spec = trim_newline(data);
        if spec.len() > MAX_VDI_SPEC || spec.iter().any(|&c| c <= b' ' || c == 0x7f) {
            warn_ratelimited!("{}: vdi: not a VDI or snapshot name\n", &*self.name);
            return Err(EINVAL);
        }
        state.vdi = if spec.is_empty() {
            None
        } else {
            let mut bytes = KVec::with_capacity(spec.len(), GFP_KERNEL)?;
            bytes.extend_from_slice(spec, GFP_KERNEL)?;
            Some(bytes)
        };
        Ok(())
    }

    fn store_cache_mb(&self, data: &[u8]) -> Result {
        let mut state = self.state.lock();
        if state.powered.is_some() {
            warn_ratelimited!("{}: cache_mb: cannot change while powered\n", &*self.name);
            return Err(EBUSY);
        }
        match parse_u32(data).filter(|mb| (CACHE_MB_MIN..=CACHE_MB_MAX).contains(mb)) {
            Some(mb) => {
                state.cache_mb = mb;
                Ok(())
            }
            None => {
                warn_ratelimited!(
                    "{}: cache_mb: write a size in MiB from {} to {}\n",
                    &*self.name,
                    CACHE_MB_MIN,
                    CACHE_MB_MAX
                );
                Err(EINVAL)
            }
        }
    }

    /// Takes effect at once on a powered VDI disk, and at power on.
    fn store_read_offload(&self, data: &[u8]) -> Result {
        let Some(at) = parse_u32(data).filter(|&n| n <= READ_OFFLOAD_MAX) else {
            warn_ratelimited!(
                "{}: read_offload: write a depth from 0 (never) to {}\n",
                &*self.name,
                READ_OFFLOAD_MAX
            );
            return Err(EINVAL);
        };
        let mut state = self.state.lock();
        state.read_offload = at;
        if let Some(vdi) = state.powered.as_ref().and_then(|p| p.disk.vdi()) {
            vdi.set_read_offload(at);
        }
        Ok(())
    }

    fn store_power(this: &ItemRef<'_, Self>, data: &[u8]) -> Result {
        let on = match trim_newline(data) {
            b"0" => false,
            b"1" => true,
            _ => {
                warn_ratelimited!("{}: power: write 0 or 1\n", &*this.name);
                return Err(EINVAL);
            }
        };
        let mut state = this.state.lock();
        match (on, state.powered.is_some()) {
            (true, true) | (false, false) => Ok(()),
            (true, false) => {
                let powered = this.power_on(&state, this)?;
                state.powered = Some(powered);
                Ok(())
            }
            (false, true) => {
                if let Some(Err(e)) = state.powered.as_ref().map(|p| p.disk.close()) {
                    warn_ratelimited!("{}: power: disk is open\n", &*this.name);
                    return Err(e);
                }
                if let Some(powered) = state.powered.take() {
                    powered.power_off(&this.shared);
                }
                Ok(())
            }
        }
    }

    fn store_fail_alloc(&self, data: &[u8]) -> Result {
        let count = parse_u32(data).filter(|&n| n <= MAX_FAIL_ALLOC);
        let Some(count) = count else {
            warn_ratelimited!(
                "{}: fail_alloc: write a count from 0 to {}\n",
                &*self.name,
                MAX_FAIL_ALLOC
            );
            return Err(EINVAL);
        };
        match self.state.lock().powered.as_ref() {
            Some(powered) => {
                powered.disk.inject_allocation_failures(count);
                Ok(())
            }
            None => {
                warn_ratelimited!("{}: fail_alloc: power the disk on first\n", &*self.name);
                Err(EINVAL)
            }
        }
    }

    fn power_on(&self, state: &DiskState, item: &ItemRef<'_, Self>) -> Result<Powered> {
        let Some(path) = state.backing.as_ref() else {
            warn_ratelimited!("{}: power: set backing first\n", &*self.name);
            return Err(EINVAL);
        };
        let source = match state.vdi.as_ref() {
            Some(spec) => {
                let vdi = Vdi::attach(
                    &self.shared.stores,
                    &self.shared.workers,
                    path,
                    spec,
                    state.cache_mb,
                )
                .inspect_err(|e| {
                    warn_ratelimited!(
                        "{}: attach {} from {}: {}\n",
                        &*self.name,
                        core::str::from_utf8(spec).unwrap_or("?"),
                        &**path,
                        errname(*e)
                    );
                })?;
                vdi.set_read_offload(state.read_offload);
                Source::Vdi(vdi)
            }
            // Exclusive: a second disk (or a mount) on the same device
            // gets EBUSY.
            None => Source::Raw(BdevFile::open_exclusive(path).inspect_err(|e| {
                warn_ratelimited!("{}: open {}: {}\n", &*self.name, &**path, errname(*e));
            })?),
        };
        let undo = |source: Source| {
            if let Source::Vdi(vdi) = source {
                vdi.detach(&self.shared.stores);
            }
        };
        let no_rmdir = match item.depend() {
            Ok(d) => d,
            Err(e) => {
                undo(source);
                return Err(e);
            }
        };
        let index = match registry::take() {
            Ok(i) => i,
            Err(e) => {
                undo(source);
                return Err(e);
            }
        };
        let vdi = match &source {
            Source::Vdi(vdi) => Some(vdi.clone()),
            Source::Raw(_) => None,
        };
        match Disk::create(index, source) {
            Ok(disk) => {
                pr_info!("{}: /dev/pvdisk{} on {}\n", &*self.name, index, &**path);
                Ok(Powered {
                    disk,
                    _no_rmdir: no_rmdir,
                })
            }
            Err(e) => {
                registry::give_back(index);
                if let Some(vdi) = vdi {
                    vdi.detach(&self.shared.stores);
                }
                warn_ratelimited!(
                    "{}: power: cannot create disk: {}\n",
                    &*self.name,
                    errname(e)
                );
                Err(e)
            }
        }
    }

    /// The `stats` text of a powered VDI disk.
    fn stats_text(vdi: &Vdi) -> Result<CString> {
        let cache = vdi.cache_stats();
        let count =
            |c: &core::sync::atomic::AtomicU64| c.load(core::sync::atomic::Ordering::Relaxed);
        let counters = &vdi.counters;
        CString::try_from_fmt(fmt!(
            "cache_hits {}\ncache_misses {}\ncache_evictions {}\ncached_nodes {}\n\
             dirty_nodes {}\ncow_blocks {}\ncow_at_submit {}\ncow_held {}\ncommits {}\n\
             one_bio_commits {}\nfreed_blocks {}\nreserve_free {}\nmeta_writes {}\nslot_waits {}\n\
             worker_reads {}\n",
            cache.hits,
            cache.misses,
            cache.evictions,
            cache.nodes,
            cache.dirty,
            count(&counters.cow_blocks),
            count(&counters.cow_at_submit),
            count(&counters.cow_held),
            count(&counters.commits),
            count(&counters.one_bio_commits),
            count(&counters.freed_blocks),
            vdi.reserve_free(),
            crate::store::meta::meta_writes(),
            vdi.slot_waits(),
            count(&counters.worker_reads),
        ))
    }
}

impl configfs::ItemOperations for DiskConfig {
    type Parent = Arc<Shared>;

    const ATTRIBUTES: &'static [Attribute] = &[
        attribute::<Self, BACKING>(),
        attribute::<Self, POWER>(),
        attribute::<Self, NAME>(),
        attribute::<Self, FAIL_ALLOC>(),
        attribute::<Self, VDI>(),
        attribute::<Self, CACHE_MB>(),
        attribute::<Self, SIZE>(),
        attribute::<Self, STATS>(),
        attribute::<Self, READ_OFFLOAD>(),
    ];

    fn make(parent: &Arc<Shared>, name: &CStr) -> Result<impl PinInit<Self, Error>> {
        let name = CString::try_from_fmt(fmt!("{}", name))?;
        let state = DiskState {
            backing: None,
            vdi: None,
            cache_mb: CACHE_MB_DEFAULT,
            read_offload: READ_OFFLOAD_DEFAULT,
            powered: None,
        };
        Ok(try_pin_init!(Self {
            name,
            shared: parent.clone(),
            state <- new_mutex!(state, "pvdisk::DiskConfig::state"),
        }? Error))
    }

    fn drop_item(&self) {
        // A powered disk cannot be removed (see `Powered::_no_rmdir`), so
        // this finds it off; power off anyway rather than leak a disk.
        if let Some(powered) = self.state.lock().powered.take() {
            powered.power_off(&self.shared);
        }
    }
}

impl AttributeOperations<BACKING> for DiskConfig {
    const NAME: &'static CStr = c_str!("backing");
    const MODE: u16 = 0o644;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let state = self.state.lock();
        let path = state.backing.as_ref().map_or(&b""[..], |p| p.as_bytes());
        let len = show_text(page, path)?;
        Ok(len + show_text(page.get_mut(len..).ok_or(EINVAL)?, b"\n")?)
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        this.store_backing(data)
    }
}

impl AttributeOperations<POWER> for DiskConfig {
    const NAME: &'static CStr = c_str!("power");
    const MODE: u16 = 0o644;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let powered = self.state.lock().powered.is_some();
        show_text(page, if powered { b"1\n" } else { b"0\n" })
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        Self::store_power(&this, data)
    }
}

impl AttributeOperations<NAME> for DiskConfig {
    const NAME: &'static CStr = c_str!("name");
    const MODE: u16 = 0o444;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        match self.state.lock().powered.as_ref() {
            Some(p) => {
                let text = CString::try_from_fmt(fmt!("pvdisk{}\n", p.disk.index()))?;
                show_text(page, text.as_bytes())
            }
            None => show_text(page, b"\n"),
        }
    }
}

impl AttributeOperations<FAIL_ALLOC> for DiskConfig {
    const NAME: &'static CStr = c_str!("fail_alloc");
    const MODE: u16 = 0o600;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let pending = self
            .state
            .lock()
            .powered
            .as_ref()
            .map_or(0, |p| p.disk.pending_allocation_failures());
        let text = CString::try_from_fmt(fmt!("{}\n", pending))?;
        show_text(page, text.as_bytes())
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        this.store_fail_alloc(data)
    }
}

impl AttributeOperations<VDI> for DiskConfig {
    const NAME: &'static CStr = c_str!("vdi");
    const MODE: u16 = 0o644;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let state = self.state.lock();
        let spec = state.vdi.as_ref().map_or(&b""[..], |v| v.as_slice());
        let len = show_text(page, spec)?;
        Ok(len + show_text(page.get_mut(len..).ok_or(EINVAL)?, b"\n")?)
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        this.store_vdi(data)
    }
}

impl AttributeOperations<CACHE_MB> for DiskConfig {
    const NAME: &'static CStr = c_str!("cache_mb");
    const MODE: u16 = 0o644;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let text = CString::try_from_fmt(fmt!("{}\n", self.state.lock().cache_mb))?;
        show_text(page, text.as_bytes())
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        this.store_cache_mb(data)
    }
}

impl AttributeOperations<SIZE> for DiskConfig {
    const NAME: &'static CStr = c_str!("size");
    const MODE: u16 = 0o444;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let size = self
            .state
            .lock()
            .powered
            .as_ref()
            .and_then(|p| p.disk.vdi().map(|v| v.size()))
            .unwrap_or(0);
        let text = CString::try_from_fmt(fmt!("{}\n", size))?;
        show_text(page, text.as_bytes())
    }
}

impl AttributeOperations<STATS> for DiskConfig {
    const NAME: &'static CStr = c_str!("stats");
    const MODE: u16 = 0o444;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let state = self.state.lock();
        match state.powered.as_ref().and_then(|p| p.disk.vdi()) {
            Some(vdi) => show_text(page, Self::stats_text(vdi)?.as_bytes()),
            None => show_text(page, b""),
        }
    }
}

impl AttributeOperations<READ_OFFLOAD> for DiskConfig {
    const NAME: &'static CStr = c_str!("read_offload");
    const MODE: u16 = 0o644;

    fn show(&self, page: &mut [u8]) -> Result<usize> {
        let text = CString::try_from_fmt(fmt!("{}\n", self.state.lock().read_offload))?;
        show_text(page, text.as_bytes())
    }

    fn store(this: ItemRef<'_, Self>, data: &[u8]) -> Result {
        this.store_read_offload(data)
    }
}
