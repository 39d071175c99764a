#!/usr/bin/env bash
# Benchmarks (make bench). Two parts, each comparing runs made within one
# invocation (the machine is emulated and shared: read the ratios, not the
# absolute times). Results: build/bench.txt, console logs in
# build/logs/bench (ours) and build/logs/bench/stock.
#  1. The core on iommufd's mock device (guest/iommufd-bench): harvest
#     scaling, holes, map/unmap latency during a harvest.
#  2. Ours against stock Linux (the unpruned base, with upstream's dirty
#     tracking, same config), each on our QEMU's emulated VT-d (x86-intel),
#     AMD-Vi (x86-amd) and SMMUv3 (arm64-smmuv3) with the dma-writer device
#     (guest/iommufd-vtbench): harvest time per IOPTE at 1% and 100% dirty,
#     and the worst map+unmap latency during a harvest as a ratio to idle;
#     then over 512 2 MiB IOPTEs, 1% of their pages written at random a
#     round: the KiB reported per round, the first harvest's time and the
#     page-table memory its splits add (ours), the writes a harvest missed
#     (none of ours); then VM scale: the same buffer mapped over 64 GiB of
#     4 KiB IOPTEs, then of 2 MiB IOPTEs (16 GiB on x86-amd, whose stock
#     harvests take 3.5 s a GiB under TCG; BENCH_SCALE_GIB overrides both),
#     harvests of it clean, 1% written (one run, or every 100th page) and
#     all written, per GiB and as ratios to a NO_CLEAR read of every leaf;
#     the device's DMA throughput during harvests (dmarate), and again on
#     x86-intel with VT-d's CAP.MAMV 9 (build/logs/bench/mamv9).
# Usage: scripts/bench.sh
#   BENCH_MACHINES="x86-intel x86-amd arm64-smmuv3" (the default): which
#   machines part 2 runs on; part 1 runs with x86-intel
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now)
read -ra MACHINES <<<"${BENCH_MACHINES:-x86-intel x86-amd arm64-smmuv3}"
arches=()
for m in "${MACHINES[@]}"; do
	case $m in
	x86-intel | x86-amd) a=x86_64 ;;
	arm64-smmuv3) a=arm64 ;;
	*) die "unknown machine '$m' in BENCH_MACHINES (known: x86-intel x86-amd arm64-smmuv3)" ;;
	esac
	[[ " ${arches[*]} " == *" $a "* ]] || arches+=("$a")
done
# benched MACHINE: whether part 2 runs on MACHINE (part 1 runs with x86-intel)
benched() { [[ " ${MACHINES[*]} " == *" $1 "* ]]; }
scripts/deps.sh
scripts/assemble.sh
scripts/build-qemu.sh >/dev/null
for a in "${arches[@]}"; do
	scripts/build-kernel.sh "$a"
	scripts/build-guest.sh "$a"
	scripts/build-stock.sh "$a"
done
BL=$LOGS/bench
mkdir -p "$BL/stock"
for m in "${MACHINES[@]}"; do
	gib=${BENCH_SCALE_GIB:-64}
	[ "$m" != x86-amd ] || gib=${BENCH_SCALE_GIB:-16}
	vt=VTBENCH_SCALE_GIB=$gib@vtbench
	suites=$vt
	[ "$m" != x86-intel ] || suites=bench,$vt
	HARNESS_LOGS=$BL scripts/boot.sh "$m" "$suites" 3600
	HARNESS_OUT=$BUILD/out/stock HARNESS_LOGS=$BL/stock scripts/boot.sh "$m" "$vt" 3600
	ours=$BL/boot-$m.log stock=$BL/stock/boot-$m.log
	for s in "vtbench:$ours" "vtbench:$stock"; do
		grep -aq "^##SUITE ${s%%:*} END rc=0" "${s#*:}" || die "benchmark ${s%%:*} failed: see ${s#*:}"
	done
done
# The device's DMA during harvests where a page-selective invalidation
# spans 2 MiB at most (VT-d CAP.MAMV 9, as on IOMMUs with a smaller MAMV
# than QEMU's 18): a flush past it is domain-selective
if benched x86-intel; then
	for k in ours stock; do
		d=$BL/mamv9 o=$BUILD/out
		[ $k = ours ] || d=$BL/mamv9/stock o=$BUILD/out/stock
		VTD_MAMV=9 HARNESS_OUT=$o HARNESS_LOGS=$d scripts/boot.sh x86-intel vtbench@--dmarate 1200
		grep -aq "^##SUITE vtbench END rc=0" "$d/boot-x86-intel.log" ||
			die "benchmark vtbench --dmarate failed: see $d/boot-x86-intel.log"
	done
fi
! benched x86-intel || grep -aq "^##SUITE bench END rc=0" "$BL/boot-x86-intel.log" ||
	die "benchmark bench failed: see $BL/boot-x86-intel.log"
# vtbench's huge, scale and dmarate cases count the writes a harvest missed: none of ours
ours_logs=()
for m in "${MACHINES[@]}"; do ours_logs+=("$BL/boot-$m.log"); done
! benched x86-intel || ours_logs+=("$BL/mamv9/boot-x86-intel.log")
for l in "${ours_logs[@]}"; do
	! grep -aE '^vtbench: (huge_|scale|dmarate)' "$l" | grep -aqvE ' lost_pages=0([[:space:]]|$)' ||
		die "our kernel lost writes in vtbench's huge, scale or dmarate cases: see $l"
done

# compare TITLE OURS_LOG STOCK_LOG: the vtbench lines, "vtbench: CASE
# key=value ...", in a table that compares each value of ours with stock's
compare() {
	awk -v title="vtbench ($1)" '
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
	}' "$2" "$3"
}
{
	echo "Linux $(base_version "$TREE") + $(git -C "$TREE" rev-list --count base..HEAD) patches against stock $(base_version "$BUILD/stock/linux"), under TCG with lockdep (x86_64 also KASAN), $("$QEMU_BIN"/qemu-system-x86_64 --version | head -n 1) + $QEMU_PATCHES patches of ours"
	echo
	! benched x86-intel || grep -aE '^(scaling|holes|latency):' "$BL/boot-x86-intel.log" || true
	for m in "${MACHINES[@]}"; do
		echo
		compare "$m" "$BL/boot-$m.log" "$BL/stock/boot-$m.log"
		grep -aE '^vtbench-note: ' "$BL/boot-$m.log" "$BL/stock/boot-$m.log" || true
	done
	if benched x86-intel; then
		echo
		compare "x86-intel, CAP.MAMV 9" "$BL/mamv9/boot-x86-intel.log" "$BL/mamv9/stock/boot-x86-intel.log"
	fi
} | tr -d '\r' | tee "$BUILD/bench.txt"
log "benchmarks done in $(elapsed "$t0")s (build/bench.txt)"
