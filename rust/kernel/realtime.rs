// SPDX-License-Identifier: GPL-2.0

//! The wall clock (`CLOCK_REALTIME`), for timestamps that users read as
//! dates. It may jump: measure durations with [`crate::time`] instead.
//!
//! C header: [`include/linux/timekeeping.h`](srctree/include/linux/timekeeping.h)

use crate::bindings;

/// Seconds since the epoch, as `time(2)` returns them (0 if the clock is
/// set before the epoch).
pub fn seconds() -> u64 {
    // SAFETY: `ktime_get_real_seconds` has no preconditions: it reads the
    // timekeeper's seconds, in any context.
    let secs = unsafe { bindings::ktime_get_real_seconds() };
    u64::try_from(secs).unwrap_or(0)
}
