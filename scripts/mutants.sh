#!/usr/bin/env bash
# Mutation tests: each mutants/NAME.patch breaks the series on purpose (a
# diff against build/linux's HEAD) and names the test that must catch it.
# For each one: apply it to build/linux, build the kernel of its machine,
# boot that machine with the suites it names under our QEMU, and require a
# FAIL result whose "suite<TAB>test" matches its Expect pattern. A mutant
# that no test catches ("survived") fails the run. build/linux is restored
# after each mutant and the kernels are rebuilt from it at the end.
# Header of a mutant (before its diff):
#   Mutant: what it breaks
#   Machine: x86-intel | x86-amd | arm64-smmuv3
#   Suites: the boot's suites (scripts/boot.sh)
#   Expect: an extended regex a FAIL line's "machine/suite<TAB>test" matches
# Usage: scripts/mutants.sh [NAME...]   (env: HARNESS_QEMU, another QEMU:
#   to show that a mutant survives one without our emulation's checks)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no assembled tree: run scripts/assemble.sh first"
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
	die "build/linux has uncommitted changes: commit or stash them first"
MDIR=$TOP/mutants
if [ $# = 0 ]; then
	set -- $(cd "$MDIR" && ls *.patch | sed 's/\.patch$//')
fi
for name in "$@"; do
	[ -f "$MDIR/$name.patch" ] || die "no mutant mutants/$name.patch"
done

field() { sed -n "s/^$1: *//p" "$2" | head -n 1; }
applied=
restore() {
	[ -z "$applied" ] || git -C "$TREE" apply -R "$applied" ||
		log "ERROR: could not restore build/linux: git -C $TREE checkout -- . restores it"
	applied=
}
trap restore EXIT

WORK=$BUILD/mutants
killed=0 survived=0 broken=0 built=()
t0=$(now)
for name in "$@"; do
	m=$MDIR/$name.patch
	machine=$(field Machine "$m") suites=$(field Suites "$m") expect=$(field Expect "$m")
	[ -n "$machine" ] && [ -n "$suites" ] && [ -n "$expect" ] ||
		die "mutants/$name.patch: Machine, Suites and Expect are required"
	case $machine in arm64*) arch=arm64 ;; *) arch=x86_64 ;; esac
	log "$name: $(field Mutant "$m")"
	t1=$(now)
	git -C "$TREE" apply "$m" || die "mutants/$name.patch does not apply to build/linux"
	applied=$m
	built+=("$arch")
	if ! "$TOP/scripts/build-kernel.sh" "$arch" >/dev/null; then
		log "$name: BROKEN (the mutant does not build)"
		broken=$((broken + 1))
		restore
		continue
	fi
	arch_env "$arch"
	mkdir -p "$WORK/out/$arch/$(dirname "$KIMAGE")" "$WORK/logs/$name"
	cp "$KOUT/$KIMAGE" "$WORK/out/$arch/$KIMAGE"
	restore
	res=$WORK/logs/$name/results.txt
	: >"$res"
	HARNESS_OUT=$WORK/out HARNESS_LOGS=$WORK/logs/$name \
		"$TOP/scripts/boot.sh" "$machine" "$suites" 2700 || true
	python3 "$TOP/scripts/parse-log.py" "$machine" "$WORK/logs/$name/boot-$machine.log" "$res" \
		--expect "checks,$(echo "$suites" | sed 's/@[^,]*//g')" >/dev/null || true
	if grep -P '^FAIL\t' "$res" | cut -f2- | grep -qE "$expect"; then
		log "$name: killed ($(elapsed "$t1")s): $(grep -P '^FAIL\t' "$res" | cut -f2- |
			grep -E "$expect" | head -n 2 | tr '\t\n' '  ')"
		killed=$((killed + 1))
	else
		log "$name: SURVIVED ($(elapsed "$t1")s): no FAIL matches '$expect' ($(grep -c '^PASS' "$res") passed, $(grep -c '^FAIL' "$res") failed)"
		survived=$((survived + 1))
	fi
done
for arch in $(printf '%s\n' "${built[@]}" | sort -u); do
	log "rebuilding the $arch kernel of build/linux"
	"$TOP/scripts/build-kernel.sh" "$arch" >/dev/null
done
log "$killed killed, $survived survived, $broken did not build ($(elapsed "$t0")s)"
[ "$survived" = 0 ] && [ "$broken" = 0 ]
