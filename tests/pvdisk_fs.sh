#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A file system on a VDI: ext4's writeback submits from inside a block
# plug, so the disk's queue_rq runs while that plug is flushed, and on a
# fresh VDI nearly every write is a copy-on-write that queue_rq starts.
# With the plug not set aside (bindings that misplaced current->plug)
# this crashed in blk_add_rq_to_plug within one round
# (Documentation/data-path.rst, The plug in queue_rq).
#  - ROUNDS (2) rounds on one VDI: mke2fs, mount, copy a tree
#    (/opt/tools: the VM's tools and their libraries), umount, mount
#    again, the copy equals the tree;
#  - a snapshot after round 1, so later rounds copy paths too, and the
#    snapshot (powered on read-only) still holds round 1's copy;
#  - pvdisk check is clean after power-off.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
# e2fsprogs' mke2fs (busybox's cannot make ext4 with a journal)
MKFS=/usr/sbin/mke2fs
[ -x "$MKFS" ] || ktap_skip_all "e2fsprogs mke2fs not in the VM"
[ -d /opt/tools ] || ktap_skip_all "no /opt/tools to copy"
ktap_header
trap 'umount /mnt/pvfs /mnt/pvsnap 2>/dev/null; pvdisk_cleanup' EXIT

S=$PVDISK_DISK
ROUNDS=${PVDISK_FS_ROUNDS:-2}
SRC=/opt/tools
mkdir -p /mnt/pvfs /mnt/pvsnap

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" fs --size 256M &&
	store_new fs fs >/dev/null
}
step "store with a VDI fs (256M), powered" t_setup
D=$(dev fs)

# round N: a new file system, the tree copied into it, read back after a
# remount.
round() {
	"$MKFS" -q -F -t ext4 -b 4096 "$D" &&
	mount -t ext4 "$D" /mnt/pvfs &&
	mkdir /mnt/pvfs/round$1 &&
	cp -a "$SRC/." /mnt/pvfs/round$1/ &&
	umount /mnt/pvfs &&
	mount -t ext4 -o ro "$D" /mnt/pvfs &&
	diff -r "$SRC" /mnt/pvfs/round$1 &&
	umount /mnt/pvfs
}

t_rounds() {
	local n=1
	while [ $n -le "$ROUNDS" ]; do
		round $n || { echo "round $n failed"; return 1; }
		# A snapshot after round 1: later rounds copy paths.
		if [ $n = 1 ]; then
			pvdisk snapshot "$D" --label fs1 >/dev/null || return 1
		fi
		n=$((n + 1))
	done
	echo "$ROUNDS rounds; copy-on-write blocks $(stat_of fs cow_blocks)," \
		"writes started at submission $(stat_of fs cow_at_submit)"
	# The path under test was taken.
	[ "$(stat_of fs cow_at_submit)" -gt 0 ] ||
		{ echo "no copy-on-write started in queue_rq"; return 1; }
}
step "$ROUNDS rounds of mke2fs, copy a tree, remount, compare" t_rounds

t_snapshot() {
	local d
	d=$(store_new snap fs1) &&
	mount -t ext4 -o ro "$d" /mnt/pvsnap &&
	diff -r "$SRC" /mnt/pvsnap/round1 &&
	umount /mnt/pvsnap &&
	power snap 0 && rmdir "$PVDISK_CFS/snap"
}
step "the snapshot taken after round 1 holds round 1's copy" t_snapshot

t_clean() {
	power fs 0 && check_clean "$S"
}
step "power off: pvdisk check is clean" t_clean

ktap_finished
