// SPDX-License-Identifier: GPL-2.0

//! Completions: one side waits until the other says that something is
//! done, from any context, interrupts included.
//!
//! C header: [`include/linux/completion.h`](srctree/include/linux/completion.h)

use crate::{bindings, error::code::ERESTARTSYS, prelude::*, time::Jiffies, types::Opaque};

/// A one-shot event: [`Completion::wait_for_completion`] sleeps until
/// [`Completion::complete_all`] was called, which may happen in interrupt
/// context (a bio's completion, say), where a lock that process context
/// also takes could not be.
///
/// # Invariants
///
/// `inner` was initialised by `init_completion` and is pinned.
#[pin_data]
pub struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: A `struct completion` may be completed and waited on from any
// thread; it holds no thread-bound state.
unsafe impl Send for Completion {}

// SAFETY: Every operation on a `struct completion` takes its own lock (an
// interrupt-safe one), so shared references may be used concurrently.
unsafe impl Sync for Completion {}

impl Completion {
    /// A completion not yet completed.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes and pinned, as the
            // initialiser requires; `init_completion` initialises it in
            // place.
            inner <- Opaque::ffi_init(|slot| unsafe { bindings::init_completion(slot) }),
        })
    }

    fn as_raw(&self) -> *mut bindings::completion {
        self.inner.get()
    }

    /// Marks the completion done and wakes every waiter, now and later.
    /// Any context; never sleeps.
    pub fn complete_all(&self) {
        // SAFETY: By type invariant `inner` is an initialised completion.
        unsafe { bindings::complete_all(self.as_raw()) };
    }

    /// Sleeps until [`Completion::complete_all`] was called, counted as
    /// waiting for I/O (as `submit_bio_wait` does). Process context only.
    pub fn wait_for_completion_io(&self) {
        // SAFETY: By type invariant `inner` is an initialised completion;
        // the caller is in process context, where sleeping is allowed.
        unsafe { bindings::wait_for_completion_io(self.as_raw()) };
    }

    /// Sleeps until [`Completion::complete_all`] was called, a signal
    /// came (`ERESTARTSYS`) or `timeout` jiffies passed; returns the
    /// jiffies left, 0 if the time ran out. Process context only.
    pub fn wait_for_completion_interruptible_timeout(&self, timeout: Jiffies) -> Result<Jiffies> {
        // SAFETY: By type invariant `inner` is an initialised completion;
        // the caller is in process context, where sleeping is allowed.
        let left =
            unsafe { bindings::wait_for_completion_interruptible_timeout(self.as_raw(), timeout) };
        // The only negative result: a signal came.
        Jiffies::try_from(left).map_err(|_| ERESTARTSYS)
    }
}
