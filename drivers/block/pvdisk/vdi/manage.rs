// SPDX-License-Identifier: GPL-2.0

//! Live management asked of a disk (control.rs): creating, deleting and
//! labelling VDIs and snapshots of the store the disk is powered from.
//! The store does the work (`store::manage`); this part keeps it apart
//! from the disks.
//!
//! A VDI record is only ever rewritten under the registry lock, so creating
//! and deleting VDIs need nothing more. A snapshot's label or deletion
//! rewrites its VDI's snapshot log, which the worker of a disk powered on
//! that VDI keeps in memory and extends at each snapshot: the change is
//! made holding that worker's lock (the worker then waits, for a few
//! metadata writes), and the worker reads the new head afterwards. The
//! disk's requests that need no worker go on meanwhile.

use kernel::{delay, prelude::*, sync::Arc};

use super::Vdi;
use crate::format::snaplog::{LABEL_LEN, SNAP_DELETED};
use crate::ratelimit::warn_ratelimited;
use crate::store::{LogHead, Records, Source, Store};
use crate::workers::Workers;

/// How often a change waits for a disk that is powering off (1 ms each).
const RETRIES: u32 = 1000;
/// Disks whose lazy snapshots a lookup commits at most.
const LAZY_ROUNDS: u32 = 64;

impl Vdi {
    /// `PVDISK_IOC_CREATE`: a new VDI `name` in the store; returns its id.
    pub(crate) fn create_vdi(&self, name: &[u8], source: Source<'_>) -> Result<u64> {
        let store = &self.store;
        Self::log_lazy_snapshots(&self.workers, store);
        let _names = store.names.lock();
        store.records.lock().create(store, name, source)
    }

    /// `PVDISK_IOC_DELETE`: deletes the VDI or the snapshot `spec` names.
    pub(crate) fn delete(&self, spec: &[u8], force: bool) -> Result {
        let store = &self.store;
        Self::log_lazy_snapshots(&self.workers, store);
        {
            let _names = store.names.lock();
            let mut records = store.records.lock();
            let target = records.find(store, spec)?;
            if target.snapshot.is_none() {
                return records.delete_vdi(store, &target, force);
            }
        }
        self.change_log(spec, |records, slot, seq| {
            if records.shows(slot, seq) {
                warn_ratelimited!("delete: a powered disk shows the snapshot\n");
                return Err(EBUSY);
            }
            records
                .change_snapshot(store, slot, seq, |e| e.flags |= SNAP_DELETED)
                .map(Some)
        })
    }

    /// `PVDISK_IOC_LABEL`: gives snapshot `spec` the label `label`
    /// (NUL-padded, checked by the caller). `EEXIST` if another VDI or
    /// snapshot has that name.
    pub(crate) fn label(&self, spec: &[u8], label: &[u8; LABEL_LEN]) -> Result {
        let store = &self.store;
        Self::log_lazy_snapshots(&self.workers, store);
        let len = label.iter().position(|&c| c == 0).unwrap_or(LABEL_LEN);
        let text = label.get(..len).unwrap_or(&[]);
        self.change_log(spec, |records, slot, seq| {
            match records.find(store, text) {
                // Its own label already: nothing to write.
                Ok(t) if t.slot == slot && t.snapshot == Some(seq) => return Ok(None),
                Ok(_) => {
                    warn_ratelimited!("label: the name is in use\n");
                    return Err(EEXIST);
                }
                Err(e) if e == ENOENT => {}
                Err(e) => return Err(e),
            }
            records
                .change_snapshot(store, slot, seq, |e| e.label = *label)
                .map(Some)
        })
    }

    /// Runs `change(records, slot, seq)` on the snapshot `spec` names,
    /// with the snapshot log of its VDI held still: under the worker lock
    /// of the disk that has the VDI powered, if there is one, which then
    /// takes the new log head `change` returns. `EINVAL` if `spec` names
    /// a VDI.
    fn change_log(
        &self,
        spec: &[u8],
        change: impl Fn(&mut Records, u32, u64) -> Result<Option<LogHead>>,
    ) -> Result {
        let store = &self.store;
        for _ in 0..RETRIES {
            let slot = store.records.lock().find(store, spec)?.slot;
            let writer = self
                .workers
                .find(|v| Arc::ptr_eq(&v.store, store) && v.slot == slot && !v.read_only);
            if let Some(writer) = writer {
                let mut ws = writer.worker.lock();
                if ws.gone {
                    // Powered off meanwhile: its hold goes soon.
                    continue;
                }
                let _names = store.names.lock();
                let mut records = store.records.lock();
                let Some(seq) = snapshot_in(&mut records, store, spec, slot)? else {
                    continue;
                };
                if let Some(head) = change(&mut records, slot, seq)? {
                    ws.log.head = head;
                    // The copy of the head it keeps is stale.
                    ws.log.loaded = false;
                }
                return Ok(());
            }
            {
                let _names = store.names.lock();
                let mut records = store.records.lock();
                // A disk between power-off and clearing its hold, or just
                // powered on: ask again.
                if !records.attached_writable(slot) {
                    if let Some(seq) = snapshot_in(&mut records, store, spec, slot)? {
                        return change(&mut records, slot, seq).map(|_| ());
                    }
                }
            }
            delay::msleep(1);
        }
        Err(EBUSY)
    }

    /// Commits the lazy snapshots that disks powered from `store` have not
    /// logged yet, so that a lookup by label or number finds them. A disk
    /// whose commit fails is broken, and its unlogged snapshots are lost.
    pub(super) fn log_lazy_snapshots(workers: &Workers, store: &Arc<Store>) {
        // Bounded: each round logs one disk's list (or breaks that disk).
        for _ in 0..LAZY_ROUNDS {
            let Some(vdi) = workers.find(|v| {
                Arc::ptr_eq(&v.store, store)
                    && !v.read_only
                    && !v.is_broken()
                    && !v.map.lock().unlogged.is_empty()
            }) else {
                return;
            };
            let mut ws = vdi.worker.lock();
            if !ws.gone {
                // A failure broke the disk and said so.
                let _ = vdi.commit(&mut ws);
            }
        }
    }
}

/// The number of the snapshot `spec` names, if it is one of the VDI in
/// `slot` (it may have moved since it was looked up). `EINVAL` if `spec`
/// names a VDI.
fn snapshot_in(
    records: &mut Records,
    store: &Store,
    spec: &[u8],
    slot: u32,
) -> Result<Option<u64>> {
    let target = records.find(store, spec)?;
    match target.snapshot {
        None => Err(EINVAL),
        Some(seq) => Ok((target.slot == slot).then_some(seq)),
    }
}
