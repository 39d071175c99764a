#!/usr/bin/env bash
# Run every test: assemble the tree, audit the prune, check the series
# (checkpatch, per-patch W=1/sparse builds), build both kernels and guests, boot
# every QEMU machine and judge its TAP output and kernel log. Prints a
# per-suite summary and per-stage timings and ends with 'N passed, N failed'.
# Our QEMU builds from the start (it needs no kernel tree); after the tree is
# assembled three more jobs run at once: the series checks (at nice 3),
# and for each architecture its kernel, guest and boots (a TCG guest keeps
# about one core busy). A boot whose kernel,
# initramfs, QEMU, scripts and suites are those of a boot that passed before
# is not run again: its log is judged again, and the stage table says
# "cached". FRESH=1 runs everything (the series checks cache likewise).
# Usage: scripts/test.sh        (env: LINUX_SRC, BOOT_TIMEOUT, MACHINES, FRESH)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RESULTS=$BUILD/results.txt
TIMINGS=$BUILD/timings.txt
: >"$RESULTS"
: >"$TIMINGS"
T0=$(now)
BOOT_TIMEOUT=${BOOT_TIMEOUT:-2700}
# machine:suites  (every machine also runs the driver checks)
# The iommufd kselftest drives the mock domain only, so it tests the same
# code on both architectures. x86-intel (KASAN and lockdep) runs iommufd;
# iommufd_dirty_big, the same program with the dirty tracking variants and
# tests that map 128 MiB or more added (not run by kselftest by default),
# runs on arm64 (lockdep, no KASAN, 3-4x faster), which runs only those:
# the 128M_huge variants, 3G_1G_iopte, the _big fixture's 128G_windows and two
# tests that map 128 MiB, two walk steps (86 s in the x86 guest), and the
# split fixture's 1 GiB IOPTE (amd_1G, which pins 1 GiB for each of its
# tests: 250 s in the x86 guest). So the mock domain with AMD-Vi's page
# sizes (those and 3G_1G_iopte) runs under lockdep, not under KASAN. Four more run in neither (HAND), as
# others cover what they do, at a cost measured in the arm64 guest on a
# 2-core host:
#  - the _big fixture's 4G (2M mock IOPTEs of 2 KiB), 684 s: small IOPTEs
#    over several walk steps are 128M's (below, in make stress too), a
#    bitmap of many pages
#    3G_1G_iopte's;
#  - the _big fixture's 128G_huge (128 GiB mapped by 2047 copies of 64 MiB,
#    read back page by page), 695 s: harvests across iova_bitmap windows
#    are 128G_windows' (4.7 s);
#  - 128M_pgsz_2M: bits larger than IOPTEs are 2M_pgsz_64K's;
#  - 128M (2 KiB mock IOPTEs over two walk steps), 93 s: many small IOPTEs
#    are 2M's (x86-intel's iommufd); the walk's steps, the same loop for
#    any IOPTE size, and a 128 MiB bitmap are 128M_huge's (4 s).
# make stress (scripts/stress.sh) runs them; by hand:
# scripts/boot.sh arm64-smmuv3 iommufd_dirty_big_long@-v@domain_dirty_4G.
# Kselftest filters (exact names): -f/-v/-t select a fixture, a variant or
# a test, -F/-V/-T leave it out; the first filter that names a test decides.
# The guests' selftests are built with IOMMU_TEST_TIMEOUT=300 (build-guest.sh).
BIG=(f@iommufd_dirty_tracking_big v@domain_dirty_128M_huge
	v@domain_dirty_128M_huge_flush_span v@domain_dirty_3G_1G_iopte
	t@amd_page_sizes t@unmap_waits_one_step v@amd_1G)
HAND=("${BIG_HAND[@]/#/V@}")
ARM64_ONLY=$(printf '@-%s' "${HAND[@]}" "${BIG[@]}")
# The demo's mock part (guest/iommufd-demo.c), 256 MiB of 2 KiB mock IOPTEs,
# costs 110 s in the x86 guests (KASAN), and is the same code on each: it
# runs on arm64 (not under KASAN), the dma-writer part and its part with
# 2 MiB IOPTEs (huge, 10 s) on every machine.
# iommufd_fail_nth, the mock's error paths, runs once, under KASAN.
# iommufd_fuzz, the seeded fuzzer of the uAPI with its oracle, runs a short
# slice with a fixed seed on each arch: 10000 steps under KASAN (21 s in
# the x86 guest), 50000 on arm64 (20000: 9 s); make stress runs 10^6 steps
# on each with a seed from the time.
MACHINES=${MACHINES:-"x86-intel:kunit,demo@dma-writer@huge,e2e@-V@long,iommufd,iommufd_fail_nth,iommufd_fuzz@-s@1@-n@10000 x86-amd:kunit,demo@dma-writer@huge,e2e@-V@long arm64-smmuv3:kunit,demo,e2e@-V@long,iommufd_dirty_big$ARM64_ONLY,iommufd_fuzz@-s@2@-n@50000"}

result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# cpu: CPU = the CPU seconds (user + system) of the children this shell
# waited for ('times' must run in this shell, not in a $(...) subshell).
# A stage's CPU is that of the children reaped while it ran: a background
# job of the same shell that ends meanwhile would be counted too, so the
# stages of one shell do not overlap its background jobs' ends (the main
# shell's stages, deps to prune-audit, end before QEMU's build).
cpu() {
	local f
	f=$(mktemp)
	times >"$f"
	CPU=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] } print n }' "$f")
	rm -f "$f"
}

# stage NAME CMD...: run CMD, time it (wall clock and CPU); a failing stage
# is a failed result
stage() {
	local name=$1 t0 c0 rc=0; shift
	t0=$(now)
	cpu
	c0=$CPU
	log "== $name"
	"$@" || rc=$?
	cpu
	printf '%-28s %7ss   at %6ss   cpu %6.0fs\n' "$name" "$(elapsed "$t0")" "$(elapsed "$T0" "$t0")" \
		"$(awk -v a="$c0" -v b="$CPU" 'BEGIN { print b - a }')" >>"$TIMINGS"
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

# Our QEMU needs nothing of the kernel tree: it builds from here on, beside
# the assembly and then the kernels; the boots wait for it
QEMU_STATUS=$BUILD/qemu.status
rm -f "$QEMU_STATUS"
qemu_job() {
	if stage "qemu" scripts/build-qemu.sh >/dev/null; then
		result PASS build "QEMU $("$QEMU_BIN"/qemu-system-x86_64 --version | awk 'NR == 1 { print $4 }') + $QEMU_PATCHES patches (qemu/patches)"
		echo ok >"$QEMU_STATUS"
		# QEMU's qtests of our patches (about 50 CPU-s to build, 10 s
		# to run), beside the kernel builds
		stage qtest scripts/qtest.sh "$RESULTS" || true
	else
		result FAIL build "QEMU"
		echo failed >"$QEMU_STATUS"
	fi
}
wait_qemu() {
	while [ ! -s "$QEMU_STATUS" ]; do sleep 2; done
	[ "$(cat "$QEMU_STATUS")" = ok ]
}
qemu_job &

if ! stage assemble scripts/assemble.sh; then
	log "assembly failed: waiting for the QEMU build to end (it is kept for the next run)"
	wait
	exit 1
fi
log "base: Linux $(base_version "$TREE"), $(git -C "$TREE" rev-list --count base..HEAD) patches"

# audit: the prune audit of the base, unless one of the same base and audit
# inputs passed before (assemble.sh audits every base it makes)
audit() {
	local d=$BUILD/audit key
	key=$AUDIT_CACHE/$(audit_key "$TREE")
	if [ "${FRESH:-0}" = 0 ] && [ -f "$key" ]; then
		log "prune audit: this base passed it before ($key)"
		result PASS prune-audit "$(cat "$key") (cached)"
		return
	fi
	rm -rf "$d" && mkdir -p "$d"
	git -C "$TREE" archive base drivers include tools/testing/selftests/iommu Documentation | tar -x -C "$d"
	if scripts/prune-audit.sh "$d" >"$LOGS/prune-audit.log" 2>&1; then
		result PASS prune-audit "$(tail -n 1 "$LOGS/prune-audit.log")"
		mkdir -p "$AUDIT_CACHE" && tail -n 1 "$LOGS/prune-audit.log" >"$key"
	else
		result FAIL prune-audit "$(tail -n 3 "$LOGS/prune-audit.log" | tr '\n' ' ')"
	fi
	rm -rf "$d"
}
stage prune-audit audit

# boot MACHINE SUITES: boot it (or reuse the log of the same boot that
# passed before) and judge its log
BOOT_CACHE=$BUILD/cache/boot
boot() {
	local machine=$1 suites=$2 arch=$3 key log res
	log=$LOGS/boot-$machine.log
	arch_env "$arch"
	key=$(cat "$KOUT/$KIMAGE" "$BUILD/guest/$arch/initramfs.cpio" \
		"$QEMU_BIN"/qemu-system-* \
		scripts/boot.sh scripts/parse-log.py guest/init | sha1sum | cut -c1-16)
	# (BOOT_STAMP: a stamped log is not the same log)
	key=$BOOT_CACHE/$machine-$key-$(echo "$suites $BOOT_TIMEOUT ${BOOT_STAMP:-}" | sha1sum | cut -c1-16).log
	res=$(mktemp)
	if [ "${FRESH:-0}" = 0 ] && [ -f "$key" ]; then
		log "boot $machine: same kernel, initramfs, QEMU and suites as a boot that passed: judging its log again ($key)"
		cp "$key" "$log"
		printf '%-28s %7s    at %6ss\n' "boot $machine" cached "$(elapsed "$T0")" >>"$TIMINGS"
	elif ! stage "boot $machine" scripts/boot.sh "$machine" "${suites:-none}" "$BOOT_TIMEOUT"; then
		rm -f "$res"
		return
	fi
	# suite "prog@args" reports as "prog"
	if python3 scripts/parse-log.py "$machine" "$log" "$res" \
		--expect "checks,$(echo "$suites" | sed 's/@[^,]*//g')"; then
		mkdir -p "$BOOT_CACHE" && cp "$log" "$key"
	fi
	cat "$res" >>"$RESULTS"
	rm -f "$res"
}

# Boots are claimed, one machine at a time (mkdir is atomic): each arch job
# boots its own machines, then those of the other arch that are still
# unclaimed once that arch is built. The x86 kernel is ready before the
# arm64 boot ends, and x86-intel's boot is the longest, so the arm64 job
# then takes x86-amd instead of leaving it to run after x86-intel.
CLAIMS=$BUILD/cache/claims
rm -rf "$CLAIMS" && mkdir -p "$CLAIMS"
arch_of() { case $1 in arm64*) echo arm64 ;; *) echo x86_64 ;; esac; }

# boot_arch ARCH: boot the machines of ARCH that no job claimed yet, once
# ARCH's job has said whether its kernel, guest and QEMU are ready
boot_arch() {
	local arch=$1 m machine suites
	while [ ! -s "$CLAIMS/ready-$arch" ]; do sleep 2; done
	for m in $MACHINES; do
		machine=${m%%:*} suites=${m#*:}
		[ "$(arch_of "$machine")" = "$arch" ] || continue
		mkdir "$CLAIMS/$machine" 2>/dev/null || continue
		if [ "$(cat "$CLAIMS/ready-$arch")" = ok ]; then
			boot "$machine" "$suites" "$arch"
		else
			result FAIL "$machine" "not booted: the $arch or QEMU build failed"
		fi
	done
}

# arch_job ARCH NICE: build its kernel and guest at that nice level, boot
# its machines, then help with the other arch's
arch_job() {
	local arch=$1 n=$2 ok=ok other=x86_64
	[ "$arch" != x86_64 ] || other=arm64
	if stage "build $arch" nice -n "$n" scripts/build-kernel.sh "$arch"; then
		result PASS build "$arch kernel"
		stage "guest $arch" nice -n "$n" scripts/build-guest.sh "$arch" ||
			{ result FAIL build "$arch guest"; ok=fail; }
	else
		result FAIL build "$arch kernel"
		ok=fail
	fi
	[ "$ok" != ok ] || wait_qemu || ok=fail
	echo "$ok" >"$CLAIMS/ready-$arch"
	boot_arch "$arch"
	boot_arch "$other"
}

# The two kernels build beside QEMU, then the boots run, two at a time;
# the series checks run beside them all, at nice 3: the x86_64 kernel,
# which the longest x86 boot waits for, then gets a larger share, and the
# series checks fill the cores once the kernels are built. A model of the
# cold run's stages (CPU-s measured in a clean root: QEMU 768, x86_64
# kernel 1252, arm64 kernel 957, series checks 1092, boots 339 + 275 +
# 116 s, on 2 cores, with CFS weights) ends the run at 2692 s with all at
# nice 0 (measured: 2684 s), at 2519-2545 s with the series checks at
# nice 3 (2560 at nice 2, 2519-2626 at nice 5, depending on how well the
# series checks alone use 2 cores). At nice 19 they waited for the boots
# and then ran alone, mostly one serial chain of builds (a clean-root run
# on course for about 3000 s). Measured at nice 3 in a clean root: 2717 s,
# the x86_64 kernel done at 2184 s (2346 at nice 0), the series checks
# last (1121 CPU-s) with x86-intel's boot beside them; about 5100 CPU-s
# in all, so the floor on 2 cores is about 2550 s: the next saving must
# be CPU. arm64 walks only the patches that change its own code, and the
# tip (SERIES_FULL=1: every patch).
stage "series checks" nice -n 3 scripts/check-series.sh "$RESULTS" &
arch_job x86_64 0 &
arch_job arm64 0 &
wait
! grep -q "^FAIL" "$RESULTS"
