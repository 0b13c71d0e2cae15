#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the guest disk: what the test VM needs to run a nested QEMU guest
# on /dev/pvdiskN (scripts/demo-guest.sh, Documentation/guest.rst).
#
#   scripts/guest.sh           build $PVDISK_CACHE/vm/guest.img if an input
#                              changed, and print its path
#
# The image is a read-only ext4 disk that scripts/vm.sh --guest-disk
# attaches to the test VM (serial "pvguest"), mounted there at /opt/guest:
#
#   bin/qemu        qemu-system-x86_64 started through the image's own
#                   loader and libraries (and its TCG accelerator module)
#   share/qemu/     the firmware: SeaBIOS and the option ROM of -kernel
#   bzImage         the nested guest's kernel: the bench kernel (no KASAN,
#                   no lockdep) if it is built, else the test kernel;
#                   PVDISK_GUEST_KERNEL=bench|test chooses
#   initrd.cpio     the nested guest's initramfs: pvdisk_stamp
#                   (tests/pvdisk_stamp.c) as /init, which runs
#                   "pvdisk_stamp ARGS /dev/vda" with the ARGS given on
#                   the kernel command line as pvguest=write,-t,30
#                   (commas for spaces), prints "GUEST-RESULT: rc=N" and
#                   powers the guest off.
#
# None of this goes into the kselftests' initramfs or tools disk, so the
# test run (`make test`) neither grows nor slows down.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/versions.sh"

vmdir=$PVDISK_CACHE/vm
mkdir -p "$vmdir"
img=$vmdir/guest.img

qemu=/usr/bin/qemu-system-x86_64
moddir=/usr/lib/x86_64-linux-gnu/qemu
accel=$moddir/accel-tcg-x86_64.so
firmware=(/usr/share/qemu/linuxboot_dma.bin
	/usr/share/qemu/kvmvapic.bin /usr/share/seabios/bios-256k.bin)
for f in "$qemu" "$accel" "${firmware[@]}"; do
	[ -e "$f" ] || { echo "guest: $f missing (scripts/deps.sh installs it)" >&2; exit 1; }
done

kind=${PVDISK_GUEST_KERNEL:-}
bench_kdir=$(PVDISK_KERNEL_VARIANT=bench "$here/kernel.sh" --print)
test_kdir=${KDIR:-$("$here/kernel.sh" --print)}
if [ -z "$kind" ]; then
	kind=test
	[ -f "$bench_kdir/arch/x86/boot/bzImage" ] && kind=bench
fi
case $kind in
bench) bzimage=$bench_kdir/arch/x86/boot/bzImage ;;
test) bzimage=$test_kdir/arch/x86/boot/bzImage ;;
*) echo "guest: PVDISK_GUEST_KERNEL must be bench or test" >&2; exit 2 ;;
esac
[ -f "$bzimage" ] || { echo "guest: $bzimage missing; build it with scripts/kernel.sh" >&2; exit 1; }

libs_of() {
	ldd "$@" 2>/dev/null | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u
}

# shellcheck disable=SC2046
stamp=$(stat -L -c '%n %s %Y' "$0" "$repo/tests/pvdisk_stamp.c" "$bzimage" \
	"$qemu" "$accel" "${firmware[@]}" $(libs_of "$qemu" "$accel") |
	sha256sum | cut -c1-16)
exec 9>"$vmdir/.guest.lock"
flock 9
if [ -f "$img" ] && [ "$(cat "$vmdir/guest.stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$img"
	exit 0
fi

echo "guest: building $img ($kind kernel)" >&2
stage=$(mktemp -d "$vmdir/guest.XXXXXX")
trap 'rm -rf "$stage"' EXIT
tree=$stage/tree
mkdir -p "$tree/bin" "$tree/share/qemu" "$tree/qemu-modules"

# QEMU with its own loader and libraries, at their host paths in the image.
for f in $(libs_of "$qemu" "$accel"); do
	mkdir -p "$tree$(dirname "$f")"
	cp -L "$f" "$tree$f"
done
mkdir -p "$tree/usr/bin"
cp "$qemu" "$tree/usr/bin/qemu-system-x86_64"
cp "$accel" "$tree/qemu-modules/"
cp -L "${firmware[@]}" "$tree/share/qemu/"
loader=$(libs_of "$qemu" | grep '/ld-linux' | head -n 1)
libpath=$(libs_of "$qemu" "$accel" | grep -v '/ld-linux' | xargs -n1 dirname | sort -u |
	sed 's|^|/opt/guest|' | paste -sd:)
cat >"$tree/bin/qemu" <<EOF
#!/bin/sh
# qemu-system-x86_64 from this disk, with the libraries of this disk.
export QEMU_MODULE_DIR=/opt/guest/qemu-modules
exec /opt/guest$loader --library-path $libpath \\
	/opt/guest/usr/bin/qemu-system-x86_64 -L /opt/guest/share/qemu "\$@"
EOF
chmod +x "$tree/bin/qemu"
cp "$bzimage" "$tree/bzImage"
echo "$kind $(basename "$(dirname "$(dirname "$(dirname "$(dirname "$bzimage")")")")")" >"$tree/kernel"

# The nested guest's initramfs: pvdisk_stamp is its /init (one program,
# no shell: every exec costs seconds in a nested TCG guest).
root=$stage/root
mkdir -p "$root/dev"
gcc -static -O2 -Wall -Werror -o "$root/init" "$repo/tests/pvdisk_stamp.c"
mknod "$root/dev/console" c 5 1
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner 0:0 --quiet) >"$tree/initrd.cpio"

size=$(( $(du -sm "$tree" | cut -f1) * 5 / 4 + 16 ))
mke2fs -q -t ext4 -O ^has_journal -L pvguest -E root_owner=0:0 -d "$tree" \
	"$stage/guest.img" "${size}M" >/dev/null
mv "$stage/guest.img" "$img"
echo "$stamp" >"$vmdir/guest.stamp"
echo "guest: $(du -h --apparent-size "$img" | cut -f1) ($kind kernel, qemu $("$qemu" --version |
	head -n 1 | awk '{print $4}'))" >&2
echo "$img"
