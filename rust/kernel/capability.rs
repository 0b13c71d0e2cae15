// SPDX-License-Identifier: GPL-2.0

//! Capabilities of the current task.
//!
//! C header: [`include/linux/capability.h`](srctree/include/linux/capability.h)

use crate::bindings;

/// A capability (`CAP_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability(u32);

impl Capability {
    /// `CAP_SYS_ADMIN`.
    pub const SYS_ADMIN: Self = Self(bindings::CAP_SYS_ADMIN);
}

/// True if the current task has `cap` in the initial user namespace. As
/// in C, a success marks the task as having used the capability (audit,
/// `PF_SUPERPRIV`), so call it only where the capability is required.
pub fn capable(cap: Capability) -> bool {
    // SAFETY: `capable` only looks at the current task's credentials, which
    // always exist in process context; any capability number is accepted
    // (an unknown one is refused).
    unsafe { bindings::capable(cap.0 as crate::ffi::c_int) }
}
