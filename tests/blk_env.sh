#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The test environment itself: scratch disks, fio with libaio and verify,
# module loading (null_blk, the Rust rnull), device-mapper and dm-thin.
# If this fails, the pvdisk results that follow mean little.
. "$(dirname "$0")/ktap"

FIO="fio --output-format=terse --terse-version=3 --ioengine=libaio --direct=1"

ktap_header

# The run's promise is "no KASAN or lockdep report": worth something only
# if both are on.
t_debug() {
	local log
	log=$(dmesg)
	echo "$log" | grep -q "KernelAddressSanitizer initialized" ||
		{ echo "no KASAN in this kernel"; return 1; }
	echo "$log" | grep -q "Lock dependency validator" ||
		{ echo "no lockdep in this kernel"; return 1; }
}
ktap_check "the kernel runs KASAN and lockdep" t_debug

t_disks() {
	local d
	for d in "$PVDISK_DISK" "$PVDISK_DISK2"; do
		[ -b "$d" ] || { echo "$d missing"; return 1; }
		echo "$d: $(bdev_bytes "$d") bytes, lbs $(blockdev --getss "$d")"
	done
}
ktap_check "scratch disks present" t_disks

t_fio_raw() {
	$FIO --name=raw --filename="$PVDISK_DISK" --rw=randwrite --bs=4k \
		--iodepth=16 --size=4M --verify=crc32c --do_verify=1 >/dev/null
}
ktap_check "fio libaio verify on raw disk" t_fio_raw

t_null_blk() {
	modprobe null_blk nr_devices=1 queue_mode=2 memory_backed=1 gb=1 bs=4096 ||
		return 1
	[ -b /dev/nullb0 ] || { echo "/dev/nullb0 missing"; rmmod null_blk; return 1; }
	$FIO --name=nullb --filename=/dev/nullb0 --rw=randwrite --bs=4k \
		--iodepth=16 --size=4M --verify=crc32c --do_verify=1 >/dev/null
	local rc=$?
	rmmod null_blk || rc=1
	return $rc
}
ktap_check "null_blk memory-backed load, verify, unload" t_null_blk

t_rnull() {
	modprobe rnull_mod || return 1
	[ -b /dev/rnullb0 ] || { echo "/dev/rnullb0 missing"; rmmod rnull_mod; return 1; }
	$FIO --name=rnull --filename=/dev/rnullb0 --rw=randrw --bs=4k \
		--iodepth=32 --size=8M >/dev/null
	local rc=$?
	rmmod rnull_mod || rc=1
	return $rc
}
ktap_check "rnull (Rust) load, I/O, unload" t_rnull

t_dm_thin() {
	local sectors=$(( $(bdev_bytes "$PVDISK_DISK2") / 512 ))
	modprobe dm_thin_pool || return 1
	# Metadata: the first 64 MiB of disk 2, data: the rest.
	dd if=/dev/zero of="$PVDISK_DISK2" bs=1M count=1 2>/dev/null
	dmsetup create envmeta --table "0 131072 linear $PVDISK_DISK2 0" &&
	dmsetup create envdata --table "0 $((sectors - 131072)) linear $PVDISK_DISK2 131072" &&
	dmsetup mknodes &&
	dmsetup create envpool --table \
		"0 $((sectors - 131072)) thin-pool /dev/mapper/envmeta /dev/mapper/envdata 128 0" &&
	dmsetup mknodes &&
	dmsetup message envpool 0 "create_thin 0" &&
	dmsetup create envthin --table "0 $((sectors - 131072)) thin /dev/mapper/envpool 0" &&
	dmsetup mknodes &&
	$FIO --name=thin --filename=/dev/mapper/envthin --rw=randwrite --bs=64k \
		--iodepth=8 --size=8M --verify=crc32c --do_verify=1 >/dev/null
	local rc=$?
	dmsetup remove envthin
	dmsetup remove envpool
	if [ $rc = 0 ]; then
		thin_check /dev/mapper/envmeta || rc=1
	fi
	dmsetup remove envdata
	dmsetup remove envmeta
	dmsetup mknodes
	return $rc
}
ktap_check "dm-thin pool and thin volume, verify" t_dm_thin

ktap_finished
