#!/usr/bin/env bash
# Host-side checks of the series, one result line per check appended to
# RESULTS ('PASS|FAIL<TAB>suite<TAB>check'):
#   checkpatch  scripts/checkpatch.pl --strict on every patch of series/
#   bisect      every patch builds drivers/iommu/ on x86_64 and arm64 with
#               W=1 and sparse (C=1), adding no warning that the pruned base
#               does not have (warnings compared without line numbers)
#   modules     every patch builds with iommufd and VFIO as modules
#               (configs/x86_64-modules.config) through modpost, which
#               fails on a symbol they use that is not exported
# Usage: scripts/check-series.sh RESULTS
set -euo pipefail
. "$(dirname "$0")/lib.sh"

results=${1:?usage: check-series.sh RESULTS}
ARCHES=(x86_64 arm64)
result() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; [ "$1" = PASS ] || log "FAIL $2: $3"; }

# --- checkpatch --------------------------------------------------------------
for p in "$TOP"/series/[0-9][0-9][0-9][0-9]-*.patch; do
	case $p in */0000-*) continue ;; esac
	name=$(basename "$p")
	# checkpatch runs scripts/spdxcheck.py, which needs Debian's python3
	# with python3-ply and python3-git, not another python3 first in PATH
	rc=0
	out=$(cd "$TREE" && PATH=/usr/bin:$PATH scripts/checkpatch.pl --strict --terse --show-types "$p" 2>&1) || rc=$?
	if grep -q 'Traceback' <<<"$out"; then
		result FAIL checkpatch "$name: a checkpatch helper crashed: $(grep -m1 Error <<<"$out")"
	elif [ $rc != 0 ]; then
		result FAIL checkpatch "$name: $(echo "$out" | grep -E 'ERROR|WARNING|CHECK' | head -n 3 | tr '\n' ' ')"
	else
		result PASS checkpatch "$name"
	fi
done

# --- every patch builds, with no new W=1 / sparse warnings -------------------
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
	die "build/linux has uncommitted edits: commit them (the per-patch build checks out each patch)"
head=$(git -C "$TREE" rev-parse HEAD)
orig=$(git -C "$TREE" symbolic-ref -q --short HEAD || echo "$head")
restore() { git -C "$TREE" checkout -q "$orig"; }
trap restore EXIT

# normalize: "file: warning: message" without line and column numbers
warnings() { grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error):' "$1" |
	sed -E 's/:[0-9]+:[0-9]+: /: /' | LC_ALL=C sort -u || true; }

# The modular config is configured, and built, on the tip; older patches
# then build in it incrementally
"$TOP/scripts/build-kernel.sh" x86_64-modules modules ||
	result FAIL modules "the tip does not build: see $LOGS/build-x86_64-modules.log"

git -C "$TREE" checkout -q base
for arch in "${ARCHES[@]}"; do
	basew=$BUILD/base-warnings-$arch.txt
	key=$(git -C "$TREE" rev-parse base):$(cat "$TOP"/configs/common.config "$TOP/configs/$arch.config" | sha1sum)
	if [ "$(head -n1 "$basew" 2>/dev/null)" != "# $key" ]; then
		log "W=1 + sparse baseline of drivers/iommu on the pruned base ($arch)"
		t0=$(now)
		kmake "$arch" W=1 C=2 drivers/iommu/ >"$LOGS/base-w1-$arch.log" 2>&1 ||
			die "pruned base does not build drivers/iommu for $arch: see $LOGS/base-w1-$arch.log"
		{ echo "# $key"; warnings "$LOGS/base-w1-$arch.log"; } >"$basew"
		log "baseline: $(($(wc -l <"$basew") - 1)) distinct warnings ($(elapsed "$t0")s)"
	fi
done

for c in $(git -C "$TREE" rev-list --reverse base.."$head"); do
	git -C "$TREE" checkout -q "$c"
	subj=$(git -C "$TREE" log -1 --format=%s "$c")
	t0=$(now)
	log "x86_64-modules: $subj"
	out=$LOGS/bisect-modules.log
	if kmake x86_64-modules modules >"$out" 2>&1; then
		result PASS modules "$subj ($(elapsed "$t0")s)"
	else
		result FAIL modules "$subj: $(grep -m1 -E 'ERROR|error' "$out")"
	fi
	for arch in "${ARCHES[@]}"; do
		t0=$(now)
		log "$arch: $subj"
		out=$LOGS/bisect-$arch.log
		if ! kmake "$arch" W=1 C=1 drivers/iommu/ >"$out" 2>&1; then
			result FAIL "bisect-$arch" "$subj: build failed: $(grep -m1 -E 'error' "$out")"
			continue
		fi
		new=$(warnings "$out" | LC_ALL=C comm -23 - <(tail -n +2 "$BUILD/base-warnings-$arch.txt"))
		if [ -n "$new" ]; then
			result FAIL "bisect-$arch" "$subj: new warnings: $(echo "$new" | head -n 3 | tr '\n' ' ')"
		else
			result PASS "bisect-$arch" "$subj ($(elapsed "$t0")s)"
		fi
	done
done
