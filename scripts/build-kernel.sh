#!/usr/bin/env bash
# Configure (allnoconfig + configs/common.config + configs/ARCH.config) and
# build the kernel image for ARCH out of tree in build/out/ARCH, with ccache.
# Incremental: the config is regenerated only when a fragment changed.
# Usage: scripts/build-kernel.sh ARCH [extra make targets... | config | remerge]
#   config: only configure (for builds of parts of the tree in KOUT)
#   remerge: merge the fragments into the present .config again
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: build-kernel.sh ARCH}; shift
arch_env "$arch"
[ -e "$TREE/Makefile" ] || die "no assembled tree: run scripts/assemble.sh first"
mkdir -p "$KOUT"
t0=$(now)

# HARNESS_CONFIGS: another directory of fragments (scripts/build-stock.sh)
CONFIGS=${HARNESS_CONFIGS:-$TOP/configs}
frags=("$CONFIGS/common.config" "$CONFIGS/$arch.config")
key=$(cat "${frags[@]}" | sha1sum | cut -c1-16)

# config_missing: the fragment options .config does not have as requested,
# "CONFIG_X=v" or "# CONFIG_X is not set" (where fragments disagree, the
# last one wins, as in merge_config.sh)
config_missing() {
	grep -hE '^(CONFIG_.*=|# CONFIG_[A-Za-z0-9_]+ is not set$)' "${frags[@]}" |
		awk '{ o = $0; sub(/^# /, "", o); sub(/[= ].*/, "", o); last[o] = $0 }
			END { for (o in last) print last[o] }' |
		while IFS= read -r want; do
			case $want in
			"# "*) ! grep -q "^${want:2:-11}=" "$KOUT/.config" || echo "${want:2:-11}" ;;
			*) grep -qx "$want" "$KOUT/.config" || echo "${want%%=*}" ;;
			esac
		done
}

# remerge: merge the fragments into .config again, for a commit whose
# Kconfig files changed (check-series.sh): options it adds come in, options
# it lacks are left out without error
if [ "${1:-}" = remerge ]; then
	[ -f "$KOUT/.config" ] || die "no $KOUT/.config to merge into: configure first"
	log "merging configs/ into the $arch config again (Kconfig changed)"
	(cd "$TREE" && ARCH=$KARCH CROSS_COMPILE=$CROSS scripts/kconfig/merge_config.sh -m -O "$KOUT" \
		"$KOUT/.config" "${frags[@]}" >"$LOGS/config-$arch.log" 2>&1)
	kmake "$arch" olddefconfig >/dev/null
	exit 0
fi

if [ ! -f "$KOUT/.config" ] || [ "$(cat "$KOUT/.fragments" 2>/dev/null)" != "$key" ]; then
	reconfig="fragments changed"
elif [ -n "$(config_missing)" ]; then
	# Building an older patch (check-series.sh) drops options it lacks
	reconfig="options dropped from .config: $(config_missing | tr '\n' ' ')"
fi
if [ -n "${reconfig:-}" ]; then
	log "configuring $arch ($reconfig)"
	kmake "$arch" allnoconfig >/dev/null
	(cd "$TREE" && ARCH=$KARCH CROSS_COMPILE=$CROSS scripts/kconfig/merge_config.sh -m -O "$KOUT" \
		"$KOUT/.config" "${frags[@]}" >"$LOGS/config-$arch.log" 2>&1)
	kmake "$arch" olddefconfig >/dev/null
	# Every option the fragments ask for must have survived olddefconfig.
	bad=$(config_missing)
	[ -z "$bad" ] || die "options not set as requested in configs/ (unmet dependencies?): $(echo $bad)"
	echo "$key" >"$KOUT/.fragments"
fi

[ "${1:-}" != config ] || exit 0

log "building $arch ($(base_version "$TREE"))"
kmake "$arch" "${KIMAGE##*/}" "$@" >"$LOGS/build-$arch.log" 2>&1 ||
	{ grep -m5 -E 'error|Error' "$LOGS/build-$arch.log" >&2; die "$arch kernel build failed: see $LOGS/build-$arch.log"; }
warn=$(grep -c 'warning:' "$LOGS/build-$arch.log" || true)
[ "$warn" = 0 ] || log "$warn compiler warnings: see $LOGS/build-$arch.log"
log "built $KOUT/$KIMAGE in $(elapsed "$t0")s"
