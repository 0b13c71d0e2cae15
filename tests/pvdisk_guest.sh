#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A guest's writes on /dev/pvdiskN, snapshotted and cloned while they go
# on: the short form of `make demo-guest` (Documentation/guest.rst), with
# no nested QEMU. pvdisk_stamp, the program the nested guest runs, writes
# its sequence-stamped blocks straight to /dev/pvdisk0 while
# pvdisk_checkpoint takes snapshots with PVDISK_IOC_SNAPSHOT (the writer
# stops after them, so every snapshot is taken while it writes);
#  - every snapshot holds exactly a prefix of the writes, and the
#    prefixes grow snapshot after snapshot;
#  - a clone of one snapshot, made with the tool and powered on, holds
#    the same prefix as its snapshot;
#  - the checker is shown to catch a clone that is not a prefix: a write
#    of the prefix lost, a block torn;
#  - pvdisk check is clean after.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
T=$(dirname "$0")
STAMP=$T/pvdisk_stamp
CKPT=$T/pvdisk_checkpoint
[ -x "$STAMP" ] && [ -x "$CKPT" ] || ktap_skip_all "pvdisk_stamp or pvdisk_checkpoint not built"
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK
# 256 blocks (1 MiB), batches of 4 writes in flight, 4 snapshots
B=256
N=4

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" vm --size 8M &&
	store_new vm vm >/dev/null
}
step "store with a VDI vm (8M), powered" t_setup
D=$(dev vm)

t_run() {
	local rc
	"$STAMP" write "$D" -b $B -q 4 -f 16 -t 120 -p 0 >/tmp/stamp.log 2>&1 &
	w=$!
	while ! grep -q '^stamp: run' /tmp/stamp.log; do
		kill -0 $w 2>/dev/null || { cat /tmp/stamp.log; return 1; }
		sleep 0.2
	done
	"$CKPT" "$D" -r 4 -n $N -l cp -q
	rc=$?
	kill -TERM $w
	wait $w || { cat /tmp/stamp.log; return 1; }
	cat /tmp/stamp.log
	[ $rc = 0 ]
}
step "the guest's writer on $D, $N snapshots by ioctl while it writes" t_run
FINAL=$(sed -n 's/^stamp: done seq \([0-9]*\) .*/\1/p' /tmp/stamp.log)

# verify_snap LABEL: the prefix that the snapshot LABEL holds
verify_snap() {
	local r rc
	store_new check "$1" >/dev/null || { rmdir "$PVDISK_CFS/check"; return 2; }
	r=$("$STAMP" verify "$(dev check)")
	rc=$?
	echo "$r" >&2
	pvdisk_del check
	[ $rc = 0 ] || return 1
	echo "$r" | sed -n 's/.* prefix \([0-9]*\) .*/\1/p'
}

t_prefixes() {
	local i p last=0 mid=0 bad=0
	for i in $(seq 1 $N); do
		p=$(verify_snap cp-$i) || { bad=$((bad + 1)); continue; }
		echo "cp-$i: prefix $p of $FINAL"
		[ "$p" -ge $last ] || { echo "cp-$i: prefix went down from $last"; bad=$((bad + 1)); }
		[ "$p" -gt 0 ] && [ "$p" -lt "$FINAL" ] && mid=$((mid + 1))
		last=$p
	done
	echo "$mid of $N snapshots cut the writes mid-run"
	[ $bad = 0 ] && [ $mid -ge 1 ]
}
step "every snapshot is a prefix; prefixes grow; some cut the run" t_prefixes

t_clone() {
	local want got
	want=$(verify_snap cp-$((N / 2)) 2>/dev/null) || return 1
	# vm is powered: the tool clones through the driver
	pvdisk create "$S" clone --from cp-$((N / 2)) || return 1
	store_new clone clone >/dev/null || return 1
	got=$("$STAMP" verify "$(dev clone)" | tee /dev/stderr |
		sed -n 's/.* prefix \([0-9]*\) .*/\1/p')
	expect_eq "prefix of the clone" "$got" "$want"
}
step "a clone of cp-$((N / 2)) holds the same prefix" t_clone

# expect_violation WHAT: the checker fails on the clone
expect_violation() {
	"$STAMP" verify "$(dev clone)" >/tmp/v.out
	local rc=$?
	head -n 2 /tmp/v.out
	[ $rc = 1 ] && grep -q VIOLATION /tmp/v.out ||
		{ echo "$1 went unnoticed (exit $rc)"; return 1; }
}

t_caught() {
	local c lba
	c=$(dev clone)
	# The clone's blocks that hold a write: lose the write of one of
	# them, then put it back and tear another (half of it zeroed).
	for lba in $(seq 1 $((B - 1))); do
		[ "$(dd if="$c" bs=4096 skip=$lba count=1 iflag=direct 2>/dev/null |
			od -A n -t x1 -N 8 | tr -d ' ')" = 5056565354424c4b ] && break
	done
	dd if="$c" of=/tmp/saved bs=4096 skip=$lba count=1 iflag=direct 2>/dev/null &&
	dd if=/dev/zero of="$c" bs=4096 seek=$lba count=1 oflag=direct 2>/dev/null &&
	expect_violation "a lost write" &&
	dd if=/tmp/saved of="$c" bs=4096 seek=$lba count=1 oflag=direct 2>/dev/null &&
	"$STAMP" verify "$c" >/dev/null &&
	dd if=/dev/zero of="$c" bs=2048 seek=$((lba * 2 + 1)) count=1 oflag=direct 2>/dev/null &&
	expect_violation "a torn block"
}
step "the checker catches a lost write and a torn block" t_caught

t_check() {
	pvdisk_del clone && power vm 0 && check_clean "$S"
}
step "pvdisk check clean" t_check

ktap_finished
