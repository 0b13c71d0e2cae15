#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The pvdisk tool on a powered disk (Documentation/tool.rst, *Online
# snapshots*): pvdisk info /dev/pvdiskN shows what PVDISK_IOC_INFO says;
# pvdisk snapshot /dev/pvdiskN [--label L] takes the snapshot through
# PVDISK_IOC_SNAPSHOT, prints what the offline command prints, and the
# snapshot holds what was written; each refusal (EEXIST, EROFS, EPERM, a
# bad label, a device that is no disk) is one sentence with its errno and
# exit status, and leaves the snapshot log as it was. Written to be
# folded into pvdisk_snapshot.sh, whose helpers it uses.
. "$(dirname "$0")/ktap"
. "$(dirname "$0")/pvdisk_store_lib.sh"

store_requirements
ktap_header
trap 'pvdisk_cleanup' EXIT

S=$PVDISK_DISK

t_setup() {
	pvdisk_load &&
	pvdisk format "$S" --force >/dev/null &&
	pvdisk create "$S" vm --size 64M &&
	pvdisk create "$S" other --size 16M &&
	store_new vm vm
}
step "store with VDIs vm (64M) and other (16M), vm powered" t_setup
D=$(dev vm)

t_info() {
	local uuid
	uuid=$(pvdisk info "$S" | sed -n 's/^uuid: *//p')
	pvdisk info "$D" >/tmp/info.out || return 1
	cat /tmp/info.out
	grep -qx "shows: *VDI vm, read-write" /tmp/info.out &&
	grep -qx "size: *64M" /tmp/info.out &&
	pvdisk info "$D" --json --bytes >/tmp/info.json || return 1
	cat /tmp/info.json
	grep -q '"vdi":"vm",' /tmp/info.json &&
	grep -q '"size":67108864,' /tmp/info.json &&
	grep -q '"snapshot":null,"read_only":false,' /tmp/info.json &&
	grep -q "\"store_uuid\":\"$uuid\"" /tmp/info.json
}
step "pvdisk info /dev/pvdiskN: the disk's VDI, size and store" t_info

t_snapshot() {
	local out snap
	dd if=/dev/urandom of=/tmp/a bs=1M count=4 2>/dev/null &&
	dd if=/dev/urandom of=/tmp/b bs=1M count=4 2>/dev/null &&
	dd if=/tmp/a of="$D" bs=1M oflag=direct 2>/dev/null || return 1
	out=$(pvdisk snapshot "$D" --label first) || return 1
	expect_eq "output" "$out" "snapshot vm@1 labelled 'first'" || return 1
	dd if=/tmp/b of="$D" bs=1M oflag=direct 2>/dev/null || return 1
	out=$(pvdisk snapshot "$D") || return 1
	expect_eq "output" "$out" "snapshot vm@2" || return 1
	snap=$(store_new s1 first) || return 1
	same4m /tmp/a "$snap" && same4m /tmp/b "$D" || return 1
	pvdisk info "$snap" | grep -x "shows: *snapshot vm@1, read-only" &&
	pvdisk info "$D" | grep -x "snapshots: *2 taken of vm" &&
	pvdisk snaps "$S" vm | grep -E "^vm@1 .* first$"
}
step "pvdisk snapshot /dev/pvdiskN: prints the snapshot, which keeps what was written" t_snapshot

# refused EXIT PATTERN ARGS...: pvdisk ARGS exits EXIT, prints nothing on
# stdout, and its sentence on stderr matches PATTERN (grep BRE)
refused() {
	local want=$1 pattern=$2 rc
	shift 2
	pvdisk "$@" >/tmp/out 2>/tmp/err
	rc=$?
	cat /tmp/err
	expect_eq "exit status of pvdisk $*" $rc "$want" || return 1
	grep -q -- "$pattern" /tmp/err ||
		{ echo "stderr does not match '$pattern'"; return 1; }
	[ ! -s /tmp/out ] || { echo "stdout is not empty:"; cat /tmp/out; return 1; }
}

# as_nobody ARGS...: the tool run by an unprivileged user (without
# CAP_SYS_ADMIN); the disk is opened by it for writing, so the driver's
# EPERM, not the file mode, refuses
as_nobody() {
	grep -q '^nobody:' /etc/passwd ||
		echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
	su -s /bin/sh nobody -c "$(command -v pvdisk) $*"
}

t_refused() {
	local before mode rc raw
	before=$(pvdisk snaps "$S" vm)
	refused 1 "label 'first' is in use .*(EEXIST)$" snapshot "$D" --label first &&
	refused 1 "label 'other' is in use .*(EEXIST)$" snapshot "$D" --label other &&
	refused 1 "shows snapshot vm@1, which is read-only.*(EROFS)$" snapshot "$(dev s1)" &&
	refused 2 "label 'a b' may hold only" snapshot "$D" --label "a b" || return 1
	mode=$(stat -c %a "$D")
	chmod 666 "$D" || return 1
	as_nobody snapshot "$D" >/tmp/out 2>/tmp/err
	rc=$?
	chmod "$mode" "$D"
	cat /tmp/err
	expect_eq "exit status as nobody" $rc 1 &&
	grep -q "needs CAP_SYS_ADMIN.*(EPERM)$" /tmp/err || return 1
	# A pass-through disk of a device without a store does not answer.
	dd if=/dev/zero of="$PVDISK_DISK2" bs=4k count=1 oflag=direct 2>/dev/null &&
	raw=$(pvdisk_new raw "$PVDISK_DISK2") || return 1
	refused 1 "neither a store nor a pvdisk disk" snapshot "$raw" &&
	pvdisk_del raw &&
	expect_eq "snapshots of vm" "$(pvdisk snaps "$S" vm)" "$before"
}
step "refusals: EEXIST, EROFS, a bad label, EPERM, no disk; nothing taken" t_refused

t_check() {
	power s1 0 && rmdir "$PVDISK_CFS/s1" && power vm 0 &&
	check_clean "$S" &&
	expect_eq "snapshots of vm" "$(pvdisk snaps "$S" vm | grep -c '^vm@')" 2
}
step "pvdisk check clean after; two snapshots in the log" t_check

ktap_finished
