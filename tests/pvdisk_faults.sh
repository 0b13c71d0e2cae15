#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Faults under a store (Documentation/testing.rst, "Faults under the
# store"): windows of write errors and of dropped writes from dm-flakey,
# and a flipped byte in each kind of metadata block, before power-on and
# under a powered disk. Each case asserts its errno and kernel log line
# and that nothing else changed: the other VDI reads its own data, the
# data flushed before the fault is there, pvdisk check says what it must.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
command -v dmsetup >/dev/null || ktap_skip_all "dmsetup missing"
modprobe dm-flakey 2>/dev/null
dmsetup targets 2>/dev/null | grep -q '^flakey' || ktap_skip_all "dm-flakey missing"
ktap_header
trap 'pvdisk_cleanup; dmsetup remove_all >/dev/null 2>&1' EXIT

DISK=$PVDISK_DISK
NAME=pvdisk-fault
S=/dev/mapper/$NAME	# the store: a device-mapper device over DISK
EXT=1024		# blocks per extent (4 MiB)
EXTENTS=32		# a 128 MiB store
EXT_SECTORS=$((EXT * 8))
T=/tmp/faults
IOC=$(dirname "$0")/pvdisk_ioctl
mkdir -p $T

# ---- helpers ----------------------------------------------------------------

# table FEATURE [EXTENT...|all]: the store's table, linear but for flakey
# segments (always down: up 0 s, down 3600 s) with FEATURE over the extents
# given; "table linear" has none
table() {
	local f=$1 e=0 s
	shift
	while [ $e -lt $EXTENTS ]; do
		s=$((e * EXT_SECTORS))
		case " $* " in
		*" $e "* | *" all "*)
			echo "$s $EXT_SECTORS flakey $DISK $s 0 3600 1 $f" ;;
		*) echo "$s $EXT_SECTORS linear $DISK $s" ;;
		esac
		e=$((e + 1))
	done
}

# fault FEATURE [EXTENT...|all]: switch the table under the powered store
fault() {
	table "$@" >$T/table &&
	dmsetup suspend $NAME && dmsetup load $NAME $T/table && dmsetup resume $NAME
}

# put DEV FILE BLOCK: write FILE at 4 KiB block BLOCK, O_DIRECT
put() {
	dd if="$2" of="$1" bs=4k seek="$3" oflag=direct conv=notrunc 2>/dev/null ||
		{ echo "writing $2 to $1 at block $3 failed"; return 1; }
}

# holds DEV FILE BLOCK: DEV reads FILE at BLOCK
holds() {
	local n=$(($(stat -c %s "$2") / 4096))
	dd if="$1" bs=4k skip="$3" count=$n iflag=direct 2>/dev/null | cmp -s - "$2" && return 0
	echo "$1 at block $3 does not read $(basename "$2")"
	return 1
}

# blockwise DEV FILE BLOCK: each 4 KiB block of FILE's range at BLOCK of
# DEV holds FILE's block or zeros (an unflushed write may have reached
# the disk in part: whole or absent for each block)
blockwise() {
	local n=$(($(stat -c %s "$2") / 4096)) i=0 got
	while [ $i -lt $n ]; do
		got=$(dd if="$1" bs=4k skip=$(($3 + i)) count=1 iflag=direct 2>/dev/null | md5sum)
		[ "$got" = "$(dd if="$2" bs=4k skip=$i count=1 2>/dev/null | md5sum)" ] ||
			[ "$got" = "$(dd if=/dev/zero bs=4k count=1 2>/dev/null | md5sum)" ] ||
			{ echo "$1 block $(($3 + i)) is neither $(basename "$2")'s nor zeros"; return 1; }
		i=$((i + 1))
	done
}

# flush DEV: fsync the device (REQ_PREFLUSH to the disk)
flush() {
	local out
	out=$(dd if=/dev/null of="$1" conv=notrunc,fsync 2>&1) && return 0
	echo "$out"
	return 1
}

# eio_read DEV BLOCK: a 4 KiB read at BLOCK fails with EIO
eio_read() {
	local out
	out=$(dd if="$1" of=/dev/null bs=4k skip="$2" count=1 iflag=direct 2>&1) &&
		{ echo "read of $1 at block $2 succeeded, expected EIO"; return 1; }
	case "$out" in *"$(errno_text EIO)"*) return 0 ;; esac
	echo "read of $1 at block $2: $out, expected EIO"
	return 1
}

# eio_write DEV BLOCK: a 4 KiB write at BLOCK fails with EIO
eio_write() {
	local out
	out=$(dd if=$T/pE of="$1" bs=4k seek="$2" count=1 oflag=direct conv=notrunc 2>&1) &&
		{ echo "write to $1 at block $2 succeeded, expected EIO"; return 1; }
	case "$out" in *"$(errno_text EIO)"*) return 0 ;; esac
	echo "write to $1 at block $2: $out, expected EIO"
	return 1
}

# logged TEXT: the kernel log since the step began has a line with TEXT
logged() {
	dmesg | tail -n +$((KLOG_LINES + 1)) | grep -q -- "$1" && return 0
	echo "no kernel log line with '$1'"
	return 1
}

# checked: pvdisk check finds no corruption (leaks allowed)
checked() {
	timeout 60 pvdisk check "$S" >$T/check.out 2>&1 && return 0
	cat $T/check.out
	return 1
}

# ptr BLOCK OFF: the block number in the pointer at byte OFF of BLOCK
# (bit 63, the read-only bit, left out), read from the store's device
ptr() {
	local lo hi
	dd if="$S" of=$T/ptr bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null || return 1
	lo=$(od -An -tu4 -j "$2" -N 4 $T/ptr | tr -d ' ')
	hi=$(od -An -tu4 -j $(($2 + 4)) -N 4 $T/ptr | tr -d ' ')
	echo $(((hi & 0x7fffffff) * 4294967296 + lo))
}

# flip BLOCK: flip byte 2000 of BLOCK (xor 0xff) on the device, O_DIRECT,
# beside whatever has it open; the block as it was goes to $T/orig.BLOCK
flip() {
	local b
	dd if="$DISK" of=$T/orig.$1 bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null &&
	cp $T/orig.$1 $T/blk &&
	b=$(od -An -tu1 -j 2000 -N 1 $T/blk | tr -d ' ') &&
	printf "\\$(printf %o $((b ^ 255)))" | dd of=$T/blk bs=1 seek=2000 conv=notrunc 2>/dev/null &&
	dd if=$T/blk of="$DISK" bs=4096 seek="$1" count=1 oflag=direct conv=notrunc 2>/dev/null
}

# unflip BLOCK: put BLOCK back as it was before flip
unflip() {
	dd if=$T/orig.$1 of="$DISK" bs=4096 seek="$1" count=1 oflag=direct conv=notrunc 2>/dev/null
}

# on DIR VDI: power VDI on in DIR (made if missing); prints the device
on() {
	[ -d "$PVDISK_CFS/$1" ] || mkdir "$PVDISK_CFS/$1" || return 1
	expect_write_ok "$S" "$PVDISK_CFS/$1/backing" >&2 &&
	expect_write_ok "$2" "$PVDISK_CFS/$1/vdi" >&2 &&
	expect_write_ok 1 "$PVDISK_CFS/$1/power" >&2 || return 1
	dev "$1"
}

# refused DIR VDI ERRNO: power-on of VDI fails with ERRNO, leaves no disk
refused() {
	[ -d "$PVDISK_CFS/$1" ] || mkdir "$PVDISK_CFS/$1" || return 1
	expect_write_ok "$S" "$PVDISK_CFS/$1/backing" &&
	expect_write_ok "$2" "$PVDISK_CFS/$1/vdi" &&
	expect_write_err "$3" 1 "$PVDISK_CFS/$1/power" &&
	expect_eq "$1: name" "$(cat "$PVDISK_CFS/$1/name")" ""
}

# off DIR...: power off
off() {
	local d
	for d in "$@"; do power "$d" 0 || return 1; done
}

# extents KIND: the extents of KIND (2 metadata, 3 data) in the catalogue
extents() {
	local e=1
	dd if="$S" of=$T/cat bs=4096 skip=1 count=1 iflag=direct 2>/dev/null || return 1
	while [ $e -lt $EXTENTS ]; do
		[ "$(od -An -tu2 -j $((16 + 16 * e)) -N 2 $T/cat | tr -d ' ')" = "$1" ] &&
			printf '%s ' $e
		e=$((e + 1))
	done
}

for p in pA pB pC pD pE pF; do
	head -c 262144 /dev/urandom >$T/$p	# 64 blocks each
done
head -c 262144 /dev/zero >$T/zero

# ---- item 4: dm-flakey under the store --------------------------------------

t_setup() {
	pvdisk_load || return 1
	dd if=/dev/zero of="$DISK" bs=1M count=128 oflag=direct 2>/dev/null &&
	table linear >$T/table && dmsetup create $NAME $T/table && dmsetup mknodes &&
	[ -b "$S" ] || return 1
	pvdisk format "$S" --extent-size 4M --force >/dev/null &&
	pvdisk create "$S" v1 --size 64M >/dev/null &&
	pvdisk create "$S" v2 --size 16M >/dev/null || return 1
	on a v1 >/dev/null && on b v2 >/dev/null || return 1
	put "$(dev a)" $T/pA 0 && put "$(dev b)" $T/pD 0 && flush "$(dev a)" && flush "$(dev b)" || return 1
	echo "metadata extents: $(extents 2); data extents: $(extents 3)"
	[ -n "$(extents 2)" ] && [ -n "$(extents 3)" ]
}
step "setup: a store on device-mapper over $DISK, v1 and v2 written and flushed" t_setup
META=$(extents 2)

# Write errors under an online snapshot: the snapshot's commit fails
# (its new root and log head cannot be written), so the disk stops
# taking writes; nothing of the snapshot reaches the disk.
t_error_writes() {
	local rc=0
	put "$(dev a)" $T/pB 64 || rc=1	# acknowledged, maybe not committed
	fault error_writes all || return 1
	pvdisk snapshot "$(dev a)" --label e1 >/dev/null 2>&1 && { echo "snapshot succeeded"; rc=1; }
	flush "$(dev a)" >/dev/null && { echo "fsync of v1 succeeded during the fault"; rc=1; }
	logged "v1: commit failed (EIO): the disk accepts no more writes" || rc=1
	eio_write "$(dev a)" 0 || rc=1
	holds "$(dev a)" $T/pA 0 && holds "$(dev b)" $T/pD 0 || rc=1
	fault linear || return 1
	eio_write "$(dev a)" 0 || rc=1	# still broken once the fault cleared
	flush "$(dev a)" >/dev/null && { echo "fsync of v1 succeeded after the fault"; rc=1; }
	holds "$(dev a)" $T/pA 0 || rc=1
	put "$(dev b)" $T/pE 64 && flush "$(dev b)" && holds "$(dev b)" $T/pE 64 || rc=1	# v2 never failed a commit
	off a b && checked || rc=1
	expect_eq "v1's snapshots" "$(pvdisk snaps "$S" v1 | grep -c e1)" 0 || rc=1
	on a v1 >/dev/null && on b v2 >/dev/null || return 1
	holds "$(dev a)" $T/pA 0 || rc=1
	blockwise "$(dev a)" $T/pB 64 || rc=1	# each block whole or not at all
	holds "$(dev b)" $T/pD 0 && holds "$(dev b)" $T/pE 64 || rc=1
	put "$(dev a)" $T/pB 64 && flush "$(dev a)" && holds "$(dev a)" $T/pB 64 || rc=1
	return $rc
}
step "error_writes at an online snapshot: snapshot and fsync EIO, v1 refuses writes (also after the fault), reads work, v2 works; after a power cycle check clean, no snapshot, flushed data there" t_error_writes

# Write errors everywhere, flushes too: an idle disk's flush fails without
# breaking it (nothing to commit), a write fails, the disk works after.
t_error_all() {
	local rc=0
	fault error_writes all || return 1
	flush "$(dev b)" >/dev/null && { echo "fsync of v2 succeeded during the fault"; rc=1; }
	eio_write "$(dev b)" 0 || rc=1
	holds "$(dev b)" $T/pD 0 && holds "$(dev a)" $T/pB 64 || rc=1
	fault linear || return 1
	put "$(dev b)" $T/pF 128 && flush "$(dev b)" && holds "$(dev b)" $T/pF 128 || rc=1
	return $rc
}
step "error_writes on the whole device: an idle disk's fsync and a write fail with EIO; it works again after" t_error_all

# A device that holds bios (suspended without flushing: new bios wait,
# none fails) under an fsync: the fsync returns only once the write of
# the commit that covers it completed (a first write leaves a leaf to
# commit; its commit is one bio, whose completion ends the flush).
t_fsync_held() {
	local rc=0 pid c0 c1
	c0=$(stat_of b one_bio_commits)
	put "$(dev b)" $T/pA 192 || return 1
	dmsetup suspend --noflush $NAME || return 1
	flush "$(dev b)" >$T/flush.out 2>&1 &
	pid=$!
	sleep 2
	kill -0 $pid 2>/dev/null ||
		{ echo "fsync returned while its commit was held: $(cat $T/flush.out)"; rc=1; }
	dmsetup resume $NAME || return 1
	wait $pid || { echo "fsync failed after the resume: $(cat $T/flush.out)"; rc=1; }
	c1=$(stat_of b one_bio_commits)
	[ "$c1" -gt "$c0" ] || { echo "one_bio_commits $c0 -> $c1: no one-bio commit"; rc=1; }
	holds "$(dev b)" $T/pA 192 || rc=1
	return $rc
}
step "fsync under a device that holds bios: it returns only after the resume, once its one-bio commit completed; the data is there" t_fsync_held

# Dropped writes: the device says OK. Nothing can notice; the store stays
# consistent, and the lost writes read as the VDI's older data or zeros.
t_drop_writes() {
	local rc=0
	fault drop_writes all || return 1
	put "$(dev a)" $T/pC 0 && put "$(dev a)" $T/pC 1200 && flush "$(dev a)" || rc=1	# "succeed"
	fault linear || return 1
	off a b && checked || rc=1
	on a v1 >/dev/null && on b v2 >/dev/null || return 1
	holds "$(dev a)" $T/pA 0 || rc=1	# the in-place overwrite was lost: older data
	holds "$(dev a)" $T/zero 1200 || rc=1	# the first write was lost: zeros
	holds "$(dev a)" $T/pB 64 && holds "$(dev b)" $T/pD 0 && holds "$(dev b)" $T/pF 128 || rc=1
	return $rc
}
step "drop_writes: writes and fsync succeed, after a power cycle check clean, the lost writes read as v1's older data or zeros, v2 untouched" t_drop_writes

# Dropped metadata writes under an online snapshot: the record (system
# extent) names a new root and log head that never reached the disk. The
# checksums catch it: EIO on v1, never a wrong mapping.
t_drop_snapshot() {
	local rc=0 root log
	fault drop_writes $META || return 1
	pvdisk snapshot "$(dev a)" --label s1 >/dev/null || rc=1
	fault linear || return 1
	off a b || return 1
	root=$(ptr 2 40) && log=$(ptr 2 48) || return 1
	echo "v1's record: root $root, log $log (never written)"
	pvdisk check "$S" >$T/check.out 2>&1 && { echo "check passed"; rc=1; }
	grep -q "block $root:" $T/check.out && grep -q "block $log:" $T/check.out ||
		{ cat $T/check.out; rc=1; }
	klog_mark
	on a v1 >/dev/null && on b v2 >/dev/null || return 1
	eio_read "$(dev a)" 0 && eio_read "$(dev a)" 600 || rc=1
	logged "corrupt metadata: block $root: bad magic" || rc=1
	holds "$(dev b)" $T/pD 0 && holds "$(dev b)" $T/pF 128 || rc=1
	refused s v1@1 EIO && logged "corrupt metadata: block $log: bad magic" || rc=1
	off a b
	return $rc
}
step "drop_writes on metadata extents at an online snapshot: check reports the unwritten root and log, v1 reads EIO naming the root, v1@1 refused (EIO), v2 untouched" t_drop_snapshot

# ---- item 5: a flipped byte in each kind of metadata block ------------------

t_setup2() {
	off a b 2>/dev/null
	pvdisk format "$S" --extent-size 4M --force >/dev/null &&
	pvdisk create "$S" v1 --size 2G >/dev/null &&
	pvdisk create "$S" v2 --size 16M >/dev/null || return 1
	on a v1 >/dev/null && on b v2 >/dev/null || return 1
	# leaf 0 and leaf 2 under interior 0; interior 1 (from 1016 MiB on)
	put "$(dev a)" $T/pA 0 && put "$(dev a)" $T/pB 1024 && put "$(dev a)" $T/pC 281600 &&
	put "$(dev b)" $T/pD 0 && off a b || return 1
	pvdisk snapshot "$S" v1 --label s1 >/dev/null && checked || return 1
	find_blocks || return 1
	echo "v1: record $REC1, root $ROOT (height 3), interior $INT0 $INT1, leaves $LEAF0 $LEAF2,"
	echo "    log $LOG (s1's root $SROOT), bitmap of the metadata extent $BITMAP; v2: record $REC2"
	[ "$(dd if="$S" bs=1 skip=$((REC1 * 4096 + 128)) count=2 2>/dev/null)" = v1 ] &&
	[ "$INT0" -gt 0 ] && [ "$INT1" -gt 0 ] && [ "$LEAF0" -gt 0 ] && [ "$LEAF2" -gt 0 ]
}
# find_blocks: the metadata blocks of v1 and v2, as the records and nodes
# on the device link them (Documentation/format.rst)
find_blocks() {
	REC1=2
	REC2=3
	ROOT=$(ptr $REC1 40) && LOG=$(ptr $REC1 48) && SROOT=$(ptr "$LOG" 48) &&
	INT0=$(ptr "$ROOT" 16) && INT1=$(ptr "$ROOT" 24) &&
	LEAF0=$(ptr "$INT0" 16) && LEAF2=$(ptr "$INT0" 32) || return 1
	BITMAP=$((ROOT / EXT * EXT))
}
step "setup: v1 (2 GiB, height 3) written in 3 leaves under 2 interior nodes, snapshot s1; v2" t_setup2
find_blocks

# others_fine: v2 and the snapshot read their own data (both powered here)
others_fine() {
	local d
	on b v2 >/dev/null && holds "$(dev b)" $T/pD 0 && off b || return 1
	[ -n "$1" ] && return 0
	d=$(on s s1) && holds "$d" $T/pA 0 && holds "$d" $T/pC 281600 && off s
}

# The catalogue is read when the store opens: no disk of it attaches.
t_cat() {
	local rc=0
	flip 1 || return 1
	refused b v2 EIO && logged "corrupt metadata: block 1: bad checksum" || rc=1
	unflip 1 && others_fine || rc=1
	return $rc
}
step "catalogue, offline: power-on of any VDI -> EIO, 'block 1: bad checksum'" t_cat

t_record() {
	local rc=0
	flip $REC1 || return 1
	refused a v1 EIO && logged "corrupt metadata: block $REC1: bad checksum" || rc=1
	others_fine nosnap || rc=1	# another VDI of the store attaches
	unflip $REC1
	return $rc
}
step "VDI record, offline: power-on of v1 -> EIO naming the record; v2 attaches" t_record

t_log() {
	local rc=0
	flip "$LOG" || return 1
	refused s s1 EIO && logged "corrupt metadata: block $LOG: bad checksum" || rc=1
	on a v1 >/dev/null && holds "$(dev a)" $T/pA 0 && off a || rc=1
	others_fine nosnap || rc=1
	unflip "$LOG"
	return $rc
}
step "snapshot log, offline: power-on of s1 -> EIO naming the log block; v1 and v2 work" t_log

# node CASE BLOCK EIO_BLOCKS... -- GOOD_BLOCK FILE: v1 reads EIO at each
# block before "--" and FILE at GOOD_BLOCK
node_case() {
	local blk=$1 rc=0 b
	shift
	on a v1 >/dev/null || return 1
	while [ "$1" != -- ]; do
		eio_read "$(dev a)" "$1" || rc=1
		shift
	done
	logged "corrupt metadata: block $blk: bad checksum" || rc=1
	[ -z "$2" ] || holds "$(dev a)" "$3" "$2" || rc=1
	off a || rc=1
	return $rc
}

t_root() {
	local rc=0
	flip "$ROOT" || return 1
	node_case "$ROOT" 0 1024 281600 -- || rc=1
	others_fine || rc=1
	unflip "$ROOT"
	return $rc
}
step "root node, offline: every read of v1 -> EIO naming the root; s1 and v2 read their data" t_root

t_interior() {
	local rc=0
	flip "$INT0" || return 1
	node_case "$INT0" 0 1024 -- 281600 $T/pC || rc=1
	on b v2 >/dev/null && holds "$(dev b)" $T/pD 0 && off b || rc=1
	unflip "$INT0"
	return $rc
}
step "interior node, offline: v1 reads EIO under it (first 1016 MiB), its data beyond; v2 fine" t_interior

t_leaf() {
	local rc=0
	flip "$LEAF0" || return 1
	node_case "$LEAF0" 0 509 -- 1024 $T/pB || rc=1
	on b v2 >/dev/null && holds "$(dev b)" $T/pD 0 && off b || rc=1
	unflip "$LEAF0"
	return $rc
}
step "leaf node, offline: v1 reads EIO under it (blocks 0-509), its data beside; v2 fine" t_leaf

# A bitmap is read when its extent is claimed for allocation.
t_bitmap() {
	local rc=0
	flip "$BITMAP" || return 1
	on a v1 >/dev/null || return 1
	holds "$(dev a)" $T/pA 0 || rc=1
	eio_write "$(dev a)" 4096 || rc=1	# a new leaf: needs metadata blocks
	logged "corrupt metadata: block $BITMAP: bad checksum" || rc=1
	off a || rc=1
	others_fine || rc=1
	unflip "$BITMAP"
	return $rc
}
step "allocation bitmap, offline: v1 reads; a write needing new blocks -> EIO naming the bitmap; v2 fine" t_bitmap

# Run time: the disk is powered and the block not in its node cache (a
# disk's cache starts empty at power-on) when the byte flips under it.
t_run_nodes() {
	local rc=0
	on a v1 >/dev/null || return 1
	holds "$(dev a)" $T/pA 0 || rc=1	# caches root, interior 0, leaf 0
	flip "$LEAF2" && flip "$INT1" && flip "$ROOT" || rc=1
	eio_read "$(dev a)" 1024 && logged "corrupt metadata: block $LEAF2: bad checksum" || rc=1
	eio_read "$(dev a)" 281600 && logged "corrupt metadata: block $INT1: bad checksum" || rc=1
	holds "$(dev a)" $T/pA 0 || rc=1	# the cached root and leaf 0 are still used
	unflip "$LEAF2" && unflip "$INT1" || rc=1
	holds "$(dev a)" $T/pB 1024 && holds "$(dev a)" $T/pC 281600 || rc=1	# a refused node is read again
	off a || rc=1
	# As offline: the disk powers on and every read fails.
	on a v1 >/dev/null && eio_read "$(dev a)" 0 &&
		logged "corrupt metadata: block $ROOT: bad checksum" || rc=1
	off a
	unflip "$ROOT"
	return $rc
}
step "run time: a leaf and an interior node flipped under a powered v1 -> EIO on their range only, readable again once fixed; the root (cached) fails every read after the next power-on" t_run_nodes

# The log head is read again when a snapshot appends to it. VDI records
# are read once while the store is open (Documentation/data-path.rst, "Live
# management"): a record flipped under a powered disk is not read again,
# and the disk's next commit that names a new root (a snapshot) rewrites
# it whole.
t_run_record_log() {
	local rc=0 r
	on a v1 >/dev/null || return 1
	flip "$LOG" || return 1
	pvdisk snapshot "$(dev a)" --label s2 >/dev/null 2>&1 && { echo "snapshot succeeded"; rc=1; }
	logged "corrupt metadata: block $LOG: bad checksum" || rc=1
	unflip "$LOG" || rc=1
	put "$(dev a)" $T/pE 2048 && flush "$(dev a)" || rc=1	# the disk still takes writes
	# A lazy snapshot returns at once; the commit cannot read the head, so
	# the snapshot stays listed and the disk goes on; once the head reads
	# again, the next commit logs it.
	flip "$LOG" || return 1
	r=$("$IOC" snapshot "$(dev a)" "" lazy)
	case $r in "seq 2 "*) ;; *) echo "lazy snapshot: $r"; rc=1 ;; esac
	flush "$(dev a)" && logged "snapshot log unreadable" || rc=1
	unflip "$LOG" && flush "$(dev a)" || rc=1
	[ "$(pvdisk snaps "$S" v1 | grep -c '^v1@')" = 2 ] ||
		{ pvdisk snaps "$S" v1; rc=1; }
	flip $REC1 || return 1
	pvdisk snapshot "$(dev a)" >/dev/null 2>&1 || { echo "snapshot failed"; rc=1; }
	holds "$(dev a)" $T/pE 2048 && holds "$(dev a)" $T/pA 0 || rc=1
	off a
	others_fine || rc=1
	checked || rc=1
	on a v1 >/dev/null && holds "$(dev a)" $T/pE 2048 && off a || rc=1
	return $rc
}
step "run time: snapshot with a flipped log head -> EIO, the disk goes on; a lazy one is logged once the head reads again; a record flipped under the powered disk is rewritten whole by its next snapshot; check clean, flushed data there" t_run_record_log

# Run time: the catalogue and an extent's bitmaps are read when the store
# opens and when the extent is claimed; from then on the store keeps them
# in memory and writes them whole from there (a reserve chunk, a claim,
# the release at the last power-off). A byte flipped under a powered disk
# is never read: writes that take blocks go on, and the power-off writes
# both blocks again, so the next power-on finds them sound.
t_run_cat_bitmap() {
	local rc=0
	dd if=/dev/urandom of=$T/pF bs=4k count=64 2>/dev/null
	on a v1 >/dev/null || return 1
	flip 1 && cp $T/blk $T/flipped.cat && flip "$BITMAP" && cp $T/blk $T/flipped.bm || return 1
	# A new leaf (and its interior) far from the others: new node and
	# data blocks, from the reserve.
	put "$(dev a)" $T/pF 400000 && flush "$(dev a)" && holds "$(dev a)" $T/pF 400000 || rc=1
	off a || rc=1
	for b in 1:cat "$BITMAP":bm; do
		dd if="$DISK" bs=4096 skip="${b%:*}" count=1 iflag=direct 2>/dev/null |
			cmp -s - $T/flipped.${b#*:} &&
			{ echo "block ${b%:*} still flipped after the power-off"; rc=1; }
	done
	checked || rc=1
	on a v1 >/dev/null && holds "$(dev a)" $T/pF 400000 && holds "$(dev a)" $T/pA 0 &&
		put "$(dev a)" $T/pF 450000 && flush "$(dev a)" && off a || rc=1
	others_fine || rc=1
	return $rc
}
step "run time: catalogue and bitmap flipped under a powered v1 -> writes that take blocks go on; the power-off writes both again; check clean, data there" t_run_cat_bitmap

off a b s 2>/dev/null
dmsetup remove $NAME 2>/dev/null
ktap_finished
