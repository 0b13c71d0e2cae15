# SPDX-License-Identifier: GPL-2.0
# The one place where pvdisk pins its toolchain and kernel.
# Sourced by every script under scripts/.

# Debian package that ships the 6.12 LTS kernel source.
PVDISK_KERNEL_PKG=linux-source-6.12
PVDISK_KERNEL_DEB_VERSION=6.12.117-1~deb12u1
PVDISK_KERNEL_SERIES=6.12

# bindgen used by the kernel's Rust build (crates.io, cargo install --locked).
# Not 0.72 or later: those pad a struct with an 8-byte-aligned wrapper
# (__BindgenOpaqueArray8) that rounds a padding of 4 bytes up to 8, so
# every field after it is misplaced. In the 6.12 test kernel task_struct's
# fields after `se` were 64 bytes off (rust-bindgen issue 3406).
# kernel.sh regenerates the bindings when this changes, and refuses
# bindings with such padding.
PVDISK_BINDGEN_VERSION=0.71.1

# Cache for heavy products (kernel tree, kernel build, VM images).
# Outside the clone; keyed below by kernel version, config and overlay.
PVDISK_CACHE=${PVDISK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pvdisk}

# fio for the test VM, built static from Debian's source of the packaged
# version (scripts/fio.sh): Debian's binary loads about 60 libraries and
# takes 4-8 s to start under TCG with KASAN.
PVDISK_FIO_VERSION=3.33
PVDISK_FIO_SHA256=d2410e13e0f379d061d077cc5ae325835bb7c6186aa7bafc1df954cbc9b014fc
PVDISK_FIO_URL=http://deb.debian.org/debian/pool/main/f/fio/fio_${PVDISK_FIO_VERSION}.orig.tar.gz
