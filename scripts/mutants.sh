#!/usr/bin/env bash
# Mutation tests: each mutants/NAME.patch breaks the series on purpose (a
# diff against build/linux's HEAD) and names the test that must catch it.
# For each one: apply it to build/linux, build the kernel of its machine,
# boot that machine with the suites it names under our QEMU, and require a
# FAIL result whose "machine/suite<TAB>test" matches its Expect pattern. A
# mutant that no test catches ("survived"), that does not build or boot
# fails the run. build/linux is restored after each mutant (its kernel
# images are kept in build/mutants/out) and its kernels are rebuilt at the
# end. A test whose FAIL a mutant expects must not fail in the last make
# test (build/results.txt): run make test first, and not beside this.
# Header of a mutant (before its diff):
#   Mutant: what it breaks
#   Machine: x86-intel | x86-amd | arm64-smmuv3
#   Suites: the boot's suites (scripts/boot.sh)
#   Expect: an extended regex a FAIL line's "machine/suite<TAB>test" matches
#   Env: optional NAME=VALUE words for scripts/boot.sh (e.g. VTD_MAMV=9)
# Usage: scripts/mutants.sh [NAME...]   (env: HARNESS_QEMU, another QEMU:
#   to show that a mutant survives one without our emulation's checks)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no assembled tree: run scripts/assemble.sh first"
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
	die "build/linux has uncommitted changes: commit or stash them first"
exec 9>"$BUILD/series.lock"
flock -n 9 || die "check-series.sh runs (make test?): run make mutants after it"
MDIR=$TOP/mutants
if [ $# = 0 ]; then
	set -- $(cd "$MDIR" && ls *.patch 2>/dev/null | sed 's/\.patch$//')
	[ $# != 0 ] || die "no mutants in mutants/"
fi
field() { sed -n "s/^$1: *//p" "$2" | head -n 1; }
# Every mutant is checked before any is run
for name in "$@"; do
	m=$MDIR/$name.patch
	[ -f "$m" ] || die "no mutant mutants/$name.patch"
	case $(field Machine "$m") in
	x86-intel | x86-amd | arm64-smmuv3) ;;
	*) die "mutants/$name.patch: Machine must be x86-intel, x86-amd or arm64-smmuv3" ;;
	esac
	[ -n "$(field Suites "$m")" ] && [ -n "$(field Expect "$m")" ] ||
		die "mutants/$name.patch: Suites and Expect are required"
	for e in $(field Env "$m"); do
		[[ $e =~ ^[A-Z_][A-Z0-9_]*=[^[:space:]]*$ ]] ||
			die "mutants/$name.patch: Env takes NAME=VALUE words, not '$e'"
	done
	git -C "$TREE" apply --check "$m" 2>/dev/null ||
		die "mutants/$name.patch does not apply to build/linux"
	if [ -f "$BUILD/results.txt" ] && grep -P '^FAIL\t' "$BUILD/results.txt" | cut -f2- |
		grep -qE -- "$(field Expect "$m")"; then
		die "mutants/$name.patch: what it expects to fail fails without it too (build/results.txt)"
	fi
done

WORK=$BUILD/mutants
mkdir -p "$WORK"
# restore: undo the mutant applied (a copy: the file may change meanwhile)
applied=
restore() {
	local a=$applied
	applied=
	[ -z "$a" ] || git -C "$TREE" apply -R "$a" ||
		die "could not restore build/linux: git -C $TREE checkout -- . restores it"
}
trap restore EXIT
killed=0 survived=0 broken=0 built=()
t0=$(now)
for name in "$@"; do
	m=$MDIR/$name.patch
	machine=$(field Machine "$m") suites=$(field Suites "$m") expect=$(field Expect "$m")
	read -ra envs <<<"$(field Env "$m")"
	case $machine in arm64*) arch=arm64 ;; *) arch=x86_64 ;; esac
	log "$name: $(field Mutant "$m")"
	t1=$(now)
	cp "$m" "$WORK/applied.patch"
	git -C "$TREE" apply "$WORK/applied.patch" || die "mutants/$name.patch does not apply to build/linux"
	applied=$WORK/applied.patch
	built+=("$arch")
	if ! "$TOP/scripts/build-kernel.sh" "$arch" >/dev/null; then
		log "$name: BROKEN (the mutant does not build)"
		broken=$((broken + 1))
		restore
		continue
	fi
	arch_env "$arch"
	rm -rf "$WORK/logs/$name"
	mkdir -p "$WORK/out/$arch/$(dirname "$KIMAGE")" "$WORK/logs/$name"
	cp "$KOUT/$KIMAGE" "$WORK/out/$arch/$KIMAGE"
	restore
	res=$WORK/logs/$name/results.txt
	: >"$res"
	if ! env "${envs[@]}" HARNESS_OUT="$WORK/out" HARNESS_LOGS="$WORK/logs/$name" \
		"$TOP/scripts/boot.sh" "$machine" "$suites" 2700; then
		log "$name: NOT BOOTED (see $WORK/logs/$name)"
		broken=$((broken + 1))
		continue
	fi
	python3 "$TOP/scripts/parse-log.py" "$machine" "$WORK/logs/$name/boot-$machine.log" "$res" \
		--expect "checks,$(echo "$suites" | sed 's/@[^,]*//g')" >/dev/null || true
	hits=$(grep -P '^FAIL\t' "$res" | cut -f2- | grep -E -- "$expect" || true)
	if [ -n "$hits" ]; then
		log "$name: killed ($(elapsed "$t1")s): $(head -n 2 <<<"$hits" | tr '\t\n' '  ')"
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
log "$killed killed, $survived survived, $broken did not build or boot ($(elapsed "$t0")s)"
[ "$survived" = 0 ] && [ "$broken" = 0 ]
