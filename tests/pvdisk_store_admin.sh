#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Store disks and what an administrator can get wrong, as
# Documentation/admin-guide.rst lists it: cache_mb, read_offload and vdi
# values, a missing VDI or snapshot, a VDI powered twice, a device that is
# no store, a damaged superblock, unknown incompatible and
# read-only-compatible features, a device shorter than its store,
# attributes changed while powered, a store in use claimed again; each
# gets its errno and leaves the store's metadata as it was. Then a full
# store (ENOSPC) and 20 rounds of load, power on, I/O, power off, unload.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
ktap_header
trap 'pvdisk_cleanup; dmsetup remove_all >/dev/null 2>&1' EXIT

S=$PVDISK_DISK		# the store
S2=$PVDISK_DISK2	# a second store, damaged on purpose
RAW=/dev/vda		# no store at all

t_setup() {
	local d
	pvdisk_load || return 1
	pvdisk format "$S" --extent-size 4M --force &&
	pvdisk create "$S" v1 --size 64M &&
	pvdisk create "$S" v2 --size 64M &&
	pvdisk create "$S" v3 --size 48M || return 1
	# some data, so that check walks a tree
	d=$(store_new w v1) || return 1
	dd if=/dev/urandom of="$d" bs=1M count=8 seek=3 oflag=direct iflag=fullblock 2>/dev/null &&
	power w 0 && rmdir "$PVDISK_CFS/w" && pvdisk list "$S"
}
step "format $S (4M extents), VDIs v1 v2 (64M) v3 (48M), 8 MiB written to v1" t_setup

# ---- bad input -------------------------------------------------------------

B=$PVDISK_CFS/bad
mkdir "$B" 2>/dev/null

# off_unchanged: the bad disk is off and made no device
off_unchanged() {
	expect_eq power "$(cat "$B/power")" 0 &&
	expect_eq name "$(cat "$B/name")" "" &&
	expect_eq size "$(cat "$B/size")" 0 &&
	expect_eq "pvdisk devices" "$(pvdisk_devs)" ""
}

t_cache_mb() {
	local v
	for v in abc 0 4097 -1 "" 1.5 " " 99999999999999999999; do
		expect_write_err EINVAL "$v" "$B/cache_mb" || return 1
		expect_eq "cache_mb after '$v'" "$(cat "$B/cache_mb")" 64 || return 1
	done
	for v in 1 4096 64; do
		expect_write_ok $v "$B/cache_mb" || return 1
		expect_eq cache_mb "$(cat "$B/cache_mb")" $v || return 1
	done
}
step "cache_mb: garbage, 0, 4097 -> EINVAL; 1, 4096, 64 accepted" t_cache_mb

t_read_offload() {
	local v def
	def=$(cat "$B/read_offload")
	expect_eq "read_offload default" "$def" 0 || return 1
	for v in abc 4097 -1 "" 1.5 " " 99999999999999999999; do
		expect_write_err EINVAL "$v" "$B/read_offload" || return 1
		expect_eq "read_offload after '$v'" "$(cat "$B/read_offload")" "$def" || return 1
	done
	for v in 0 4096 1 "$def"; do
		expect_write_ok "$v" "$B/read_offload" || return 1
		expect_eq read_offload "$(cat "$B/read_offload")" "$v" || return 1
	done
}
step "read_offload: garbage, 4097, -1 -> EINVAL; 0, 4096, 1 accepted" t_read_offload

mark_store /tmp/fp.all nosum

t_noent() {
	mark_store
	expect_write_ok "$S" "$B/backing" && expect_write_ok nosuch "$B/vdi" &&
	expect_write_err ENOENT 1 "$B/power" && off_unchanged &&
	expect_write_ok v1@7 "$B/vdi" &&
	expect_write_err ENOENT 1 "$B/power" && off_unchanged &&
	expect_write_ok v1@x "$B/vdi" &&
	expect_write_err EINVAL 1 "$B/power" && off_unchanged &&
	expect_write_ok v1@0 "$B/vdi" &&
	expect_write_err EINVAL 1 "$B/power" && off_unchanged && same_store
}
step "power on a missing VDI or VDI@N -> ENOENT, VDI@x or @0 -> EINVAL, store unchanged" t_noent

t_vdi_attr() {
	local long v
	long=$(printf '%097d' 0 | tr 0 v)
	expect_write_ok v1 "$B/vdi" || return 1
	for v in "$long" "v 1" "$(printf 'v\t1')"; do
		expect_write_err EINVAL "$v" "$B/vdi" || return 1
		expect_eq "vdi after '$v'" "$(cat "$B/vdi")" v1 || return 1
	done
	expect_write_ok "$(printf '%096d' 0 | tr 0 v)" "$B/vdi" &&
	expect_write_ok "" "$B/vdi" && expect_eq "vdi emptied" "$(cat "$B/vdi")" ""
}
step "vdi: 97 bytes, a space, a tab -> EINVAL; 96 bytes and empty accepted" t_vdi_attr

t_twice() {
	local a rc=0
	a=$(store_new t1 v1) || return 1
	mark_store
	expect_write_ok v1 "$B/vdi" && expect_write_err EBUSY 1 "$B/power" || rc=1
	expect_eq power "$(cat "$B/power")" 0 && expect_eq name "$(cat "$B/name")" "" || rc=1
	same_store || rc=1
	# the first one still works
	dd if="$a" of=/dev/null bs=64k count=16 iflag=direct 2>/dev/null || rc=1
	power t1 0 && rmdir "$PVDISK_CFS/t1" || rc=1
	return $rc
}
step "the same VDI powered in a second directory -> EBUSY" t_twice

# still_off: the bad disk is off, with t2 (pvdisk0) the only disk
still_off() {
	expect_eq power "$(cat "$B/power")" 0 && expect_eq name "$(cat "$B/name")" "" &&
	expect_eq "pvdisk devices" "$(pvdisk_devs)" "pvdisk0 "
}

# A store is found by its backing path: another path to the same device is
# another store, which cannot claim the device; nor can a pass-through.
t_other_path() {
	local rc=0
	store_new t2 v2 >/dev/null || return 1
	mark_store
	ln -sf "$S" /tmp/store-link
	expect_write_ok /tmp/store-link "$B/backing" && expect_write_ok v1 "$B/vdi" &&
	expect_write_err EBUSY 1 "$B/power" && still_off || rc=1
	expect_write_ok "$S" "$B/backing" && expect_write_ok "" "$B/vdi" &&
	expect_write_err EBUSY 1 "$B/power" && still_off || rc=1
	same_store || rc=1
	power t2 0 && rmdir "$PVDISK_CFS/t2" || rc=1
	rm -f /tmp/store-link
	return $rc
}
step "a store in use, by a second path or as a pass-through -> EBUSY" t_other_path

t_busy_attrs() {
	local rc=0
	expect_write_ok v2 "$B/vdi" && power bad 1 || return 1
	mark_store
	expect_write_err EBUSY v3 "$B/vdi" || rc=1
	expect_write_err EBUSY "$S2" "$B/backing" || rc=1
	expect_write_err EBUSY 8 "$B/cache_mb" || rc=1
	expect_eq vdi "$(cat "$B/vdi")" v2 && expect_eq backing "$(cat "$B/backing")" "$S" &&
	expect_eq cache_mb "$(cat "$B/cache_mb")" 64 &&
	expect_eq size "$(cat "$B/size")" 67108864 || rc=1
	same_store || rc=1
	power bad 0 || rc=1
	return $rc
}
step "vdi, backing, cache_mb changed while powered -> EBUSY, unchanged" t_busy_attrs

t_not_store() {
	dd if=/dev/zero of="$RAW" bs=1M count=8 oflag=direct 2>/dev/null &&
	expect_write_ok "$RAW" "$B/backing" && expect_write_ok v1 "$B/vdi" &&
	expect_write_err EINVAL 1 "$B/power" && off_unchanged
}
step "power on over a device that is no store -> EINVAL" t_not_store

# A second store to damage: bad superblock checksum, unknown feature.
t_bad_sb() {
	local rc=0 v
	pvdisk format "$S2" --extent-size 4M --force && pvdisk create "$S2" w --size 16M || return 1
	expect_write_ok "$S2" "$B/backing" && expect_write_ok w "$B/vdi" || return 1
	# byte 200 of the superblock is reserved: only the checksum catches it
	"$M" superblock "$S2" --flip-byte 200 || return 1
	expect_write_err EUCLEAN 1 "$B/power" && off_unchanged || rc=1
	"$M" superblock "$S2" --flip-byte 200 || return 1
	"$M" superblock "$S2" --set-incompat 0x8000 || return 1
	expect_write_err EOPNOTSUPP 1 "$B/power" && off_unchanged || rc=1
	"$M" superblock "$S2" --set-incompat 0 || return 1
	pvdisk check "$S2" >/dev/null || rc=1
	power bad 1 && expect_eq size "$(cat "$B/size")" 16777216 &&
	expect_eq "read-only" "$(blockdev --getro "$(dev bad)")" 0 && power bad 0 || rc=1
	return $rc
}
step "damaged superblock -> EUCLEAN, unknown incompat feature -> EOPNOTSUPP" t_bad_sb

# unwritten COPY WHAT: the first 16 MiB of S2 are still as in COPY, else
# say which blocks WHAT wrote
unwritten() {
	dd if="$S2" of=/tmp/ro.1 bs=4M count=4 iflag=direct 2>/dev/null
	cmp -s "$1" /tmp/ro.1 && return 0
	echo "$2 wrote to the store, blocks:" $(cmp -l "$1" /tmp/ro.1 |
		awk '{ print int(($1 - 1) / 4096) }' | uniq | head -n 20)
	cp /tmp/ro.1 "$1"
	return 1
}

# An unknown read-only-compatible feature: a VDI is refused (EROFS), a
# snapshot comes up read-only, and nothing is written to the store.
t_ro_compat() {
	local rc=0 d
	pvdisk snapshot "$S2" w --label ws || return 1
	"$M" superblock "$S2" --set-ro-compat 0x8000 || return 1
	dd if="$S2" of=/tmp/ro.0 bs=4M count=4 iflag=direct 2>/dev/null
	expect_write_err EROFS 1 "$B/power" && off_unchanged || rc=1
	unwritten /tmp/ro.0 "the refused power-on of VDI w" || rc=1
	expect_write_ok ws "$B/vdi" && power bad 1 || return 1
	d=$(dev bad)
	expect_eq "read-only" "$(blockdev --getro "$d")" 1 || rc=1
	dd if="$d" of=/dev/null bs=64k count=4 iflag=direct 2>/dev/null || rc=1
	if dd if=/dev/zero of="$d" bs=4k count=1 oflag=direct 2>/dev/null; then
		echo "a write succeeded"
		rc=1
	fi
	power bad 0 || rc=1
	unwritten /tmp/ro.0 "snapshot ws powered on and off" || rc=1
	"$M" superblock "$S2" --set-ro-compat 0 || return 1
	rm -f /tmp/ro.0 /tmp/ro.1
	return $rc
}
step "unknown ro_compat feature: VDI -> EROFS, snapshot read-only, store not written" t_ro_compat

# The store's device shorter than the store (a linear map of half of it).
t_short() {
	local rc=0
	dmsetup create pvshort --table "0 $(( $(bdev_bytes "$S2") / 1024 )) linear $S2 0" &&
	dmsetup mknodes || return 1
	expect_write_ok /dev/mapper/pvshort "$B/backing" || rc=1
	expect_write_err EINVAL 1 "$B/power" && off_unchanged || rc=1
	expect_write_ok "$S2" "$B/backing" || rc=1
	dmsetup remove pvshort || rc=1
	return $rc
}
step "a device shorter than its store -> EINVAL" t_short

step "after the bad input: $S as before it (but for VDI generations), check clean" \
	same_store /tmp/fp.all nosum
rmdir "$B" 2>/dev/null

# ---- a full store ----------------------------------------------------------

# A 64 MiB store with a VDI of twice its size: writing it all must fail
# cleanly (ENOSPC or EIO), keep what was written and leave a store that
# checks clean.
t_full() {
	local d rc=0 err st=/dev/mapper/pvsmall
	dmsetup create pvsmall --table "0 131072 linear $RAW 0" && dmsetup mknodes || return 1
	pvdisk format $st --extent-size 4M --force && pvdisk create $st big --size 128M || return 1
	d=$(store_new full big $st) || return 1
	tr '\000' '\125' </dev/zero |
		dd of="$d" bs=1M count=128 oflag=direct iflag=fullblock 2>/tmp/full.err &&
		{ echo "128 MiB written to a 64 MiB store"; rc=1; }
	cat /tmp/full.err
	err=$(errno_of "$(cat /tmp/full.err)")
	expect_eq "errno of the failed write" "$err" ENOSPC || rc=1
	# what was written before is there
	tr '\000' '\125' </dev/zero | dd of=/tmp/full.pat bs=1M count=16 iflag=fullblock 2>/dev/null
	dd if="$d" of=/tmp/full.back bs=1M count=16 iflag=direct 2>/dev/null &&
	cmp /tmp/full.pat /tmp/full.back || rc=1
	# writes in place and discards of private blocks go on working
	dd if=/dev/urandom of=/tmp/full.pat bs=1M count=4 iflag=fullblock 2>/dev/null
	dd if=/tmp/full.pat of="$d" bs=1M seek=4 oflag=direct 2>/dev/null &&
	dd if="$d" of=/tmp/full.back bs=1M skip=4 count=4 iflag=direct 2>/dev/null &&
	cmp /tmp/full.pat /tmp/full.back || { echo "rewrite in place on a full store"; rc=1; }
	blkdiscard -o 0 -l 4194304 "$d" || { echo "discard on a full store"; rc=1; }
	cat "$PVDISK_CFS/full/stats"
	power full 0 && rmdir "$PVDISK_CFS/full" || rc=1
	check_clean $st || rc=1
	dmsetup remove pvsmall || rc=1
	rm -f /tmp/full.pat /tmp/full.back
	return $rc
}
step "a full store: ENOSPC, earlier data intact, rewrites and discards work, check clean" t_full

# ---- load and unload -------------------------------------------------------

t_reload() {
	local i=0 d
	dd if=/dev/urandom of=/tmp/reload.pat bs=64k count=4 iflag=fullblock 2>/dev/null
	pvdisk_cleanup
	while [ $i -lt 20 ]; do
		pvdisk_load || { echo "round $i: load failed"; return 1; }
		d=$(store_new r v3) || { echo "round $i: power on failed"; return 1; }
		dd if=/tmp/reload.pat of="$d" bs=64k seek=$((i * 4)) oflag=direct 2>/dev/null &&
		dd if="$d" of=/tmp/reload.back bs=64k skip=$((i * 4)) count=4 iflag=direct 2>/dev/null &&
		cmp /tmp/reload.pat /tmp/reload.back || { echo "round $i: data"; return 1; }
		power r 0 && rmdir "$PVDISK_CFS/r" && rmmod pvdisk || { echo "round $i: teardown"; return 1; }
		i=$((i + 1))
	done
	# every round's data, after the last unload, through the tool
	rm -f /tmp/v3.img
	pvdisk export "$S" v3 /tmp/v3.img || return 1
	i=0
	while [ $i -lt 20 ]; do
		dd if=/tmp/v3.img of=/tmp/reload.back bs=64k skip=$((i * 4)) count=4 2>/dev/null &&
		cmp /tmp/reload.pat /tmp/reload.back || { echo "round $i: data lost"; return 1; }
		i=$((i + 1))
	done
	rm -f /tmp/v3.img /tmp/reload.back
	check_clean "$S"
}
step "20 x (load, power on a VDI, 256 KiB I/O, power off, unload), data kept" t_reload

ktap_finished
