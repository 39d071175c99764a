#!/usr/bin/env bash
# Run every test: assemble the tree, audit the prune, check the series
# (checkpatch, per-patch W=1/sparse builds), build both kernels and guests, boot
# every QEMU machine and judge its TAP output and kernel log. Prints a
# per-suite summary and per-stage timings and ends with 'N passed, N failed'.
# Usage: scripts/test.sh        (env: LINUX_SRC, BOOT_TIMEOUT, MACHINES)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RESULTS=$BUILD/results.txt
TIMINGS=$BUILD/timings.txt
: >"$RESULTS"
: >"$TIMINGS"
T0=$(now)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-1800}
# machine:suites  (every machine also runs the driver checks)
MACHINES=${MACHINES:-"x86-intel:kunit,demo,iommufd@-F@iommufd_dirty_tracking_big,iommufd_fail_nth x86-amd:demo arm64-smmuv3:kunit,iommufd,iommufd_fail_nth"}

result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# stage NAME CMD...: run CMD, time it; a failing stage is a failed result
stage() {
	local name=$1 t0 rc=0; shift
	t0=$(now)
	log "== $name"
	"$@" || rc=$?
	printf '%-28s %7ss\n' "$name" "$(elapsed "$t0")" >>"$TIMINGS"
	[ $rc = 0 ] || result FAIL stage "$name (exit $rc)"
	return $rc
}

summary() {
	echo
	echo "== Summary (Linux $(base_version "$TREE" 2>/dev/null || echo '?'), series: $(ls "$TOP"/series/[0-9]*-*.patch 2>/dev/null | grep -vc /0000-) patches)"
	awk -F'\t' '{ n[$2, $1]++; suites[$2] }
		END { for (k in suites) printf "  %-36s %4d passed, %d failed, %d skipped\n", k, n[k, "PASS"], n[k, "FAIL"], n[k, "SKIP"] }' \
		"$RESULTS" | sort
	grep -P '^FAIL\t' "$RESULTS" | cut -f2- | sed 's/^/  FAIL /; s/\t/: /' | head -n 40 || true
	echo
	echo "== Stage timings"
	cat "$TIMINGS"
	printf '%-28s %7ss\n' total "$(elapsed "$T0")"
	echo
	echo "$(grep -c '^PASS' "$RESULTS") passed, $(grep -c '^FAIL' "$RESULTS") failed, $(grep -c '^SKIP' "$RESULTS") skipped"
}
trap summary EXIT

stage deps scripts/deps.sh
stage assemble scripts/assemble.sh
log "base: Linux $(base_version "$TREE"), $(git -C "$TREE" rev-list --count base..HEAD) patches"

audit() {
	local d=$BUILD/audit
	rm -rf "$d" && mkdir -p "$d"
	git -C "$TREE" archive base drivers include tools/testing/selftests/iommu Documentation | tar -x -C "$d"
	if scripts/prune-audit.sh "$d" >"$LOGS/prune-audit.log" 2>&1; then
		result PASS prune-audit "$(tail -n 1 "$LOGS/prune-audit.log")"
	else
		result FAIL prune-audit "$(tail -n 3 "$LOGS/prune-audit.log" | tr '\n' ' ')"
	fi
	rm -rf "$d"
}
stage prune-audit audit

built=()
for arch in x86_64 arm64; do
	stage "build $arch" scripts/build-kernel.sh "$arch" && built+=("$arch") &&
		result PASS build "$arch kernel" || result FAIL build "$arch kernel"
done
stage "series checks" scripts/check-series.sh "$RESULTS" || true
for arch in "${built[@]}"; do
	stage "rebuild $arch (HEAD)" scripts/build-kernel.sh "$arch" &&
	stage "guest $arch" scripts/build-guest.sh "$arch" ||
		{ result FAIL build "$arch guest"; continue; }
done

for m in $MACHINES; do
	machine=${m%%:*} suites=${m#*:}
	arch=x86_64; case $machine in arm64*) arch=arm64 ;; esac
	[ -f "$BUILD/guest/$arch/initramfs.cpio" ] || { result FAIL "$machine" "not booted: $arch build failed"; continue; }
	if stage "boot $machine" scripts/boot.sh "$machine" "${suites:-none}" "$BOOT_TIMEOUT"; then
		# suite "prog@args" reports as "prog"
		python3 scripts/parse-log.py "$machine" "$LOGS/boot-$machine.log" "$RESULTS" \
			--expect "checks,$(echo "$suites" | sed 's/@[^,]*//g')" || true
	fi
done
! grep -q "^FAIL" "$RESULTS"
