#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: build what is missing, boot the test VM, load pvdisk, make
# /dev/pvdisk0 over the scratch disk /dev/vdb, use it, and say what
# happened. Every guest command is shown with its output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

echo "demo: building (deps, kernel, module, tool; incremental)"
if ! "$here/test.sh" --build-only >/tmp/pvdisk-demo-build.$$ 2>&1; then
	cat /tmp/pvdisk-demo-build.$$
	rm -f /tmp/pvdisk-demo-build.$$
	echo "demo: build failed" >&2
	exit 1
fi
grep -E '^  ' /tmp/pvdisk-demo-build.$$ || true
rm -f /tmp/pvdisk-demo-build.$$
if [ ! -f "$repo/drivers/block/pvdisk/pvdisk.ko" ]; then
	echo "demo: drivers/block/pvdisk/pvdisk.ko was not built" >&2
	exit 1
fi

guest=$(cat <<'GUEST'
cfs=/sys/kernel/config/pvdisk
step() { echo; echo "---- $*"; }
show() { echo "\$ $*"; sh -c "$*" 2>&1; r=$?; [ $r = 0 ] || echo "(exit status $r)"; return $r; }
fail() { echo "demo: FAILED: $*"; exit 1; }

step "The VM has a scratch disk, /dev/vdb (1 GiB, zero-filled)"
show "blockdev --getsize64 /dev/vdb"
step "Load the driver: it registers a configfs subsystem"
show "modprobe pvdisk" || fail "modprobe pvdisk"
show "lsmod | grep pvdisk"
show "ls $cfs"
step "Declare a disk vm1 and give it /dev/vdb as its backing device"
show "mkdir $cfs/vm1" || fail mkdir
show "ls $cfs/vm1"
show "echo /dev/vdb > $cfs/vm1/backing" || fail backing
show "cat $cfs/vm1/backing $cfs/vm1/power"
step "Power it on: /dev/pvdisk0 appears"
show "echo 1 > $cfs/vm1/power" || fail power
show "cat $cfs/vm1/power $cfs/vm1/name"
show "ls -l /dev/pvdisk*"
show "blockdev --getsize64 /dev/pvdisk0; blockdev --getss /dev/pvdisk0"
step "Write through /dev/pvdisk0, read it back, and through /dev/vdb"
show "echo 'hello from pvdisk' | dd of=/dev/pvdisk0 bs=4096 conv=sync,fsync 2>/dev/null"
show "dd if=/dev/pvdisk0 bs=4096 count=1 2>/dev/null | head -c 18"
show "dd if=/dev/vdb bs=4096 count=1 iflag=direct 2>/dev/null | head -c 18"
step "A file system on it, kept across a power cycle"
show "mke2fs -q /dev/pvdisk0 >/dev/null && mkdir -p /mnt/vm1 && mount /dev/pvdisk0 /mnt/vm1" || fail mkfs
show "cp /etc/passwd /mnt/vm1/ && echo 'it persists' > /mnt/vm1/note && ls -l /mnt/vm1 && umount /mnt/vm1"
show "echo 0 > $cfs/vm1/power && ls /dev/pvdisk* 2>&1; echo 1 > $cfs/vm1/power"
show "mount /dev/pvdisk0 /mnt/vm1 && cat /mnt/vm1/note && umount /mnt/vm1" || fail remount
step "Some I/O: 5 s of 4 KiB random read/write, direct, queue depth 16"
show "fio --name=demo --filename=/dev/pvdisk0 --ioengine=libaio --direct=1 --rw=randrw --bs=4k --iodepth=16 --size=256M --offset=512M --time_based --runtime=5 --group_reporting 2>&1 | grep -E 'IOPS|err='"
step "Bad input gets a clear error, and changes nothing"
show "echo /dev/vdc > $cfs/vm1/backing"
show "echo banana > $cfs/vm1/power"
show "mkdir $cfs/vm2 && echo /dev/null > $cfs/vm2/backing"
show "echo /dev/vdb > $cfs/vm2/backing && echo 1 > $cfs/vm2/power"
show "cat $cfs/vm2/power; rmdir $cfs/vm2"
show "dmesg | grep pvdisk: | tail -n 6"
step "Power off, remove, unload"
show "echo 0 > $cfs/vm1/power && rmdir $cfs/vm1 && rmmod pvdisk" || fail teardown
show "ls /dev | grep -c pvdisk; ls /sys/kernel/config"
echo
echo "demo: /dev/pvdisk0 passed every request through to /dev/vdb: what was"
echo "demo: written through one was read back through the other, a file"
echo "demo: system survived a power cycle, and bad input was refused."
GUEST
)
exec "$here/vm.sh" --quiet --timeout 900 -- "$guest"
