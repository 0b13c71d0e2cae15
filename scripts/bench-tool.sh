#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark of the pvdisk tool's check and gc on a store of at least
# 16 GiB (a sparse file) holding 8 VDIs and 100 snapshots, built with the
# tool itself: a golden VDI filled from an 8 GiB image, 7 clones of it, then 100
# rounds of "overwrite a slice of one VDI, snapshot it". Some snapshots and
# one VDI are then deleted so that gc has work to do.
#
# Reports check and gc throughput in GB of store per second (Parallax's
# GC: 0.96 GB/s; goal 2 GB/s), metadata bytes per snapshot, and the
# metadata:data ratio of a fully written VDI.
#
# Usage: scripts/bench-tool.sh [WORKDIR] [STORE_GIB]
#   WORKDIR    where the sparse store and images go (default: a mktemp dir)
#   STORE_GIB  store size in GiB (default 16)

set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t pvdisk-bench.XXXXXX)}
gib=${2:-16}
golden_mib=${GOLDEN_MIB:-8192}
delta_mib=${DELTA_MIB:-16}
mkdir -p "$work"

echo "building the tool (release)..." >&2
(cd "$here/userspace-tools" && cargo build --release --locked -q)
pv="$here/userspace-tools/target/release/pvdisk"
store="$work/store.img"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
# info field: metadata/data "used" in bytes
used_bytes() {
	"$pv" info "$store" | awk -v k="$1" '$1 == k { for (i = 2; i <= NF; i++) if ($i == "bytes)") { v = $(i - 1) } sub(/^\(/, "", v); printf "%.0f\n", v }'
}

rm -f "$store"
truncate -s "${gib}G" "$store"
"$pv" format "$store" >/dev/null

echo "filling golden (${golden_mib} MiB) and 7 clones..." >&2
head -c "$((golden_mib << 20))" /dev/urandom > "$work/golden.raw"
"$pv" create "$store" golden --size "$((golden_mib + 1024))M" >/dev/null
"$pv" import "$store" golden "$work/golden.raw" >/dev/null
"$pv" snapshot "$store" golden --label golden-base >/dev/null
for i in 1 2 3 4 5 6 7; do
	"$pv" create "$store" "vm$i" --from golden-base >/dev/null
done

echo "100 snapshots with ${delta_mib} MiB of new data before each..." >&2
meta0=$(used_bytes metadata)
snap_meta_total=0
for n in $(seq 1 99); do
	v=$((n % 8))
	if [ "$v" = 0 ]; then vdi=golden; else vdi="vm$v"; fi
	# New data over the start of the VDI: copy-on-write of blocks shared
	# with the previous snapshot (import writes the whole image range, so
	# the image holds only the new data).
	head -c "$((delta_mib << 20))" /dev/urandom > "$work/delta.raw"
	"$pv" import "$store" "$vdi" "$work/delta.raw" >/dev/null
	before=$(used_bytes metadata)
	"$pv" snapshot "$store" "$vdi" >/dev/null
	after=$(used_bytes metadata)
	snap_meta_total=$((snap_meta_total + after - before))
done
meta1=$(used_bytes metadata)
snaps=$("$pv" tree "$store" | grep -c '@' || true)

echo "deleting 10 snapshots and one VDI..." >&2
for n in 2 3 4 5 6 7 8 9 10 11; do
	"$pv" delete "$store" "vm1@$n" >/dev/null
done
"$pv" delete "$store" vm7 >/dev/null

store_bytes=$(stat -c %s "$store")
data_used=$(used_bytes data)
meta_used=$(used_bytes metadata)
sync
# Drop this file's pages from the page cache (and only this file's), so
# that the first check and gc read their metadata from disk.
drop_cache() { dd if="$store" iflag=nocache count=0 status=none 2>/dev/null || true; }

drop_cache
t0=$(now); "$pv" check "$store" > "$work/check.out"; t1=$(now)
t_check=$(secs "$t0" "$t1")
t0=$(now); "$pv" check "$store" > /dev/null; t1=$(now)
t_check_warm=$(secs "$t0" "$t1")
drop_cache
t0=$(now); "$pv" gc "$store" > "$work/gc.out"; t1=$(now)
t_gc=$(secs "$t0" "$t1")
t0=$(now); "$pv" check "$store" > "$work/check2.out"; t1=$(now)
t_check2=$(secs "$t0" "$t1")

# Metadata:data ratio of a fully written VDI: a fresh 256 MiB VDI filled
# with non-zero data on a fresh store.
full="$work/full.img"
rm -f "$full"; truncate -s 2G "$full"
"$pv" format "$full" --extent-size 64M >/dev/null
"$pv" create "$full" full --size 256M >/dev/null
head -c $((256 << 20)) /dev/urandom > "$work/full.raw"
"$pv" import "$full" full "$work/full.raw" >/dev/null
store=$full
full_meta=$(used_bytes metadata)
full_data=$(used_bytes data)

# Part B, metadata-dense: 8 empty 1 GiB VDIs; 100 rounds of "write one
# block under every level-1 node of one VDI, snapshot it", so that every
# round copies all 514 level-1 nodes of that VDI: about one 4 KiB node
# per 4 KiB of data, the worst case for check and gc.
echo "metadata-dense store: 8 VDIs, 100 snapshots, one block per level-1 node..." >&2
dense="$work/dense.img"
rm -f "$dense"; truncate -s "${gib}G" "$dense"
"$pv" format "$dense" >/dev/null
for v in 0 1 2 3 4 5 6 7; do "$pv" create "$dense" "d$v" --size 1G >/dev/null; done
for n in $(seq 0 99); do
	python3 - "$work/scatter.raw" "$n" <<'PY'
import os, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.truncate(1 << 30)
    for lba in range(0, 262144, 510):
        f.seek(lba * 4096)
        f.write(os.urandom(4096))
PY
	"$pv" import "$dense" "d$((n % 8))" "$work/scatter.raw" >/dev/null
	"$pv" snapshot "$dense" "d$((n % 8))" >/dev/null
done
for n in 2 3 4 5 6 7 8 9 10 11; do "$pv" delete "$dense" "d1@$n" >/dev/null; done
"$pv" delete "$dense" d7 >/dev/null
store=$dense
d_meta=$(used_bytes metadata)
d_data=$(used_bytes data)
sync
drop_cache
t0=$(now); "$pv" check "$dense" > "$work/dcheck.out"; t1=$(now)
td_check=$(secs "$t0" "$t1")
drop_cache
t0=$(now); "$pv" gc "$dense" > "$work/dgc.out"; t1=$(now)
td_gc=$(secs "$t0" "$t1")
d_nodes=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "radix") print $(i - 1) }' "$work/dcheck.out" | head -1)

gbps() { echo "scale=2; $1 / 1000000000 / $2" | bc -l; }
cat <<REPORT
store:            $store_bytes bytes ($gib GiB sparse file), 8 VDIs, $snaps snapshots
                  data in use $data_used bytes, metadata in use $meta_used bytes
check (cold):     ${t_check}s  -> $(gbps "$store_bytes" "$t_check") GB of store/s, $(gbps "$((data_used + meta_used))" "$t_check") GB of mapped blocks/s
check (warm):     ${t_check_warm}s  -> $(gbps "$store_bytes" "$t_check_warm") GB of store/s
gc (cold):        ${t_gc}s  -> $(gbps "$store_bytes" "$t_gc") GB of store/s, $(gbps "$((data_used + meta_used))" "$t_gc") GB of mapped blocks/s
                  $(cat "$work/gc.out")
check after gc:   ${t_check2}s  -> $(gbps "$store_bytes" "$t_check2") GB of store/s
metadata/snapshot: $((snap_meta_total / 99)) bytes at snapshot time (root copy + log entry),
                  $(( (meta1 - meta0) / 99 )) bytes per snapshot including the CoW paths of ${delta_mib} MiB of writes
full VDI:         metadata $full_meta bytes for $full_data bytes of data (1:$(echo "$full_data / $full_meta" | bc))

metadata-dense:   $gib GiB store, metadata $d_meta bytes, data $d_data bytes, $d_nodes radix nodes reached
check (cold):     ${td_check}s  -> $(gbps "$store_bytes" "$td_check") GB of store/s, $(gbps "$d_meta" "$td_check") GB of metadata/s, $(echo "$d_nodes / $td_check" | bc) nodes/s
gc (cold):        ${td_gc}s  -> $(gbps "$store_bytes" "$td_gc") GB of store/s, $(gbps "$d_meta" "$td_gc") GB of metadata/s
                  $(cat "$work/dgc.out")
REPORT
tail -2 "$work/check.out"
