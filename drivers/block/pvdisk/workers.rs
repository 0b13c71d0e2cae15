// SPDX-License-Identifier: GPL-2.0

//! The module's work queues: the disks' workers, and the commit ticker.
//!
//! Workers run on a queue of the driver's own with a rescuer
//! (`WQ_MEM_RECLAIM`): they complete I/O that memory reclaim may be
//! waiting for. The queue is unbound (`WQ_UNBOUND`): a worker kicked by a
//! submitter runs where the scheduler finds room, typically an idle CPU,
//! not behind the submitter on its own (see `Vdi::read_goes_to_worker`).
//! The ticker, which asks every attached VDI with uncommitted changes to
//! commit once a second, runs on a second queue, so that flushing the
//! workers' queue never waits for it. Both queues
//! belong to the module and are drained when it unloads, so no work of
//! the module can run after its code is gone, and no store or disk is
//! ever dropped by the queue it would have to drain.

use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    alloc::flags::GFP_KERNEL,
    c_str, delay, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    workqueue::{flags, OwnedQueue},
};

use crate::vdi::Vdi;

/// How often attached VDIs with uncommitted changes commit.
pub(crate) const COMMIT_INTERVAL_MS: u32 = 1000;

#[pin_data]
pub(crate) struct Workers {
    pub(crate) io: OwnedQueue,
    tick: OwnedQueue,
    /// The attached VDIs the ticker visits; `None` is a free slot.
    #[pin]
    vdis: Mutex<KVec<Option<Arc<Vdi>>>>,
    stopping: AtomicBool,
}

impl Workers {
    pub(crate) fn new() -> Result<Arc<Self>> {
        let io = OwnedQueue::new(c_str!("pvdisk"), flags::MEM_RECLAIM | flags::UNBOUND, 0)?;
        let tick = OwnedQueue::new(c_str!("pvdisk_tick"), 0, 1)?;
        let this = Arc::pin_init(
            pin_init!(Self {
                io,
                tick,
                vdis <- new_mutex!(KVec::new(), "pvdisk::Workers::vdis"),
                stopping: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )?;
        let ticker = this.clone();
        this.tick
            .try_spawn(GFP_KERNEL, move || ticker.run_ticker())
            .map_err(|_| ENOMEM)?;
        Ok(this)
    }

    fn run_ticker(&self) {
        const STEP_MS: u32 = 50;
        while !self.stopping.load(Ordering::Acquire) {
            for _ in 0..COMMIT_INTERVAL_MS / STEP_MS {
                if self.stopping.load(Ordering::Acquire) {
                    return;
                }
                delay::msleep(STEP_MS);
            }
            for vdi in self.vdis.lock().iter().flatten() {
                vdi.tick(self);
            }
        }
    }

    /// Stops the ticker; the module does this before it unloads.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.tick.flush();
    }

    /// The ticker visits `vdi` from now on.
    pub(crate) fn add(&self, vdi: &Arc<Vdi>) -> Result {
        let mut vdis = self.vdis.lock();
        if let Some(slot) = vdis.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(vdi.clone());
            return Ok(());
        }
        vdis.push(Some(vdi.clone()), GFP_KERNEL)?;
        Ok(())
    }

    /// An attached VDI that `wanted` picks.
    pub(crate) fn find(&self, wanted: impl Fn(&Vdi) -> bool) -> Option<Arc<Vdi>> {
        self.vdis
            .lock()
            .iter()
            .flatten()
            .find(|v| wanted(v))
            .cloned()
    }

    /// The ticker no longer visits `vdi`, and no work queued for it
    /// before is still running or pending when this returns.
    pub(crate) fn remove(&self, vdi: &Arc<Vdi>) {
        for slot in self.vdis.lock().iter_mut() {
            if slot.as_ref().is_some_and(|v| Arc::ptr_eq(v, vdi)) {
                *slot = None;
            }
        }
        self.io.flush();
    }
}
