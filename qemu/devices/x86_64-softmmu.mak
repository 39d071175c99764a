# Devices of our qemu-system-x86_64 (scripts/build-qemu.sh builds QEMU with
# --without-default-devices): what scripts/boot.sh uses, and nothing else.
# q35 and what its default configuration instantiates, so that the machine
# is the one a full build gives (HPET, VGA, vmport, vmmouse, parallel port);
# Kconfig selects the rest (ICH9, AHCI, serial, ...)
CONFIG_Q35=y
CONFIG_HPET=y
CONFIG_VGA_PCI=y
CONFIG_VMPORT=y
CONFIG_VMMOUSE=y
CONFIG_PARALLEL=y
# the IOMMUs: intel-iommu (x86-intel); amd-iommu (x86-amd, which still boots
# Debian's QEMU, moves to ours with issue 8)
CONFIG_VTD=y
CONFIG_AMD_IOMMU=y
# a PCIe root port, for the dma-writer with ATS behind the VT-d (x86-intel)
CONFIG_PCIE_PORT=y
# DMA test devices: QEMU's edu, our dma-writer (qemu/patches/)
CONFIG_EDU=y
CONFIG_DMA_WRITER=y
