// SPDX-License-Identifier: GPL-2.0

//! The host's names as the kernel knows them (`uname -n`).
//!
//! C header: [`include/linux/utsname.h`](srctree/include/linux/utsname.h)

use crate::bindings;
use core::ptr::addr_of;

/// Longest node name, with its NUL (`__NEW_UTS_LEN + 1`).
pub const NODENAME_LEN: usize = 65;

/// Copies the host name of the initial UTS namespace (what `hostname` set
/// at boot) into `buf`, and returns it without its NUL.
///
/// The name is read without the UTS semaphore (which modules cannot
/// take), as other modules do: a read racing `sethostname` may see a mix
/// of the old and the new name.
pub fn nodename(buf: &mut [u8; NODENAME_LEN]) -> &[u8] {
    // SAFETY: `init_uts_ns` is a static that lives as long as the kernel;
    // its name arrays are plain bytes, read with volatile loads since
    // `sethostname` may write them concurrently.
    let name = unsafe { addr_of!(bindings::init_uts_ns.name.nodename) };
    for (i, byte) in buf.iter_mut().enumerate() {
        // SAFETY: `name` points to an array of `NODENAME_LEN` `c_char`s
        // (the size of `u8`), and `i` is within it.
        *byte = unsafe { core::ptr::read_volatile(name.cast::<u8>().add(i)) };
    }
    let len = buf.iter().position(|&c| c == 0).unwrap_or(NODENAME_LEN);
    buf.get(..len).unwrap_or(&[])
}
