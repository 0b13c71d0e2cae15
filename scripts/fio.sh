#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A static fio for the test VM, built once into the cache from the
# upstream tarball of the version Debian packages (pinned, with its
# SHA-256, in versions.sh; Debian's own fio stays on the host).
#
# Debian's fio links about 60 libraries (ceph, gluster, rdma, pmem ...):
# under TCG with KASAN it takes 4 s to start (8 s the first time), and the
# tests start it dozens of times. This one links none: only the engines
# the tests and the benchmark use (libaio, psync, sync) need nothing more
# than libaio and zlib, both linked in.
#
#   scripts/fio.sh           build if missing; print nothing
#   scripts/fio.sh --print   print the binary's path; exit 1 if not built
#
# A failed build (no network, say) is not fatal to the caller: vm.sh
# falls back to Debian's fio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

dir=$PVDISK_CACHE/fio/$PVDISK_FIO_VERSION
bin=$dir/fio
if [ "${1:-}" = --print ]; then
	[ -x "$bin" ] || exit 1
	echo "$bin"
	exit 0
fi
[ -x "$bin" ] && exit 0

mkdir -p "$dir"
stage=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$stage"' EXIT
tarball=$stage/fio.tar.gz
echo "fio: building fio $PVDISK_FIO_VERSION (static) in $dir"
curl -fsSL --retry 3 -o "$tarball" "$PVDISK_FIO_URL"
echo "$PVDISK_FIO_SHA256  $tarball" | sha256sum -c --quiet -
tar -xzf "$tarball" -C "$stage"
src=$stage/fio-$PVDISK_FIO_VERSION
(
	cd "$src"
	./configure --build-static --disable-native >"$stage/configure.log" 2>&1 ||
		{ tail -n 20 "$stage/configure.log"; exit 1; }
	grep -q '^Linux AIO support *yes' "$stage/configure.log" ||
		{ echo "fio: no libaio (libaio-dev)" >&2; exit 1; }
	make -j"$(nproc)" fio >"$stage/make.log" 2>&1 || { tail -n 20 "$stage/make.log"; exit 1; }
)
install -m 0755 "$src/fio" "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "fio: built $("$bin" --version)"
