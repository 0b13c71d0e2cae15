#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live management through the kernel (Documentation/ioctl.rst, "Live
# management"): PVDISK_IOC_CREATE, _DELETE and _LABEL on a store whose
# disks are powered, called on any disk of the store:
#  - a clone of a snapshot of a powered VDI reads the snapshot's data and
#    takes its own writes; an empty VDI reads zeros;
#  - a label set while the VDI is powered shows in the log, and the
#    disk's next snapshots (a lazy one too) extend the new log (its worker
#    reads the new head); a snapshot deleted while the VDI is powered
#    likewise;
#  - refusals, each leaving the store as it was: EBUSY for a snapshot a
#    powered read-only disk shows and for a powered VDI (or one whose
#    snapshot is shown), ENOTEMPTY for a VDI with snapshots without force,
#    EEXIST, ENOENT, EINVAL, EPERM;
#  - a 32-bit caller (tests/pvdisk_ioctl32, the client built with -m32,
#    through compat_ioctl): INFO, SNAPSHOT (durable, lazy, labelled),
#    CREATE, LABEL, DELETE and the refusals give what the 64-bit client's
#    calls give;
#  - clones of one snapshot made live by one `pvdisk create --count`
#    (k-1 .. k-32, a PVDISK_IOC_CREATE each; PVDISK_MANAGE_CLONES=100
#    for the issue's 100), attached 16 at a time, each with fio verify
#    on its own writes and the snapshot's data beside; a batch with a
#    name in use is refused whole before any request;
#  - pvdisk check clean after gc.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
T=$(dirname "$0")
IOC=$T/pvdisk_ioctl
IOC32=$T/pvdisk_ioctl32
[ -x "$IOC" ] || ktap_skip_all "pvdisk_ioctl not built"
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK
# The issue's 100 clones take about 4 minutes in the KASAN VM (power-on
# and fio of 16 disks about 30 s a batch): the CI run makes 32 (two
# batches); PVDISK_MANAGE_CLONES=100 for the full count.
CLONES=${PVDISK_MANAGE_CLONES:-32}

# expect_out WHAT GOT WANT: a pvdisk_ioctl reply
expect_out() {
	expect_eq "$1" "$2" "$3"
}

# snaps VDI: the VDI's snapshots as the tool reads them: "N STATE LABEL;"
# for each (STATE live or deleted)
snaps() {
	pvdisk snaps "$S" "$1" | awk 'NR > 1 { sub(/.*@/, "", $1); printf "%s %s %s;", $1, $4, $5 }'
}

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" vm --size 64M >/dev/null &&
	D=$(store_new vm vm) || return 1
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null &&
	dd if=/dev/urandom of=/tmp/b bs=1M count=4 2>/dev/null &&
	dd if=/tmp/a of="$D" bs=1M oflag=direct 2>/dev/null &&
	expect_out snapshot "$("$IOC" snapshot "$D" gold | cut -d' ' -f1-2)" "seq 1" &&
	dd if=/tmp/b of="$D" bs=1M oflag=direct 2>/dev/null
}
step "store with VDI vm powered, snapshot gold of its first 4 MiB" t_setup
D=$(dev vm)

t_clone() {
	local r c
	r=$("$IOC" create "$D" c1 0 gold)
	case $r in "vdi "*) ;; *) echo "create: $r"; return 1 ;; esac
	c=$(store_new c1 c1) || return 1
	same4m /tmp/a "$c" && same4m /tmp/b "$D" &&
	expect_eq "clone size" "$(bdev_bytes "$c")" $((64 << 20)) &&
	dd if=/dev/urandom of=/tmp/c bs=1M count=4 2>/dev/null &&
	dd if=/tmp/c of="$c" bs=1M oflag=direct 2>/dev/null &&
	same4m /tmp/c "$c" && same4m /tmp/b "$D" &&
	expect_out "empty VDI" "$("$IOC" create "$D" e1 $((16 << 20)) | cut -d' ' -f1)" vdi &&
	c=$(store_new e1 e1) &&
	expect_eq "empty VDI size" "$(bdev_bytes "$c")" $((16 << 20)) &&
	dd if=/dev/zero of=/tmp/z bs=1M count=4 2>/dev/null &&
	same4m /tmp/z "$c" &&
	pvdisk list "$S" | grep -q '^c1 ' && pvdisk list "$S" | grep -q '^e1 '
}
step "a clone of gold and an empty VDI made while vm is powered" t_clone

t_label() {
	expect_out label "$("$IOC" label "$D" vm@1 golden)" ok &&
	expect_eq "log after label" "$(snaps vm)" "1 live golden;" &&
	expect_out snapshot "$("$IOC" snapshot "$D" two | cut -d' ' -f1-2)" "seq 2" &&
	expect_out snapshot "$("$IOC" snapshot "$D" | cut -d' ' -f1-2)" "seq 3" &&
	expect_eq "log after two more snapshots" "$(snaps vm)" \
		"1 live golden;2 live two;3 live ;" &&
	expect_out "same label again" "$("$IOC" label "$D" golden golden)" ok &&
	expect_out "label of vm@3" "$("$IOC" label "$D" vm@3 three)" ok &&
	# A lazy snapshot: in the tree when it returns, durable after a flush.
	expect_out "lazy snapshot" "$("$IOC" snapshot "$D" "" lazy | cut -d' ' -f1-2)" "seq 4" &&
	expect_out fsync "$("$IOC" fsync "$D")" ok &&
	expect_eq "log" "$(snaps vm)" "1 live golden;2 live two;3 live three;4 live ;"
}
step "labels set while vm is powered; its next snapshots extend the log" t_label

manage_fp() {
	pvdisk list "$S" --bytes 2>&1
	snaps vm
	dd if="$S" bs=4M count=1 iflag=direct 2>/dev/null | md5sum
}

t_refusals() {
	local s
	s=$(store_new s1 golden) || return 1
	"$IOC" fsync "$D" >/dev/null && "$IOC" fsync "$(dev c1)" >/dev/null || return 1
	same4m /tmp/a "$s" || return 1
	# The registry and the logs as the tool sees them (every disk idle:
	# the system extent does not change either)
	manage_fp >/tmp/fp.before
	expect_out "delete a shown snapshot" "$("$IOC" delete "$D" golden)" "err EBUSY" &&
	expect_out "delete a powered VDI" "$("$IOC" delete "$D" c1 force)" "err EBUSY" &&
	expect_out "delete vm, its snapshot shown" "$("$IOC" delete "$s" vm force)" "err EBUSY" &&
	expect_out "label in use (a VDI)" "$("$IOC" label "$D" two c1)" "err EEXIST" &&
	expect_out "label in use (a snapshot)" "$("$IOC" label "$D" two three)" "err EEXIST" &&
	expect_out "label a VDI" "$("$IOC" label "$D" vm x)" "err EINVAL" &&
	expect_out "label a missing snapshot" "$("$IOC" label "$D" vm@9 x)" "err ENOENT" &&
	expect_out "delete a missing VDI" "$("$IOC" delete "$D" nothere)" "err ENOENT" &&
	expect_out "create a name in use" "$("$IOC" create "$D" two 4096)" "err EEXIST" &&
	expect_out "clone a VDI" "$("$IOC" create "$D" c2 0 vm)" "err EINVAL" &&
	expect_out "clone a missing snapshot" "$("$IOC" create "$D" c2 0 vm@9)" "err ENOENT" &&
	expect_out "empty VDI of 0 bytes" "$("$IOC" create "$D" c2 0)" "err EINVAL" &&
	expect_out "size not a multiple of 4096" "$("$IOC" create "$D" c2 1000)" "err EINVAL" &&
	expect_out "unprivileged" "$("$IOC" bad "$D" manage-noperm)" "err EPERM" &&
	expect_out "unknown delete flag" "$("$IOC" bad "$D" delete-flags)" "err EINVAL" &&
	expect_out "target not NUL-padded" "$("$IOC" bad "$D" delete-badspec)" "err EINVAL" &&
	expect_out "bad name" "$("$IOC" bad "$D" create-badname)" "err EINVAL" &&
	manage_fp >/tmp/fp.after &&
	{ cmp -s /tmp/fp.before /tmp/fp.after ||
		{ echo "the store changed:"; diff /tmp/fp.before /tmp/fp.after; false; }; } &&
	same4m /tmp/a "$s"
}
step "refusals (EBUSY, EEXIST, EINVAL, ENOENT, EPERM) change nothing" t_refusals

# both WHAT WANT ARGS...: the 64-bit and the 32-bit client both reply WANT
# to ARGS
both() {
	local what=$1 want=$2 r64 r32
	shift 2
	r64=$("$IOC" "$@")
	r32=$("$IOC32" "$@")
	expect_eq "$what (64-bit)" "$r64" "$want" &&
	expect_eq "$what (32-bit)" "$r32" "$want"
}

# info_want NAME ID BYTES SNAPS SNAPSHOT READ_ONLY: pvdisk_ioctl's info reply
info_want() {
	printf 'name %s\nvdi_id %s\ndisk_bytes %s\nsnap_count %s\nsnapshot %s\nread_only %s\nuuid %s' \
		"$@" "$UUID"
}

# The same calls from a 32-bit program: every struct goes through
# compat_ioctl as it is (Documentation/ioctl.rst, "Growing structs").
# Without a compat_ioctl handler every call would be ENOTTY.
t_compat32() {
	local r id id2 w s c now t
	[ -x "$IOC32" ] || { echo "$IOC32 not built"; return 1; }
	# An i386 program (ELF class 1), not the 64-bit client again.
	expect_eq "ELF class of pvdisk_ioctl32" \
		"$(dd if="$IOC32" bs=1 skip=4 count=1 2>/dev/null | od -An -tu1 | tr -d ' ')" 1 ||
		return 1
	UUID=$(pvdisk info "$S" | sed -n 's/^uuid: *//p' | tr -d -)
	r=$("$IOC32" create "$D" w32 $((16 << 20)))
	echo "32-bit create: $r"
	case $r in "vdi "*) ;; *) return 1 ;; esac
	id=${r#vdi }
	w=$(store_new w32 w32) || return 1
	both info "$(info_want w32 "$id" $((16 << 20)) 0 0 0)" info "$w" || return 1
	dd if=/tmp/a of="$w" bs=1M oflag=direct 2>/dev/null || return 1
	# A fresh VDI's log: its entries 0, 1 and 2 (in copies of one block).
	now=$(date +%s)
	r=$("$IOC32" snapshot "$w" w32gold)
	echo "32-bit snapshot: $r"
	case $r in "seq 1 vdi $id log "[1-9]*".0 time "*) ;; *) return 1 ;; esac
	t=${r##* time }
	[ "$t" -ge "$now" ] && [ "$t" -le $((now + 60)) ] ||
		{ echo "timestamp $t, now $now"; return 1; }
	r=$("$IOC" snapshot "$w")
	echo "64-bit snapshot: $r"
	case $r in "seq 2 vdi $id log "[1-9]*".1 time "*) ;; *) return 1 ;; esac
	r=$("$IOC32" snapshot "$w" "" lazy)
	echo "32-bit lazy snapshot: $r"
	# Lazy: the next commit places its entry, so no position yet.
	case $r in "seq 3 vdi $id log 0.0 time "*) ;; *) return 1 ;; esac
	expect_out fsync "$("$IOC32" fsync "$w")" ok &&
	both info "$(info_want w32 "$id" $((16 << 20)) 3 0 0)" info "$w" &&
	expect_eq "log" "$(snaps w32)" "1 live w32gold;2 live ;3 live ;" || return 1
	s=$(store_new w32s w32gold) || return 1
	r=$("$IOC32" info "$s")
	expect_eq "info of w32@1" "$r" "$("$IOC" info "$s")" &&
	echo "$r" | grep -qx "snapshot 1" && echo "$r" | grep -qx "read_only 1" ||
		{ echo "$r"; return 1; }
	same4m /tmp/a "$s" &&
	both "snapshot of a snapshot disk" "err EROFS" snapshot "$s" &&
	both "label in use" "err EEXIST" snapshot "$w" w32gold &&
	both "unknown command" "err ENOTTY" bad "$w" unknown &&
	both "short struct" "err EINVAL" bad "$w" short &&
	both "short info struct" "err EINVAL" bad "$w" info-short &&
	both "unknown flag" "err EINVAL" bad "$w" flags &&
	both "non-zero tail" "err E2BIG" bad "$w" tail &&
	both "read-only descriptor" "err EBADF" bad "$w" rdonly &&
	both "unprivileged" "err EPERM" bad "$w" noperm &&
	expect_eq "log after the refusals" "$(snaps w32)" "1 live w32gold;2 live ;3 live ;" &&
	expect_out "32-bit grown struct" "$("$IOC32" bad "$w" grown)" ok || return 1
	r=$("$IOC32" create "$w" w32c 0 w32gold)
	echo "32-bit clone: $r"
	case $r in "vdi "*) ;; *) return 1 ;; esac
	id2=${r#vdi }
	[ "$id2" -gt "$id" ] || { echo "clone id $id2 not above $id"; return 1; }
	c=$(store_new w32c w32c) || return 1
	same4m /tmp/a "$c" &&
	expect_eq "clone size" "$(bdev_bytes "$c")" $((16 << 20)) &&
	both "clone name in use" "err EEXIST" create "$w" w32c 0 w32gold &&
	expect_out label "$("$IOC32" label "$w" w32@2 w32two)" ok &&
	both "label in use" "err EEXIST" label "$w" w32@3 w32two &&
	both "delete a shown snapshot" "err EBUSY" delete "$w" w32gold &&
	expect_out "delete w32@3" "$("$IOC32" delete "$w" w32@3)" ok &&
	expect_eq "log" "$(snaps w32)" "1 live w32gold;2 live w32two;3 deleted ;4 live ;" &&
	power w32c 0 && rmdir "$PVDISK_CFS/w32c" &&
	expect_out "delete the clone" "$("$IOC32" delete "$w" w32c)" ok &&
	! pvdisk list "$S" | grep -q '^w32c ' &&
	both "delete it again" "err ENOENT" delete "$w" w32c &&
	power w32s 0 && rmdir "$PVDISK_CFS/w32s" &&
	power w32 0 && rmdir "$PVDISK_CFS/w32"
}
step "a 32-bit caller (compat_ioctl) gets what the 64-bit one gets" t_compat32

# Clones of gold: made live by one tool command (the store's disks are
# powered, so it asks the driver for each, in order), powered 16 at a
# time, fio verify on each.
t_clones() {
	local i j devs rc
	dd if=/tmp/a of=/tmp/a1 bs=1M count=1 2>/dev/null
	pvdisk create "$S" k --from golden --count "$CLONES" >/tmp/k.out 2>&1 ||
		{ cat /tmp/k.out; return 1; }
	expect_eq "clones made" \
		"$(grep -c "^created VDI 'k-[0-9]*' (64M), a clone of golden\$" /tmp/k.out)" "$CLONES" &&
	expect_eq "last clone" "$(tail -n 1 /tmp/k.out)" \
		"created VDI 'k-$CLONES' (64M), a clone of golden" || return 1
	# One more than made: k-1 is taken, so nothing is asked of the driver.
	manage_fp >/tmp/fp.before
	pvdisk create "$S" k --from golden --count $((CLONES + 1)) >/tmp/k.out 2>&1
	rc=$?
	expect_eq "batch with a name in use" "$rc:$(cat /tmp/k.out)" \
		"1:pvdisk create: a VDI named 'k-1' already exists" &&
	manage_fp >/tmp/fp.after &&
	{ cmp -s /tmp/fp.before /tmp/fp.after ||
		{ echo "the store changed:"; diff /tmp/fp.before /tmp/fp.after; false; }; } || return 1
	i=1
	while [ $i -le "$CLONES" ]; do
		devs=
		j=$i
		while [ $j -lt $((i + 16)) ] && [ $j -le "$CLONES" ]; do
			devs="$devs $(store_new k$j k-$j)" || return 1
			j=$((j + 1))
		done
		# One fio job over the 16 disks (16 KiB each, past gold's 4 MiB):
		# random 4k writes, then every block read back and verified.
		# shellcheck disable=SC2086
		fio --name=clones --filename="$(echo $devs | tr ' ' ':')" \
			--ioengine=libaio --direct=1 --rw=randwrite --bs=4k \
			--offset=4M --size=$((16 * $(echo $devs | wc -w)))k \
			--iodepth=16 --verify=crc32c --verify_fatal=1 --do_verify=1 \
			--output=/tmp/fio.out >/dev/null 2>&1 ||
			{ cat /tmp/fio.out; return 1; }
		for d in $devs; do
			dd if="$d" bs=1M count=1 iflag=direct 2>/dev/null |
				cmp -s /tmp/a1 - || { echo "$d lost gold's data"; return 1; }
		done
		j=$i
		while [ $j -lt $((i + 16)) ] && [ $j -le "$CLONES" ]; do
			power k$j 0 && rmdir "$PVDISK_CFS/k$j" || return 1
			j=$((j + 1))
		done
		i=$((i + 16))
	done
}
step "$CLONES clones of gold made live by one pvdisk create --count, powered 16 at a time with fio verify" t_clones

t_delete() {
	expect_out "delete vm@2 (vm powered)" "$("$IOC" delete "$D" two)" ok &&
	expect_eq "log" "$(snaps vm)" "1 live golden;2 deleted two;3 live three;4 live ;" &&
	expect_out snapshot "$("$IOC" snapshot "$D" five | cut -d' ' -f1-2)" "seq 5" &&
	expect_eq "log" "$(snaps vm)" \
		"1 live golden;2 deleted two;3 live three;4 live ;5 live five;" &&
	power e1 0 &&
	expect_out "delete e1 (off)" "$("$IOC" delete "$D" e1)" ok &&
	! pvdisk list "$S" | grep -q '^e1 ' &&
	power vm 0 && power s1 0 && power c1 0 &&
	# c1 is the only disk left on: vm has snapshots and a clone
	power c1 1 &&
	expect_out "delete vm without force" "$("$IOC" delete "$(dev c1)" vm)" "err ENOTEMPTY" &&
	expect_out "delete vm with force" "$("$IOC" delete "$(dev c1)" vm force)" ok &&
	! pvdisk list "$S" | grep -q '^vm ' &&
	same4m /tmp/c "$(dev c1)"
}
step "deletes of a snapshot, a VDI and one with snapshots (force)" t_delete


t_check() {
	pvdisk_cleanup
	pvdisk gc "$S" >/dev/null && check_clean "$S" &&
	expect_eq "log of c1" "$(snaps c1)" "" &&
	expect_eq "clones" "$(pvdisk list "$S" | grep -c '^k-[0-9]')" "$CLONES"
}
step "every disk off, gc: pvdisk check is clean" t_check

ktap_finished
