#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Teardown while the disk is in use: a file held open across power-off,
# rmdir and rmmod attempts; opens racing power cycles; the backing device
# removed under a powered disk; a request requeued after its bios could
# not all be allocated.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap 'exec 3>&-; pvdisk_cleanup; nullb_cleanup' EXIT
FDOP=$(dirname "$0")/pvdisk_fdop
# About 0.27 s a round in the test VM (KASAN, TCG): 100 in every run,
# PVDISK_RACE_ROUNDS=1000 or more for a soak.
RACE_ROUNDS=${PVDISK_RACE_ROUNDS:-100}
NULLB=/sys/kernel/config/nullb/pvgone

nullb_cleanup() {
	[ -d "$NULLB" ] || return 0
	echo 0 >"$NULLB/power" 2>/dev/null
	rmdir "$NULLB" 2>/dev/null
}

# fd_ops STEP EXPECTED: run each operation on fd 3; EXPECTED lists the
# results in the order getsize64 flsbuf unknown read write.
fd_ops() {
	local step=$1 want=$2 op got all=""
	for op in getsize64 flsbuf unknown read write; do
		got=$("$FDOP" 3 $op | tr ' ' '-') || { echo "$step: $op: helper failed"; return 1; }
		all="$all $got"
	done
	all=${all# }
	echo "$step: $all"
	[ "$all" = "$want" ] || { echo "expected: $want"; return 1; }
}

pvdisk_load || { ktap_fail "load module"; ktap_finished; }
D=$PVDISK_CFS/hold
dev=$(pvdisk_new hold "$PVDISK_DISK") || { ktap_fail "create disk"; ktap_finished; }
ktap_ok "create $dev over $PVDISK_DISK"

# Open for reading and writing, held by this shell until closed below.
exec 3<>"$dev"
ALL_OK="ok ok err-ENOTTY ok ok"
ktap_check "held fd: ioctls, read, write work" fd_ops open "$ALL_OK"
ktap_check "held fd: power off refused (EBUSY)" expect_write_err EBUSY 0 "$D/power"
ktap_check "held fd: still powered, fd works" fd_ops "after power-off attempt" "$ALL_OK"
t_rmdir_busy() {
	rmdir "$D" 2>/dev/null && { echo "rmdir of a powered disk succeeded"; return 1; }
	[ -d "$D" ]
}
ktap_check "held fd: rmdir refused" t_rmdir_busy
t_rmmod_busy() {
	rmmod pvdisk 2>/dev/null && { echo "rmmod succeeded with a disk open"; return 1; }
	grep -q '^pvdisk ' /proc/modules
}
ktap_check "held fd: rmmod refused" t_rmmod_busy
ktap_check "held fd: fd still works" fd_ops "after rmmod attempt" "$ALL_OK"
exec 3>&-
t_teardown() {
	expect_write_ok 0 "$D/power" && rmdir "$D" && rmmod pvdisk &&
		! grep -q '^pvdisk ' /proc/modules
}
ktap_check "fd closed: power off, rmdir, rmmod succeed" t_teardown

# One process opens and closes the disk as fast as it can while this one
# powers it off and on. Every power-off either finds the disk open (EBUSY,
# retried) or removes it with no open left behind.
t_race() {
	local dev i=0 busy=0 pid out start
	pvdisk_load || return 1
	start=$(cut -d. -f1 /proc/uptime)
	dev=$(pvdisk_new race "$PVDISK_DISK") || return 1
	"$FDOP" openloop "$dev" >/tmp/openloop.out &
	pid=$!
	while [ $i -lt "$RACE_ROUNDS" ]; do
		until echo 0 2>/dev/null >"$PVDISK_CFS/race/power"; do
			busy=$((busy + 1))
		done
		echo 1 >"$PVDISK_CFS/race/power" || { kill $pid; echo "power on failed"; return 1; }
		i=$((i + 1))
	done
	kill $pid
	wait $pid
	out=$(cat /tmp/openloop.out)
	echo "$RACE_ROUNDS power cycles in $(($(cut -d. -f1 /proc/uptime) - start)) s," \
		"$busy power-offs refused as busy, $out"
	case "$out" in "opens ok 0 "*) echo "the opener never got the disk open"; return 1 ;; esac
	pvdisk_del race && rmmod pvdisk
}
ktap_check "open/close racing $RACE_ROUNDS power cycles" t_race

# A pass-through bio whose clone cannot be allocated without waiting is
# cloned again, waiting for the disk's reserve of bios (a VDI disk's
# request is requeued instead: pvdisk_store_cache.sh). dd's 32 direct
# 64 KiB writes are at least 32 bios: every injected failure is used.
t_requeue() {
	local dev
	pvdisk_load || return 1
	dev=$(pvdisk_new requeue "$PVDISK_DISK") || return 1
	dd if=/dev/urandom of=/tmp/requeue.in bs=64k count=32 iflag=fullblock 2>/dev/null
	expect_write_ok 20 "$PVDISK_CFS/requeue/fail_alloc" || return 1
	dd if=/tmp/requeue.in of="$dev" bs=64k oflag=direct 2>/dev/null || return 1
	expect_eq "injected failures left" "$(cat "$PVDISK_CFS/requeue/fail_alloc")" 0 || return 1
	dd if="$dev" of=/tmp/requeue.out bs=64k count=32 iflag=direct 2>/dev/null &&
		cmp /tmp/requeue.in /tmp/requeue.out || return 1
	expect_write_err EINVAL banana "$PVDISK_CFS/requeue/fail_alloc" || return 1
	pvdisk_del requeue
}
ktap_check "20 bios cloned again after allocation failure, data verifies" t_requeue

# The backing device goes away (null_blk powered off under the disk).
t_backing_gone() {
	local dev nb
	modprobe null_blk nr_devices=0 || { echo "no null_blk"; return 1; }
	mkdir "$NULLB" && echo 64 >"$NULLB/size" && echo 1 >"$NULLB/memory_backed" &&
		echo 4096 >"$NULLB/blocksize" && echo 1 >"$NULLB/power" || return 1
	nb=/dev/pvgone  # null_blk names the disk after its directory
	[ -b "$nb" ] || { echo "$nb missing"; return 1; }
	dev=$(pvdisk_new gone "$nb") || return 1
	dd if=/dev/urandom of="$dev" bs=64k count=4 oflag=direct 2>/dev/null || return 1
	echo 0 >"$NULLB/power" || return 1
	if dd if="$dev" of=/dev/null bs=64k count=4 iflag=direct 2>/tmp/gone.err; then
		echo "read after the backing device went away succeeded"
		return 1
	fi
	cat /tmp/gone.err
	grep -q "Input/output error" /tmp/gone.err || { echo "expected EIO"; return 1; }
	dmesg | grep -q "backing device is gone" || { echo "no log line"; return 1; }
	pvdisk_del gone && rmdir "$NULLB"
}
ktap_check "backing device removed: I/O fails with EIO, power off and rmdir work" t_backing_gone

ktap_finished
