#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The copy-on-write store through the driver: disks whose `vdi` names a
# VDI (read-write) or a snapshot (read-only) of a store made by the tool.
#
#  - model check (tests/pvdisk_model.c): random writes, overwrites,
#    discards and reads on three VDIs of one store at once; after power
#    off every VDI exported by the tool matches the model, after power on
#    again the disks do, and `pvdisk check` is clean;
#  - clones: a golden VDI snapshotted and cloned 8 times; the snapshot
#    (read-only, writes refused) and the 8 clones powered together; each
#    clone reads its own writes and the golden data elsewhere, the
#    snapshot never changes;
#  - no stale data: a VDI filled, deleted, gc'd; a new VDI reads zeros;
#  - bad input: cache_mb, a missing VDI, a VDI powered twice, a device
#    that is no store, a damaged superblock, an unknown incompatible
#    feature, vdi/backing changed while powered, a full store; each
#    refusal leaves the store's metadata as it was;
#  - load, power on, I/O, power off, unload, 20 times.
#
# PVDISK_MODEL_SEED repeats a run's random choices.
. "$(dirname "$0")/ktap"

M="$(dirname "$0")/pvdisk_model"
pvdisk_available || ktap_skip_all "pvdisk module not built"
command -v pvdisk >/dev/null 2>&1 || ktap_skip_all "pvdisk tool not built"
[ -x "$M" ] || ktap_skip_all "pvdisk_model not built"
ktap_header
trap 'pvdisk_cleanup; dmsetup remove_all >/dev/null 2>&1' EXIT

S=$PVDISK_DISK		# the store
S2=$PVDISK_DISK2	# a second store, damaged on purpose
RAW=/dev/vda		# no store at all
SEED=${PVDISK_MODEL_SEED:-$(date +%s)}
ktap_print_msg "seed $SEED (PVDISK_MODEL_SEED=$SEED to repeat)"

# ---- helpers ---------------------------------------------------------------

# Kernel log lines since the last mark, shown when a step fails.
klog_mark() {
	KLOG_LINES=$(dmesg | wc -l)
}

# step NAME FUNC ARGS...: ktap_check, with the kernel log of the step on failure.
step() {
	local name=$1 before=$KTAP_FAIL t0
	shift
	klog_mark
	t0=$(cut -d. -f1 /proc/uptime)
	ktap_check "$name" "$@"
	ktap_print_msg "($(($(cut -d. -f1 /proc/uptime) - t0))s)"
	if [ $KTAP_FAIL != "$before" ]; then
		dmesg | tail -n +$((KLOG_LINES + 1)) | tail -n 30 | sed 's/^/# dmesg: /'
	fi
}

# store_new DIR VDI [STORE]: mkdir, backing, vdi, power on; prints /dev/...
store_new() {
	local d="$PVDISK_CFS/$1" n
	mkdir "$d" || return 1
	expect_write_ok "${3:-$S}" "$d/backing" >&2 || return 1
	expect_write_ok "$2" "$d/vdi" >&2 || return 1
	expect_write_ok 1 "$d/power" >&2 || return 1
	n=$(cat "$d/name")
	[ -n "$n" ] && [ -b "/dev/$n" ] || { echo "$1: no device after power=1" >&2; return 1; }
	echo "/dev/$n"
}

# power DIR 0|1
power() {
	expect_write_ok "$2" "$PVDISK_CFS/$1/power"
}

# dev DIR: the disk's device
dev() {
	echo "/dev/$(cat "$PVDISK_CFS/$1/name")"
}

# stat_of DIR KEY: a value of the stats attribute
stat_of() {
	sed -n "s/^$2 //p" "$PVDISK_CFS/$1/stats"
}

# fingerprint STORE [nosum]: the store's metadata as the tool sees it, for
# before/after comparisons: info, list and check, and a checksum of the
# system extent (superblock, catalogue, VDI registry), left out with
# "nosum" (a VDI record's generation goes up at every attach and detach).
fingerprint() {
	pvdisk info "$1" --json 2>&1
	pvdisk list "$1" --json --bytes 2>&1
	pvdisk check "$1" 2>&1
	[ "$2" = nosum ] || dd if="$1" bs=4M count=1 iflag=direct 2>/dev/null | md5sum
}

# check_clean STORE: pvdisk check passes and finds no leak (with every disk
# off, the driver has given back its reserve and what unmaps freed)
check_clean() {
	pvdisk check "$1" >/tmp/check.out 2>&1
	local rc=$?
	cat /tmp/check.out
	[ $rc = 0 ] || return 1
	if grep -q leaked /tmp/check.out; then
		echo "leaks with every disk off"
		return 1
	fi
}

# ---- the store -------------------------------------------------------------

t_setup() {
	pvdisk_load || return 1
	pvdisk format "$S" --extent-size 4M --force &&
	pvdisk create "$S" v1 --size 64M &&
	pvdisk create "$S" v2 --size 64M &&
	pvdisk create "$S" v3 --size 48M &&
	pvdisk list "$S"
}
step "format $S (4M extents), VDIs v1 v2 (64M) v3 (48M)" t_setup

t_attrs() {
	local d=$PVDISK_CFS/a a
	mkdir "$d" || return 1
	for a in backing vdi cache_mb size stats power name; do
		[ -e "$d/$a" ] || { echo "no attribute $a"; return 1; }
	done
	expect_eq "vdi when new" "$(cat "$d/vdi")" "" &&
	expect_eq "cache_mb default" "$(cat "$d/cache_mb")" 64 &&
	expect_eq "size while off" "$(cat "$d/size")" 0 &&
	rmdir "$d"
}
step "attributes: vdi, cache_mb (64), size (0 while off), stats" t_attrs

# ---- model check: three VDIs at once ----------------------------------------

t_model_run() {
	local a b c
	a=$(store_new m1 v1) && b=$(store_new m2 v2) && c=$(store_new m3 v3) || return 1
	echo "v1 $a, v2 $b, v3 $c"
	expect_eq "v1 size attr" "$(cat "$PVDISK_CFS/m1/size")" 67108864 &&
	expect_eq "v1 size" "$(bdev_bytes "$a")" 67108864 &&
	expect_eq "v3 size" "$(bdev_bytes "$c")" 50331648 &&
	expect_eq "v1 read-only" "$(blockdev --getro "$a")" 0 &&
	"$M" run --seed "$SEED" --ops 2000 --threads 16 --state /tmp/m.state "$a" "$b" "$c" &&
	"$M" verify --state /tmp/m.state "$a" "$b" "$c" &&
	cat "$PVDISK_CFS/m1/stats" || return 1
	# The tool reads the store beside the driver and changes nothing.
	pvdisk list "$S" || return 1
	if pvdisk create "$S" x --size 16M 2>/tmp/tool.err; then
		echo "pvdisk create succeeded on a store with powered disks"
		return 1
	fi
	cat /tmp/tool.err
}
step "model: 3 VDIs, 16 threads, 2000 writes/discards/reads, verified" t_model_run

t_stats() {
	local k v
	for k in cache_hits cache_misses cache_evictions cached_nodes dirty_nodes \
		cow_blocks commits reserve_free; do
		v=$(stat_of m1 $k)
		case "$v" in
		''|*[!0-9]*) echo "stats: $k is '$v'"; return 1 ;;
		esac
	done
	[ "$(stat_of m1 cached_nodes)" -gt 0 ] || { echo "no cached nodes after I/O"; return 1; }
}
step "stats: every key with a number" t_stats

t_model_export() {
	power m1 0 && power m2 0 && power m3 0 || return 1
	expect_eq "size while off" "$(cat "$PVDISK_CFS/m1/size")" 0 || return 1
	# power-off releases the holds
	pvdisk info "$S" | grep '^holds:' | grep -q none ||
		{ echo "holds left after power off:"; pvdisk info "$S"; return 1; }
	rm -f /tmp/v1.img /tmp/v2.img /tmp/v3.img
	pvdisk export "$S" v1 /tmp/v1.img && pvdisk export "$S" v2 /tmp/v2.img &&
	pvdisk export "$S" v3 /tmp/v3.img &&
	"$M" verify --state /tmp/m.state /tmp/v1.img /tmp/v2.img /tmp/v3.img
}
step "model: power off releases the holds, pvdisk export of each VDI matches" t_model_export
rm -f /tmp/v1.img /tmp/v2.img /tmp/v3.img

t_model_again() {
	# A small node cache on one of them: the same data through evictions.
	expect_write_ok 1 "$PVDISK_CFS/m2/cache_mb" &&
	power m1 1 && power m2 1 && power m3 1 &&
	"$M" verify --state /tmp/m.state "$(dev m1)" "$(dev m2)" "$(dev m3)" &&
	"$M" run --resume --seed $((SEED + 1)) --ops 600 --threads 8 --state /tmp/m.state \
		"$(dev m1)" "$(dev m2)" "$(dev m3)" &&
	cat "$PVDISK_CFS/m2/stats" && power m1 0 && power m2 0 && power m3 0 &&
	power m1 1 && power m2 1 && power m3 1 &&
	"$M" verify --state /tmp/m.state "$(dev m1)" "$(dev m2)" "$(dev m3)" &&
	power m1 0 && power m2 0 && power m3 0
}
step "model: power on, verify, 600 more ops (cache_mb=1 on one), cycle, verify" t_model_again

step "model: pvdisk check clean, no leaks" check_clean "$S"

# ---- clones ----------------------------------------------------------------

t_golden() {
	local g
	pvdisk create "$S" golden --size 32M || return 1
	g=$(store_new g golden) || return 1
	"$M" run --seed $((SEED + 2)) --ops 600 --threads 8 --discard-pct 5 \
		--state /tmp/g.state "$g" && power g 0 &&
	pvdisk snapshot "$S" golden --label gold || return 1
	for i in 1 2 3 4 5 6 7 8; do
		pvdisk create "$S" "c$i" --from gold || return 1
	done
	pvdisk tree "$S"
}
step "clones: golden VDI written, snapshot 'gold', 8 clones by the tool" t_golden

t_clones() {
	local snap devs="" i rc=0 vpid ppid
	snap=$(store_new snap gold) || return 1
	expect_eq "snapshot disk read-only" "$(blockdev --getro "$snap")" 1 || return 1
	for i in 1 2 3 4 5 6 7 8; do
		devs="$devs $(store_new "c$i" "c$i")" || return 1
	done
	echo "snapshot $snap, clones$devs"
	"$M" verify --state /tmp/g.state "$snap" || return 1
	"$M" derive --state /tmp/g.state --out /tmp/c.state 0 0 0 0 0 0 0 0 || return 1
	# The snapshot is read while the clones are written.
	( i=0; while [ $i -lt 3 ]; do
		"$M" verify --state /tmp/g.state --max-report 3 "$snap" >/tmp/snapv.out || exit 1
		i=$((i + 1)); done ) &
	vpid=$!
	# Another VDI of the store powered on, verified and off meanwhile.
	( i=0; while [ $i -lt 4 ]; do
		power m1 1 && "$M" verify --state /tmp/m.state --dev 0 --max-report 3 "$(dev m1)" \
			>/tmp/m1v.out && power m1 0 || exit 1
		i=$((i + 1)); done ) &
	ppid=$!
	# shellcheck disable=SC2086
	"$M" run --resume --seed $((SEED + 3)) --ops 1600 --threads 16 \
		--state /tmp/c.state $devs || rc=1
	wait $vpid || { echo "snapshot changed while the clones were written:"; cat /tmp/snapv.out; rc=1; }
	wait $ppid || { echo "v1 power cycles beside the clones failed:"; cat /tmp/m1v.out; rc=1; }
	# shellcheck disable=SC2086
	"$M" verify --state /tmp/c.state $devs && "$M" verify --state /tmp/g.state "$snap" || rc=1
	return $rc
}
step "clones: snapshot (ro), 8 clones, 1600 ops on the clones; v1 power cycled beside" t_clones

t_snap_write() {
	local snap rc=0
	snap=$(dev snap)
	if dd if=/dev/zero of="$snap" bs=4k count=1 seek=10 oflag=direct 2>/tmp/dd.err; then
		echo "a write to the snapshot disk succeeded"
		rc=1
	fi
	cat /tmp/dd.err
	if blkdiscard -o 0 -l 1048576 "$snap" 2>/tmp/dd.err; then
		echo "a discard on the snapshot disk succeeded"
		rc=1
	fi
	cat /tmp/dd.err
	# The read-only flag cleared by hand: the driver itself must refuse.
	blockdev --setrw "$snap" 2>/dev/null
	echo "after blockdev --setrw: read-only $(blockdev --getro "$snap")"
	if dd if=/dev/zero of="$snap" bs=4k count=1 seek=20 oflag=direct 2>/tmp/dd.err; then
		echo "a write to the snapshot disk succeeded after blockdev --setrw"
		rc=1
	fi
	cat /tmp/dd.err
	blockdev --setro "$snap" 2>/dev/null
	"$M" verify --state /tmp/g.state "$snap" || rc=1
	return $rc
}
step "clones: a write and a discard to the snapshot disk fail, it is unchanged" t_snap_write

t_snap_twice() {
	local s2 g
	s2=$(store_new snap2 golden@1) && g=$(store_new g2 golden) || return 1
	expect_eq "golden@1 read-only" "$(blockdev --getro "$s2")" 1 &&
	expect_eq "golden read-only" "$(blockdev --getro "$g")" 0 &&
	"$M" verify --state /tmp/g.state "$s2" && "$M" verify --state /tmp/g.state "$g" || return 1
	power snap2 0 && power g2 0 && rmdir "$PVDISK_CFS/snap2" "$PVDISK_CFS/g2"
}
step "clones: the snapshot again as golden@1, and golden itself, beside it" t_snap_twice

t_clones_off() {
	local i
	power snap 0 || return 1
	for i in 1 2 3 4 5 6 7 8; do
		power "c$i" 0 || return 1
	done
	rm -f /tmp/gold.img /tmp/c5.img
	pvdisk export "$S" gold /tmp/gold.img && pvdisk export "$S" c5 /tmp/c5.img &&
	"$M" verify --state /tmp/g.state /tmp/gold.img &&
	"$M" verify --state /tmp/c.state --dev 4 /tmp/c5.img &&
	check_clean "$S"
}
step "clones: power off; exported snapshot and a clone match; check clean, no leaks" t_clones_off
rm -f /tmp/gold.img /tmp/c5.img

# ---- no stale data ---------------------------------------------------------

t_stale() {
	local f n
	pvdisk create "$S" fill --size 64M || return 1
	f=$(store_new f fill) || return 1
	# Every block non-zero, then model blocks over part of it.
	tr '\000' '\252' </dev/zero | dd of="$f" bs=1M count=64 oflag=direct iflag=fullblock 2>/dev/null || return 1
	"$M" run --seed $((SEED + 4)) --ops 300 --threads 8 --read-pct 0 --discard-pct 0 \
		--state /tmp/f.state "$f" >/dev/null || return 1
	power f 0 && rmdir "$PVDISK_CFS/f" || return 1
	pvdisk delete "$S" fill && pvdisk gc "$S" && pvdisk create "$S" fresh --size 64M || return 1
	n=$(store_new n fresh) || return 1
	# An empty model: the whole VDI must read as zeros, before and while
	# it is written (its new nodes and data land on freed blocks).
	"$M" run --seed $((SEED + 5)) --ops 0 --threads 1 --state /tmp/n.state "$n" >/dev/null &&
	"$M" verify --state /tmp/n.state "$n" &&
	"$M" run --resume --seed $((SEED + 6)) --ops 800 --threads 16 --read-pct 50 \
		--max-blocks 4 --state /tmp/n.state "$n" &&
	"$M" verify --state /tmp/n.state "$n" &&
	power n 0 && rmdir "$PVDISK_CFS/n" &&
	pvdisk delete "$S" fresh && pvdisk gc "$S" && check_clean "$S"
}
step "no stale data: fill, delete, gc; a new VDI reads zeros, also while written" t_stale

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

# mark_store [FILE [nosum]]: remember the store's metadata (the tool
# reads a store beside powered disks; none of them is written meanwhile)
mark_store() {
	fingerprint "$S" $2 >"${1:-/tmp/fp.before}"
}
# same_store [FILE [nosum]]: the store's metadata is as it was at mark_store
same_store() {
	fingerprint "$S" $2 >/tmp/fp.after
	cmp -s "${1:-/tmp/fp.before}" /tmp/fp.after && return 0
	echo "the store changed:"
	diff "${1:-/tmp/fp.before}" /tmp/fp.after
	return 1
}
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
