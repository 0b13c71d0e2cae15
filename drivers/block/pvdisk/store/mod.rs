// SPDX-License-Identifier: GPL-2.0

//! The store layer: one per backing device, shared by every disk powered
//! from it. It opens the device once, checks the superblock, keeps the
//! allocator, and reads and writes VDI records (holds and commits).
//!
//! Nothing here is on the request path: disks call in from their worker,
//! and at power-on and power-off.

mod alloc;
mod host;
mod manage;
pub(crate) mod meta;
mod records;

use kernel::{
    alloc::flags::GFP_KERNEL,
    block::{bdev::BdevFile, bio::BioSet},
    new_mutex, new_spinlock,
    prelude::*,
    str::CString,
    sync::{Arc, Mutex, SpinLock},
};

use crate::format::extent::ExtentKind;
use crate::format::{
    block::{FormatError, StoreId},
    superblock::Superblock,
};
use crate::ratelimit::{errname, warn_ratelimited, EOPNOTSUPP, EUCLEAN};
pub(crate) use alloc::{Allocator, Reserve, Run};
pub(crate) use manage::Source;
use meta::MetaBuf;
pub(crate) use records::{LogHead, Records};

/// Bios kept in reserve for the store's device.
const BIO_POOL_SIZE: u32 = 256;

/// One opened store.
pub(crate) struct Store {
    /// The path it was opened by, to share it between disks.
    path: CString,
    pub(crate) bios: Pin<KBox<BioSet>>,
    pub(crate) sb: Superblock,
    pub(crate) id: StoreId,
    /// This host's id, written into holds.
    pub(crate) host: u64,
    /// Unknown read-only-compatible features: attach read-only only.
    pub(crate) read_only: bool,
    /// Extents, bitmaps and reserve chunks: metadata I/O, workers only.
    pub(crate) alloc: Pin<KBox<Mutex<Allocator>>>,
    /// Blocks ready to hand out without I/O.
    reserve: Pin<KBox<SpinLock<Reserve>>>,
    pub(crate) records: Pin<KBox<Mutex<Records>>>,
    /// Held from the check that a label is free until the commit that
    /// takes it, so two disks cannot take one label. Taken before
    /// `records`.
    pub(crate) names: Pin<KBox<Mutex<()>>>,
}

/// Reserve levels, by kind, below which a worker reserves more ahead of
/// need, so that a copy-on-write rarely waits for a reserve chunk.
const LOW_WATER: [(ExtentKind, u64); 2] = [(ExtentKind::Data, 1024), (ExtentKind::Metadata, 64)];

impl Store {
    /// `count` consecutive blocks of `kind`, reserving more on disk first
    /// if needed (metadata I/O: workers only). `ENOSPC` when full.
    pub(crate) fn alloc_blocks(&self, kind: ExtentKind, count: u64) -> Result<u64> {
        loop {
            if let Some(first) = self.take_reserved(kind, count) {
                return Ok(first);
            }
            let run = self.alloc.lock().reserve_chunk(&self.bios, kind, count)?;
            self.reserve.lock().put(kind, run)?;
        }
    }

    /// `count` consecutive blocks of `kind` if the reserve has them: a
    /// spinlock, no I/O (the request path).
    pub(crate) fn take_reserved(&self, kind: ExtentKind, count: u64) -> Option<u64> {
        self.reserve.lock().take(kind, count)
    }

    /// Gives back blocks that were allocated and never linked.
    pub(crate) fn give_back(&self, kind: ExtentKind, first: u64, count: u64) {
        // Without memory for the run, the blocks leak to gc: never reused
        // while something may link them.
        let _ = self.reserve.lock().put(kind, Run { first, count });
    }

    /// True when the reserve of either kind is below its low-water mark:
    /// a worker should [`Store::refill`] it.
    pub(crate) fn reserve_low(&self) -> bool {
        let reserve = self.reserve.lock();
        LOW_WATER
            .iter()
            .any(|&(kind, low)| reserve.free(kind) < low)
    }

    /// Reserves ahead when the reserve runs low (workers only).
    pub(crate) fn refill(&self) -> Result {
        for (kind, low) in LOW_WATER {
            if self.reserve.lock().free(kind) < low {
                let run = self.alloc.lock().reserve_chunk(&self.bios, kind, 1)?;
                self.reserve.lock().put(kind, run)?;
            }
        }
        Ok(())
    }

    /// Unused blocks in the reserve.
    pub(crate) fn reserve_free(&self) -> u64 {
        let reserve = self.reserve.lock();
        reserve.free(ExtentKind::Data) + reserve.free(ExtentKind::Metadata)
    }

    /// Opens the store on `path`: claims the device, checks the superblock
    /// and reads the catalogue.
    fn open(path: &CStr) -> Result<Arc<Self>> {
        let file = BdevFile::open_exclusive(path)?;
        let bios = KBox::pin_init(BioSet::new(file, BIO_POOL_SIZE), GFP_KERNEL)?;
        let mut buf = MetaBuf::new()?;
        let sb = match Superblock::decode(buf.read(&bios, 0)?) {
            Ok(sb) => sb,
            Err(e) => {
                let errno = match e {
                    FormatError::BadMagic { .. } => {
                        warn_ratelimited!("{}: not a pvdisk store (no superblock)\n", &**path);
                        return Err(EINVAL);
                    }
                    FormatError::UnsupportedVersion { .. }
                    | FormatError::UnknownIncompat { .. } => EOPNOTSUPP,
                    _ => EUCLEAN,
                };
                warn_ratelimited!("{}: superblock: {}\n", &**path, e);
                return Err(Error::from_errno(-errno));
            }
        };
        let blocks = bios.target().nr_sectors() / meta::SECTORS_PER_BLOCK;
        if blocks < sb.total_blocks {
            warn_ratelimited!(
                "{}: device has {} blocks, the store {}\n",
                &**path,
                blocks,
                sb.total_blocks
            );
            return Err(EINVAL);
        }
        let host = host::this_host();
        let alloc = Allocator::open(&bios, &sb, host)?;
        let records = Records::new(&sb)?;
        Ok(Arc::new(
            Self {
                path: CString::try_from(path)?,
                read_only: !sb.writable(),
                id: sb.store_id(),
                sb,
                host,
                alloc: KBox::pin_init(new_mutex!(alloc, "pvdisk::Store::alloc"), GFP_KERNEL)?,
                reserve: KBox::pin_init(
                    new_spinlock!(Reserve::new()?, "pvdisk::Store::reserve"),
                    GFP_KERNEL,
                )?,
                records: KBox::pin_init(new_mutex!(records, "pvdisk::Store::records"), GFP_KERNEL)?,
                names: KBox::pin_init(new_mutex!((), "pvdisk::Store::names"), GFP_KERNEL)?,
                bios,
            },
            GFP_KERNEL,
        )?)
    }

    /// What the last disk does at power-off: gives back the unused
    /// reserve, then the extents' owners.
    fn close(&self) {
        if self.read_only {
            // Never written: nothing was reserved, and owners this host
            // left behind stay for a writable attach to take back.
            return;
        }
        let (data, meta) = self.reserve.lock().take_all();
        let mut reserve = KVec::new();
        for run in Iterator::chain(data.iter(), meta.iter()) {
            // Without memory the run leaks (gc reclaims it).
            let _ = reserve.push(*run, GFP_KERNEL);
        }
        if let Err(e) = self.alloc.lock().release(&self.bios, &reserve) {
            warn_ratelimited!(
                "{}: releasing the reserve failed: {} (pvdisk gc reclaims it)\n",
                &*self.path,
                errname(e)
            );
        }
    }
}

/// The stores open on this host, shared by the disks powered from them.
#[pin_data]
pub(crate) struct Stores {
    /// Each open store and the number of disks using it; `None` is a free
    /// slot.
    #[pin]
    open: Mutex<KVec<Option<(Arc<Store>, usize)>>>,
}

impl Stores {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            open <- new_mutex!(KVec::new(), "pvdisk::Stores::open"),
        })
    }

    /// The store on `path`, opened if no disk uses it yet.
    pub(crate) fn get(&self, path: &CStr) -> Result<Arc<Store>> {
        let mut open = self.open.lock();
        for (store, users) in open.iter_mut().flatten() {
            if store.path.as_bytes() == path.as_bytes() {
                *users += 1;
                return Ok(store.clone());
            }
        }
        // Room first, so that nothing can fail once the store is open.
        if !open.iter().any(|slot| slot.is_none()) {
            open.push(None, GFP_KERNEL)?;
        }
        let store = Store::open(path)?;
        if let Some(slot) = open.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((store.clone(), 1));
        }
        Ok(store)
    }

    /// A disk stops using `store`; the last one closes it (under the
    /// list's lock, so that a power-on of the same store waits for it).
    pub(crate) fn put(&self, store: Arc<Store>) {
        let mut open = self.open.lock();
        for slot in open.iter_mut() {
            if let Some((s, users)) = slot {
                if Arc::ptr_eq(s, &store) {
                    *users = users.saturating_sub(1);
                    if *users == 0 {
                        store.close();
                        *slot = None;
                    }
                }
            }
        }
    }
}
