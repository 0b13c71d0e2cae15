#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: build what is missing, boot the test VM, make a pvdisk
# store on the scratch disk /dev/vdb, show a VDI as /dev/pvdisk0, snapshot
# and clone it, power the snapshot and the clones on together, and say
# what happened. Every guest command is shown with its output.
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
# power_on DIR VDI: a disk showing VDI (or snapshot) of the store on vdb
power_on() {
	mkdir -p "$cfs/$1" && echo /dev/vdb > "$cfs/$1/backing" &&
		echo "$2" > "$cfs/$1/vdi" && echo 1 > "$cfs/$1/power"
}

step "The VM has a scratch disk, /dev/vdb (1 GiB): make it a pvdisk store"
show "pvdisk format /dev/vdb --extent-size 16M" || fail format
show "pvdisk create /dev/vdb golden --size 256M" || fail create
step "Load the driver and show the VDI golden as /dev/pvdisk0"
show "modprobe pvdisk" || fail "modprobe pvdisk"
show "mkdir $cfs/golden && ls $cfs/golden"
show "echo /dev/vdb > $cfs/golden/backing && echo golden > $cfs/golden/vdi && echo 1 > $cfs/golden/power" || fail power
show "cat $cfs/golden/name $cfs/golden/size; blockdev --getsize64 /dev/pvdisk0"
step "A file system on the golden image"
show "mke2fs -q -b 4096 /dev/pvdisk0 >/dev/null && mkdir -p /mnt/g && mount /dev/pvdisk0 /mnt/g" || fail mkfs
show "echo 'golden image, version 1' > /mnt/g/release && cp /etc/passwd /mnt/g/ && umount /mnt/g"
show "cat $cfs/golden/stats"
step "Power it off, snapshot it and clone it twice with the tool"
show "echo 0 > $cfs/golden/power" || fail poweroff
show "pvdisk snapshot /dev/vdb golden --label v1" || fail snapshot
show "pvdisk create /dev/vdb vm1 --from v1 && pvdisk create /dev/vdb vm2 --from v1" || fail clone
show "pvdisk tree /dev/vdb"
step "Power on the snapshot (read-only) and both clones, all from one store"
power_on snap v1 && power_on vm1 vm1 && power_on vm2 vm2 || fail "power on clones"
show "for d in snap vm1 vm2; do echo \"\$d: /dev/\$(cat $cfs/\$d/name) ro=\$(blockdev --getro /dev/\$(cat $cfs/\$d/name))\"; done"
s=$(cat $cfs/snap/name); a=$(cat $cfs/vm1/name); b=$(cat $cfs/vm2/name)
step "Each clone changes its own copy; the snapshot does not change"
show "mkdir -p /mnt/a /mnt/b /mnt/s && mount /dev/$a /mnt/a && mount /dev/$b /mnt/b" || fail mount
show "echo 'vm1 was here' > /mnt/a/release; rm /mnt/b/passwd; umount /mnt/a /mnt/b"
show "mount -o ro,noload /dev/$s /mnt/s && cat /mnt/s/release && ls /mnt/s && umount /mnt/s"
show "mount /dev/$a /mnt/a && cat /mnt/a/release && ls /mnt/a && umount /mnt/a"
show "mount /dev/$b /mnt/b && cat /mnt/b/release && ls /mnt/b && umount /mnt/b"
show "dd if=/dev/zero of=/dev/$s bs=4k count=1 oflag=direct"
step "Copy-on-write at work: what vm1 wrote, and what it shares"
show "cat $cfs/vm1/stats"
step "Some I/O on vm2: 5 s of 4 KiB random writes, direct, queue depth 16 (the test kernel runs with its debug checkers, so this is slow; make bench measures speed)"
show "fio --name=demo --filename=/dev/$b --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=16 --size=128M --offset=128M --time_based --runtime=5 --group_reporting 2>&1 | grep -E 'IOPS|err='"
step "Bad input gets a clear error, and changes nothing"
show "echo vm1 > $cfs/vm2/vdi"
show "mkdir $cfs/again && echo /dev/vdb > $cfs/again/backing && echo vm1 > $cfs/again/vdi && echo 1 > $cfs/again/power"
show "echo nosuchvdi > $cfs/again/vdi && echo 1 > $cfs/again/power"
show "echo 0 > $cfs/again/cache_mb"
show "rmdir $cfs/again; dmesg | grep pvdisk: | tail -n 4"
step "Power everything off; the store checks clean"
show "for d in snap vm1 vm2; do echo 0 > $cfs/\$d/power && rmdir $cfs/\$d; done" || fail teardown
show "rmdir $cfs/golden && rmmod pvdisk" || fail rmmod
show "pvdisk list /dev/vdb && pvdisk check /dev/vdb" || fail check
echo
echo "demo: one store held a golden VDI, its snapshot and two clones; each"
echo "demo: clone kept its own changes, the snapshot stayed as it was, and"
echo "demo: bad input was refused."
echo "demo: make demo-guest runs a guest on /dev/pvdisk0 and snapshots it as it writes."
GUEST
)
exec "$here/vm.sh" --quiet --timeout 900 -- "$guest"
