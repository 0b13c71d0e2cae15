// SPDX-License-Identifier: GPL-2.0

//! Log lines that users or disks can trigger at will: rate limited, with
//! errno names.

use core::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use kernel::time::Ktime;

/// Allows [`RateLimit::BURST`] events per [`RateLimit::WINDOW_MS`].
pub(crate) struct RateLimit {
    window_start_ms: AtomicI64,
    events: AtomicU32,
}

impl RateLimit {
    const WINDOW_MS: i64 = 5000;
    const BURST: u32 = 10;

    pub(crate) const fn new() -> Self {
        Self {
            window_start_ms: AtomicI64::new(i64::MIN),
            events: AtomicU32::new(0),
        }
    }

    /// Whether one more event may be logged now: `None` if not, else
    /// how many events the previous window dropped (to say so once).
    /// Racy by design: two CPUs may both open a new window; that only lets
    /// a few more lines through or miscounts the dropped ones.
    pub(crate) fn allow(&self) -> Option<u32> {
        let now = Ktime::ktime_get().to_ms();
        let start = self.window_start_ms.load(Ordering::Relaxed);
        let mut dropped = 0;
        if now.saturating_sub(start) >= Self::WINDOW_MS {
            self.window_start_ms.store(now, Ordering::Relaxed);
            dropped = self
                .events
                .swap(0, Ordering::Relaxed)
                .saturating_sub(Self::BURST);
        }
        (self.events.fetch_add(1, Ordering::Relaxed) < Self::BURST).then_some(dropped)
    }
}

/// `pr_warn!` limited to a burst of lines per window, per call site; the
/// first line after a window that dropped some says how many.
macro_rules! warn_ratelimited {
    ($($arg:tt)*) => {{
        static LIMIT: $crate::ratelimit::RateLimit = $crate::ratelimit::RateLimit::new();
        if let Some(dropped) = LIMIT.allow() {
            if dropped > 0 {
                kernel::pr_warn!("{} similar lines suppressed\n", dropped);
            }
            kernel::pr_warn!($($arg)*);
        }
    }};
}
pub(crate) use warn_ratelimited;

/// Errnos the driver returns that are not among the kernel crate's named
/// codes (positive, as in errno.h).
/// "Directory not empty": a VDI that still has snapshots or clones.
pub(crate) const ENOTEMPTY: i32 = 39;
/// "Operation not supported": a feature this driver does not know.
pub(crate) const EOPNOTSUPP: i32 = 95;
/// "Structure needs cleaning": a corrupt superblock.
pub(crate) const EUCLEAN: i32 = 117;

/// The name of an errno for log lines (the kernel here is built without
/// `CONFIG_SYMBOLIC_ERRNAME`, so `{:?}` of an error shows only a number).
pub(crate) fn errname(error: kernel::error::Error) -> &'static str {
    use kernel::error::code::*;
    const NAMES: &[(kernel::error::Error, &str)] = &[
        (EPERM, "EPERM"),
        (ENOENT, "ENOENT"),
        (EIO, "EIO"),
        (ENXIO, "ENXIO"),
        (E2BIG, "E2BIG"),
        (EBADF, "EBADF"),
        (ENOMEM, "ENOMEM"),
        (EACCES, "EACCES"),
        (ENOTBLK, "ENOTBLK"),
        (EBUSY, "EBUSY"),
        (EEXIST, "EEXIST"),
        (ENODEV, "ENODEV"),
        (ENOTDIR, "ENOTDIR"),
        (EINVAL, "EINVAL"),
        (ENOSPC, "ENOSPC"),
        (EROFS, "EROFS"),
        (ENOTTY, "ENOTTY"),
        (EFAULT, "EFAULT"),
    ];
    // Not among the kernel crate's named codes.
    match -error.to_errno() {
        ENOTEMPTY => return "ENOTEMPTY",
        EOPNOTSUPP => return "EOPNOTSUPP",
        EUCLEAN => return "EUCLEAN",
        _ => {}
    }
    NAMES
        .iter()
        .find(|(code, _)| *code == error)
        .map_or("error", |(_, name)| name)
}
