#!/usr/bin/env bash
# Boot the built kernel and initramfs for a machine under QEMU (TCG), run the
# given guest suites, and save the console log. Every machine also gets our
# dma-writer DMA test device (qemu/patches/), for guest/iommufd-e2e.c. Fails
# only if QEMU cannot start or the guest does not finish in time;
# parse-log.py judges the log.
# Usage: scripts/boot.sh MACHINE SUITES [TIMEOUT_SECONDS]   (env: BOOT_STAMP=1
#   prints the guest's uptime after each test result: guest/init;
#   VTD_MAMV=N: x86-intel's VT-d advertises CAP.MAMV N, not 18, as IOMMUs
#   whose page-selective invalidations span less do)
#   MACHINE: x86-intel | x86-amd | arm64-smmuv3    SUITES: comma-separated
set -euo pipefail
. "$(dirname "$0")/lib.sh"

machine=${1:?usage: boot.sh MACHINE SUITES [TIMEOUT]}
suites=${2:?usage: boot.sh MACHINE SUITES [TIMEOUT]}
tmo=${3:-1200}
mem=4G

case $machine in
x86-intel)
	arch=x86_64; iommu=intel
	# device-iotlb: ATS (device TLBs; DMAR ATSR) for the dma-writer, a PCIe
	# endpoint with an ATS capability behind a root port, so that the
	# device-TLB invalidations of the driver (dirty tracking's included) run
	qemu=(qemu-system-x86_64 -M q35,kernel-irqchip=split -cpu max
		-device intel-iommu,intremap=on,x-scalable-mode=on,x-ssads=on,device-iotlb=on${VTD_MAMV:+,x-mamv=$VTD_MAMV}
		-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1 -device dma-writer,bus=rp0,ats=on)
	# no_timer_check (both x86 machines): the IO-APIC timer check counts
	# ticks over a busy wait, which a TCG guest on a loaded host can miss;
	# with interrupt remapping on, a failed check panics ("timer doesn't
	# work through Interrupt-remapped IO-APIC", seen once, a mutant's boot
	# beside two kernel builds)
	cmdline="console=ttyS0 intel_iommu=on,sm_on no_timer_check" ;;
x86-amd)
	arch=x86_64; iommu=amd
	# pt=off: with QEMU 10.0's default pt=on, devices bypass the AMD-Vi
	# translation whatever their DTE says (their DMA is not translated)
	qemu=(qemu-system-x86_64 -M q35,kernel-irqchip=split -cpu max
		-device amd-iommu,intremap=on,pt=off,x-hd=on -device dma-writer)
	cmdline="console=ttyS0 no_timer_check" ;;
arm64-smmuv3)
	arch=arm64; iommu=smmuv3
	# pauth-impdef: the architected pointer-auth algorithm is slow to
	# emulate. gic-version=3: an ITS, which isolates MSIs (without it VFIO
	# refuses to bind a device to iommufd). x-httu: our QEMU's SMMUv3
	# updates the access flag and dirty state of stage-1 descriptors
	qemu=(qemu-system-aarch64 -M virt,iommu=smmuv3,gic-version=3 -cpu max,pauth-impdef=on
		-global arm-smmuv3.x-httu=on -device dma-writer)
	cmdline="console=ttyAMA0" ;;
*) die "unknown machine '$machine' (known: x86-intel x86-amd arm64-smmuv3)" ;;
esac
arch_env "$arch"
# Our QEMU (scripts/build-qemu.sh), with Debian's firmware (its tarball has none)
qemu[0]=$QEMU_BIN/${qemu[0]}
qemu+=(-L /usr/share/qemu -L /usr/share/seabios)
kernel=$KOUT/$KIMAGE
initrd=$BUILD/guest/$arch/initramfs.cpio
[ -f "$kernel" ] || die "no kernel at $kernel: run scripts/build-kernel.sh $arch"
[ -f "$initrd" ] || die "no initramfs at $initrd: run scripts/build-guest.sh $arch"
[ -x "${qemu[0]}" ] || die "${qemu[0]} not found: run scripts/build-qemu.sh"

out=$LOGS/boot-$machine.log
log "$("${qemu[0]}" --version | head -n 1), $QEMU_PATCHES patches of ours"
log "booting $machine${VTD_MAMV:+ (VT-d CAP.MAMV $VTD_MAMV)} (suites: $suites, timeout ${tmo}s) -> $out"
t0=$(now)
# The guest reboots when done; -no-reboot turns that into a QEMU exit.
rc=0
timeout --foreground -k 10 "$tmo" "${qemu[@]}" -accel tcg -smp 2 -m "$mem" \
	-nographic -no-reboot -monitor none -serial stdio \
	-kernel "$kernel" -initrd "$initrd" -nic none -device edu \
	-append "$cmdline panic=-1 guest.iommu=$iommu guest.suites=$suites guest.hugepages=160 hugepagesz=1G hugepages=1${BOOT_STAMP:+ guest.stamp=$BOOT_STAMP}" \
	</dev/null >"$out" 2>&1 || rc=$?
if [ "$rc" = 124 ]; then
	log "$machine: guest did not finish within ${tmo}s"
elif ! grep -q '^##GUEST-DONE' "$out"; then
	grep -q 'Linux version' "$out" ||
		die "QEMU failed to start $machine (exit $rc): $(head -n 3 "$out" | tr '\n' ' ')"
	log "$machine: guest stopped before finishing (exit $rc)"
fi
log "$machine finished in $(elapsed "$t0")s"
