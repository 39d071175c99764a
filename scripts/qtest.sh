#!/usr/bin/env bash
# QEMU's qtests of what qemu/patches/ add (the dma-writer, VT-d x-ssads,
# AMD-Vi x-hd, SMMUv3 x-httu: capability bits, walks that set A/D through
# the dma-writer, the caches that keep them), built in our QEMU's build
# tree and run against our QEMU binaries, one result line per test case
# appended to RESULTS ('PASS|FAIL<TAB>qtest<TAB>check').
# Usage: scripts/qtest.sh RESULTS   (after scripts/build-qemu.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

results=${1:?usage: qtest.sh RESULTS}
BLD=$BUILD/qemu/build
# test program: the target binary it runs
declare -A TESTS=([dma-writer-test]=x86_64 [intel-iommu-test]=x86_64
	[amd-iommu-test]=x86_64 [arm-smmuv3-test]=aarch64)
result() { printf '%s\t%s\t%s\n' "$1" qtest "$2" >>"$results"; [ "$1" != FAIL ] || log "FAIL qtest: $2"; }

[ -f "$BLD/build.ninja" ] || die "no QEMU build tree in $BLD: run scripts/build-qemu.sh"
t0=$(now)
targets=()
for t in "${!TESTS[@]}"; do targets+=("tests/qtest/$t"); done
if ! ninja -C "$BLD" -j"$JOBS" "${targets[@]}" >"$LOGS/qtest-build.log" 2>&1; then
	result FAIL "build: $(grep -m1 -E 'error|FAILED' "$LOGS/qtest-build.log") (see $LOGS/qtest-build.log)"
	exit 1
fi
# QTEST_QEMU_BINARY must end in qemu-system-ARCH: a wrapper that adds
# Debian's firmware (QEMU's +ds source has none), as scripts/boot.sh does
wrap=$BUILD/qemu/qtest-bin
mkdir -p "$wrap"
for a in x86_64 aarch64; do
	printf '#!/bin/sh\nexec %q -L /usr/share/qemu -L /usr/share/seabios "$@"\n' \
		"$QEMU_BIN/qemu-system-$a" >"$wrap/qemu-system-$a"
	chmod +x "$wrap/qemu-system-$a"
done
rc=0
for t in $(printf '%s\n' "${!TESTS[@]}" | sort); do
	out=$LOGS/qtest-$t.log
	QTEST_QEMU_BINARY=$wrap/qemu-system-${TESTS[$t]} timeout 300 "$BLD/tests/qtest/$t" --tap >"$out" 2>&1 || rc=1
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$out" | head -n1)
	while read -r status name; do
		result "$status" "$t: $name"
	done < <(sed -nE 's/^ok [0-9]+ ([^ ]+).*/PASS \1/p; s/^not ok [0-9]+ ([^ ]+).*/FAIL \1/p' "$out")
	ran=$(grep -cE '^(not )?ok [0-9]+ ' "$out" || true)
	if [ -z "$plan" ] || [ "$ran" -lt "$plan" ]; then
		result FAIL "$t: ran $ran of ${plan:-?} cases: $(grep -m1 -E '^(ERROR|Bail out)' "$out" || tail -n1 "$out") (see $out)"
		rc=1
	fi
done
log "qtests in $(elapsed "$t0")s"
exit $rc
