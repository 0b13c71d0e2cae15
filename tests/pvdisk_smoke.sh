#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Smoke test: load pvdisk, declare a disk in configfs, power it on over a
# scratch disk, check what appears, power off, remove, unload.
. "$(dirname "$0")/ktap"

pvdisk_available || ktap_skip_all "pvdisk module not built"
ktap_header
trap pvdisk_cleanup EXIT
D=$PVDISK_CFS/smoke

ktap_check "load module" pvdisk_load
[ -d "$PVDISK_CFS" ] || { ktap_fail "configfs subsystem $PVDISK_CFS"; ktap_finished; }
ktap_ok "configfs subsystem $PVDISK_CFS"

t_mkdir() {
	mkdir "$D" || return 1
	ls "$D"
	for a in backing power name; do
		[ -e "$D/$a" ] || { echo "attribute $a missing"; return 1; }
	done
	expect_eq "power after mkdir" "$(cat "$D/power")" 0 &&
	expect_eq "backing after mkdir" "$(cat "$D/backing")" "" &&
	expect_eq "name after mkdir" "$(cat "$D/name")" ""
}
ktap_check "mkdir: attributes backing power name, powered off" t_mkdir

t_backing() {
	expect_write_ok "$PVDISK_DISK" "$D/backing" &&
	expect_eq backing "$(cat "$D/backing")" "$PVDISK_DISK"
}
ktap_check "backing=$PVDISK_DISK reads back" t_backing

t_power_on() {
	expect_write_ok 1 "$D/power" &&
	expect_eq power "$(cat "$D/power")" 1 &&
	expect_eq name "$(cat "$D/name")" pvdisk0 &&
	[ -b /dev/pvdisk0 ] || { echo "/dev/pvdisk0 is not a block device"; return 1; }
	[ -d /sys/block/pvdisk0 ] || { echo "/sys/block/pvdisk0 missing"; return 1; }
}
ktap_check "power=1: name pvdisk0, /dev/pvdisk0" t_power_on

t_size() {
	local lbs
	expect_eq "size in bytes" "$(bdev_bytes /dev/pvdisk0)" "$(bdev_bytes "$PVDISK_DISK")" || return 1
	lbs=$(blockdev --getss /dev/pvdisk0)
	echo "logical block size $lbs"
	case "$lbs" in 512|4096) ;; *) echo "unexpected logical block size"; return 1 ;; esac
}
ktap_check "/dev/pvdisk0 has the backing's size" t_size

t_io() {
	dd if=/dev/urandom of=/tmp/smoke.in bs=64k count=16 iflag=fullblock 2>/dev/null &&
	dd if=/tmp/smoke.in of=/dev/pvdisk0 bs=64k oflag=direct 2>/dev/null &&
	dd if=/dev/pvdisk0 of=/tmp/smoke.out bs=64k count=16 iflag=direct 2>/dev/null &&
	cmp /tmp/smoke.in /tmp/smoke.out
}
ktap_check "1 MiB written and read back through /dev/pvdisk0" t_io

t_power_off() {
	expect_write_ok 0 "$D/power" &&
	expect_eq power "$(cat "$D/power")" 0 &&
	expect_eq name "$(cat "$D/name")" "" &&
	expect_eq "pvdisk devices" "$(pvdisk_devs)" "" &&
	expect_eq "backing kept" "$(cat "$D/backing")" "$PVDISK_DISK"
}
ktap_check "power=0: /dev/pvdisk0 gone, backing kept" t_power_off

t_power_cycle() {
	expect_write_ok 1 "$D/power" && [ -b /dev/pvdisk0 ] &&
	dd if=/dev/pvdisk0 of=/tmp/smoke.out bs=64k count=16 iflag=direct 2>/dev/null &&
	cmp /tmp/smoke.in /tmp/smoke.out && expect_write_ok 0 "$D/power"
}
ktap_check "power cycle keeps the data" t_power_cycle

ktap_check "rmdir" rmdir "$D"

t_rmmod() {
	rmmod pvdisk || return 1
	! grep -q '^pvdisk ' /proc/modules && [ ! -d "$PVDISK_CFS" ]
}
ktap_check "rmmod: module and configfs subsystem gone" t_rmmod

ktap_finished
