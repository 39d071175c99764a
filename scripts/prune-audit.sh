#!/usr/bin/env bash
# Audit a tree pruned by scripts/prune.py:
#  - no identifier listed in prune/identifiers survives (as a whole word) in
#    drivers/, include/, tools/testing/selftests/iommu/ or Documentation/,
#    or under the paths given for that identifier;
#  - every IOMMUFD_CMD_* in include/uapi/linux/iommufd.h keeps the value
#    listed in prune/cmd-numbers (compiled against the pruned header), none
#    takes a reserved value, and struct iommu_hw_info keeps out_capabilities.
# Usage: scripts/prune-audit.sh DIR
set -euo pipefail

dir=${1:?usage: prune-audit.sh DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
ids=$top/prune/identifiers
nums=$top/prune/cmd-numbers
uapi=include/uapi/linux/iommufd.h
if [ ! -f "$dir/$uapi" ] || [ ! -d "$dir/drivers/iommu" ]; then
	echo "prune-audit: $dir is not a kernel tree" >&2
	exit 1
fi
cd "$dir"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

# --- identifiers -----------------------------------------------------------
# survivors PATTERN-ARGS... PATHS: print file:line: name for each hit
survivors() {
	grep -rnowIF "$@" 2>/dev/null |
		sed 's/^\([^:]*:[0-9]*:\)/prune-audit: survivor: \1 /' || true
}
sed 's/#.*//' "$ids" | awk 'NF' >"$work/ids"
n=$(wc -l <"$work/ids")
awk 'NF == 1 { print $1 }' "$work/ids" >"$work/global"
hits=$(survivors -f "$work/global" -- drivers include tools/testing/selftests/iommu Documentation)
while read -r name paths; do
	[ -n "$paths" ] || continue
	read -ra p <<<"$paths"
	existing=()
	for x in "${p[@]}"; do [ ! -e "$x" ] || existing+=("$x"); done
	[ ${#existing[@]} = 0 ] || hits+=$'\n'$(survivors -e "$name" -- "${existing[@]}")
done <"$work/ids"
hits=$(printf '%s\n' "$hits" | awk 'NF')
if [ -n "$hits" ]; then
	printf '%s\n' "$hits"
	echo "prune-audit: $(printf '%s\n' "$hits" | wc -l) surviving uses of pruned identifiers"
	fail=1
fi

# --- uAPI command numbers and struct iommu_hw_info ---------------------------
mkdir -p "$work/inc/linux"
cp "$uapi" "$work/inc/linux/iommufd.h"
{
	cat <<-'EOF'
	#include <stddef.h>
	#include <stdio.h>
	#include <linux/iommufd.h>
	#define SHOW(x) printf("%s %#x\n", #x, (unsigned int)(x))
	int main(void)
	{
		printf("out_capabilities@%zu\n",
		       offsetof(struct iommu_hw_info, out_capabilities));
	EOF
	# every IOMMUFD_CMD_* the header really declares (comments dropped)
	gcc -E -P -I"$work/inc" -include linux/iommufd.h -x c /dev/null |
		grep -o '\bIOMMUFD_CMD_[A-Z0-9_]*' | sort -u | sed 's/.*/\tSHOW(&);/'
	printf '\treturn 0;\n}\n'
} >"$work/cmds.c"
if ! gcc -I"$work/inc" -o "$work/cmds" "$work/cmds.c" 2>"$work/cc.log"; then
	sed 's/^/prune-audit: /' "$work/cc.log"
	echo "prune-audit: cannot compile against the pruned $uapi" \
		"(struct iommu_hw_info without out_capabilities?)"
	exit 1
fi
"$work/cmds" >"$work/got"
grep '^IOMMUFD_CMD_' "$work/got" | sort >"$work/got.cmds"
sed 's/#.*//' "$nums" | awk 'NF == 2 && $1 != "reserved" { print $1, $2 }' | sort >"$work/want"
if ! diff -u "$work/want" "$work/got.cmds" >"$work/diff"; then
	sed 's/^/prune-audit: /' "$work/diff"
	echo "prune-audit: IOMMUFD_CMD_* values differ from prune/cmd-numbers" \
		"(- expected, + found)"
	fail=1
fi
sed 's/#.*//' "$nums" | awk '$1 == "reserved" { print $2 }' >"$work/reserved"
while read -r v; do
	if awk -v v="$v" '$2 == v { f = 1 } END { exit !f }' "$work/got.cmds"; then
		echo "prune-audit: reserved command number $v is in use"
		fail=1
	fi
done <"$work/reserved"

[ "$fail" = 0 ] || exit 1
echo "prune-audit: OK ($n identifiers checked)"
