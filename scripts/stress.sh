#!/usr/bin/env bash
# The tests too long for make test (make stress): each machine boots once
# and runs what scripts/test.sh leaves out for time, and the results end in
# 'N passed, N failed'. Console logs: build/logs/stress. The boots run in
# two lanes, as a TCG guest keeps about one core busy: arm64-smmuv3 in one,
# the x86 machines one after the other in the other.
#  - e2e's long variants on every machine: race.long, 60 s of harvests
#    racing the dma-writer's continuous writes (make test runs race.short,
#    5 s), and soak.long, 300 s of a VMM's pre-copy rounds with replaces,
#    restarts, bad and NO_CLEAR harvests and map/unmap of other ranges
#    while the device writes (soak.short, 20 s, in make test), with a seed
#    from the host's time (or STRESS_SOAK_SEED);
#  - on arm64-smmuv3, the iommufd_dirty_big variants test.sh runs in
#    neither guest (BIG_HAND in lib.sh; test.sh gives the cost of each):
#    128 MiB of 2 KiB mock IOPTEs (93 s), the _big fixture's 4G and
#    128G_huge, 128M_pgsz_2M; from iommufd_dirty_big_long, the same
#    program built with an hour's timeout for its longer tests
#    (build-guest.sh), as the 4G and 128G_huge ones take longer than
#    make test's 300 s;
#  - iommufd_fuzz on x86-intel (KASAN) and arm64-smmuv3: 10^6 steps
#    (STRESS_FUZZ_STEPS) with a seed from the host's time (or
#    STRESS_FUZZ_SEED), which it prints with the command that replays
#    it, and its steps and checks.
# Each prints its seed and what it did: the fuzzer its steps, checks and
# exact harvests, the soak its rounds, writes and actions.
# Usage: scripts/stress.sh   (env: STRESS_MACHINES, default all three;
#   STRESS_FUZZ_STEPS, STRESS_FUZZ_SEED, STRESS_SOAK_SEED)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

t0=$(now)
read -ra MACHINES <<<"${STRESS_MACHINES:-x86-intel x86-amd arm64-smmuv3}"
# (the seed from the host's clock: the arm64 guest's starts at 0 at boot)
FUZZ=iommufd_fuzz@-s@${STRESS_FUZZ_SEED:-$(date +%s)}@-n@${STRESS_FUZZ_STEPS:-1000000}
# (guest/init passes VAR=VALUE words before a suite's program to it)
E2E=E2E_SEED=${STRESS_SOAK_SEED:-$(date +%s)}@e2e@-v@long
declare -A suites=([x86-intel]=$E2E,$FUZZ [x86-amd]=$E2E
	[arm64-smmuv3]="$E2E,iommufd_dirty_big_long$(printf '@-v@%s' "${BIG_HAND[@]}"),$FUZZ")
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
# lane PATTERN: boot the machines that match, one after the other
# (the whole run, 2026-12-07, 2-core host: 4869 s, builds included; the
# x86 lane 3372 + 417 s, 10^6 fuzzer steps 2952 s of it under KASAN; the
# arm64 lane 3206 s, the fuzzer 1949 s under UBSAN)
lane() {
	local m
	for m in "${MACHINES[@]}"; do
		# shellcheck disable=SC2053
		[[ $m == $1 ]] || continue
		HARNESS_LOGS=$SL scripts/boot.sh "$m" "${suites[$m]}" 10800 || true
	done
}
# an interrupted run takes its guests with it
trap 'trap - INT TERM; kill 0' INT TERM
lane 'arm64*' &
lane 'x86*' &
wait
for m in "${MACHINES[@]}"; do
	# suite "VAR=VALUE@prog@args" reports as "prog"
	python3 scripts/parse-log.py "$m" "$SL/boot-$m.log" "$res" \
		--expect "checks,$(echo "${suites[$m]}" | sed -E 's/(^|,)[A-Z_][A-Z0-9_]*=[^@,]*@/\1/g; s/@[^,]*//g')" || true
done
# what each program did, from its console log, and the kernel's verdict
for m in "${MACHINES[@]}"; do
	echo "== $m"
	sed -nE 's/^# (seed [0-9]+, [0-9]+ steps.*|[0-9]+ steps, [0-9]+ checks.*|[0-9]+ lane harvests exact.*)$/  iommufd_fuzz: \1/p
		s/^# [^ ]*:[0-9]+:(harvest_while_writing|precopy_while_writing):(.*)$/  \1: \2/p' \
		"$SL/boot-$m.log" 2>/dev/null || true
	grep -P "^[A-Z]+\t$m/kernel-log\t" "$res" | cut -f1,3 | sed 's/^/  kernel log: /; s/\t/ /' || true
done
grep -P '^FAIL\t' "$res" | cut -f2- | sed 's/^/  FAIL /; s/\t/: /' || true
log "stress done in $(elapsed "$t0")s (console logs: $SL)"
echo "$(grep -c '^PASS' "$res") passed, $(grep -c '^FAIL' "$res") failed, $(grep -c '^SKIP' "$res") skipped"
! grep -q '^FAIL' "$res"
