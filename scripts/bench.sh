#!/usr/bin/env bash
# Benchmarks (make bench): build the x86_64 kernel and guest, boot them on
# the emulated VT-d machine and run guest/iommufd-bench. The machine is
# emulated and shared: read the ratios, which compare runs made within the
# same boot, not the absolute times. Results: build/bench.txt.
# Usage: scripts/bench.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now)
scripts/deps.sh
scripts/assemble.sh
scripts/build-kernel.sh x86_64
scripts/build-guest.sh x86_64
scripts/build-qemu.sh >/dev/null
scripts/boot.sh x86-intel bench 1800
out=$LOGS/boot-x86-intel.log
grep -q '^##SUITE bench END rc=0' "$out" || die "benchmark failed: see $out"
{
	echo "Linux $(base_version "$TREE") + $(git -C "$TREE" rev-list --count base..HEAD) patches, x86-intel (TCG, KASAN, lockdep)"
	grep -E '^(scaling|holes|latency):' "$out"
} | tee "$BUILD/bench.txt"
log "benchmarks done in $(elapsed "$t0")s (build/bench.txt)"
