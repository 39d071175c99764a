/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QEMU's dma-writer PCI device (1b36:00f0, qemu/patches/) as a VMM drives
 * it: found in sysfs, opened through its VFIO cdev (guest/init binds it to
 * vfio-pci), bound to /dev/iommu, bus mastering on, BAR0 mapped; attach and
 * detach, the IOMMU's hw_info, HWPT allocation, 2 MiB hugetlb buffers and
 * the bitmap helpers. Shared by guest/iommufd-e2e.c and
 * guest/iommufd-vtbench.c. Everything returns an error (0 or -1 with errno,
 * like the ioctl, unless said otherwise); the kselftest assertions stay in
 * the e2e test.
 *
 * BAR0 holds 8-byte little-endian registers: the doorbell performs COUNT
 * accesses of 8 bytes at ADDR + i * STRIDE (writes store VALUE) before the
 * MMIO write returns; DONE and ERRORS then count the accesses that
 * succeeded and failed.
 */
#ifndef GUEST_DMAW_H
#define GUEST_DMAW_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "vmm.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB		(21 << MAP_HUGE_SHIFT)
#endif

#define SZ_4K			0x1000ULL
#define SZ_32K			0x8000ULL
#define SZ_64K			0x10000ULL
#define SZ_256K			0x40000ULL
#define SZ_1M			0x100000ULL
#define SZ_2M			0x200000ULL
#define SZ_4M			0x400000ULL
#define SZ_1G			0x40000000ULL

/* The dma-writer device: BAR0, 8-byte little-endian registers */
#define DMAW_VENDOR		0x1b36
#define DMAW_DEVICE		0x00f0
#define DMAW_ID_VALUE		0x31574d44ULL
#define DMAW_ID			(0x00 / 8)
#define DMAW_ADDR		(0x08 / 8)	/* IOVA of the first access */
#define DMAW_STRIDE		(0x10 / 8)	/* bytes between accesses */
#define DMAW_COUNT		(0x18 / 8)
#define DMAW_VALUE		(0x20 / 8)	/* what each write stores */
#define DMAW_DOORBELL		(0x28 / 8)	/* runs before the write returns */
#define DMAW_DONE		(0x30 / 8)	/* accesses that succeeded */
#define DMAW_ERRORS		(0x38 / 8)	/* accesses that failed */
#define DMAW_SEQ		(0x40 / 8)	/* continuous writes made */
#define DMAW_BURST		(0x48 / 8)	/* continuous writes per tick */
#define DMAW_PERIOD		(0x50 / 8)	/* ns from a tick to the next */
#define DMAW_RUNNING		(0x58 / 8)
#define DMAW_OP_WRITE		1
#define DMAW_OP_READ		2
/*
 * Write k (k = 0, 1, ...) stores VALUE + k at ADDR + (k % COUNT) * STRIDE,
 * from a timer of QEMU's main loop, until DMAW_OP_STOP: writes 0 to n - 1
 * are complete when SEQ reads n
 */
#define DMAW_OP_START		3
#define DMAW_OP_STOP		4

/* The dma-writer, bound to @iommufd */
struct dmaw {
	int iommufd;
	int fd;			/* its VFIO cdev */
	__u32 dev_id;		/* its iommufd device object */
	volatile __u64 *bar;	/* its registers */
};

/* What the device's last doorbell did */
struct dmaw_result {
	__u64 done;
	__u64 errors;
};

static inline unsigned long sysfs_hex(const char *dev, const char *attr)
{
	char path[PATH_MAX];
	unsigned long val = ULONG_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dev, attr);
	f = fopen(path, "r");
	if (!f)
		return ULONG_MAX;
	if (fscanf(f, "%lx", &val) != 1)
		val = ULONG_MAX;
	fclose(f);
	return val;
}

/* @path: the first VFIO cdev under /sys/bus/pci/devices/@dev/vfio-dev */
static inline int vfio_cdev_of(const char *dev, char *path, size_t len)
{
	char dir[PATH_MAX];
	struct dirent *e;
	int rc = -ENODEV;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", dev);
	d = opendir(dir);
	if (!d)
		return -ENODEV;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vfio", 4))
			continue;
		snprintf(path, len, "/dev/vfio/devices/%s", e->d_name);
		rc = 0;
		break;
	}
	closedir(d);
	return rc;
}

/*
 * @path: the VFIO cdev of the dma-writer (guest/init binds it to vfio-pci);
 * 0 or -errno
 */
static inline int dmaw_cdev(char *path, size_t len)
{
	struct dirent *e;
	int rc = -ENODEV;
	DIR *d;

	d = opendir("/sys/bus/pci/devices");
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    sysfs_hex(e->d_name, "vendor") != DMAW_VENDOR ||
		    sysfs_hex(e->d_name, "device") != DMAW_DEVICE)
			continue;
		rc = vfio_cdev_of(e->d_name, path, len);
		break;
	}
	closedir(d);
	return rc;
}

static inline int vfio_bind(int fd, int iommufd, __u32 *dev_id)
{
	struct vfio_device_bind_iommufd cmd = {
		.argsz = sizeof(cmd),
		.iommufd = iommufd,
	};
	int rc = ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &cmd);

	*dev_id = cmd.out_devid;
	return rc;
}

/* Attach the device to @pt_id, or move it there if attached elsewhere */
static inline int vfio_attach(int fd, __u32 pt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd),
		.pt_id = pt_id,
	};

	return ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd);
}

static inline int vfio_detach(int fd)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd) };

	return ioctl(fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

static inline int vfio_region(int fd, __u32 index,
			      struct vfio_region_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->index = index;
	return ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, info);
}

/*
 * Set @bits in the PCI command register, through the VFIO config region;
 * 0 or -errno
 */
static inline int pci_command_set(int fd, __u16 bits)
{
	struct vfio_region_info cfg;
	__u16 cmd;

	if (vfio_region(fd, VFIO_PCI_CONFIG_REGION_INDEX, &cfg))
		return -errno;
	if (pread(fd, &cmd, sizeof(cmd), cfg.offset + PCI_COMMAND) != sizeof(cmd))
		return -EIO;
	cmd |= bits;
	if (pwrite(fd, &cmd, sizeof(cmd), cfg.offset + PCI_COMMAND) != sizeof(cmd))
		return -EIO;
	if (pread(fd, &cmd, sizeof(cmd), cfg.offset + PCI_COMMAND) != sizeof(cmd))
		return -EIO;
	return (cmd & bits) == bits ? 0 : -EIO;
}

/* BAR0's first page, or NULL */
static inline volatile __u64 *map_bar0(int fd)
{
	struct vfio_region_info bar;
	void *p;

	if (vfio_region(fd, VFIO_PCI_BAR0_REGION_INDEX, &bar) ||
	    !(bar.flags & VFIO_REGION_INFO_FLAG_MMAP) || bar.size < SZ_4K)
		return NULL;
	p = mmap(NULL, SZ_4K, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 bar.offset);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Open /dev/iommu and the dma-writer, bind it, let it master the bus, map
 * its registers. 0, or -1 with @err (@len bytes) saying what failed; what
 * was opened is left in @d for dmaw_close().
 */
static inline int dmaw_setup(struct dmaw *d, char *err, size_t len)
{
	char path[PATH_MAX];
	int rc;

	d->iommufd = open("/dev/iommu", O_RDWR);
	if (d->iommufd < 0) {
		snprintf(err, len, "/dev/iommu: %s", strerror(errno));
		return -1;
	}
	rc = dmaw_cdev(path, sizeof(path));
	if (rc) {
		snprintf(err, len, "no dma-writer (%04x:%04x) with a VFIO cdev: is QEMU run with -device dma-writer, did guest/init bind it to vfio-pci?",
			 DMAW_VENDOR, DMAW_DEVICE);
		return -1;
	}
	d->fd = open(path, O_RDWR);
	if (d->fd < 0) {
		snprintf(err, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (vfio_bind(d->fd, d->iommufd, &d->dev_id)) {
		snprintf(err, len, "VFIO_DEVICE_BIND_IOMMUFD: %s",
			 strerror(errno));
		return -1;
	}
	rc = pci_command_set(d->fd, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	if (rc) {
		snprintf(err, len, "PCI command register: %s", strerror(-rc));
		return -1;
	}
	d->bar = map_bar0(d->fd);
	if (!d->bar) {
		snprintf(err, len, "BAR0 cannot be mapped: %s", strerror(errno));
		return -1;
	}
	if (d->bar[DMAW_ID] != DMAW_ID_VALUE) {
		snprintf(err, len, "BAR0 ID register 0x%llx, not the dma-writer's 0x%llx",
			 (unsigned long long)d->bar[DMAW_ID], DMAW_ID_VALUE);
		return -1;
	}
	return 0;
}

static inline void dmaw_close(struct dmaw *d)
{
	if (d->bar)
		munmap((void *)d->bar, SZ_4K);
	if (d->fd > 0)
		close(d->fd);
	if (d->iommufd > 0)
		close(d->iommufd);
}

/* Access @count times 8 bytes from @iova on, @stride bytes apart */
static inline struct dmaw_result dmaw_run(volatile __u64 *bar, __u64 op,
					  __u64 iova, __u64 stride,
					  __u64 count, __u64 value)
{
	bar[DMAW_ADDR] = iova;
	bar[DMAW_STRIDE] = stride;
	bar[DMAW_COUNT] = count;
	bar[DMAW_VALUE] = value;
	bar[DMAW_DOORBELL] = op;
	/* what the device wrote is read after this */
	__sync_synchronize();
	return (struct dmaw_result){ bar[DMAW_DONE], bar[DMAW_ERRORS] };
}

/* What hw_info() returns when IOMMU_GET_HW_INFO fails */
#define HW_INFO_FAILED		((__u32)-1)

/*
 * The IOMMU's data (VT-d registers in @vtd) and capabilities (@caps) for
 * the device @dev_id: the IOMMU_HW_INFO_TYPE_* (NONE for an IOMMU without
 * data, AMD-Vi's in Linux 6.12), HW_INFO_FAILED with errno on failure
 */
static inline __u32 hw_info(int iommufd, __u32 dev_id,
			    struct iommu_hw_info_vtd *vtd, __u64 *caps)
{
	struct iommu_hw_info cmd = {
		.size = sizeof(cmd),
		.dev_id = dev_id,
		.data_len = sizeof(*vtd),
		.data_uptr = (uintptr_t)vtd,
	};

	memset(vtd, 0, sizeof(*vtd));
	*caps = 0;
	if (ioctl(iommufd, IOMMU_GET_HW_INFO, &cmd))
		return HW_INFO_FAILED;
	*caps = cmd.out_capabilities;
	return cmd.out_data_type;
}

static inline int hwpt_alloc(int iommufd, __u32 dev_id, __u32 pt_id,
			     __u32 flags, __u32 *hwpt_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.dev_id = dev_id,
		.pt_id = pt_id,
		.data_type = IOMMU_HWPT_DATA_NONE,
	};
	int rc = ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd);

	*hwpt_id = cmd.out_hwpt_id;
	return rc;
}

/* @size bytes of 2 MiB hugetlb pages, every byte 0x5a; NULL with errno */
static inline void *dmaw_hugetlb(__u64 size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0x5a, size);
	return p;
}

static inline bool bit_test(const __u64 *map, __u64 i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static inline void bit_set(__u64 *map, __u64 i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static inline __u64 bitmap_bytes(__u64 nbits)
{
	return (nbits + 63) / 64 * 8;
}

static inline __u64 bitmap_weight(const __u64 *map, __u64 nbits)
{
	__u64 i, n = 0;

	for (i = 0; i < (nbits + 63) / 64; i++)
		n += __builtin_popcountll(map[i]);
	return n;
}

/*
 * @want gets the bits of the pages of the @iopte-sized IOPTE that
 * translated @iova; bit 0 stands for @base, @nbits bits of @page bytes.
 */
static inline void want_iopte(__u64 *want, __u64 base, __u64 nbits,
			      __u64 page, __u64 iopte, __u64 iova)
{
	__u64 first = iova & ~(iopte - 1), p;

	for (p = first; p < first + iopte; p += page)
		if (p >= base && (p - base) / page < nbits)
			bit_set(want, (p - base) / page);
}

#endif
