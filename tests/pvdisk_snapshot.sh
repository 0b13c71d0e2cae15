#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Online snapshots through PVDISK_IOC_SNAPSHOT (Documentation/ioctl.rst):
#  - PVDISK_IOC_INFO shows the disk; a snapshot freezes what was written,
#    read through a read-only disk by number and by label, beside the
#    live disk that goes on changing;
#  - every errno of the interface, each leaving the snapshot log as it
#    was;
#  - prefix consistency: 4 writers stamp their blocks while snapshots are
#    taken; each snapshot holds every write acknowledged before its ioctl
#    began and none issued after it returned (checked through read-only
#    disks while writing goes on, then on every exported snapshot), and
#    the checker is shown to catch a snapshot that is not a prefix;
#  - pvdisk check is clean after.
# pvdisk_snapshot_stress.sh takes 1000 snapshots under fio verify.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
T=$(dirname "$0")
IOC=$T/pvdisk_ioctl
PREFIX=$T/pvdisk_prefix
[ -x "$IOC" ] && [ -x "$PREFIX" ] ||
	ktap_skip_all "snapshot helpers not built"
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK
# 4 writers x 1024 blocks: the first 16 MiB of pf
W=4
B=1024

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" vm --size 64M &&
	pvdisk create "$S" other --size 16M &&
	pvdisk create "$S" pf --size 16M &&
	store_new vm vm
}
step "store with VDIs vm (64M), pf and other (16M), vm powered" t_setup
D=$(dev vm)

info_of() {
	"$IOC" info "$1" | sed -n "s/^$2 //p"
}

t_info() {
	expect_eq name "$(info_of "$D" name)" vm &&
	expect_eq disk_bytes "$(info_of "$D" disk_bytes)" $((64 << 20)) &&
	expect_eq snap_count "$(info_of "$D" snap_count)" 0 &&
	expect_eq snapshot "$(info_of "$D" snapshot)" 0 &&
	expect_eq read_only "$(info_of "$D" read_only)" 0 &&
	expect_eq uuid "$(info_of "$D" uuid)" \
		"$(pvdisk info "$S" | sed -n 's/^uuid: *//p')"
}
step "PVDISK_IOC_INFO: name, size, snapshots, store UUID" t_info

t_first() {
	local r snap
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null &&
	dd if=/dev/urandom of=/tmp/b bs=1M count=4 2>/dev/null &&
	dd if=/tmp/a of="$D" bs=1M oflag=direct 2>/dev/null || return 1
	r=$("$IOC" snapshot "$D" first)
	echo "$r"
	case $r in "seq 1 "*) ;; *) echo "expected snapshot 1"; return 1 ;; esac
	dd if=/tmp/b of="$D" bs=1M oflag=direct 2>/dev/null &&
	snap=$(store_new s1 vm@1) || return 1
	same4m /tmp/a "$snap" && same4m /tmp/b "$D" &&
	expect_eq "snapshot disk" "$(info_of "$snap" snapshot)" 1 &&
	expect_eq "snapshot disk read_only" "$(info_of "$snap" read_only)" 1 &&
	expect_eq "snap_count" "$(info_of "$D" snap_count)" 1 &&
	power s1 0 && expect_write_ok first "$PVDISK_CFS/s1/vdi" && power s1 1 &&
	same4m /tmp/a "$(dev s1)" &&
	pvdisk snaps "$S" vm | grep -q first
}
step "a snapshot keeps what was written; the live disk goes on; by number and label" t_first

# snaps_unchanged: the snapshot log is as it was before the bad calls
snaps_mark() {
	pvdisk snaps "$S" vm >/tmp/snaps.before 2>&1
	SNAPS=$(info_of "$D" snap_count)
}
snaps_unchanged() {
	pvdisk snaps "$S" vm >/tmp/snaps.after 2>&1
	expect_eq "snap_count" "$(info_of "$D" snap_count)" "$SNAPS" &&
	cmp -s /tmp/snaps.before /tmp/snaps.after ||
		{ diff /tmp/snaps.before /tmp/snaps.after; return 1; }
}

# bad CASE ERRNO [DEV]
bad() {
	expect_eq "$1" "$("$IOC" bad "${3:-$D}" "$1")" "err $2"
}

t_errnos() {
	local raw
	snaps_mark
	bad unknown ENOTTY && bad short EINVAL && bad flags EINVAL &&
	bad tail E2BIG && bad badlabel EINVAL && bad badpad EINVAL &&
	bad rdonly EBADF && bad noperm EPERM && bad info-short EINVAL &&
	expect_eq "label in use" "$("$IOC" snapshot "$D" first)" "err EEXIST" &&
	expect_eq "label of a VDI" "$("$IOC" snapshot "$D" other)" "err EEXIST" &&
	expect_eq "snapshot disk" "$("$IOC" snapshot "$(dev s1)")" "err EROFS" || return 1
	raw=$(pvdisk_new raw "$PVDISK_DISK2") || return 1
	expect_eq "pass-through disk" "$("$IOC" bad "$raw" short)" "err ENOTTY" &&
	pvdisk_del raw && snaps_unchanged
}
step "bad calls: ENOTTY EINVAL E2BIG EBADF EPERM EROFS EEXIST, snapshot log unchanged" t_errnos

t_grown() {
	expect_eq "grown struct" "$("$IOC" bad "$D" grown)" ok &&
	expect_eq "snap_count" "$(info_of "$D" snap_count)" 2
}
step "a larger struct, zero beyond what the driver knows, works" t_grown

power s1 0
rmdir "$PVDISK_CFS/s1"

t_prefix() {
	store_new pf pf >/dev/null &&
	"$PREFIX" run "$(dev pf)" -w $W -b $B -n 20 -i 30 -L >/tmp/prefix.log || return 1
	tail -n 2 /tmp/prefix.log
	grep -c '^snap ' /tmp/prefix.log | grep -qx 20
}
step "20 snapshots (every other one lazy) while 4 writers stamp their blocks" t_prefix

SEQS=$(sed -n 's/^snap \([0-9]*\) .*/\1/p' /tmp/prefix.log)
FIRST=$(echo "$SEQS" | head -n 1)

t_prefix_online() {
	local n d
	local rc=0
	for n in $FIRST $(echo "$SEQS" | sed -n 10p) $(echo "$SEQS" | tail -n 1); do
		d=$(store_new p$n pf@$n) || return 1
		"$PREFIX" verify "$d" /tmp/prefix.log $n -w $W -b $B || rc=1
		power p$n 0 && rmdir "$PVDISK_CFS/p$n" || return 1
	done
	return $rc
}
step "snapshots read through read-only disks are prefixes" t_prefix_online

t_prefix_fails() {
	# The live disk is not snapshot $FIRST: it holds later writes.
	"$PREFIX" verify "$(dev pf)" /tmp/prefix.log $FIRST -w $W -b $B | tail -n 2
	[ "$("$PREFIX" verify "$(dev pf)" /tmp/prefix.log $FIRST -w $W -b $B |
		sed -n 's/.* violations //p')" -gt 0 ]
}
step "the checker catches a disk that is not the snapshot" t_prefix_fails

t_prefix_exported() {
	local n bad=0
	power pf 0 || return 1
	for n in $SEQS; do
		pvdisk export "$S" pf@$n /tmp/snap.img >/dev/null &&
		"$PREFIX" verify /tmp/snap.img /tmp/prefix.log $n -w $W -b $B >/tmp/v.out ||
			{ cat /tmp/v.out; pvdisk snaps "$S" pf; bad=$((bad + 1)); }
		rm -f /tmp/snap.img
	done
	echo "$(echo "$SEQS" | wc -l) snapshots exported, $bad not prefixes"
	[ $bad = 0 ]
}
step "every snapshot, exported after power-off, is a prefix" t_prefix_exported


t_check() {
	power vm 0 && check_clean "$S" &&
	expect_eq "snapshots of vm" "$(pvdisk snaps "$S" vm | grep -c '^vm@')" 2 &&
	expect_eq "snapshots of pf" "$(pvdisk snaps "$S" pf | grep -c '^pf@')" 20
}
step "pvdisk check clean; the tool lists every snapshot" t_check

ktap_finished
