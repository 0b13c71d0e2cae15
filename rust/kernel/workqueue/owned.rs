// SPDX-License-Identifier: GPL-2.0

//! Work queues that a driver allocates for itself.
//!
//! The system queues ([`super::system`] and friends) are shared by the whole
//! kernel. A driver whose work items make forward progress on memory reclaim
//! (a block driver completing I/O, for example) needs a queue of its own
//! with a rescuer thread (`WQ_MEM_RECLAIM`), so that its work still runs
//! when no new worker thread can be created.
//!
//! C header: [`include/linux/workqueue.h`](srctree/include/linux/workqueue.h)

use super::Queue;
use crate::{
    bindings,
    error::{code::ENOMEM, Result},
    str::CStr,
};
use core::{ops::Deref, ptr::NonNull};

/// Flags of [`OwnedQueue::new`].
pub mod flags {
    use crate::bindings;

    /// The queue has a rescuer thread: it makes progress under memory
    /// pressure. Required for work on the memory-reclaim path.
    pub const MEM_RECLAIM: u32 = bindings::wq_flags_WQ_MEM_RECLAIM;
    /// Work items are not bound to the CPU that queued them.
    pub const UNBOUND: u32 = bindings::wq_flags_WQ_UNBOUND;
    /// Work items run on high-priority workers.
    pub const HIGHPRI: u32 = bindings::wq_flags_WQ_HIGHPRI;
}

/// A work queue owned by the value: dropping it waits for the work items
/// queued on it to finish, then destroys the queue.
///
/// It dereferences to a [`Queue`], so work is queued on it like on the
/// system queues.
///
/// # Invariants
///
/// `ptr` points to a work queue made by `alloc_workqueue`, which only
/// `drop` destroys.
pub struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: A work queue may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: All operations on a work queue are internally synchronised.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    /// A new queue named `name` (as `ps` shows its workers), with
    /// [`flags`] and at most `max_active` work items running at once per
    /// CPU (0 for the default).
    pub fn new(name: &CStr, flags: u32, max_active: i32) -> Result<Self> {
        // SAFETY: The format is "%s" and its one argument is a NUL-terminated
        // string; `alloc_workqueue` copies the name. It returns a new queue
        // or null.
        let ptr = unsafe {
            bindings::alloc_workqueue(
                crate::c_str!("%s").as_char_ptr(),
                flags,
                max_active,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: a non-null result is a new queue that we own.
        NonNull::new(ptr).map(|ptr| Self { ptr }).ok_or(ENOMEM)
    }
}

impl OwnedQueue {
    /// Waits until every work item queued before the call has finished
    /// running (and dropped what it held). Sleeps; must not be called
    /// from a work item of this queue.
    pub fn flush(&self) {
        // SAFETY: By type invariant the queue is valid.
        unsafe { bindings::__flush_workqueue(self.ptr.as_ptr()) };
    }
}

impl Deref for OwnedQueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        // SAFETY: By type invariant the queue is valid until `self` is
        // dropped, which the borrow prevents.
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: By type invariant we own the queue. `destroy_workqueue`
        // drains the work queued on it first; work items hold their own
        // references to what they use, so none is left dangling.
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}
