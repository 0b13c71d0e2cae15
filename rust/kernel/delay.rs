// SPDX-License-Identifier: GPL-2.0

//! Sleeping for a while.
//!
//! C header: [`include/linux/delay.h`](srctree/include/linux/delay.h)

use crate::bindings;

/// Sleeps for at least `ms` milliseconds. Must be called from a context
/// that may sleep.
pub fn msleep(ms: u32) {
    // SAFETY: `msleep` may be called with any duration from a context that
    // may sleep, which the caller guarantees.
    unsafe { bindings::msleep(ms) };
}
