#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install everything pvdisk needs, idempotently, from the package registries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

debs=(
	"$PVDISK_KERNEL_PKG=$PVDISK_KERNEL_DEB_VERSION"
	clang lld llvm bc bison flex libelf-dev libssl-dev cpio xz-utils
	qemu-system-x86 busybox-static fio dmsetup thin-provisioning-tools
	kmod e2fsprogs gcc libc6-dev make curl
	# scripts/fio.sh: a static fio with the libaio engine
	libaio-dev zlib1g-dev
	# tests/pvdisk_ioctl32: the ioctl client as a 32-bit program
	gcc-multilib
)

missing=()
for d in "${debs[@]}"; do
	name=${d%%=*}
	want=${d#*=}
	have=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
	case "$have" in
	"install ok installed"*)
		if [ "$name" != "$d" ] && [ "${have##* }" != "$want" ]; then
			missing+=("$d")
		fi
		;;
	*) missing+=("$d") ;;
	esac
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	echo "deps: adding rust-src"
	rustup component add rust-src
fi

if ! bindgen --version 2>/dev/null | grep -q "$PVDISK_BINDGEN_VERSION"; then
	echo "deps: installing bindgen-cli $PVDISK_BINDGEN_VERSION"
	cargo install --locked --quiet --force bindgen-cli --version "$PVDISK_BINDGEN_VERSION"
fi
echo "deps: ok"
