#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the pvdisk test kernel in QEMU (TCG) and run one command inside.
#
#   scripts/vm.sh [options] [--] [COMMAND...]
#
# COMMAND is a busybox sh command line run in the guest as root, in /,
# with the tests/ tree at /tests (default: /tests/run_kselftest.sh).
# The guest has busybox, fio, dmsetup, the thin_* tools, the kernel's
# modules (modprobe works) and, when they have been built, pvdisk.ko,
# the pvdisk tool and the crash replayer pvdisk-replay. Disks: /dev/vda
# (256 MiB spare) and /dev/vdb, /dev/vdc (1 GiB each), all sparse files
# created fresh for every run, and the read-only tools disk (/dev/vdd,
# mounted at /opt/tools).
#
# Options:
#   --timeout SECS   kill the VM after SECS seconds (default 1800)
#   --disk-size SIZE size of vdb and vdc (default 1G)
#   --mem SIZE       guest memory (default 2G)
#   --smp N          guest CPUs (default 2)
#   --keep           keep the run directory (console log, disks)
#   --label NAME     name of this run, for runs side by side: shown in
#                    the boot line, and the logs of a failed run go to
#                    $PVDISK_CACHE/vm/failed/NAME/ instead of .../failed/
#   --no-check       do not fail on kernel warnings in the guest log
#   --shell          interactive shell in the guest instead of COMMAND
#                    (leave with `exit`; its status is the result)
#   --quiet          show only kernel errors, no boot messages (all of
#                    the kernel log is still scanned)
#   --guest-disk IMG attach IMG read-only (serial "pvguest"), mounted at
#                    /opt/guest: QEMU and a nested guest's kernel and
#                    initramfs, built by scripts/guest.sh
#   --disks DIR      use DIR/vda.img, vdb.img, vdc.img as the scratch disks
#                    (created sparse if missing) and keep them: a later run
#                    boots on what this one left
#   --bus BUS        how vda, vdb and vdc are attached: virtio (default,
#                    virtio-blk: a write cache, no FUA) or scsi (scsi-hd
#                    disks on one virtio-scsi controller: a write cache
#                    and FUA, as a SCSI or iSCSI disk has). With scsi the
#                    guest's /dev/vda, vdb and vdc are nodes of its sd
#                    disks of LUN 0, 1 and 2 (/sys/block has sdX)
#   --kill-after SECS  SIGKILL QEMU SECS seconds (a decimal) after the guest
#                    prints a line "PVDISK-KILL-ARM": a power cut. The run
#                    then exits 0 and says "vm: killed QEMU ..."; the disks
#                    (with --disks) keep every write QEMU made before it
#                    died, as the host page cache has them
#
# Exit status: the command's exit status; 1 if the kernel logged a
# warning, BUG, Oops, lockdep, KASAN or UBSAN report (the lines are
# printed); 124 if the VM timed out; 125 if it stopped without reporting
# a result (panic, crash). With --kill-after, 0 once QEMU was killed as
# asked (kernel warnings logged before it still fail the run).
#
# The initramfs is built in $PVDISK_CACHE/vm/ from host binaries and
# rebuilt only when one of its inputs changes. Per-run files (tests/,
# pvdisk.ko, the pvdisk tool, the command) go in a small second cpio
# archive that the kernel unpacks on top of the first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/versions.sh"

timeout=1800
disk_size=1G
mem=2G
smp=2
keep=0
check=1
shell=0
quiet=0
label=
guest_disk=
disks=
kill_after=
bus=virtio
while [ $# -gt 0 ]; do
	case "$1" in
	--timeout) timeout=$2; shift 2 ;;
	--disk-size) disk_size=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--label) label=$2; shift 2 ;;
	--no-check) check=0; shift ;;
	--shell) shell=1; shift ;;
	--quiet) quiet=1; shift ;;
	--guest-disk) guest_disk=$2; shift 2 ;;
	--disks) disks=$2; shift 2 ;;
	--kill-after) kill_after=$2; shift 2 ;;
	--bus) bus=$2; shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '3,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "vm: unknown option $1" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || set -- /tests/run_kselftest.sh
case $bus in
virtio|scsi) ;;
*) echo "vm: --bus: virtio or scsi, not $bus" >&2; exit 2 ;;
esac

kdir=${KDIR:-$("$here/kernel.sh" --print)}
bzimage=$kdir/arch/x86/boot/bzImage
if [ ! -f "$bzimage" ]; then
	echo "vm: $bzimage missing; run scripts/kernel.sh first" >&2
	exit 1
fi
kver=$(cat "$kdir/include/config/kernel.release")
vmdir=$PVDISK_CACHE/vm
mkdir -p "$vmdir"

# Host programs copied into the guest, with their shared libraries
# (util-linux blkdiscard for its -z, which busybox's lacks; mke2fs for
# a journaling file system on pvdisk).
guest_bins=(/usr/sbin/dmsetup /usr/sbin/pdata_tools /usr/sbin/blkdiscard
	/usr/sbin/mke2fs)
# PVDISK_VM_EXTRA_BINS: more host programs, space-separated (perf for
# scripts/profile.sh); the tools disk is rebuilt when the list changes.
# shellcheck disable=SC2206
guest_bins+=(${PVDISK_VM_EXTRA_BINS:-})
# fio: the static build of scripts/fio.sh if there is one (it starts in
# a fraction of the time of Debian's, which loads about 60 libraries),
# else Debian's.
guest_fio=$("$here/fio.sh" --print 2>/dev/null || echo /usr/bin/fio)
pdata_links=(thin_check thin_dump thin_repair thin_restore thin_ls thin_delta
	thin_trim cache_check era_check)

# Copy every library $1 needs to the same paths under $2.
copy_libs() {
	local bin=$1 dst=$2 lib
	# (ldd fails on a static binary: nothing to copy)
	{ ldd "$bin" 2>/dev/null || true; } | awk '/=> \//{print $3} /^\t\//{print $1}' |
	while read -r lib; do
		[ -e "$dst$lib" ] && continue
		mkdir -p "$dst$(dirname "$lib")"
		cp -L "$lib" "$dst$lib"
	done
}

write_init() {
	cat >"$1" <<'EOF'
#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# pvdisk test VM init: mount, run /run.sh, report, power off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-vt100}
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t configfs none /sys/kernel/config
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
hostname pvdisk-vm
for b in /sys/block/vd*; do
	case "$(cat "$b/serial" 2>/dev/null)" in
	pvtools) mount -t ext4 -o ro "/dev/${b##*/}" /opt/tools ;;
	pvguest) mkdir -p /opt/guest && mount -t ext4 -o ro "/dev/${b##*/}" /opt/guest ;;
	esac
done
# pvbus=scsi (vm.sh --bus scsi): the scratch disks are SCSI disks, LUN 0,
# 1 and 2; they get the names the tests use (the virtio disks' nodes,
# mounted above, move out of the way).
if [ "$pvbus" = scsi ]; then
	for b in /sys/block/vd*; do
		[ -e "$b" ] && mv "/dev/${b##*/}" "/dev/virtio-${b##*/}"
	done
	# The SCSI scan runs on after the kernel starts init.
	i=0
	while [ "$(ls -d /sys/block/sd* 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	for b in /sys/block/sd*; do
		lun=$(ls "$b/device/scsi_device")
		name=$(echo vda vdb vdc | cut -d' ' -f$((${lun##*:} + 1)))
		mknod "/dev/$name" b $(tr ':' ' ' <"$b/dev")
	done
fi
ln -sf /proc/self/fd /dev/fd 2>/dev/null
echo "PVDISK-BOOTED: uptime $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
cd /
if [ -f /pvdisk-shell ]; then
	setsid cttyhack sh -l
	rc=$?
else
	sh /run.sh
	rc=$?
fi
sync
# The whole kernel log, for the host to scan (second serial port).
dmesg -s 16777216 >/dev/ttyS1 2>/dev/null
echo "PVDISK-RESULT: rc=$rc"
poweroff -f
reboot -f
EOF
	chmod +x "$1"
}

# ---- base initramfs and tools disk ---------------------------------------
# Unpacking a large initramfs under TCG with KASAN takes a minute, so the
# initramfs holds only busybox, /init and the kernel modules; fio, dmsetup,
# the thin tools and their libraries go on a read-only ext4 image (the
# tools disk, serial "pvtools") that /init mounts at /opt/tools.
base_inputs() {
	echo /bin/busybox
	find "$kdir" -name '*.ko' 2>/dev/null | sort
	echo "$kdir/modules.builtin" "$kdir/modules.order"
}
# Of this script, what builds the images is hashed (/init and this
# section), so that other changes here do not rebuild them.
recipe() {
	declare -f write_init
	sed -n '/^# ---- base initramfs/,/^# ---- per-run directory/p' "$0"
}
# shellcheck disable=SC2046
stamp=$({ stat -L -c '%n %s %Y' $(base_inputs) 2>/dev/null; recipe; } |
	sha256sum | cut -c1-16)
# shellcheck disable=SC2046
tstamp=$({ stat -L -c '%n %s %Y' "${guest_bins[@]}" "$guest_fio" $(ldd "${guest_bins[@]}" "$guest_fio" 2>/dev/null |
	awk '/=> \//{print $3}' | sort -u); declare -p guest_bins pdata_links; recipe; } |
	sha256sum | cut -c1-16)
base=$vmdir/base.cpio
tools=$vmdir/tools.img
# One builder at a time; held until this run has its own initrd copy.
exec 9>"$vmdir/.lock"
flock 9
if [ ! -f "$base" ] || [ ! -f "$tools" ] ||
	[ "$(cat "$vmdir/base.stamp" 2>/dev/null)" != "$stamp $tstamp" ]; then
	echo "vm: building the initramfs and tools disk in $vmdir"
	stage=$(mktemp -d "$vmdir/base.XXXXXX")
	trap 'rm -rf "$stage"' EXIT
	root=$stage/root
	tree=$stage/tools
	mkdir -p "$root"/{bin,sbin,lib,dev,proc,sys,tmp,run,root,mnt,etc,opt/tools}
	cp /bin/busybox "$root/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -s busybox "$root/bin/$a"
	done
	for b in "${guest_bins[@]}"; do
		mkdir -p "$tree$(dirname "$b")"
		cp -L "$b" "$tree$b"
		copy_libs "$b" "$tree"
	done
	mkdir -p "$tree/usr/bin"
	cp -L "$guest_fio" "$tree/usr/bin/fio"
	copy_libs "$guest_fio" "$tree"
	for l in "${pdata_links[@]}"; do
		ln -s pdata_tools "$tree/usr/sbin/$l"
	done
	# The tools disk's top-level directories, seen from the initramfs.
	for d in "$tree"/*; do
		d=$(basename "$d")
		case $d in
		lib)
			for l in "$tree"/lib/*; do
				ln -s "/opt/tools/lib/$(basename "$l")" "$root/lib/$(basename "$l")"
			done ;;
		*) ln -s "/opt/tools/$d" "$root/$d" ;;
		esac
	done
	# Kernel modules, installed the way modules_install would.
	moddir=$root/lib/modules/$kver
	mkdir -p "$moddir/kernel"
	(cd "$kdir" && find . -name '*.ko' ! -path './source/*') | while read -r m; do
		m=${m#./}
		mkdir -p "$moddir/kernel/$(dirname "$m")"
		cp "$kdir/$m" "$moddir/kernel/$m"
	done
	for f in modules.builtin modules.builtin.modinfo; do
		[ -f "$kdir/$f" ] && cp "$kdir/$f" "$moddir/$f"
	done
	sed 's|^|kernel/|' "$kdir/modules.order" >"$moddir/modules.order" 2>/dev/null || true
	depmod -b "$root" "$kver"
	rm -rf "$vmdir/modules"
	cp -a "$root/lib/modules" "$vmdir/modules"
	[ -e "$root/dev/console" ] || mknod "$root/dev/console" c 5 1 2>/dev/null || true
	[ -e "$root/dev/null" ] || mknod "$root/dev/null" c 1 3 2>/dev/null || true
	write_init "$root/init"
	# busybox dmesg reads 16 KiB unless told: make plain dmesg read it all.
	printf '#!/bin/sh\nexec /bin/busybox dmesg -s 16777216 "$@"\n' >"$root/sbin/dmesg"
	chmod +x "$root/sbin/dmesg"
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc --owner 0:0 --quiet) >"$base.tmp"
	size=$(( $(du -sm "$tree" | cut -f1) * 5 / 4 + 16 ))
	if [ ! -f "$tools" ] || [ "$(cut -d' ' -f2 "$vmdir/base.stamp" 2>/dev/null)" != "$tstamp" ]; then
		rm -f "$tools.tmp.$$"
		mke2fs -q -t ext4 -O ^has_journal -L pvtools -E root_owner=0:0 \
			-d "$tree" "$tools.tmp.$$" "${size}M" >/dev/null
		mv "$tools.tmp.$$" "$tools"
	fi
	mv "$base.tmp" "$base"
	echo "$stamp $tstamp" >"$vmdir/base.stamp"
	rm -rf "$stage"
	trap - EXIT
	echo "vm: initramfs $(du -h "$base" | cut -f1), tools disk $(du -h --apparent-size "$tools" | cut -f1)"
fi

# ---- per-run directory: overlay cpio, disks, logs -------------------------
# Everything a run writes is in its own directory, so runs can go side by
# side (scripts/test.sh boots two).
run=$(mktemp -d "$vmdir/run.XXXXXX")
cleanup() {
	if [ $keep = 1 ]; then
		echo "vm: kept $run"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
ov=$run/overlay
mkdir -p "$ov"
cp -r "$repo/tests" "$ov/tests"
# The tests' C helpers, static so they need nothing from the guest;
# built once per content (of the source, the uapi header, the tests'
# own headers, the compiler and its flags) in $vmdir/bin/.
# pvdisk_ioctl is built a second time as a 32-bit program,
# pvdisk_ioctl32, whose ioctls go through compat_ioctl (gcc-multilib).
mkdir -p "$vmdir/bin"
ccid=$(gcc --version | head -n 1)
# build_c SOURCE NAME [GCC FLAGS...]: tests/NAME in the overlay
build_c() {
	local c=$1 b=$2 h
	shift 2
	h=$(cat "$c" "$repo/include/uapi/linux/pvdisk.h" "$repo"/tests/*.h 2>/dev/null |
		{ cat; echo "$ccid${*:+ $*}"; } | sha256sum | cut -c1-16)
	if [ ! -x "$vmdir/bin/$b-$h" ]; then
		gcc "$@" -static -O2 -Wall -Werror -o "$vmdir/bin/$b-$h.tmp.$$" "$c" ||
			{ echo "vm: cannot build tests/$b (gcc $*; scripts/deps.sh installs gcc-multilib)" >&2; exit 1; }
		mv "$vmdir/bin/$b-$h.tmp.$$" "$vmdir/bin/$b-$h"
	fi
	cp "$vmdir/bin/$b-$h" "$ov/tests/$b"
}
for c in "$repo"/tests/*.c; do
	[ -f "$c" ] || continue
	build_c "$c" "$(basename "$c" .c)"
done
build_c "$repo/tests/pvdisk_ioctl.c" pvdisk_ioctl32 -m32
make -s -C "$repo/tests" list >"$ov/tests/kselftest-list.txt"
printf '%s\n' "$*" >"$ov/run.sh"
[ $shell = 1 ] && touch "$ov/pvdisk-shell"

# pvdisk.ko (if built) with a modules.dep that knows about it.
ko=$repo/drivers/block/pvdisk/pvdisk.ko
if [ -f "$ko" ]; then
	mods=$run/mods
	mkdir -p "$mods/lib"
	cp -a "$vmdir/modules" "$mods/lib/modules"
	mkdir -p "$mods/lib/modules/$kver/extra"
	cp "$ko" "$mods/lib/modules/$kver/extra/pvdisk.ko"
	depmod -b "$mods" "$kver"
	mkdir -p "$ov/lib/modules/$kver/extra"
	cp "$ko" "$ov/lib/modules/$kver/extra/pvdisk.ko"
	cp "$mods/lib/modules/$kver"/modules.* "$ov/lib/modules/$kver/"
	rm -rf "$mods"
fi
# PVDISK_VM_EXTRA_FILES: more files for this run, space-separated
# HOST=GUEST pairs of absolute paths (scripts/bench-ab.sh: another build
# of pvdisk.ko).
for pair in ${PVDISK_VM_EXTRA_FILES:-}; do
	mkdir -p "$ov$(dirname "${pair#*=}")"
	cp "${pair%%=*}" "$ov${pair#*=}"
done
# The pvdisk userspace tool and the crash replayer (if built).
for b in pvdisk pvdisk-replay; do
	for t in "$repo/userspace-tools/target/release/$b" "$repo/userspace-tools/target/debug/$b"; do
		if [ -x "$t" ]; then
			mkdir -p "$ov/bin"
			cp "$t" "$ov/bin/$b"
			# Their libraries (libc, libgcc_s) are on the tools disk.
			break
		fi
	done
done
(cd "$ov" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner 0:0 --quiet) >"$run/overlay.cpio"
cat "$base" "$run/overlay.cpio" >"$run/initrd.cpio"
flock -u 9

ddir=$run
if [ -n "$disks" ]; then
	mkdir -p "$disks"
	ddir=$(cd "$disks" && pwd)
fi
[ -f "$ddir/vda.img" ] || truncate -s 256M "$ddir/vda.img"
for d in vdb vdc; do
	[ -f "$ddir/$d.img" ] || truncate -s "$disk_size" "$ddir/$d.img"
done
drives=()
pvbus_arg=
if [ $bus = scsi ]; then
	drives+=(-device virtio-scsi-pci,id=scsi0)
	# An unknown parameter with no dot is in init's environment.
	pvbus_arg=" pvbus=scsi"
fi
lun=0
for d in vda vdb vdc; do
	drives+=(-drive "if=none,id=$d,file=$ddir/$d.img,format=raw,cache=unsafe,discard=unmap")
	case $bus in
	virtio) drives+=(-device "virtio-blk-pci,drive=$d,serial=$d") ;;
	scsi) drives+=(-device "scsi-hd,drive=$d,serial=$d,dpofua=on,bus=scsi0.0,channel=0,scsi-id=0,lun=$lun") ;;
	esac
	lun=$((lun + 1))
done
drives+=(-drive "if=none,id=tools,file=$tools,format=raw,readonly=on"
	-device "virtio-blk-pci,drive=tools,serial=pvtools")
if [ -n "$guest_disk" ]; then
	drives+=(-drive "if=none,id=guest,file=$guest_disk,format=raw,readonly=on"
		-device "virtio-blk-pci,drive=guest,serial=pvguest")
fi

console=$run/console.log
klog=$run/dmesg.log
stdin=/dev/null
[ $shell = 1 ] && stdin=/dev/stdin
# --quiet: console log level 4 (errors and worse still show; warnings
# and the rest are in the dmesg dump that is scanned) and no boot messages.
loglevel=5
[ $quiet = 1 ] && loglevel=4
show() {
	if [ $quiet = 1 ]; then
		awk '/^PVDISK-BOOTED/ { booted = 1 }
			!booted && /^\[ *[0-9]+\.[0-9]+\] / { next }
			{ print; fflush() }'
	else
		cat
	fi
}
echo "vm: booting $kver (TCG, $smp CPUs, $mem, $bus disks), timeout ${timeout}s${label:+, run $label}"
start=$(date +%s)
# --kill-after: once the guest armed it, SIGKILL this run's QEMU (by the
# pid it wrote) after the delay, and say so in $run/killed.
killer=
if [ -n "$kill_after" ]; then
	(
		while ! grep -qa '^PVDISK-KILL-ARM' "$run/console.log" 2>/dev/null; do
			[ -e "$run/qemu.done" ] && exit 0
			sleep 0.1
		done
		armed=$(date +%s.%N)
		sleep "$kill_after"
		pid=$(cat "$run/qemu.pid" 2>/dev/null)
		[ -n "$pid" ] && [ ! -e "$run/qemu.done" ] &&
			grep -qa -- "$run/initrd.cpio" "/proc/$pid/cmdline" 2>/dev/null || exit 0
		kill -KILL "$pid" 2>/dev/null &&
			echo "$armed $(date +%s.%N)" >"$run/killed"
	) </dev/null >/dev/null 2>&1 &
	killer=$!
fi
set +e
# la57=off: with 5-level paging, an interrupt that arrives while
# identify_cpu() has cleared the boot CPU's feature bits (LA57 among them)
# makes KASAN take a direct-map address for a wild one
# ("wild-memory-access in rcu_is_watching", seen at boot on a slow host).
timeout -k 10 "$timeout" qemu-system-x86_64 -pidfile "$run/qemu.pid" \
	-machine pc -cpu max,la57=off -smp "$smp" -m "$mem" \
	-display none -monitor none -no-reboot \
	-serial stdio -serial "file:$klog" \
	-kernel "$bzimage" -initrd "$run/initrd.cpio" \
	-append "console=ttyS0 acpi=noirq panic=-1 loglevel=$loglevel log_buf_len=8M rdinit=/init${pvbus_arg}" \
	"${drives[@]}" <"$stdin" 2>&1 | sed -u 's/\r$//' | tee "$console" | show
qrc=${PIPESTATUS[0]}
set -e
touch "$run/qemu.done"
if [ -n "$killer" ]; then
	wait "$killer" 2>/dev/null || true
fi
elapsed=$(( $(date +%s) - start ))

rc=$(sed -n 's/^PVDISK-RESULT: rc=\([0-9]*\).*/\1/p' "$console" | tail -n 1)
if [ -s "$run/killed" ]; then
	read -r armed killed <"$run/killed"
	echo "vm: killed QEMU (SIGKILL) $(awk -v a="$armed" -v k="$killed" \
		'BEGIN { printf "%.2f", k - a }')s after the guest armed it"
	rc=0
elif [ -n "$kill_after" ] && [ -n "$rc" ]; then
	echo "vm: the guest finished before the kill (--kill-after $kill_after)"
elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "vm: TIMEOUT after ${elapsed}s" >&2
	rc=124
elif [ -z "$rc" ]; then
	echo "vm: the guest stopped without a result (panic or crash?)" >&2
	rc=125
fi
echo "vm: guest finished in ${elapsed}s, rc=$rc"

# Anything the kernel reported is a failure, whatever the command said.
# Boot banners that match the pattern but report nothing.
ignore='RCU lockdep checking is enabled|Lock dependency validator|lockdep: .*(MAX_|chain|class)|in-use chain hashes|per task-struct memory footprint|KASAN: KernelAddressSanitizer initialized|kasan: KernelAddressSanitizer initialized'
pattern='possible circular locking|possible recursive locking|WARNING:|BUG:|BUG |Oops|KASAN|UBSAN|INFO: task .* blocked|lockdep|Kernel panic|general protection fault|kernel BUG|Call Trace:|inconsistent lock state|suspicious RCU usage|stall'
if [ $check = 1 ]; then
	# The dmesg dump is the whole log; the console has what came before
	# a crash. Stack frames ("+0x") are not headlines.
	logs=$console
	[ -s "$klog" ] && logs="$klog $console"
	# shellcheck disable=SC2086
	# (Lines starting with "#" are test output quoting the log.)
	bad=$(cat $logs | tr -d '\r' | grep -v -e '^PVDISK-' -e '^#' | grep -E "$pattern" |
		grep -Ev "$ignore" | grep -v '+0x' | awk '!seen[$0]++' || true)
	if [ -n "$bad" ]; then
		echo "vm: FAIL: the kernel log has warnings:" >&2
		printf '%s\n' "$bad" | head -n 40 | sed 's/^/vm:   /' >&2
		[ "$(printf '%s\n' "$bad" | wc -l)" -le 40 ] || echo "vm:   ..." >&2
		# The first report in full, for logs (CI) where the files are gone.
		first=$(printf '%s\n' "$bad" | head -n 1)
		echo "vm: the first report:" >&2
		# (head stops reading early: grep's SIGPIPE is no failure here.)
		# shellcheck disable=SC2086
		{ cat $logs | tr -d '\r' | grep -v '^#' | grep -F -x -A 60 -- "$first" |
			head -n 61 | sed 's/^/vm: | /' >&2; } || true
		if [ $keep = 0 ]; then
			failed=$vmdir/failed${label:+/$label}
			rm -f "$failed/console.log" "$failed/dmesg.log"
			mkdir -p "$failed"
			cp "$console" "$failed/console.log"
			cp "$klog" "$failed/dmesg.log" 2>/dev/null || true
			echo "vm: full logs in $failed/" >&2
		fi
		[ "$rc" = 0 ] && rc=1
	fi
fi
exit "$rc"
