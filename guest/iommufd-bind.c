// SPDX-License-Identifier: GPL-2.0
/*
 * What a VMM does first with an assigned PCI function, as a guest check:
 * open its VFIO cdev, bind it to /dev/iommu (VFIO_DEVICE_BIND_IOMMUFD) and
 * attach it to an IOAS. vfio-pci binding alone proves none of it: on an
 * arm64 virt machine with GICv2, for one, the bind fails with EPERM as MSIs
 * are not isolated.
 * Usage: iommufd-bind PCI-ADDRESS       (exit 0 if all of it worked)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmaw.h"

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	__u32 dev_id, ioas_id;
	int fd, iommufd, rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PCI-ADDRESS\n", argv[0]);
		return 2;
	}
	rc = vfio_cdev_of(argv[1], path, sizeof(path));
	if (rc) {
		fprintf(stderr, "%s: no VFIO cdev: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	fd = open(path, O_RDWR);
	iommufd = open("/dev/iommu", O_RDWR);
	if (fd < 0 || iommufd < 0) {
		fprintf(stderr, "open %s or /dev/iommu: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (vfio_bind(fd, iommufd, &dev_id)) {
		fprintf(stderr, "%s: VFIO_DEVICE_BIND_IOMMUFD: %s\n", path,
			strerror(errno));
		return 1;
	}
	if (vmm_ioas_alloc(iommufd, &ioas_id) || vfio_attach(fd, ioas_id)) {
		fprintf(stderr, "%s: attach to an IOAS: %s\n", path,
			strerror(errno));
		return 1;
	}
	printf("%s (%s): iommufd device %u, attached to IOAS %u\n", argv[1],
	       path, dev_id, ioas_id);
	return 0;
}
