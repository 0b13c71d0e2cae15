// SPDX-License-Identifier: GPL-2.0

//! Mapping a bio to bios on the store: reads (sparse runs zero-filled,
//! one bio per physically contiguous run) and in-place writes. The disk's
//! `submit_bio` calls this without sleeping; the worker calls it again
//! after reading what was missing.

use kernel::{
    alloc::{flags::GFP_NOWAIT, Flags},
    bindings,
    block::bio::Clones,
    prelude::*,
};

use super::{Io, Range, Vdi};
use crate::map::{self, Extent, MapError, Target as SegmentTarget, WritePlan};
use crate::ratelimit::warn_ratelimited;
use crate::store::meta::SECTORS_PER_BLOCK;

/// Runs mapped per turn of the map lock.
const RUNS_PER_LOCK: usize = 4;

/// What a bio is, for a VDI disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    /// `REQ_PREFLUSH`: a commit first, then the data if there is any.
    Flush,
    /// Discard and write-zeroes: both unmap.
    Unmap,
    Unsupported,
}

pub(crate) fn op_of(io: &Io) -> Op {
    if io.opf() & bindings::REQ_PREFLUSH != 0 {
        return Op::Flush;
    }
    match io.op() {
        bindings::req_op_REQ_OP_READ => Op::Read,
        bindings::req_op_REQ_OP_WRITE => Op::Write,
        bindings::req_op_REQ_OP_DISCARD | bindings::req_op_REQ_OP_WRITE_ZEROES => Op::Unmap,
        _ => Op::Unsupported,
    }
}

/// True for a write that must be durable when it completes.
pub(crate) fn is_fua(io: &Io) -> bool {
    io.opf() & bindings::REQ_FUA != 0
}

/// The logical blocks a bio covers.
pub(crate) fn blocks_of(io: &Io) -> (u64, u64) {
    (
        io.sector() / SECTORS_PER_BLOCK,
        u64::from(io.bytes()) / 4096,
    )
}

/// No clones yet of `io`'s data, for the store's device. They carry neither
/// `REQ_PREFLUSH` nor `REQ_FUA`: a VDI's flush is a commit, which the
/// worker makes before the data of a `REQ_PREFLUSH` bio and after that of
/// a `REQ_FUA` one.
pub(crate) fn clones_of<'a>(vdi: &'a Vdi, io: &Io) -> Clones<'a, Io> {
    let mut clones = Clones::empty(&vdi.store.bios, io);
    clones.strip_also(bindings::REQ_PREFLUSH | bindings::REQ_FUA);
    clones
}

/// The outcome of mapping a bio.
pub(crate) enum Mapped<'a> {
    /// Every clone is built: submit them.
    Ready(Clones<'a, Io>),
    /// A node is not cached: read it, then map again.
    Miss { block: u64, level: u32 },
    /// A range of the bio is being provisioned: wait for it.
    Wait,
    /// A write that is not wholly in place: copy-on-write.
    NotInPlace,
}

/// The outcome of planning a write.
pub(crate) enum Planned {
    /// Every span is planned; if any is not in place, the bio's range
    /// is now being provisioned.
    Plans(KVec<WritePlan>),
    /// A node is not cached: read it, then plan again.
    Miss { block: u64, level: u32 },
    /// A range of the bio is being provisioned: wait for it.
    Wait,
}

/// A map error other than a miss: the tree is broken (or a bug).
fn broken(vdi: &Vdi, lba: u64, e: MapError) -> Error {
    warn_ratelimited!("{}: block {}: {}\n", &*vdi.name, lba, e);
    EIO
}

/// Maps a read: one clone per contiguous run, zeros for sparse runs.
pub(crate) fn map_read<'a>(vdi: &'a Vdi, io: &Io, gfp: Flags) -> Result<Mapped<'a>> {
    map_runs(vdi, io, false, gfp)
}

/// Maps a write whose every block is written in place: one clone per
/// contiguous run, each run linked writable all the way down
/// ([`Extent::writable`], the test [`map::plan_write`] makes for a plan
/// in place, without building a plan).
pub(crate) fn map_write_in_place<'a>(vdi: &'a Vdi, io: &Io, gfp: Flags) -> Result<Mapped<'a>> {
    map_runs(vdi, io, true, gfp)
}

/// One clone per physically contiguous run of `io`'s blocks, looked up a
/// few runs per turn of the map lock; a read zero-fills sparse runs, a
/// write maps only when every run may be overwritten in place.
fn map_runs<'a>(vdi: &'a Vdi, io: &Io, in_place: bool, gfp: Flags) -> Result<Mapped<'a>> {
    let (lba, count) = blocks_of(io);
    let end = lba + count;
    let mut clones = clones_of(vdi, io);
    let mut runs = [Extent {
        lba: 0,
        count: 0,
        block: 0,
        writable: false,
    }; RUNS_PER_LOCK];
    let mut cur = lba;
    while cur < end {
        let mut n = 0;
        {
            let state = vdi.map.lock();
            if state.provisioning(lba, count) {
                return Ok(Mapped::Wait);
            }
            while cur < end && n < RUNS_PER_LOCK {
                match map::extent(&state.cache, &state.tree, cur, end - cur) {
                    Ok(run) if in_place && !run.writable => return Ok(Mapped::NotInPlace),
                    Ok(run) => {
                        cur += run.count;
                        if let Some(slot) = runs.get_mut(n) {
                            *slot = run;
                        }
                        n += 1;
                    }
                    Err(MapError::Miss { block, level }) => {
                        return Ok(Mapped::Miss { block, level })
                    }
                    Err(e) => return Err(broken(vdi, cur, e)),
                }
            }
        }
        for run in runs.iter().take(n) {
            let offset = (run.lba - lba) * SECTORS_PER_BLOCK;
            let sectors = run.count * SECTORS_PER_BLOCK;
            if run.block == 0 {
                clones.zero_range(offset, sectors, gfp)?;
            } else {
                clones.add_range(offset, sectors, run.block * SECTORS_PER_BLOCK, gfp)?;
            }
        }
    }
    Ok(Mapped::Ready(clones))
}

/// Plans every span of a write from the cached tree, in one hold of the
/// map lock, and marks its range as being provisioned if any span is not
/// in place. `plans` (empty) grows without sleeping: give it room for
/// `count + 1` plans where allocating under the lock must not happen.
pub(crate) fn plan_write(vdi: &Vdi, io: &Io, mut plans: KVec<WritePlan>) -> Result<Planned> {
    let (lba, count) = blocks_of(io);
    let end = lba + count;
    let mut state = vdi.map.lock();
    if state.provisioning(lba, count) {
        return Ok(Planned::Wait);
    }
    let mut cur = lba;
    while cur < end {
        match map::plan_write(&state.cache, &state.tree, cur, end - cur) {
            Ok(plan) if plan.count() > 0 => {
                cur += plan.count();
                plans.push(plan, GFP_NOWAIT)?;
            }
            Ok(_) => return Err(EIO),
            Err(MapError::Miss { block, level }) => return Ok(Planned::Miss { block, level }),
            Err(e) => return Err(broken(vdi, cur, e)),
        }
    }
    if plans.iter().any(|p| !p.is_in_place()) {
        state.start_provisioning(Range { lba, count })?;
    }
    Ok(Planned::Plans(plans))
}

/// Adds the data bios of `plan`, a plan of the write that starts at
/// `lba`: each segment in place, or to its fresh blocks in the run that
/// starts at `first_data`.
pub(crate) fn add_plan(
    clones: &mut Clones<'_, Io>,
    lba: u64,
    plan: &WritePlan,
    first_data: u64,
    gfp: Flags,
) -> Result {
    for seg in plan.segments() {
        let block = match seg.target {
            SegmentTarget::InPlace { block } => block,
            SegmentTarget::Fresh { first } => first_data + u64::from(first),
        };
        clones.add_range(
            (seg.lba - lba) * SECTORS_PER_BLOCK,
            u64::from(seg.count) * SECTORS_PER_BLOCK,
            block * SECTORS_PER_BLOCK,
            gfp,
        )?;
    }
    Ok(())
}
