// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel offers a VMM through /dev/iommu, shown on iommufd's mock
 * device (CONFIG_IOMMUFD_TEST): an IOAS, a device attached to it through an
 * automatically allocated paging HWPT, guest memory mapped into it, the
 * device's page table checked against that memory, and everything torn down.
 *
 * Output is TAP, one line per step, so the harness counts it as a suite.
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

#define GUEST_RAM	(64UL << 20)	/* the "guest RAM" the demo maps */
#define PAGE		4096UL

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

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct iommu_test_cmd mock = {
		.size = sizeof(mock),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	struct iommu_hw_info info = { .size = sizeof(info) };
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
	double t0;
	int rc;
	void *ram;

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
	report(!rc && info.out_data_type == IOMMU_HW_INFO_TYPE_SELFTEST,
	       "IOMMU_GET_HW_INFO: data type %u, capabilities 0x%llx",
	       info.out_data_type, (unsigned long long)info.out_capabilities);

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
	       (unsigned long long)map.iova, GUEST_RAM / PAGE, t0);

	check.id = mock.mock_domain.out_hwpt_id;
	check.check_map.iova = map.iova;
	check.check_map.length = GUEST_RAM;
	check.check_map.uptr = (uintptr_t)ram;
	report(!ioctl(fd, IOMMU_TEST_CMD, &check),
	       "the mock IO page table translates every IOVA to its guest page");

	unmap.ioas_id = alloc.out_ioas_id;
	unmap.iova = map.iova;
	unmap.length = GUEST_RAM;
	rc = ioctl(fd, IOMMU_IOAS_UNMAP, &unmap);
	report(!rc && unmap.length == GUEST_RAM,
	       "IOMMU_IOAS_UNMAP: %llu bytes unmapped",
	       (unsigned long long)unmap.length);

	errno = 0;
	report(ioctl(fd, IOMMU_TEST_CMD, &check) && errno == EINVAL,
	       "after unmap the mock IO page table no longer translates");

	destroy.id = mock.mock_domain.out_stdev_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "mock device destroyed");
	destroy.id = alloc.out_ioas_id;
	report(!ioctl(fd, IOMMU_DESTROY, &destroy), "IOAS destroyed");
	munmap(ram, GUEST_RAM);
	close(fd);
out:
	printf("1..%d\n", step);
	return failed;
}
