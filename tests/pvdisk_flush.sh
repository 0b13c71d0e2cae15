#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Flush and FUA requests complete: fio with fsync/fdatasync after every
# write and with O_SYNC (FUA writes), blockdev --flushbufs, sync, and a
# journaling file system whose flushes reach the backing device once.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap pvdisk_cleanup EXIT

FIO="fio --output-format=terse --terse-version=3"

pvdisk_load || { ktap_fail "load module"; ktap_finished; }
dev=$(pvdisk_new flush "$PVDISK_DISK") || { ktap_fail "create disk over $PVDISK_DISK"; ktap_finished; }
ktap_ok "create $dev over $PVDISK_DISK"

# One fio run (tests/ktap, fio_cases), each job a case, one after the
# other. The last two have many flushes in flight at once, from several
# threads: stacked flush completion is where lockdep has something to say.
fio_cases /tmp/fio.out \
	"fio fsync=1 (REQ_PREFLUSH after every write), verify" \
	"fio fdatasync=1, buffered" \
	"fio sync=1 direct (FUA writes), libaio iodepth=8, verify" \
	"fio end_fsync=1 after buffered writes" \
	"fio 4 jobs fsync=1 concurrently, 5 s" \
	"fio libaio iodepth=16 fsync=2, 5 s" -- \
	$FIO --filename="$dev" \
	--name=j1 --ioengine=psync --direct=1 --rw=randwrite --bs=4k --size=1M \
	--fsync=1 --verify=crc32c --do_verify=1 --stonewall \
	--name=j2 --ioengine=psync --rw=write --bs=64k --size=2M --fdatasync=1 --stonewall \
	--name=j3 --ioengine=libaio --iodepth=8 --direct=1 --sync=1 --rw=randwrite \
	--bs=16k --size=2M --verify=crc32c --do_verify=1 --stonewall \
	--name=j4 --ioengine=psync --rw=write --bs=64k --size=2M --end_fsync=1 --stonewall \
	--name=j5 --ioengine=psync --direct=1 --rw=randwrite --bs=4k --size=16M \
	--numjobs=4 --fsync=1 --time_based --runtime=5 --group_reporting --stonewall \
	--name=j6 --ioengine=libaio --iodepth=16 --direct=1 --rw=randwrite \
	--bs=4k --size=16M --fsync=2 --time_based --runtime=5 --stonewall

t_flushbufs() {
	dd if=/dev/urandom of="$dev" bs=64k count=16 iflag=fullblock 2>/dev/null &&
	blockdev --flushbufs "$dev" && sync
}
ktap_check "buffered write, blockdev --flushbufs, sync" t_flushbufs

t_fsync_dd() {
	dd if=/dev/zero of="$dev" bs=1M count=4 conv=fsync 2>/dev/null &&
	dd if=/dev/zero of="$dev" bs=4k count=16 oflag=direct conv=fsync 2>/dev/null
}
ktap_check "dd conv=fsync, buffered and direct" t_fsync_dd

# A journaling file system on pvdisk: jbd2 commits are REQ_PREFLUSH (and
# FUA) writes. The pass-through is bio-based: each goes down as it came,
# so the backing device flushes for it as it would for the file system on
# itself, at most twice (the flush before, and the one after that
# emulates FUA where the device has none). A flush passed down and then
# sent again as a flush of pvdisk's own would make it three.
flushes() { awk '{ print $16 }' "/sys/block/$1/stat"; }
t_journal_flushes() {
	local back=${PVDISK_DISK#/dev/} b0 b1 i=0
	# The full path: busybox sh prefers its own applets to $PATH.
	/usr/sbin/mke2fs -q -F -t ext4 "$dev" 64M || return 1
	mkdir -p /mnt/pv && mount -t ext4 "$dev" /mnt/pv || return 1
	b0=$(flushes "$back")
	while [ $i -lt 50 ]; do
		dd if=/dev/urandom of=/mnt/pv/f$i bs=4k count=1 conv=fsync 2>/dev/null || break
		i=$((i + 1))
	done
	b1=$(flushes "$back")
	umount /mnt/pv || return 1
	echo "50 fsyncs on ext4 over the pass-through: $((b1 - b0)) backing flushes"
	[ $i = 50 ] && [ $((b1 - b0)) -ge 50 ] && [ $((b1 - b0)) -le $((2 * i + 20)) ]
}
ktap_check "ext4 journal: every fsync flushes the backing device, at most twice" t_journal_flushes

ktap_check "power off and remove" pvdisk_del flush
ktap_finished
