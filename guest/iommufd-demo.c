// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel offers a VMM through /dev/iommu, shown on iommufd's mock
 * device (CONFIG_IOMMUFD_TEST), shaped like a VMM migrating a VM:
 *
 *   probe the device's dirty-tracking capability, allocate a dirty-tracking
 *   HWPT, attach the device, map guest RAM, start tracking, then pre-copy
 *   rounds: the (simulated) device writes pages by DMA while the VMM
 *   harvests the dirty bitmap; stop the device, final harvest, stop
 *   tracking, tear down.
 *
 * Every harvest is checked against what the device wrote. Output is TAP,
 * one line per step, so the harness counts it as a suite.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#define GUEST_RAM	(256UL << 20)	/* the "guest RAM" the demo maps */
#define PAGE		4096UL
#define NPAGES		(GUEST_RAM / PAGE)
#define BITMAP_BYTES	(NPAGES / 8)
#define ROUNDS		5

static int fd;
static int step;
static int failed;

static void report(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		printf(" (%s)", strerror(errno));
		failed = 1;
	}
	putchar('\n');
	fflush(stdout);
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static unsigned long count_bits(const uint8_t *map)
{
	unsigned long i, n = 0;

	for (i = 0; i < BITMAP_BYTES; i++)
		n += __builtin_popcount(map[i]);
	return n;
}

/* The device writes @n random pages of guest RAM by DMA */
static int device_writes(__u32 hwpt_id, uint8_t *written, unsigned long n)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_DMA_WRITE,
		.id = hwpt_id,
		.dma_write = {
			.iova = MOCK_APERTURE_START,
			.length = GUEST_RAM,
			.page_size = PAGE,
			.uptr = (uintptr_t)written,
		},
	};
	unsigned long i;

	memset(written, 0, BITMAP_BYTES);
	for (i = 0; i < n; i++) {
		unsigned long page = random() % NPAGES;

		written[page / 8] |= 1 << (page % 8);
	}
	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

static int harvest(__u32 hwpt_id, uint8_t *bitmap, double *us)
{
	struct iommu_hwpt_get_dirty_bitmap get = {
		.size = sizeof(get),
		.hwpt_id = hwpt_id,
		.iova = MOCK_APERTURE_START,
		.length = GUEST_RAM,
		.page_size = PAGE,
		.data = (uintptr_t)bitmap,
	};
	double t0 = now_us();
	int rc;

	memset(bitmap, 0, BITMAP_BYTES);
	rc = ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &get);
	*us = now_us() - t0;
	return rc;
}

static int set_tracking(__u32 hwpt_id, int enable)
{
	struct iommu_hwpt_set_dirty_tracking set = {
		.size = sizeof(set),
		.flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = hwpt_id,
	};

	return ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &set);
}

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd mock = {
		.size = sizeof(mock),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct iommu_hw_info info = { .size = sizeof(info) };
	struct iommu_hwpt_alloc hwpt = {
		.size = sizeof(hwpt),
		.flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
	};
	struct iommu_test_cmd replace = {
		.size = sizeof(replace),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
	};
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.iova = MOCK_APERTURE_START,
		.length = GUEST_RAM,
	};
	struct iommu_test_cmd check = {
		.size = sizeof(check),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
	};
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap) };
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	static uint8_t written[BITMAP_BYTES], dirty[BITMAP_BYTES];
	unsigned long nwritten;
	double t0, us;
	void *ram;
	int rc, r;

	srandom(20261120);
	printf("TAP version 13\n");
	fd = open("/dev/iommu", O_RDWR);
	report(fd >= 0, "open /dev/iommu");
	if (fd < 0)
		goto out;

	rc = ioctl(fd, IOMMU_IOAS_ALLOC, &alloc);
	report(!rc, "IOMMU_IOAS_ALLOC: IOAS %u", alloc.out_ioas_id);

	mock.id = alloc.out_ioas_id;
	rc = ioctl(fd, IOMMU_TEST_CMD, &mock);
	report(!rc, "mock device %u bound as idev %u, attached through HWPT %u",
	       mock.mock_domain.out_stdev_id, mock.mock_domain.out_idev_id,
	       mock.mock_domain.out_hwpt_id);

	info.dev_id = mock.mock_domain.out_idev_id;
	rc = ioctl(fd, IOMMU_GET_HW_INFO, &info);
	report(!rc && (info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING),
	       "IOMMU_GET_HW_INFO: capabilities 0x%llx: the device's IOMMU can track DMA writes",
	       (unsigned long long)info.out_capabilities);

	hwpt.dev_id = mock.mock_domain.out_idev_id;
	hwpt.pt_id = alloc.out_ioas_id;
	rc = ioctl(fd, IOMMU_HWPT_ALLOC, &hwpt);
	report(!rc, "IOMMU_HWPT_ALLOC(DIRTY_TRACKING): HWPT %u",
	       hwpt.out_hwpt_id);

	replace.id = mock.mock_domain.out_stdev_id;
	replace.mock_domain_replace.pt_id = hwpt.out_hwpt_id;
	rc = ioctl(fd, IOMMU_TEST_CMD, &replace);
	report(!rc, "device attached to the dirty-tracking HWPT %u",
	       hwpt.out_hwpt_id);

	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report(ram != MAP_FAILED, "%lu MiB of guest RAM allocated",
	       GUEST_RAM >> 20);
	if (ram == MAP_FAILED)
		goto out;
	memset(ram, 0x5a, GUEST_RAM);

	map.ioas_id = alloc.out_ioas_id;
	map.user_va = (uintptr_t)ram;
	t0 = now_us();
	rc = ioctl(fd, IOMMU_IOAS_MAP, &map);
	t0 = now_us() - t0;
	report(!rc, "IOMMU_IOAS_MAP: guest RAM at IOVA 0x%llx (%lu pages pinned and mapped in %.0f us)",
	       (unsigned long long)map.iova, NPAGES, t0);

	check.id = hwpt.out_hwpt_id;
	check.check_map.iova = map.iova;
	check.check_map.length = GUEST_RAM;
	check.check_map.uptr = (uintptr_t)ram;
	rc = ioctl(fd, IOMMU_TEST_CMD, &check);
	report(!rc, "the IO page table translates every IOVA to its guest page");

	rc = set_tracking(hwpt.out_hwpt_id, 1);
	report(!rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking on");

	rc = harvest(hwpt.out_hwpt_id, dirty, &us);
	report(!rc && !count_bits(dirty),
	       "first harvest: %lu pages dirty (nothing written yet) in %.0f us",
	       count_bits(dirty), us);

	for (r = 1; r <= ROUNDS; r++) {
		/* Each round the guest's device writes fewer pages */
		nwritten = NPAGES >> (2 * r);
		rc = device_writes(hwpt.out_hwpt_id, written, nwritten);
		if (!rc)
			rc = harvest(hwpt.out_hwpt_id, dirty, &us);
		report(!rc && !memcmp(written, dirty, BITMAP_BYTES),
		       "pre-copy round %d: device wrote %lu pages, harvest reported %lu in %.0f us",
		       r, count_bits(written), count_bits(dirty), us);
	}

	/* The VMM stops the device; its last writes are still to be copied */
	rc = device_writes(hwpt.out_hwpt_id, written, 100);
	if (!rc)
		rc = harvest(hwpt.out_hwpt_id, dirty, &us);
	report(!rc && !memcmp(written, dirty, BITMAP_BYTES),
	       "device stopped, final harvest: %lu pages to copy (device wrote %lu) in %.0f us",
	       count_bits(dirty), count_bits(written), us);

	rc = harvest(hwpt.out_hwpt_id, dirty, &us);
	report(!rc && !count_bits(dirty),
	       "harvest after the final one: nothing left (%lu)",
	       count_bits(dirty));

	rc = set_tracking(hwpt.out_hwpt_id, 0);
	report(!rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking off");

	unmap.ioas_id = alloc.out_ioas_id;
	unmap.iova = map.iova;
	unmap.length = GUEST_RAM;
	rc = ioctl(fd, IOMMU_IOAS_UNMAP, &unmap);
	report(!rc && unmap.length == GUEST_RAM,
	       "IOMMU_IOAS_UNMAP: %llu bytes unmapped",
	       (unsigned long long)unmap.length);

	errno = 0;
	report(ioctl(fd, IOMMU_TEST_CMD, &check) && errno == EINVAL,
	       "after unmap the IO page table no longer translates");

	destroy.id = mock.mock_domain.out_stdev_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "mock device destroyed");
	destroy.id = hwpt.out_hwpt_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "HWPT destroyed");
	destroy.id = alloc.out_ioas_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "IOAS destroyed");
	munmap(ram, GUEST_RAM);
	close(fd);
out:
	printf("1..%d\n", step);
	return failed;
}
