#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The pvdisk tool on a real block device in the guest (the host's cargo
# tests use regular files): format, create, snapshot, clone, import,
# export, check, gc on /dev/vdc; an exclusive holder makes it refuse.
. "$(dirname "$0")/ktap"

command -v pvdisk >/dev/null 2>&1 || ktap_skip_all "pvdisk tool not built"
ktap_header
S=$PVDISK_DISK2
trap 'dmsetup remove_all >/dev/null 2>&1' EXIT

ktap_check "format $S --extent-size 16M" pvdisk format "$S" --extent-size 16M --force
ktap_check "info" pvdisk info "$S"
ktap_check "create golden --size 64M" pvdisk create "$S" golden --size 64M

t_import_export() {
	rm -f /tmp/img.out /tmp/vm1.out
	dd if=/dev/urandom of=/tmp/img bs=1M count=8 iflag=fullblock 2>/dev/null &&
	dd if=/dev/zero of=/tmp/img bs=1M seek=8 count=56 2>/dev/null &&
	pvdisk import "$S" golden /tmp/img &&
	pvdisk export "$S" golden /tmp/img.out &&
	cmp /tmp/img /tmp/img.out
}
ktap_check "import 64 MiB image, export, identical" t_import_export

t_clone() {
	pvdisk snapshot "$S" golden --label base &&
	pvdisk create "$S" vm1 --from base &&
	pvdisk export "$S" vm1 /tmp/vm1.out &&
	cmp /tmp/img /tmp/vm1.out &&
	pvdisk tree "$S" && pvdisk list "$S"
}
ktap_check "snapshot, clone, the clone reads as its parent" t_clone

t_check() {
	pvdisk check "$S"
}
ktap_check "check: clean" t_check

t_gc() {
	pvdisk delete "$S" vm1 && pvdisk gc "$S" && pvdisk check "$S"
}
ktap_check "delete, gc, check" t_gc

t_self_export() {
	if pvdisk export "$S" golden "$S" 2>/tmp/tool.err; then
		echo "export onto its own store succeeded"
		return 1
	fi
	cat /tmp/tool.err
	grep -q "is the store itself" /tmp/tool.err && pvdisk check "$S"
}
ktap_check "export refuses to write onto its own store" t_self_export

t_busy() {
	local sectors=$(( $(bdev_bytes "$S") / 512 )) rc=0
	dmsetup create toolhold --table "0 $sectors linear $S 0" || return 1
	if pvdisk create "$S" other --size 16M 2>/tmp/tool.err; then
		echo "create succeeded on a device held by device-mapper"
		rc=1
	else
		cat /tmp/tool.err
	fi
	dmsetup remove toolhold
	return $rc
}
ktap_check "refuses a store another user holds exclusively" t_busy

t_usage() {
	pvdisk frobnicate "$S" 2>/dev/null
	expect_eq "exit status of bad usage" $? 2
}
ktap_check "bad usage exits 2" t_usage

ktap_finished
