#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# 1000 online snapshots back to back (tests/pvdisk_checkpoint.c, the
# checkpointing client) while fio writes and verifies the same disk:
# every snapshot succeeds, fio finds every block it wrote, the snapshot
# count and log agree, and pvdisk check is clean after.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
CHECKPOINT=$(dirname "$0")/pvdisk_checkpoint
[ -x "$CHECKPOINT" ] || ktap_skip_all "pvdisk_checkpoint not built"
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK
N=${PVDISK_SNAPSHOTS:-1000}

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" vm --size 64M &&
	store_new vm vm
}
step "store with VDI vm (64M), powered" t_setup

t_loop() {
	local d fio_pid rc=0
	d=$(dev vm)
	fio --name=verify --filename="$d" --rw=randwrite --bs=4k --iodepth=16 \
		--ioengine=libaio --direct=1 --size=8M --loops=2 \
		--verify=crc32c --verify_fatal=1 --output=/tmp/fio.out &
	fio_pid=$!
	# Bounded, so that a slow machine fails here and cleans up rather
	# than running into the kselftest timeout.
	"$CHECKPOINT" -r 0 -n "$N" -t 200 -q "$d" || rc=1
	wait $fio_pid || { cat /tmp/fio.out; rc=1; }
	grep -E "WRITE:|READ:" /tmp/fio.out
	[ $rc = 0 ] &&
	expect_eq snap_count "$("$(dirname "$0")/pvdisk_ioctl" info "$d" |
		sed -n 's/^snap_count //p')" "$N"
}
step "$N snapshots back to back under fio verify (4 KiB, queue depth 16)" t_loop

t_check() {
	power vm 0 && check_clean "$S" &&
	expect_eq "snapshots listed" "$(pvdisk snaps "$S" vm | grep -c '^vm@')" "$N"
}
step "pvdisk check clean; the tool lists every snapshot" t_check

ktap_finished
