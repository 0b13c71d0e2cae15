#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the pvdisk test kernel, incrementally, in a cache outside the clone.
#
#   scripts/kernel.sh          unpack (once), overlay rust/, configure, build
#   scripts/kernel.sh --print  print the build directory (KDIR) and exit
#
# PVDISK_KERNEL_VARIANT=NAME adds scripts/kernel-NAME.config on top of
# scripts/kernel.config (its lines win), in a build directory of its own:
# `make bench` uses the bench variant (no debug checkers).
#
# Layout of the cache:
#   $PVDISK_CACHE/src/linux-<debian version>/       kernel tree + rust/ overlay
#   $PVDISK_CACHE/src/linux-<debian version>/.pristine  untouched copies of
#                                                   the files our patches edit
#   $PVDISK_CACHE/build/<version>-<config hash>/    O= build directory
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/versions.sh"

src="$PVDISK_CACHE/src/linux-$PVDISK_KERNEL_DEB_VERSION"
fragments=("$here/kernel.config")
if [ -n "${PVDISK_KERNEL_VARIANT:-}" ]; then
	fragments+=("$here/kernel-$PVDISK_KERNEL_VARIANT.config")
	[ -f "${fragments[1]}" ] || { echo "kernel: ${fragments[1]} missing" >&2; exit 1; }
fi
cfg_hash=$(cat "${fragments[@]}" | sha256sum | cut -c1-12)
build="$PVDISK_CACHE/build/$PVDISK_KERNEL_DEB_VERSION-$cfg_hash"
jobs=$(nproc)

if [ "${1:-}" = "--print" ]; then
	echo "$build"
	exit 0
fi

unpack() {
	[ -f "$src/.unpacked" ] && return 0
	local tarball=/usr/src/$PVDISK_KERNEL_PKG.tar.xz
	[ -f "$tarball" ] || { echo "kernel: $tarball missing; run scripts/deps.sh" >&2; exit 1; }
	echo "kernel: unpacking $tarball"
	rm -rf "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	mkdir -p "$src.tmp/.pristine"
	cp -a "$src.tmp/rust" "$src.tmp/.pristine/rust"
	touch "$src.tmp/.unpacked"
	rm -rf "$src"
	mv "$src.tmp" "$src"
}

# Install $1 at $2 only if the contents differ, so make sees no change
# (and rebuilds nothing) for files that are already up to date.
install_if_changed() {
	if ! cmp -s "$1" "$2"; then
		mkdir -p "$(dirname "$2")"
		cp "$1" "$2"
		echo "kernel: overlay $(realpath --relative-to="$src" "$2")"
	fi
}

# rust/ in the repo holds new files (copied as they are) and rust/patches/
# (small edits to existing kernel files). Patched files are rebuilt from
# pristine copies each time, so editing a patch never stacks on an older
# version of itself, and a file no patch touches any more goes back to
# pristine.
overlay() {
	local f rel stage
	stage=$(mktemp -d)
	trap 'rm -rf "$stage"' RETURN
	(cd "$repo/rust" && find . -type f ! -path './patches/*' ! -name '*.md') |
	while read -r f; do
		rel=${f#./}
		install_if_changed "$repo/rust/$rel" "$src/rust/$rel"
	done

	local patched=()
	if compgen -G "$repo/rust/patches/*.patch" >/dev/null; then
		mapfile -t patched < <(sed -n 's|^+++ b/\([^[:space:]]*\).*|\1|p' \
			"$repo"/rust/patches/*.patch | sort -u)
	fi
	for rel in "${patched[@]}"; do
		# First time a file is patched: keep the untouched original.
		if [ ! -f "$src/.pristine/$rel" ]; then
			mkdir -p "$(dirname "$src/.pristine/$rel")"
			cp "$src/$rel" "$src/.pristine/$rel"
		fi
		mkdir -p "$(dirname "$stage/$rel")"
		cp "$src/.pristine/$rel" "$stage/$rel"
	done
	if [ ${#patched[@]} -gt 0 ]; then
		for p in "$repo"/rust/patches/*.patch; do
			patch -s -p1 -d "$stage" --no-backup-if-mismatch <"$p" ||
				{ echo "kernel: patch $(basename "$p") failed" >&2; exit 1; }
		done
	fi
	for rel in "${patched[@]}"; do
		install_if_changed "$stage/$rel" "$src/$rel"
	done
	# Restore files that earlier patch series touched and this one does not.
	if [ -f "$src/.pvdisk-patched" ]; then
		while read -r rel; do
			printf '%s\n' "${patched[@]}" | grep -qxF "$rel" && continue
			install_if_changed "$src/.pristine/$rel" "$src/$rel"
		done <"$src/.pvdisk-patched"
	fi
	printf '%s\n' "${patched[@]}" >"$src/.pvdisk-patched"
}

configure() {
	if [ -f "$build/.config" ] && [ -f "$build/.pvdisk-config-ok" ]; then
		return 0
	fi
	echo "kernel: configuring $build"
	mkdir -p "$build"
	make -s -C "$src" O="$build" LLVM=1 tinyconfig >/dev/null
	"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" \
		"${fragments[@]}" >/dev/null
	make -s -C "$src" O="$build" LLVM=1 olddefconfig >/dev/null
	# Every option we ask for must have survived olddefconfig (the last
	# fragment's value of an option is the one asked for).
	local bad=0 line
	while read -r line; do
		case "$line" in ''|'#'*) continue ;; esac
		local opt=${line%%=*} val=${line#*=}
		if [ "$val" = n ]; then
			grep -q "^$opt=" "$build/.config" && { echo "kernel: $opt not off" >&2; bad=1; }
		elif ! grep -qx "$line" "$build/.config"; then
			echo "kernel: $line did not stick" >&2
			bad=1
		fi
	done < <(cat "${fragments[@]}" | grep -v -e '^#' -e '^$' |
		awk -F= '{ v[$1] = $0; if (!($1 in o)) o[$1] = ++n; k[o[$1]] = $1 }
			END { for (i = 1; i <= n; i++) print v[k[i]] }')
	[ $bad = 0 ] || exit 1
	touch "$build/.pvdisk-config-ok"
}

# The bindings are generated by the bindgen on PATH, which make does not
# track: after a change of bindgen, generate them again.
bindgen_fresh() {
	local have
	have=$(bindgen --version)
	if [ "$(cat "$build/.pvdisk-bindgen" 2>/dev/null)" != "$have" ]; then
		echo "kernel: $have: generating the Rust bindings again"
		rm -f "$build"/rust/bindings/*_generated.rs "$build"/rust/uapi/*_generated.rs
		echo "$have" >"$build/.pvdisk-bindgen"
	fi
}

# A padding wrapper aligned to 8 whose length is not a multiple of 8 is
# longer in Rust than in C: every field after it is misplaced.
bindings_sound() {
	local bad
	bad=$(grep -hoE '__BindgenOpaqueArray8<\[u8; [0-9]+usize\]>' \
		"$build"/rust/bindings/*_generated.rs |
		grep -oE '[0-9]+' | awk '$1 % 8 != 0' | head -1 || true)
	if [ -n "$bad" ]; then
		echo "kernel: the Rust bindings pad with an aligned wrapper of $bad bytes:" \
			"struct layouts differ from C; use bindgen $PVDISK_BINDGEN_VERSION" >&2
		exit 1
	fi
}

unpack
overlay
make -s -C "$src" LLVM=1 rustavailable >/dev/null
configure
bindgen_fresh
echo "kernel: building in $build"
start=$(date +%s)
if ! make -s -C "$src" O="$build" LLVM=1 -j"$jobs" bzImage modules; then
	echo "kernel: build failed" >&2
	exit 1
fi
bindings_sound
echo "kernel: built in $(( $(date +%s) - start ))s"
