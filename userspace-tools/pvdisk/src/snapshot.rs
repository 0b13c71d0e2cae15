// SPDX-License-Identifier: GPL-2.0

//! Snapshots and clones.
//!
//! A snapshot costs three block writes: a new root (a copy of the current
//! root with every link read-only), a new snapshot-log head holding the old
//! root and the time, and the rewritten VDI record. The old root becomes the
//! snapshot root and is never written again. A clone is a new VDI whose
//! root is a read-only copy of a snapshot root, with its parent set to that
//! snapshot. Log blocks are copied on write, so a torn write can never
//! damage an existing snapshot entry.

use crate::bail;
use crate::error::{Error, Result};
use crate::format::block::make_name;
use crate::format::extent::ExtentKind;
use crate::format::snaplog::{SnapEntry, SnapLogBlock, SNAP_DELETED};
use crate::format::vdi::VdiRecord;
use crate::format::BLOCK_SIZE;
use crate::store::{now, Store};

/// A snapshot: VDI slot and number in its log (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapRef {
    /// Slot of the VDI.
    pub slot: u32,
    /// Number in the VDI's snapshot log.
    pub seq: u64,
}

impl Store {
    /// The snapshot-log blocks of `rec`, newest first.
    pub fn read_log(&self, rec: &VdiRecord) -> Result<Vec<(u64, SnapLogBlock)>> {
        let mut out: Vec<(u64, SnapLogBlock)> = Vec::new();
        let mut nr = rec.snaplog;
        let mut seen = 0u64;
        let mut b = [0u8; BLOCK_SIZE];
        while nr != 0 {
            if self.kind_of(nr) != Some(ExtentKind::Metadata) {
                bail!(
                    "block {}: snapshot-log pointer of VDI '{}' outside a metadata extent",
                    nr,
                    rec.name()
                );
            }
            self.read_raw(nr, &mut b)?;
            let l = SnapLogBlock::decode(&b, self.id, nr)?;
            if l.vdi != rec.id {
                bail!(
                    "block {}: snapshot log belongs to VDI {}, not '{}' ({})",
                    nr,
                    l.vdi,
                    rec.name(),
                    rec.id
                );
            }
            seen += u64::from(l.count);
            let expect_first = rec.snap_count.checked_sub(seen).map(|x| x + 1);
            if expect_first != Some(l.first_seq) || seen > rec.snap_count {
                bail!(
                    "block {}: snapshot log of VDI '{}' numbers do not follow on",
                    nr,
                    rec.name()
                );
            }
            let prev = l.prev;
            out.push((nr, l));
            nr = prev;
        }
        if seen != rec.snap_count {
            bail!(
                "VDI '{}': snapshot log holds {} snapshots, record says {}",
                rec.name(),
                seen,
                rec.snap_count
            );
        }
        Ok(out)
    }

    /// Snapshots of the VDI in `slot`, oldest first, with their numbers.
    pub fn snapshots(&self, slot: u32) -> Result<Vec<(u64, SnapEntry)>> {
        let rec = self.vdi(slot)?;
        let mut out = Vec::new();
        for (_, l) in self.read_log(&rec)?.iter().rev() {
            for (i, e) in l.used().iter().enumerate() {
                out.push((l.first_seq + i as u64, *e));
            }
        }
        Ok(out)
    }

    /// One snapshot entry.
    pub fn snapshot_entry(&self, s: SnapRef) -> Result<SnapEntry> {
        self.snapshots(s.slot)?
            .into_iter()
            .find(|(n, _)| *n == s.seq)
            .map(|(_, e)| e)
            .ok_or_else(|| Error::NotFound(format!("no snapshot {}", self.snap_name(s))))
    }

    /// Takes a snapshot of the VDI in `slot`; returns its number.
    pub fn snapshot(&mut self, slot: u32, label: &str) -> Result<u64> {
        self.check_new_label(label, None)?;
        // Writes made before the snapshot belong in it: commit them first.
        self.flush()?;
        self.transact(|st| st.snapshot_steps(slot, label))
    }

    fn snapshot_steps(&mut self, slot: u32, label: &str) -> Result<u64> {
        let mut rec = self.vdi(slot)?;
        let log = self.read_log(&rec)?;
        let seq = rec.snap_count + 1;
        let entry = SnapEntry {
            root: rec.root,
            timestamp: now(),
            flags: 0,
            label: make_name(label).ok_or_else(|| Error::msg("bad label"))?,
        };
        // Block 1: the new writable root, all links read-only.
        let new_root = self.alloc(ExtentKind::Metadata)?;
        let copy = self.node(rec.root, rec.height)?.read_only_copy();
        self.insert_new_node(new_root, rec.height, copy);
        // Block 2: the new log head (copy of the old head plus the entry,
        // or a fresh block linking to a full head).
        let mut head = match log.first() {
            Some((nr, l)) if (l.count as usize) < crate::format::snaplog::ENTRIES_PER_BLOCK => {
                self.free_after_commit(*nr);
                l.clone()
            }
            _ => SnapLogBlock::new(rec.id, rec.snaplog, seq),
        };
        if !head.push(entry) {
            bail!("snapshot log block unexpectedly full");
        }
        let log_nr = self.alloc(ExtentKind::Metadata)?;
        let mut b = [0u8; BLOCK_SIZE];
        head.encode(&mut b, self.id, log_nr);
        self.write_raw(log_nr, &b)?;
        // Block 3: the VDI record, written last by flush.
        rec.root = new_root;
        rec.snaplog = log_nr;
        rec.snap_count = seq;
        self.set_vdi(slot, rec);
        Ok(seq)
    }

    /// Changes one snapshot entry by copying the log blocks from the head
    /// down to the one holding it, then rewriting the VDI record.
    pub fn update_snapshot(&mut self, s: SnapRef, f: &dyn Fn(&mut SnapEntry)) -> Result<()> {
        self.flush()?;
        self.transact(|st| st.update_snapshot_steps(s, f))
    }

    fn update_snapshot_steps(&mut self, s: SnapRef, f: &dyn Fn(&mut SnapEntry)) -> Result<()> {
        let mut rec = self.vdi(s.slot)?;
        let log = self.read_log(&rec)?;
        let Some(pos) = log
            .iter()
            .position(|(_, l)| s.seq >= l.first_seq && s.seq < l.first_seq + u64::from(l.count))
        else {
            bail!("no snapshot {}", self.snap_name(s));
        };
        let mut prev = log.get(pos + 1).map(|(nr, _)| *nr).unwrap_or(0);
        let mut b = [0u8; BLOCK_SIZE];
        for (i, (old_nr, l)) in log.iter().enumerate().take(pos + 1).rev() {
            let mut copy = l.clone();
            copy.prev = prev;
            if i == pos {
                let idx = (s.seq - l.first_seq) as usize;
                if let Some(e) = copy.entries.get_mut(idx) {
                    f(e);
                }
            }
            let nr = self.alloc(ExtentKind::Metadata)?;
            copy.encode(&mut b, self.id, nr);
            self.write_raw(nr, &b)?;
            self.free_after_commit(*old_nr);
            prev = nr;
        }
        rec.snaplog = prev;
        self.set_vdi(s.slot, rec);
        Ok(())
    }

    /// Marks a snapshot deleted; GC reclaims what only it referenced. May
    /// use the metadata reserve: it is how a full store gets space back.
    pub fn delete_snapshot(&mut self, s: SnapRef) -> Result<()> {
        let old = self.set_use_reserve(true);
        let r = self.update_snapshot(s, &|e| e.flags |= SNAP_DELETED);
        self.set_use_reserve(old);
        r
    }

    /// Sets or replaces a snapshot's label.
    pub fn label_snapshot(&mut self, s: SnapRef, label: &str) -> Result<()> {
        self.check_new_label(label, Some(s))?;
        let field = make_name(label).ok_or_else(|| Error::msg("bad label"))?;
        let old = self.set_use_reserve(true);
        let r = self.update_snapshot(s, &move |e| e.label = field);
        self.set_use_reserve(old);
        r
    }

    /// Creates a writable clone of snapshot `s` called `name`.
    pub fn clone_snapshot(&mut self, s: SnapRef, name: &str, size: Option<u64>) -> Result<u32> {
        crate::vdi::only(self.clone_snapshots(s, &[name], size)?)
    }

    /// Creates a writable clone of snapshot `s` for each name, all or
    /// none, in one transaction (one root copy and one record each, a
    /// constant number of syncs); returns their slots in the names'
    /// order.
    pub fn clone_snapshots<S: AsRef<str>>(
        &mut self,
        s: SnapRef,
        names: &[S],
        size: Option<u64>,
    ) -> Result<Vec<u32>> {
        let parent = self.vdi(s.slot)?;
        let e = self.snapshot_entry(s)?;
        if e.is_deleted() {
            bail!("snapshot {} is deleted", self.snap_name(s));
        }
        let copy = self.node(e.root, parent.height)?.read_only_copy();
        self.create_vdis_from(
            names,
            size.unwrap_or(parent.size),
            parent.height,
            copy,
            parent.id,
            s.seq,
        )
    }
}
