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

#include "vmm.h"

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
	unsigned long i;

	memset(written, 0, BITMAP_BYTES);
	for (i = 0; i < n; i++) {
		unsigned long page = random() % NPAGES;

		written[page / 8] |= 1 << (page % 8);
	}
	return vmm_dma_write(fd, hwpt_id, MOCK_APERTURE_START, GUEST_RAM, PAGE,
			     written);
}

static int harvest(__u32 hwpt_id, uint8_t *bitmap, double *us)
{
	double t0 = now_us();
	int rc;

	memset(bitmap, 0, BITMAP_BYTES);
	rc = vmm_harvest(fd, hwpt_id, MOCK_APERTURE_START, GUEST_RAM, PAGE,
			 bitmap, 0);
	*us = now_us() - t0;
	return rc;
}

int main(void)
{
	struct iommu_hw_info info = { .size = sizeof(info) };
	struct iommu_test_cmd check = {
		.size = sizeof(check),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
	};
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct vmm_device dev;
	__u32 ioas_id, hwpt_id;
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

	rc = vmm_ioas_alloc(fd, &ioas_id);
	report(!rc, "IOMMU_IOAS_ALLOC: IOAS %u", ioas_id);

	rc = vmm_mock_device(fd, ioas_id, &dev);
	report(!rc, "mock device %u bound as idev %u, attached through HWPT %u",
	       dev.stdev_id, dev.idev_id, dev.hwpt_id);

	info.dev_id = dev.idev_id;
	rc = ioctl(fd, IOMMU_GET_HW_INFO, &info);
	report(!rc && (info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING),
	       "IOMMU_GET_HW_INFO: capabilities 0x%llx: the device's IOMMU can track DMA writes",
	       (unsigned long long)info.out_capabilities);

	rc = vmm_hwpt_alloc_dirty(fd, dev.idev_id, ioas_id, &hwpt_id);
	report(!rc, "IOMMU_HWPT_ALLOC(DIRTY_TRACKING): HWPT %u", hwpt_id);

	rc = vmm_attach(fd, dev.stdev_id, hwpt_id);
	report(!rc, "device attached to the dirty-tracking HWPT %u", hwpt_id);

	ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report(ram != MAP_FAILED, "%lu MiB of guest RAM allocated",
	       GUEST_RAM >> 20);
	if (ram == MAP_FAILED)
		goto out;
	memset(ram, 0x5a, GUEST_RAM);

	t0 = now_us();
	rc = vmm_map(fd, ioas_id, ram, MOCK_APERTURE_START, GUEST_RAM);
	t0 = now_us() - t0;
	report(!rc, "IOMMU_IOAS_MAP: guest RAM at IOVA 0x%lx (%lu pages pinned and mapped in %.0f us)",
	       (unsigned long)MOCK_APERTURE_START, NPAGES, t0);

	check.id = hwpt_id;
	check.check_map.iova = MOCK_APERTURE_START;
	check.check_map.length = GUEST_RAM;
	check.check_map.uptr = (uintptr_t)ram;
	rc = ioctl(fd, IOMMU_TEST_CMD, &check);
	report(!rc, "the IO page table translates every IOVA to its guest page");

	rc = vmm_set_tracking(fd, hwpt_id, 1);
	report(!rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking on");

	rc = harvest(hwpt_id, dirty, &us);
	report(!rc && !count_bits(dirty),
	       "first harvest: %lu pages dirty (nothing written yet) in %.0f us",
	       count_bits(dirty), us);

	for (r = 1; r <= ROUNDS; r++) {
		/* Each round the guest's device writes fewer pages */
		nwritten = NPAGES >> (2 * r);
		rc = device_writes(hwpt_id, written, nwritten);
		if (!rc)
			rc = harvest(hwpt_id, dirty, &us);
		report(!rc && !memcmp(written, dirty, BITMAP_BYTES),
		       "pre-copy round %d: device wrote %lu pages, harvest reported %lu in %.0f us",
		       r, count_bits(written), count_bits(dirty), us);
	}

	/* The VMM stops the device; its last writes are still to be copied */
	rc = device_writes(hwpt_id, written, 100);
	if (!rc)
		rc = harvest(hwpt_id, dirty, &us);
	report(!rc && !memcmp(written, dirty, BITMAP_BYTES),
	       "device stopped, final harvest: %lu pages to copy (device wrote %lu) in %.0f us",
	       count_bits(dirty), count_bits(written), us);

	rc = harvest(hwpt_id, dirty, &us);
	report(!rc && !count_bits(dirty),
	       "harvest after the final one: nothing left (%lu)",
	       count_bits(dirty));

	rc = vmm_set_tracking(fd, hwpt_id, 0);
	report(!rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking off");

	rc = vmm_unmap(fd, ioas_id, MOCK_APERTURE_START, GUEST_RAM);
	report(!rc, "IOMMU_IOAS_UNMAP: %lu MiB unmapped", GUEST_RAM >> 20);

	errno = 0;
	report(ioctl(fd, IOMMU_TEST_CMD, &check) && errno == EINVAL,
	       "after unmap the IO page table no longer translates");

	destroy.id = dev.stdev_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "mock device destroyed");
	destroy.id = hwpt_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "HWPT destroyed");
	destroy.id = ioas_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "IOAS destroyed");
	munmap(ram, GUEST_RAM);
	close(fd);
out:
	printf("1..%d\n", step);
	return failed;
}
