#!/usr/bin/env bash
# Host-side checks of the series, one result line per check appended to
# RESULTS ('PASS|FAIL<TAB>suite<TAB>check'):
#   checkpatch  scripts/checkpatch.pl --strict on every patch of series/
#   bisect      every patch builds drivers/iommu/ on x86_64 and arm64 with
#               W=1 and sparse (C=1), adding no warning that the pruned base
#               does not have (warnings compared without line numbers)
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
# A patch that changes no file a kernel build reads (only tools/,
# Documentation/, MAINTAINERS) is not built again: it builds as its parent.
# The patches are checked out in a worktree of build/linux of their own
# (build/series-tree) and built in build/out/series, so that build/linux and
# the kernels built from it are left alone: scripts/test.sh boots them
# meanwhile. A check that passed is not run again on the same inputs (the
# patch, or the commit and configs, and this script): its result is reported
# from build/cache/series, marked "(cached)". FRESH=1 runs everything.
# The modules check is off by default: it needs a cold build of a second x86
# kernel (about 1200 objects), the longest part of the series checks, which
# end a cold make test; SERIES_MODULES=1 turns it on.
# Usage: scripts/check-series.sh RESULTS     (env: FRESH, SERIES_MODULES)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

results=${1:?usage: check-series.sh RESULTS}
modules=${SERIES_MODULES:-0}
ARCHES=(x86_64 arm64)
CACHE=$BUILD/cache/series
mkdir -p "$CACHE"
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; [ "$1" = PASS ] || log "FAIL $2: $3"; }
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
wt=$BUILD/series-tree
export HARNESS_TREE=$wt HARNESS_OUT=$BUILD/out/series
# The tree (build-kernel.sh ARCH) of each arch's W=1/sparse builds
declare -A tree=([x86_64]=x86_64-modules [arm64]=arm64)

# normalize: "file: warning: message" without line and column numbers
warnings() { grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$1" |
	sed -E 's/:[0-9]+:[0-9]+: /: /' | LC_ALL=C sort -u || true; }

# prepare: the worktree, the modular build of the tip and the baselines;
# done before the first check that is not cached
prepared=
prepare() {
	[ -z "$prepared" ] || return 0
	prepared=1
	if ! git -C "$wt" rev-parse -q --verify HEAD >/dev/null 2>&1 ||
	   [ "$(cd "$wt" && realpath "$(git rev-parse --git-common-dir)")" != "$(realpath "$main/.git")" ]; then
		rm -rf "$wt"
		git -C "$main" worktree prune
		log "worktree for the per-patch builds: $wt"
		git -C "$main" worktree add -q --detach "$wt" "$head"
	fi
	TREE=$wt OUT=$HARNESS_OUT

	# The modular config is configured, and built (W=1, as the per-patch
	# builds), on the tip; older patches then build in it incrementally
	git -C "$wt" checkout -q --detach "$head"
	if [ "$modules" = 1 ]; then
		"$TOP/scripts/build-kernel.sh" x86_64-modules W=1 modules ||
			result FAIL modules "the tip does not build: see $LOGS/build-x86_64-modules.log"
	else
		"$TOP/scripts/build-kernel.sh" x86_64-modules config
	fi
	"$TOP/scripts/build-kernel.sh" arm64 config

	git -C "$wt" checkout -q base
	for arch in "${ARCHES[@]}"; do
		basew=$BUILD/base-warnings-$arch.txt
		[ "$(head -n1 "$basew" 2>/dev/null)" != "# ${cfgkey[$arch]}" ] || continue
		log "W=1 + sparse baseline of drivers/iommu on the pruned base ($arch)"
		t0=$(now)
		kmake "${tree[$arch]}" W=1 C=2 drivers/iommu/ >"$LOGS/base-w1-$arch.log" 2>&1 ||
			die "pruned base does not build drivers/iommu for $arch: see $LOGS/base-w1-$arch.log"
		{ echo "# ${cfgkey[$arch]}"; warnings "$LOGS/base-w1-$arch.log"; } >"$basew"
		log "baseline: $(($(wc -l <"$basew") - 1)) distinct warnings ($(elapsed "$t0")s)"
	done
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
# out in the worktree
check_bisect() {
	local arch=$1 t0 out=$LOGS/bisect-$1.log new
	t0=$(now)
	log "$arch: $3"
	if ! kmake "${tree[$arch]}" W=1 C=1 drivers/iommu/ >"$out" 2>&1; then
		result FAIL "bisect-$arch" "$3: build failed: $(grep -m1 -E 'error' "$out")"
		return
	fi
	new=$(warnings "$out" | LC_ALL=C comm -23 - <(tail -n +2 "$BUILD/base-warnings-$arch.txt"))
	if [ -n "$new" ]; then
		result FAIL "bisect-$arch" "$3: new warnings: $(echo "$new" | head -n 3 | tr '\n' ' ')"
	else
		pass "$2" "bisect-$arch" "$3 ($(elapsed "$t0")s)"
	fi
}
# check_modules KEY SUBJECT: vmlinux and the modules of the patch checked
# out in the worktree (W=1, as its bisect build in the same tree)
check_modules() {
	local t0 out=$LOGS/bisect-modules.log
	t0=$(now)
	log "x86_64-modules: $2"
	if kmake x86_64-modules W=1 vmlinux modules >"$out" 2>&1; then
		pass "$1" modules "$2 ($(elapsed "$t0")s)"
	else
		result FAIL modules "$2: $(grep -m1 -E 'ERROR|error' "$out")"
	fi
}
# check_x86 TODO...: x86_64's checks to do, one after the other in its tree
check_x86() {
	local b
	for b in "$@"; do
		case $b in
		modules) check_modules "$(checkkey modules "$c")" "$subj" ;;
		x86_64) check_bisect x86_64 "$(checkkey x86_64 "$c")" "$subj" ;;
		esac
	done
}

ncached=0
for c in $(git -C "$main" rev-list --reverse base.."$head"); do
	subj=$(git -C "$main" log -1 --format=%s "$c")
	# x86_64's checks run one after the other in its tree, arm64's beside
	x86=() arm64=
	for b in x86_64 modules arm64; do
		[ "$b" != modules ] || [ "$modules" = 1 ] || continue
		if hit "$(checkkey "$b" "$c")"; then
			ncached=$((ncached + 1))
		elif [ "$b" = arm64 ]; then
			arm64=1
		else
			x86+=("$b")
		fi
	done
	[ ${#x86[@]} != 0 ] || [ -n "$arm64" ] || continue
	# A patch that changes only what no kernel build reads (selftests,
	# Documentation/, MAINTAINERS) builds as its parent did
	if ! git -C "$main" diff-tree --no-commit-id --name-only -r "$c" |
		grep -qvE '^(tools/|Documentation/|MAINTAINERS$)'; then
		for b in "${x86[@]}" ${arm64:+arm64}; do
			pass "$(checkkey "$b" "$c")" "$(case $b in modules) echo modules ;; *) echo "bisect-$b" ;; esac)" \
				"$subj (no file a kernel build reads changed)"
		done
		continue
	fi
	prepare
	git -C "$wt" checkout -q "$c"
	if git -C "$wt" diff-tree --no-commit-id --name-only -r "$c" | grep -q 'Kconfig'; then
		for b in "${tree[@]}"; do
			"$TOP/scripts/build-kernel.sh" "$b" remerge
		done
	fi
	# The two trees build at once: each is mostly serial make (one
	# directory's objects, a link), and at the end of a cold make test
	# they are what is left to run
	pids=()
	[ ${#x86[@]} = 0 ] || { check_x86 "${x86[@]}" & pids+=($!); }
	[ -z "$arm64" ] || { check_bisect arm64 "$(checkkey arm64 "$c")" "$subj" & pids+=($!); }
	for p in "${pids[@]}"; do
		wait "$p" || result FAIL series "$subj: a per-patch build job stopped (exit $?)"
	done
done
[ "$ncached" = 0 ] || log "$ncached per-patch builds passed before on the same inputs: reported from $CACHE"
