#!/usr/bin/env bash
# Benchmarks (make bench). Two parts, each comparing runs made within one
# invocation (the machine is emulated and shared: read the ratios, not the
# absolute times). Results: build/bench.txt.
#  1. The core on iommufd's mock device (guest/iommufd-bench): harvest
#     scaling, holes, map/unmap latency during a harvest.
#  2. Ours against stock Linux (the unpruned base, with upstream's dirty
#     tracking, same config), both on our QEMU's emulated VT-d (x86-intel)
#     and AMD-Vi (x86-amd) with the dma-writer device
#     (guest/iommufd-vtbench): harvest time per IOPTE at 1% and 100% dirty,
#     and the worst map+unmap latency during a harvest as a ratio to idle.
# Usage: scripts/bench.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now)
scripts/deps.sh
scripts/assemble.sh
scripts/build-kernel.sh x86_64
scripts/build-guest.sh x86_64
scripts/build-qemu.sh >/dev/null
scripts/build-stock.sh
MACHINES=(x86-intel x86-amd)
for m in "${MACHINES[@]}"; do
	suites=vtbench
	[ "$m" != x86-intel ] || suites=bench,vtbench
	scripts/boot.sh "$m" "$suites" 3600
	HARNESS_OUT=$BUILD/out/stock HARNESS_LOGS=$LOGS/stock scripts/boot.sh "$m" vtbench 3600
	ours=$LOGS/boot-$m.log stock=$LOGS/stock/boot-$m.log
	for s in "vtbench:$ours" "vtbench:$stock"; do
		grep -aq "^##SUITE ${s%%:*} END rc=0" "${s#*:}" || die "benchmark ${s%%:*} failed: see ${s#*:}"
	done
done
grep -aq "^##SUITE bench END rc=0" "$LOGS/boot-x86-intel.log" ||
	die "benchmark bench failed: see $LOGS/boot-x86-intel.log"

# compare MACHINE: its vtbench lines, "vtbench: CASE key=value ...", in a
# table that compares each value of ours with stock's
compare() {
	awk -v title="vtbench ($1, our QEMU)" '
	FNR == 1 { file++ }
	/^vtbench: / {
		for (i = 3; i <= NF; i++) {
			split($i, kv, "=")
			k = $2 " " kv[1]
			if (!(k in order)) { order[k] = ++n; keys[n] = k }
			v[file, k] = kv[2]
		}
	}
	END {
		printf "%-34s %14s %14s %12s\n", title, "ours", "stock", "ours/stock"
		for (i = 1; i <= n; i++) {
			k = keys[i]
			r = v[2, k] + 0 ? sprintf("%.2f", v[1, k] / v[2, k]) : "-"
			printf "%-34s %14s %14s %12s\n", k, v[1, k], v[2, k], r
		}
	}' "$LOGS/boot-$1.log" "$LOGS/stock/boot-$1.log"
}
{
	echo "Linux $(base_version "$TREE") + $(git -C "$TREE" rev-list --count base..HEAD) patches against stock $(base_version "$BUILD/stock/linux"); x86_64 (TCG, KASAN, lockdep), $("$QEMU_BIN"/qemu-system-x86_64 --version | head -n 1) + $QEMU_PATCHES patches"
	echo
	grep -aE '^(scaling|holes|latency):' "$LOGS/boot-x86-intel.log" || true
	for m in "${MACHINES[@]}"; do
		echo
		compare "$m"
		grep -aE '^vtbench-note: ' "$LOGS/boot-$m.log" "$LOGS/stock/boot-$m.log" || true
	done
} | tr -d '\r' | tee "$BUILD/bench.txt"
log "benchmarks done in $(elapsed "$t0")s (build/bench.txt)"
