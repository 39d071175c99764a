#!/usr/bin/env bash
# The main job: build the patched kernel, boot it under QEMU with an emulated
# IOMMU (default: Intel VT-d in scalable mode), and run the demo of what
# /dev/iommu offers a VMM migrating a VM (guest/iommufd-demo.c): pre-copy on
# iommufd's mock device, then on our QEMU's dma-writer PCI device through
# VFIO behind the emulated VT-d (x86-intel), AMD-Vi (x86-amd) or SMMUv3
# (arm64-smmuv3), each ending in its table (per round: pages the device
# wrote, pages resent without and with IOMMU dirty tracking, harvest time).
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
# Every machine has the dma-writer: the demo must have run on it, not only
# on the mock
grep -aEq '^(not )?ok [0-9]+ - dma-writer: pre-copy round' "$out" ||
	die "the demo did not run pre-copy on the dma-writer behind the $machine IOMMU (console log: $out)"
res=$(mktemp)
if python3 scripts/parse-log.py "$machine" "$out" "$res" --expect checks,demo; then
	log "demo passed in $(elapsed "$t0")s (console log: $out)"
else
	die "demo failed (console log: $out)"
fi
