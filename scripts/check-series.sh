#!/usr/bin/env bash
# Host-side checks of the series, one result line per check appended to
# RESULTS ('PASS|FAIL<TAB>suite<TAB>check'):
#   checkpatch  scripts/checkpatch.pl --strict on every patch of series/
#   bisect      every patch builds drivers/iommu/ on x86_64 (on arm64: see
#               below) with W=1 and sparse (C=1), adding no warning that
#               the pruned base does not have (warnings compared without
#               line numbers)
#   modules     (SERIES_MODULES=1 only) every patch builds with iommufd
#               and VFIO as modules (configs/x86_64-modules.config) through
#               modpost, which fails on a symbol they use that is not
#               exported (vmlinux is built too: "make modules" alone checks
#               against the exports of an older vmlinux)
# x86_64's bisect build runs in the modular tree's configuration, with W=1
# there too (with SERIES_MODULES=1 just before its vmlinux and modules: one
# tree, each object compiled once per patch). A patch that changes a
# Kconfig file has the config fragments merged into the trees again, so
# that the options it adds are built from it on.
# A patch that changes no file a kernel build of an arch reads (only
# tools/, Documentation/, MAINTAINERS, the sources of drivers the arch
# cannot build) is not built again there when its parent passed: it builds
# as its parent. By default arm64 walks only the patches that change its
# own code (drivers/iommu/arm/, io-pgtable-arm, arch/arm64/) and the tip,
# the others are reported SKIP (x86_64 builds each of them; a break that
# one of them brings to arm64 shows at the next arm64 build);
# SERIES_FULL=1 builds every patch on both.
# The patches are checked out in worktrees of build/linux of their own, one
# per arch (build/series-tree-ARCH), and built in build/out/series, so that
# build/linux and the kernels built from it are left alone: scripts/test.sh
# boots them meanwhile. Each arch prepares its tree (configuration and the
# cold baseline build of the pruned base), then walks the patches at its
# own pace, beside the other. One run at a time (build/series.lock).
# A check that passed is not run again on the same inputs (the
# patch, or the commit and configs, and this script): its result is reported
# from build/cache/series, marked "(cached)". FRESH=1 runs everything.
# The modules check is off by default: it needs a cold build of a second x86
# kernel (about 1200 objects), the longest part of the series checks, which
# end a cold make test; SERIES_MODULES=1 turns it on.
# Usage: scripts/check-series.sh RESULTS
#        (env: FRESH, SERIES_MODULES, SERIES_FULL)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

results=${1:?usage: check-series.sh RESULTS}
modules=${SERIES_MODULES:-0}
ARCHES=(x86_64 arm64)
CACHE=$BUILD/cache/series
mkdir -p "$CACHE"
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; [ "$1" != FAIL ] || log "FAIL $2: $3"; }
# pass KEY SUITE TEXT: a passed check, remembered under KEY
pass() { result PASS "$2" "$3"; printf 'PASS\t%s\t%s (cached)\n' "$2" "$3" >"$CACHE/$1"; }
# hit KEY: report the remembered result of KEY, if there is one
hit() { [ "${FRESH:-0}" = 0 ] && [ -f "$CACHE/$1" ] && cat "$CACHE/$1" >>"$results"; }
sum() { cat "$@" | sha1sum | cut -c1-16; }
self=$(sum "$0")

main=$TREE
head=$(git -C "$main" rev-parse HEAD)
[ -z "$(git -C "$main" status --porcelain --untracked-files=no)" ] ||
	log "build/linux has uncommitted edits: checking its last commit, $(git -C "$main" log -1 --format=%s)"

# --- checkpatch --------------------------------------------------------------
# maintainers_cover PATCH: every file PATCH adds is covered by a MAINTAINERS
# entry with a maintainer (M:) other than THE REST's, as the series' last
# commit has MAINTAINERS; prints the first file that is not
maintainers_cover() {
	local f
	for f in $(sed -n 's|^+++ b/||p' "$1"); do
		grep -q "^--- /dev/null" < <(grep -B1 -F "+++ b/$f" "$1") || continue
		(cd "$main" && perl scripts/get_maintainer.pl --no-git --no-git-fallback \
			--no-rolestats --nol --nor -f "$f" 2>/dev/null) |
			grep -qv 'torvalds@linux-foundation.org' ||
			{ echo "$f"; return 1; }
	done
}
cpkey=$(git -C "$main" rev-parse base:scripts/checkpatch.pl)
for p in "$TOP"/series/[0-9][0-9][0-9][0-9]-*.patch; do
	case $p in */0000-*) continue ;; esac
	name=$(basename "$p")
	key=checkpatch-$(sum "$p")-$cpkey-$self
	hit "$key" && continue
	# checkpatch runs scripts/spdxcheck.py, which needs Debian's python3
	# with python3-ply and python3-git, not another python3 first in PATH
	rc=0
	# Two checks need what this tree has not: UNKNOWN_COMMIT_ID looks up the
	# hashes of Fixes: tags in upstream's history (the base is a tarball:
	# the hashes were checked against public sources, see the commit
	# messages), and FILE_PATH_CHANGES asks whether a new file needs a
	# MAINTAINERS change, which maintainers_cover() below answers.
	out=$(cd "$main" && PATH=/usr/bin:$PATH scripts/checkpatch.pl --strict --terse --show-types \
		--ignore UNKNOWN_COMMIT_ID,FILE_PATH_CHANGES "$p" 2>&1) || rc=$?
	if grep -q 'Traceback' <<<"$out"; then
		result FAIL checkpatch "$name: a checkpatch helper crashed: $(grep -m1 Error <<<"$out")"
	elif [ $rc != 0 ]; then
		result FAIL checkpatch "$name: $(echo "$out" | grep -E 'ERROR|WARNING|CHECK' | head -n 3 | tr '\n' ' ')"
	elif ! miss=$(maintainers_cover "$p"); then
		result FAIL checkpatch "$name: no MAINTAINERS entry with a maintainer covers $miss"
	else
		pass "$key" checkpatch "$name"
	fi
done

# --- every patch builds, with no new W=1 / sparse warnings -------------------
# Each arch walks the series in a worktree of build/linux of its own
# (build/series-tree-ARCH), built in build/out/series, at its own pace
export HARNESS_OUT=$BUILD/out/series
# The tree (build-kernel.sh ARCH) of each arch's W=1/sparse builds
declare -A tree=([x86_64]=x86_64-modules [arm64]=arm64)
wtree() { echo "$BUILD/series-tree-$1"; }
# bkernel ARCH ARGS...: build-kernel.sh in ARCH's worktree (its logs apart
# from those of the kernels scripts/test.sh builds meanwhile)
bkernel() {
	HARNESS_TREE=$(wtree "$1") HARNESS_LOGS=$LOGS/series "$TOP/scripts/build-kernel.sh" "${tree[$1]}" "${@:2}"
}
full=${SERIES_FULL:-0}
# What each arch's configuration cannot build: arm-smmu-v3 and
# io-pgtable-arm need ARM or ARM64 (or COMPILE_TEST, which configs/ does
# not set), VT-d and AMD-Vi need X86
declare -A unbuilt=([x86_64]='drivers/iommu/arm/|drivers/iommu/io-pgtable-arm'
	[arm64]='drivers/iommu/intel/|drivers/iommu/amd/')
# arm64's own code, which its short walk builds patch by patch
ARM64_OWN='^(drivers/iommu/arm/|drivers/iommu/io-pgtable-arm|arch/arm64/)'
# builds_any ARCH FILES: whether a kernel build of ARCH reads one of FILES
# (one per line); a Kconfig or Makefile is read by every arch's
builds_any() {
	local f
	while IFS= read -r f; do
		case $f in
		tools/* | Documentation/* | MAINTAINERS) ;;
		*/Kconfig* | */Makefile*) return 0 ;;
		*) grep -qE "^(${unbuilt[$1]})" <<<"$f" || return 0 ;;
		esac
	done <<<"$2"
	return 1
}

# normalize: "file: warning: message" without line and column numbers
warnings() { grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$1" |
	sed -E 's/:[0-9]+:[0-9]+: /: /' | LC_ALL=C sort -u || true; }

# prepare ARCH: its worktree, its tree's configuration (with
# SERIES_MODULES=1 the modular build of the tip) and the baseline of the
# pruned base; done before its first check that is not cached
prepare() {
	local arch=$1 wt basew t0
	wt=$(wtree "$arch")
	if ! git -C "$wt" rev-parse -q --verify HEAD >/dev/null 2>&1 ||
	   [ "$(cd "$wt" && realpath "$(git rev-parse --git-common-dir)")" != "$(realpath "$main/.git")" ]; then
		rm -rf "$wt"
		log "$arch: worktree for the per-patch builds: $wt"
		git -C "$main" worktree add -q -f --detach "$wt" "$head"
	fi
	git -C "$wt" checkout -q --detach "$head"
	if [ "$arch" != x86_64 ]; then
		bkernel "$arch" config
	elif [ "$modules" = 1 ]; then
		# The modular config is configured, and built (W=1, as the
		# per-patch builds), on the tip; older patches then build in it
		# incrementally
		bkernel "$arch" W=1 modules ||
			result FAIL modules "the tip does not build: see $LOGS/series/build-x86_64-modules.log"
	else
		bkernel "$arch" config
	fi

	git -C "$wt" checkout -q base
	basew=$BUILD/base-warnings-$arch.txt
	[ "$(head -n1 "$basew" 2>/dev/null)" != "# ${cfgkey[$arch]}" ] || return 0
	log "W=1 + sparse baseline of drivers/iommu on the pruned base ($arch)"
	t0=$(now)
	kmake "${tree[$arch]}" W=1 C=2 drivers/iommu/ >"$LOGS/base-w1-$arch.log" 2>&1 ||
		die "pruned base does not build drivers/iommu for $arch: see $LOGS/base-w1-$arch.log"
	{ echo "# ${cfgkey[$arch]}"; warnings "$LOGS/base-w1-$arch.log"; } >"$basew"
	log "baseline ($arch): $(($(wc -l <"$basew") - 1)) distinct warnings ($(elapsed "$t0")s)"
}

frags() { cat "$TOP"/configs/common.config "$TOP/configs/$1.config"; }
declare -A cfgkey
for arch in "${ARCHES[@]}"; do
	cfgkey[$arch]=$(git -C "$main" rev-parse base)-$(frags "${tree[$arch]}" | sum)-$self
done
modkey=$(frags x86_64-modules | sum)-$self
# checkkey CHECK COMMIT: the cache key of a per-patch check (modules, or
# the W=1/sparse build of an arch)
checkkey() {
	case $1 in
	modules) echo "modules-$2-$modkey" ;;
	*) echo "bisect-$1-$2-${cfgkey[$1]}" ;;
	esac
}
# check_bisect ARCH KEY SUBJECT: the W=1/sparse build of the patch checked
# out in ARCH's worktree; fails if the check did not pass
check_bisect() {
	local arch=$1 t0 out=$LOGS/bisect-$1.log new
	t0=$(now)
	log "$arch: $3"
	if ! kmake "${tree[$arch]}" W=1 C=1 drivers/iommu/ >"$out" 2>&1; then
		result FAIL "bisect-$arch" "$3: build failed: $(grep -m1 -E 'error' "$out" || true)"
		return 1
	fi
	new=$(warnings "$out" | LC_ALL=C comm -23 - <(tail -n +2 "$BUILD/base-warnings-$arch.txt"))
	if [ -n "$new" ]; then
		result FAIL "bisect-$arch" "$3: new warnings: $(echo "$new" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	pass "$2" "bisect-$arch" "$3 ($(elapsed "$t0")s)"
}
# check_modules KEY SUBJECT: vmlinux and the modules of the patch checked
# out in x86_64's worktree (W=1, as its bisect build in the same tree);
# fails if the check did not pass
check_modules() {
	local t0 out=$LOGS/bisect-modules.log
	t0=$(now)
	log "x86_64-modules: $2"
	if ! kmake x86_64-modules W=1 vmlinux modules >"$out" 2>&1; then
		result FAIL modules "$2: $(grep -m1 -E 'ERROR|error' "$out" || true)"
		return 1
	fi
	pass "$1" modules "$2 ($(elapsed "$t0")s)"
}

# chain ARCH: ARCH's checks of every patch, in order, in its worktree;
# x86_64's W=1/sparse build of a patch runs just before its modules check
# (one tree, each object compiled once). ok_at: the last commit whose
# checks all passed on ARCH (base to begin with), last: the commit checked
# out in ARCH's tree
chain() {
	local arch=$1 c subj b todo files allok ncached=0 prepared= ok_at last
	local checks=("$arch")
	[ "$arch" != x86_64 ] || [ "$modules" = 0 ] || checks+=(modules)
	TREE=$(wtree "$arch") OUT=$HARNESS_OUT
	ok_at=$(git -C "$main" rev-parse base)
	last=$ok_at
	for c in $(git -C "$main" rev-list --reverse base.."$head"); do
		subj=$(git -C "$main" log -1 --format=%s "$c")
		todo=()
		for b in "${checks[@]}"; do
			if hit "$(checkkey "$b" "$c")"; then
				ncached=$((ncached + 1))
			else
				todo+=("$b")
			fi
		done
		if [ ${#todo[@]} = 0 ]; then
			ok_at=$c
			continue
		fi
		files=$(git -C "$main" diff-tree --no-commit-id --name-only -r "$c")
		# A patch that changes only what no kernel build of ARCH reads
		# (selftests, Documentation/, MAINTAINERS, the sources of
		# drivers its configuration cannot build) builds as its parent
		if ! builds_any "$arch" "$files" &&
			[ "$ok_at" = "$(git -C "$main" rev-parse "$c^")" ]; then
			for b in "${todo[@]}"; do
				pass "$(checkkey "$b" "$c")" "$(case $b in modules) echo modules ;; *) echo "bisect-$b" ;; esac)" \
					"$subj (no file the $arch build reads changed)"
			done
			ok_at=$c
			continue
		fi
		# The short walk (SERIES_FULL=0): arm64 builds the patches that
		# change its own code, and the tip; x86_64 builds every patch
		if [ "$arch" = arm64 ] && [ "$full" = 0 ] && [ "$c" != "$head" ] &&
			! grep -qE "$ARM64_OWN" <<<"$files"; then
			result SKIP bisect-arm64 "$subj (built on x86_64; SERIES_FULL=1 builds it on arm64 too)"
			continue
		fi
		if [ -z "$prepared" ]; then
			prepare "$arch"
			prepared=1
		fi
		git -C "$TREE" checkout -q "$c"
		# (the Kconfig changes of the patches walked past included)
		if grep -q Kconfig <<<"$(git -C "$main" diff --name-only "$last" "$c")"; then
			bkernel "$arch" remerge
		fi
		last=$c
		allok=1
		for b in "${todo[@]}"; do
			case $b in
			modules) check_modules "$(checkkey modules "$c")" "$subj" || allok= ;;
			*) check_bisect "$arch" "$(checkkey "$arch" "$c")" "$subj" || allok= ;;
			esac
		done
		[ -z "$allok" ] || ok_at=$c
	done
	[ "$ncached" = 0 ] || log "$arch: $ncached per-patch builds passed before on the same inputs: reported from $CACHE"
}

exec 9>"$BUILD/series.lock"
flock -n 9 || die "another check-series.sh runs on $BUILD (make test?): wait for it"
# (build/series-tree: the one worktree of earlier versions of this script)
if [ -e "$BUILD/series-tree" ]; then
	rm -rf "$BUILD/series-tree"
fi
git -C "$main" worktree prune
# The two chains run at once: each is mostly serial make (one directory's
# objects, a link), and at the end of a cold make test they are what is
# left to run
declare -A pids
for arch in "${ARCHES[@]}"; do
	chain "$arch" &
	pids[$arch]=$!
done
# (an interrupted run stops its walks)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
rc=0
for arch in "${ARCHES[@]}"; do
	wait "${pids[$arch]}" || { rc=$?; result FAIL series "$arch: the per-patch checks stopped (exit $rc)"; }
done
exit $rc
