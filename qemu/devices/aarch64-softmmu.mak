# Devices of our qemu-system-aarch64 (scripts/build-qemu.sh builds QEMU with
# --without-default-devices): what scripts/boot.sh uses, and nothing else.
# virt selects what it instantiates (GIC, SMMUv3, PL011, PCIe host, ...)
CONFIG_ARM_VIRT=y
# DMA test devices: QEMU's edu, our dma-writer (qemu/patches/)
CONFIG_EDU=y
CONFIG_DMA_WRITER=y
