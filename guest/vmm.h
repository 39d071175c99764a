/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The /dev/iommu calls a VMM makes for dirty tracking, on iommufd's mock
 * device (CONFIG_IOMMUFD_TEST), shared by the demo and the benchmarks.
 * Each returns 0 or -1 with errno set, like the ioctl.
 */
#ifndef GUEST_VMM_H
#define GUEST_VMM_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <time.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

/* Microseconds on the monotonic clock, for timing harvests */
static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A mock device bound to iommufd and attached to an IOAS */
struct vmm_device {
	__u32 stdev_id;		/* the mock device object */
	__u32 idev_id;		/* its iommufd device */
	__u32 hwpt_id;		/* the HWPT it was attached to automatically */
};

static inline int vmm_ioas_alloc(int fd, __u32 *ioas_id)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int rc = ioctl(fd, IOMMU_IOAS_ALLOC, &cmd);

	*ioas_id = cmd.out_ioas_id;
	return rc;
}

/* @flags: MOCK_FLAGS_DEVICE_*, e.g. the page sizes its IOMMU offers */
static inline int vmm_mock_device_flags(int fd, __u32 ioas_id, __u32 flags,
					struct vmm_device *dev)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
		.id = ioas_id,
		.mock_domain_flags = { .dev_flags = flags },
	};
	int rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);

	dev->stdev_id = cmd.mock_domain_flags.out_stdev_id;
	dev->idev_id = cmd.mock_domain_flags.out_idev_id;
	dev->hwpt_id = cmd.mock_domain_flags.out_hwpt_id;
	return rc;
}

static inline int vmm_mock_device(int fd, __u32 ioas_id,
				  struct vmm_device *dev)
{
	return vmm_mock_device_flags(fd, ioas_id, 0, dev);
}

/* A paging HWPT on @ioas_id that can track, for the device @idev_id */
static inline int vmm_hwpt_alloc_dirty(int fd, __u32 idev_id, __u32 ioas_id,
				       __u32 *hwpt_id)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
		.dev_id = idev_id,
		.pt_id = ioas_id,
	};
	int rc = ioctl(fd, IOMMU_HWPT_ALLOC, &cmd);

	*hwpt_id = cmd.out_hwpt_id;
	return rc;
}

/* Move the mock device @stdev_id to @hwpt_id */
static inline int vmm_attach(int fd, __u32 stdev_id, __u32 hwpt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev_id,
		.mock_domain_replace.pt_id = hwpt_id,
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

static inline int vmm_set_tracking(int fd, __u32 hwpt_id, int enable)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd),
		.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt_id,
	};

	return ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static inline int vmm_map(int fd, __u32 ioas_id, void *buf, __u64 iova,
			  __u64 length)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)buf,
		.length = length,
		.iova = iova,
	};

	return ioctl(fd, IOMMU_IOAS_MAP, &cmd);
}

static inline int vmm_unmap(int fd, __u32 ioas_id, __u64 iova, __u64 length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};

	return ioctl(fd, IOMMU_IOAS_UNMAP, &cmd);
}

/* The mock device writes by DMA every page whose bit is set in @bits */
static inline int vmm_dma_write_nr(int fd, __u32 hwpt_id, __u64 iova,
				   __u64 length, __u64 page_size,
				   const void *bits, __u64 *nr_written)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_DMA_WRITE,
		.id = hwpt_id,
		.dma_write = {
			.iova = iova,
			.length = length,
			.page_size = page_size,
			.uptr = (uintptr_t)bits,
		},
	};
	int rc = ioctl(fd, IOMMU_TEST_CMD, &cmd);

	*nr_written = cmd.dma_write.out_nr_written;
	return rc;
}

/* The device writes the pages of @bits; @nr_written: how many hit an IOPTE */
static inline int vmm_dma_write(int fd, __u32 hwpt_id, __u64 iova,
				__u64 length, __u64 page_size, const void *bits)
{
	__u64 nr_written;

	return vmm_dma_write_nr(fd, hwpt_id, iova, length, page_size, bits,
				&nr_written);
}

/* ORs the pages written in [iova, iova + length) into @bits */
static inline int vmm_harvest(int fd, __u32 hwpt_id, __u64 iova,
			      __u64 length, __u64 page_size, void *bits,
			      __u32 flags)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd),
		.hwpt_id = hwpt_id,
		.flags = flags,
		.iova = iova,
		.length = length,
		.page_size = page_size,
		.data = (uintptr_t)bits,
	};

	return ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

#endif
