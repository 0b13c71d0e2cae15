# SPDX-License-Identifier: GPL-2.0
# The one place where pvdisk pins its toolchain and kernel.
# Sourced by every script under scripts/.

# Debian package that ships the 6.12 LTS kernel source.
PVDISK_KERNEL_PKG=linux-source-6.12
PVDISK_KERNEL_DEB_VERSION=6.12.117-1~deb12u1
PVDISK_KERNEL_SERIES=6.12

# bindgen used by the kernel's Rust build (crates.io, cargo install --locked).
PVDISK_BINDGEN_VERSION=0.73.0

# Cache for heavy products (kernel tree, kernel build, VM images).
# Outside the clone; keyed below by kernel version, config and overlay.
PVDISK_CACHE=${PVDISK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pvdisk}
