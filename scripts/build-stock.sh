#!/usr/bin/env bash
# Build the stock kernel the benchmarks compare ours with: the same base
# (Debian's linux-source-6.12, or LINUX_SRC), unpruned and unpatched, so with
# upstream's own IOMMU dirty tracking, configured with our fragments (minus
# the options only our series has). Cached in build/stock and
# build/out/stock; rebuilt incrementally.
# Usage: scripts/build-stock.sh [ARCH]   -> build/out/stock/ARCH/<image>
#   ARCH: x86_64 (default) | arm64
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:-x86_64}
arch_env "$arch"
SRC=${LINUX_SRC:-/usr/src/linux-source-6.12.tar.xz}
S=$BUILD/stock
t0=$(now)
[ -e "$SRC" ] || die "base tree '$SRC' not found: run scripts/deps.sh or set LINUX_SRC"
key=$( (stat -c '%n %s %Y' "$SRC"; cat "$0") | sha1sum | cut -c1-16)
if [ "$(cat "$S/.source" 2>/dev/null)" != "$key" ]; then
	log "extracting stock $SRC"
	rm -rf "$S/linux" && mkdir -p "$S/linux"
	if [ -d "$SRC" ]; then
		rsync -a --exclude=.git "$SRC/" "$S/linux/"
	else
		tar -xf "$SRC" -C "$S/linux" --strip-components=1
	fi
	echo "$key" >"$S/.source"
fi

# Our fragments, without the options the stock Kconfig does not know
mkdir -p "$S/configs"
for f in common.config $arch.config; do
	while IFS= read -r line; do
		opt=$(expr "$line" : 'CONFIG_\([A-Za-z0-9_]*\)=' || true)
		if [ -n "$opt" ] && ! grep -rqs --include='Kconfig*' -E "^(menu)?config $opt\$" "$S/linux"; then
			echo "# $line: not in the stock kernel"
		else
			echo "$line"
		fi
	done <"$TOP/configs/$f" >"$S/configs/$f.new"
	cmp -s "$S/configs/$f.new" "$S/configs/$f" && rm "$S/configs/$f.new" || mv "$S/configs/$f.new" "$S/configs/$f"
done
grep -h 'not in the stock kernel' "$S/configs/common.config" "$S/configs/$arch.config" | sed 's/^/[build-stock] skipped: /' >&2 || true

HARNESS_TREE=$S/linux HARNESS_OUT=$BUILD/out/stock HARNESS_CONFIGS=$S/configs HARNESS_LOGS=$LOGS/stock \
	"$TOP/scripts/build-kernel.sh" "$arch"
log "stock Linux $(base_version "$S/linux") ($arch) built in $(elapsed "$t0")s"
