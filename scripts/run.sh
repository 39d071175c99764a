#!/usr/bin/env bash
# The main job: build the patched kernel, boot it under QEMU with an emulated
# Intel VT-d in scalable mode, and run the demo of what /dev/iommu offers a
# VMM, on iommufd's mock device.
# Usage: scripts/run.sh      (env: MACHINE=x86-intel|x86-amd|arm64-smmuv3)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

machine=${MACHINE:-x86-intel}
arch=x86_64; case $machine in arm64*) arch=arm64 ;; esac
t0=$(now)
scripts/deps.sh
scripts/assemble.sh
log "Linux $(base_version "$TREE") + $(git -C "$TREE" rev-list --count base..HEAD) patches"
scripts/build-kernel.sh "$arch"
scripts/build-guest.sh "$arch"
scripts/build-qemu.sh >/dev/null
scripts/boot.sh "$machine" demo 600
out=$LOGS/boot-$machine.log
echo
echo "== $machine: guest checks and demo"
sed -n '/^##SUITE checks BEGIN/,/^##SUITE demo END/p' "$out" | grep -v '^##' | tr -d '\r'
echo
res=$(mktemp)
if python3 scripts/parse-log.py "$machine" "$out" "$res" --expect checks,demo; then
	log "demo passed in $(elapsed "$t0")s (console log: $out)"
else
	die "demo failed (console log: $out)"
fi
