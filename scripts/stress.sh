#!/usr/bin/env bash
# The tests too long for make test (make stress): each machine boots once
# and runs what scripts/test.sh leaves out for time, and the results end in
# 'N passed, N failed'. Console logs: build/logs/stress.
#  - e2e race.long on every machine: 60 s of harvests racing the
#    dma-writer's continuous writes (make test runs race.short, 5 s);
#  - on arm64-smmuv3, the iommufd_dirty_big variants test.sh runs in
#    neither guest (BIG_HAND in lib.sh; test.sh gives the cost of each):
#    128 MiB of 2 KiB mock IOPTEs (93 s), the _big fixture's 4G and
#    128G_huge, 128M_pgsz_2M;
#  - iommufd_fuzz on x86-intel (KASAN) and arm64-smmuv3: 10^6 steps
#    (STRESS_FUZZ_STEPS) with a seed from the host's time (or
#    STRESS_FUZZ_SEED), which it prints with the command that replays
#    it, and its steps and checks.
# Usage: scripts/stress.sh   (env: STRESS_MACHINES, default all three;
#   STRESS_FUZZ_STEPS, STRESS_FUZZ_SEED)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now)
read -ra MACHINES <<<"${STRESS_MACHINES:-x86-intel x86-amd arm64-smmuv3}"
# (the seed from the host's clock: the arm64 guest's starts at 0 at boot)
FUZZ=iommufd_fuzz@-s@${STRESS_FUZZ_SEED:-$(date +%s)}@-n@${STRESS_FUZZ_STEPS:-1000000}
declare -A suites=([x86-intel]=e2e@-v@long,$FUZZ [x86-amd]=e2e@-v@long
	[arm64-smmuv3]="e2e@-v@long,iommufd_dirty_big$(printf '@-v@%s' "${BIG_HAND[@]}"),$FUZZ")
scripts/deps.sh
scripts/assemble.sh
scripts/build-qemu.sh >/dev/null
built=
for m in "${MACHINES[@]}"; do
	[ -n "${suites[$m]:-}" ] || die "unknown machine '$m' in STRESS_MACHINES (known: ${!suites[*]})"
	a=x86_64; case $m in arm64*) a=arm64 ;; esac
	[[ " $built " == *" $a "* ]] && continue
	scripts/build-kernel.sh "$a"
	scripts/build-guest.sh "$a"
	built+=" $a"
done
SL=$LOGS/stress
mkdir -p "$SL"
res=$BUILD/stress-results.txt
: >"$res"
for m in "${MACHINES[@]}"; do
	# (10^6 fuzzer steps: 32 min in the x86 guest with KASAN, 23 on arm64,
	# the two guests side by side on a 2-core host)
	HARNESS_LOGS=$SL scripts/boot.sh "$m" "${suites[$m]}" 7200 || true
	# suite "prog@args" reports as "prog"
	python3 scripts/parse-log.py "$m" "$SL/boot-$m.log" "$res" \
		--expect "checks,$(echo "${suites[$m]}" | sed 's/@[^,]*//g')" || true
done
grep -P '^FAIL\t' "$res" | cut -f2- | sed 's/^/  FAIL /; s/\t/: /' || true
log "stress done in $(elapsed "$t0")s (console logs: $SL)"
echo "$(grep -c '^PASS' "$res") passed, $(grep -c '^FAIL' "$res") failed, $(grep -c '^SKIP' "$res") skipped"
! grep -q '^FAIL' "$res"
