// SPDX-License-Identifier: GPL-2.0
/*
 * What the kernel offers a VMM through /dev/iommu, shaped like a VMM
 * migrating a VM with an assigned device, on each device this guest has
 * (or those named: iommufd-demo [mock] [dma-writer]):
 *
 *   mock        iommufd's mock device (CONFIG_IOMMUFD_TEST);
 *   dma-writer  QEMU's dma-writer PCI device (guest/dmaw.h) behind the
 *               machine's IOMMU, through its VFIO cdev, when guest/init
 *               bound one to vfio-pci (x86-intel: the emulated VT-d, whose
 *               second-stage dirty bits our QEMU sets; x86-amd: the
 *               emulated AMD-Vi, whose host dirty bits it sets;
 *               arm64-smmuv3: the emulated SMMUv3 with HTTU, which sets
 *               the dirty state of stage-1 descriptors).
 *
 * On each: probe the device's dirty-tracking capability, allocate a
 * dirty-tracking HWPT, attach the device, map 256 MiB of guest RAM, check
 * that the device reaches it, start tracking, then pre-copy rounds: the
 * device writes by DMA its working set (a hot set it rewrites every round
 * plus random pages, fewer each round) and the VMM harvests the dirty
 * bitmap; the device writes a last time and stops (stop-and-copy), a final
 * harvest, stop tracking, unmap, tear down.
 *
 * Every harvest is checked bit by bit against the pages the device wrote
 * (the dma-writer's guest RAM is mapped with 4 KiB IOPTEs, so that the
 * answer is per page). Output is TAP, one line per step, so the harness
 * counts it as a suite; each device's part ends with a table of its rounds
 * (TAP comments): the pages the device wrote, the pages a VMM resends
 * without IOMMU dirty tracking (all guest RAM the device can write: it
 * must assume all of it dirty) and with it (the harvested ones), and the
 * time of the harvest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dmaw.h"

#define RAM_SIZE	(256ULL << 20)	/* the "guest RAM" the demo maps */
#define PAGE		SZ_4K
#define NPAGES		(RAM_SIZE / PAGE)
#define ROUNDS		5
#define HOT_FIRST	1024		/* the hot set, rewritten every round: */
#define HOT_PAGES	256		/* the device's rings and buffers */
#define STOP_PAGES	100		/* random pages written before it stops */
#define ROWS		(ROUNDS + 1)
/*
 * The dma-writer's guest RAM: 2 MiB hugetlb pages at an IOVA 4 KiB past a
 * 2 MiB boundary, so that no IOPTE can be larger than 4 KiB
 */
#define DMAW_RAM_IOVA	(0x40000000ULL + SZ_4K)
/* Its writes of a round, in doorbells of at most this many pages */
#define DOORBELL_PAGES	4096

struct demo;

/* What differs between the devices */
struct demo_ops {
	/* Bind the device to d->iommufd; fill d->dev_id */
	int (*open)(struct demo *d);
	/* Attach it to d->hwpt_id */
	int (*attach)(struct demo *d);
	/* The device writes by DMA every page of guest RAM set in @pages */
	int (*dma_write)(struct demo *d, const __u64 *pages);
	/* Report whether the device reaches guest RAM once it is mapped */
	void (*check_mapped)(struct demo *d);
	/* and that it no longer does once unmapped (optional) */
	void (*check_unmapped)(struct demo *d);
	/* Detach it (or destroy it), then close what open() opened */
	void (*detach)(struct demo *d);
	void (*close)(struct demo *d);
};

/* One row of the table: a pre-copy round */
struct row {
	char label[8];
	__u64 written;		/* pages the device wrote */
	__u64 harvested;	/* pages the harvest reported */
	__u64 whole;		/* the pages of the 2 MiB IOPTEs it wrote */
	double us;		/* the harvest's time */
};

/* 2 MiB IOPTEs of guest RAM, and 4 KiB pages in one */
#define NHUGE		(RAM_SIZE / SZ_2M)
#define HUGE_PAGES	(SZ_2M / PAGE)

struct demo {
	const char *name;	/* each TAP line starts with it */
	const struct demo_ops *ops;
	bool hugetlb;		/* guest RAM is made of 2 MiB hugetlb pages */
	/*
	 * ... mapped 2 MiB-aligned: 2 MiB IOPTEs. Rounds write 1% of the
	 * pages at random, and a harvest reports an IOPTE whole until one
	 * splits it, after which it reports the pages written in it.
	 */
	bool huge;
	bool splits;		/* the IOMMU's harvests split (huge) */
	__u64 split[NHUGE / 64];	/* the IOPTEs split so far (huge) */
	__u64 iova;		/* where guest RAM is mapped */
	int iommufd;
	__u32 dev_id;		/* the device's iommufd device object */
	__u32 ioas_id;
	__u32 hwpt_id;
	void *ram;
	struct vmm_device mock;	/* the mock device */
	struct dmaw dmaw;	/* the dma-writer */
	__u64 value;		/* what the dma-writer wrote last */
	struct row rows[ROWS];
	int nrows;
};

static int step;
static int failed;
/* what the device wrote, what the harvest reported and should have */
static __u64 written[NPAGES / 64], dirty[NPAGES / 64], want[NPAGES / 64];

static void report(struct demo *d, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void report(struct demo *d, int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - %s: ", ok ? "" : "not ", ++step, d->name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok) {
		if (errno)
			printf(" (%s)", strerror(errno));
		failed = 1;
	}
	putchar('\n');
	fflush(stdout);
}

/* The mock device: created in the IOAS by iommufd's test ioctl */
static int mock_open(struct demo *d)
{
	int rc;

	d->iommufd = open("/dev/iommu", O_RDWR);
	report(d, d->iommufd >= 0, "open /dev/iommu");
	if (d->iommufd < 0)
		return -1;
	rc = vmm_ioas_alloc(d->iommufd, &d->ioas_id);
	report(d, !rc, "IOMMU_IOAS_ALLOC: IOAS %u", d->ioas_id);
	if (rc)
		return -1;
	rc = vmm_mock_device(d->iommufd, d->ioas_id, &d->mock);
	report(d, !rc, "mock device %u bound as idev %u, attached through HWPT %u",
	       d->mock.stdev_id, d->mock.idev_id, d->mock.hwpt_id);
	d->dev_id = d->mock.idev_id;
	return rc;
}

static int mock_attach(struct demo *d)
{
	return vmm_attach(d->iommufd, d->mock.stdev_id, d->hwpt_id);
}

static int mock_dma_write(struct demo *d, const __u64 *pages)
{
	return vmm_dma_write(d->iommufd, d->hwpt_id, d->iova, RAM_SIZE, PAGE,
			     pages);
}

static int mock_check_map(struct demo *d)
{
	struct iommu_test_cmd check = {
		.size = sizeof(check),
		.op = IOMMU_TEST_OP_MD_CHECK_MAP,
		.id = d->hwpt_id,
		.check_map = {
			.iova = d->iova,
			.length = RAM_SIZE,
			.uptr = (uintptr_t)d->ram,
		},
	};

	return ioctl(d->iommufd, IOMMU_TEST_CMD, &check);
}

static void mock_check_mapped(struct demo *d)
{
	report(d, !mock_check_map(d),
	       "the IO page table translates every IOVA to its guest page");
}

static void mock_check_unmapped(struct demo *d)
{
	int rc = mock_check_map(d);

	if (!rc)
		errno = 0;
	report(d, rc && errno == EINVAL,
	       "after unmap the IO page table no longer translates");
}

static void mock_detach(struct demo *d)
{
	struct iommu_destroy destroy = {
		.size = sizeof(destroy),
		.id = d->mock.stdev_id,
	};

	report(d, !ioctl(d->iommufd, IOMMU_DESTROY, &destroy),
	       "mock device destroyed");
}

static void mock_close(struct demo *d)
{
	if (d->iommufd >= 0)
		close(d->iommufd);
}

static const struct demo_ops mock_ops = {
	.open = mock_open,
	.attach = mock_attach,
	.dma_write = mock_dma_write,
	.check_mapped = mock_check_mapped,
	.check_unmapped = mock_check_unmapped,
	.detach = mock_detach,
	.close = mock_close,
};

/* The dma-writer: its VFIO cdev bound to /dev/iommu, as a VMM does */
static int dmaw_open(struct demo *d)
{
	char err[PATH_MAX + 256];
	int rc = dmaw_setup(&d->dmaw, err, sizeof(err));

	d->iommufd = d->dmaw.iommufd;
	if (rc)
		errno = 0;
	report(d, !rc, "VFIO cdev opened, bound to /dev/iommu as idev %u, BAR0 mapped%s%s",
	       d->dmaw.dev_id, rc ? ": " : "", rc ? err : "");
	if (rc)
		return -1;
	d->dev_id = d->dmaw.dev_id;
	rc = vmm_ioas_alloc(d->iommufd, &d->ioas_id);
	report(d, !rc, "IOMMU_IOAS_ALLOC: IOAS %u", d->ioas_id);
	return rc;
}

static int dmaw_attach(struct demo *d)
{
	return vfio_attach(d->dmaw.fd, d->hwpt_id);
}

/*
 * The device accesses @n pages from page @first on with @op, 8 bytes each
 * at offset @off in the page; the number of accesses that succeeded
 */
static __u64 dmaw_pages(struct demo *d, __u64 op, __u64 first, __u64 n,
			__u64 off)
{
	struct dmaw_result r;
	__u64 i, c, done = 0;

	for (i = 0; i < n; i += c) {
		c = n - i < DOORBELL_PAGES ? n - i : DOORBELL_PAGES;
		r = dmaw_run(d->dmaw.bar, op, d->iova + (first + i) * PAGE + off,
			     PAGE, c, d->value);
		done += r.done;
		if (r.errors || r.done != c)
			break;
	}
	return done;
}

/* Each run of consecutive pages is written in one go; all must land */
static int dmaw_dma_write(struct demo *d, const __u64 *pages)
{
	__u64 first, n, i, off;

	d->value++;
	off = d->value % (PAGE / 8) * 8;
	for (first = 0; first < NPAGES; first += n) {
		n = 1;
		if (!bit_test(pages, first))
			continue;
		while (first + n < NPAGES && bit_test(pages, first + n))
			n++;
		if (dmaw_pages(d, DMAW_OP_WRITE, first, n, off) != n) {
			printf("# %s: DMA writes to IOVA 0x%llx..: not all done\n",
			       d->name, d->iova + first * PAGE);
			errno = EIO;
			return -1;
		}
		for (i = first; i < first + n; i++) {
			if (*(__u64 *)((char *)d->ram + i * PAGE + off) ==
			    d->value)
				continue;
			printf("# %s: DMA write to IOVA 0x%llx did not land\n",
			       d->name, d->iova + i * PAGE + off);
			errno = EIO;
			return -1;
		}
	}
	return 0;
}

/*
 * No check after unmap: a DMA that faults makes QEMU write to its stderr,
 * which shares the console log with the guest's TAP lines
 */
static void dmaw_check_mapped(struct demo *d)
{
	__u64 done = dmaw_pages(d, DMAW_OP_READ, 0, NPAGES, 0);

	errno = 0;
	report(d, done == NPAGES,
	       "the device reads every page of guest RAM by DMA (%llu of %llu)",
	       done, NPAGES);
}

static void dmaw_detach(struct demo *d)
{
	report(d, !vfio_detach(d->dmaw.fd), "VFIO_DEVICE_DETACH_IOMMUFD_PT");
}

static void dmaw_close_demo(struct demo *d)
{
	dmaw_close(&d->dmaw);
}

static const struct demo_ops dmaw_ops = {
	.open = dmaw_open,
	.attach = dmaw_attach,
	.dma_write = dmaw_dma_write,
	.check_mapped = dmaw_check_mapped,
	.detach = dmaw_detach,
	.close = dmaw_close_demo,
};

static const char *iommu_name(__u32 type)
{
	switch (type) {
	case IOMMU_HW_INFO_TYPE_INTEL_VTD:
		return "Intel VT-d";
	case IOMMU_HW_INFO_TYPE_SELFTEST:
		return "iommufd's mock IOMMU";
	case IOMMU_HW_INFO_TYPE_NONE:
		return "an IOMMU without hw_info data (AMD-Vi, SMMUv3)";
	default:
		return "an IOMMU";
	}
}

/* Harvest all of guest RAM into @dirty; its time in @us */
static int harvest(struct demo *d, double *us)
{
	double t0 = now_us();
	int rc;

	memset(dirty, 0, sizeof(dirty));
	rc = vmm_harvest(d->iommufd, d->hwpt_id, d->iova, RAM_SIZE, PAGE,
			 dirty, 0);
	*us = now_us() - t0;
	return rc;
}

/* The pages where the harvest and the writes differ; the first few said */
static __u64 mismatches(struct demo *d)
{
	__u64 i, bad = 0;

	for (i = 0; i < NPAGES; i++) {
		if (bit_test(want, i) == bit_test(dirty, i))
			continue;
		if (bad++ < 4)
			printf("# %s: IOVA 0x%llx: %s\n", d->name,
			       d->iova + i * PAGE,
			       bit_test(want, i) ? "written, not reported" :
						   "reported, not written");
	}
	return bad;
}

/*
 * What the harvest of the pages written must report: those pages, or with
 * huge IOPTEs each whole IOPTE not split yet. In @row->whole, the pages of
 * the IOPTEs written: what a harvest reports that never splits. The IOPTEs
 * the harvest reports whole, it splits, where the IOMMU's harvests do.
 */
static void expect(struct demo *d, struct row *row)
{
	__u64 i, h;

	memcpy(want, written, sizeof(want));
	row->whole = 0;
	if (!d->huge)
		return;
	for (h = 0; h < NHUGE; h++) {
		for (i = 0; i < HUGE_PAGES; i++)
			if (bit_test(written, h * HUGE_PAGES + i))
				break;
		if (i == HUGE_PAGES)
			continue;
		row->whole += HUGE_PAGES;
		if (bit_test(d->split, h))
			continue;
		for (i = 0; i < HUGE_PAGES; i++)
			bit_set(want, h * HUGE_PAGES + i);
		if (d->splits)
			bit_set(d->split, h);
	}
}

/*
 * The device writes the hot set and @nrandom random pages, the VMM
 * harvests: exactly those pages must be reported. A row of the table,
 * @label; @what says the round in its TAP line.
 */
static void precopy_round(struct demo *d, const char *label,
			  const char *what, unsigned long nrandom)
{
	struct row *row = &d->rows[d->nrows++];
	__u64 i, bad = 0;
	int rc;

	memset(written, 0, sizeof(written));
	for (i = 0; i < HOT_PAGES && !d->huge; i++)
		bit_set(written, HOT_FIRST + i);
	for (i = 0; i < nrandom; i++)
		bit_set(written, random() % NPAGES);

	snprintf(row->label, sizeof(row->label), "%s", label);
	row->written = bitmap_weight(written, NPAGES);
	row->harvested = 0;
	row->us = 0;
	expect(d, row);
	rc = d->ops->dma_write(d, written);
	if (!rc)
		rc = harvest(d, &row->us);
	if (!rc) {
		bad = mismatches(d);
		row->harvested = bitmap_weight(dirty, NPAGES);
		errno = 0;
	}
	report(d, !rc && !bad,
	       "%s: device wrote %llu pages, harvest reported %llu (%llu differ) in %.0f us",
	       what, row->written, row->harvested, bad, row->us);
}

/*
 * What a VMM resends for the device's writes, per round: without IOMMU
 * dirty tracking, every page the device can DMA to; with it, the pages
 * harvested (CPU writes come from KVM's dirty log either way)
 */
static void print_table(struct demo *d)
{
	__u64 wrote = 0, without = 0, with = 0;
	char a[32], b[32];
	struct row *r;

	printf("#\n# %s: pre-copy, in pages of 4 KiB. Without IOMMU dirty tracking a VMM\n"
	       "# must resend every round all %llu pages (%llu MiB) of guest RAM the\n"
	       "# device can DMA to; with it, the pages the harvest reported.\n",
	       d->name, NPAGES, RAM_SIZE >> 20);
	printf("# %-5s | %12s | %23s | %20s | %12s\n", "round",
	       "device wrote", "resent without tracking",
	       "resent with tracking", "harvest (us)");
	for (r = d->rows; r < d->rows + d->nrows; r++) {
		printf("# %-5s | %12llu | %23llu | %20llu | %12.0f\n", r->label,
		       r->written, NPAGES, r->harvested, r->us);
		wrote += r->written;
		without += NPAGES;
		with += r->harvested;
	}
	snprintf(a, sizeof(a), "%llu (%llu MiB)", without, without * PAGE >> 20);
	snprintf(b, sizeof(b), "%llu (%llu MiB)", with, with * PAGE >> 20);
	printf("# %-5s | %12llu | %23s | %20s |\n#\n", "total", wrote, a, b);
	fflush(stdout);
}

/*
 * With 2 MiB IOPTEs: what a VMM resends per round when a harvest reports
 * each written IOPTE whole (stock kernels), and with harvests that split
 */
static void print_huge_table(struct demo *d)
{
	__u64 wrote = 0, whole = 0, with = 0;
	char a[32], b[32];
	struct row *r;

	printf("#\n# %s: pre-copy over %llu MiB of guest RAM in 2 MiB IOPTEs, in pages of\n"
	       "# 4 KiB. A harvest that reports each IOPTE written whole makes the VMM\n"
	       "# resend 512 pages per IOPTE; one that splits (%s) reports them\n"
	       "# whole once, then the pages written.\n",
	       d->name, RAM_SIZE >> 20,
	       d->splits ? "this IOMMU's" : "not this IOMMU's");
	printf("# %-5s | %12s | %20s | %20s | %12s\n", "round",
	       "device wrote", "resent, whole IOPTEs", "resent, with splits",
	       "harvest (us)");
	for (r = d->rows; r < d->rows + d->nrows; r++) {
		printf("# %-5s | %12llu | %20llu | %20llu | %12.0f\n", r->label,
		       r->written, r->whole, r->harvested, r->us);
		wrote += r->written;
		whole += r->whole;
		with += r->harvested;
	}
	snprintf(a, sizeof(a), "%llu (%llu MiB)", whole, whole * PAGE >> 20);
	snprintf(b, sizeof(b), "%llu (%llu MiB)", with, with * PAGE >> 20);
	printf("# %-5s | %12llu | %20s | %20s |\n", "total", wrote, a, b);
	printf("# saved: %llu MiB of %llu MiB resent\n#\n",
	       (whole - with) * PAGE >> 20, whole * PAGE >> 20);
	fflush(stdout);
}

/* The whole migration on one device */
static void demo(struct demo *d)
{
	struct iommu_destroy destroy = { .size = sizeof(destroy) };
	struct iommu_hw_info_vtd info;
	char label[8], what[32];
	__u64 caps;
	__u32 type;
	double us;
	int rc, r;
	__u64 i;

	srandom(20261120);
	d->iommufd = -1;
	if (d->ops->open(d))
		goto out_close;

	type = hw_info(d->iommufd, d->dev_id, &info, &caps);
	report(d, type != HW_INFO_FAILED &&
	       (caps & IOMMU_HW_CAP_DIRTY_TRACKING),
	       "IOMMU_GET_HW_INFO: %s, capabilities 0x%llx: the device's IOMMU can track DMA writes",
	       iommu_name(type), caps);
	/*
	 * Our kernel's harvests split on VT-d, AMD-Vi, and SMMUv3 with BBML
	 * level 2, which QEMU's emulated SMMUv3 reports
	 */
	d->splits = true;

	rc = hwpt_alloc(d->iommufd, d->dev_id, d->ioas_id,
			IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &d->hwpt_id);
	report(d, !rc, "IOMMU_HWPT_ALLOC(DIRTY_TRACKING): HWPT %u", d->hwpt_id);
	if (rc)
		goto out_detach;

	rc = d->ops->attach(d);
	report(d, !rc, "device attached to the dirty-tracking HWPT %u",
	       d->hwpt_id);
	if (d->hugetlb) {
		d->ram = dmaw_hugetlb(RAM_SIZE);
	} else {
		d->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (d->ram == MAP_FAILED)
			d->ram = NULL;
		else
			memset(d->ram, 0x5a, RAM_SIZE);
	}
	report(d, !!d->ram, "%llu MiB of guest RAM allocated%s",
	       RAM_SIZE >> 20, d->hugetlb ? " (2 MiB hugetlb pages)" : "");
	if (!d->ram)
		goto out_detach;

	/*
	 * With huge IOPTEs, a map per hugetlb page: AMD-Vi would map larger
	 * IOPTEs where they are physically contiguous
	 */
	us = now_us();
	for (i = 0, rc = 0; i < RAM_SIZE && !rc; i += d->huge ? SZ_2M : RAM_SIZE)
		rc = vmm_map(d->iommufd, d->ioas_id, d->ram + i, d->iova + i,
			     d->huge ? SZ_2M : RAM_SIZE);
	us = now_us() - us;
	report(d, !rc, "IOMMU_IOAS_MAP: guest RAM at IOVA 0x%llx (%llu pages pinned and mapped in %.0f us)",
	       d->iova, NPAGES, us);
	if (rc)
		goto out_free;
	d->ops->check_mapped(d);

	rc = vmm_set_tracking(d->iommufd, d->hwpt_id, 1);
	report(d, !rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking on");

	rc = harvest(d, &us);
	report(d, !rc && !bitmap_weight(dirty, NPAGES),
	       "first harvest: %llu pages dirty (nothing written yet) in %.0f us",
	       bitmap_weight(dirty, NPAGES), us);

	/*
	 * Each round is shorter: the device writes fewer random pages; with
	 * huge IOPTEs, 1% of the pages each round
	 */
	for (r = 1; r <= ROUNDS; r++) {
		snprintf(label, sizeof(label), "%d", r);
		snprintf(what, sizeof(what), "pre-copy round %d", r);
		precopy_round(d, label, what,
			      d->huge ? NPAGES / 100 : NPAGES >> (2 * r));
	}
	/* The device writes a last time and the VMM stops it: stop-and-copy */
	precopy_round(d, "stop", "device stopped, stop-and-copy", STOP_PAGES);

	rc = harvest(d, &us);
	report(d, !rc && !bitmap_weight(dirty, NPAGES),
	       "harvest after the final one: nothing left (%llu)",
	       bitmap_weight(dirty, NPAGES));

	rc = vmm_set_tracking(d->iommufd, d->hwpt_id, 0);
	report(d, !rc, "IOMMU_HWPT_SET_DIRTY_TRACKING: tracking off");

	rc = vmm_unmap(d->iommufd, d->ioas_id, d->iova, RAM_SIZE);
	report(d, !rc, "IOMMU_IOAS_UNMAP: %llu MiB unmapped", RAM_SIZE >> 20);
	if (d->ops->check_unmapped)
		d->ops->check_unmapped(d);
out_free:
	munmap(d->ram, RAM_SIZE);
out_detach:
	d->ops->detach(d);
	destroy.id = d->hwpt_id;
	report(d, !ioctl(d->iommufd, IOMMU_DESTROY, &destroy), "HWPT destroyed");
	destroy.id = d->ioas_id;
	report(d, !ioctl(d->iommufd, IOMMU_DESTROY, &destroy), "IOAS destroyed");
out_close:
	d->ops->close(d);
	if (d->nrows && d->huge)
		print_huge_table(d);
	else if (d->nrows)
		print_table(d);
}

/* Whether the command line asks for the demo on @name (none named: each) */
static bool wanted(int argc, char **argv, const char *name)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return argc == 1;
}

int main(int argc, char **argv)
{
	struct demo mock = {
		.name = "mock",
		.ops = &mock_ops,
		.iova = MOCK_APERTURE_START,
	};
	struct demo dev = {
		.name = "dma-writer",
		.ops = &dmaw_ops,
		.hugetlb = true,
		.iova = DMAW_RAM_IOVA,
	};
	struct demo huge = {
		.name = "huge",
		.ops = &dmaw_ops,
		.hugetlb = true,
		.huge = true,
		.iova = DMAW_RAM_IOVA & ~(SZ_2M - 1),
	};
	/* devices named on the command line must be there */
	bool named = argc > 1;
	char path[PATH_MAX];
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], mock.name) && strcmp(argv[i], dev.name) &&
		    strcmp(argv[i], huge.name)) {
			fprintf(stderr, "usage: %s [mock] [dma-writer] [huge]\n",
				argv[0]);
			return 2;
		}
	}
	printf("TAP version 13\n");
	if (wanted(argc, argv, mock.name)) {
		printf("# On iommufd's mock device\n");
		demo(&mock);
	}
	if (wanted(argc, argv, dev.name)) {
		if (!dmaw_cdev(path, sizeof(path))) {
			printf("# On QEMU's dma-writer PCI device through VFIO (%s), DMA through the machine's IOMMU\n",
			       path);
			demo(&dev);
		} else if (named) {
			errno = 0;
			report(&dev, false,
			       "no dma-writer PCI device (our QEMU's -device dma-writer) bound to vfio-pci");
		} else {
			printf("# No dma-writer PCI device (our QEMU's -device dma-writer)\n"
			       "# bound to vfio-pci: on the mock device only\n");
		}
	}
	if (wanted(argc, argv, huge.name) && !dmaw_cdev(path, sizeof(path))) {
		printf("# On the dma-writer again, guest RAM mapped with 2 MiB IOPTEs\n");
		demo(&huge);
	}
	printf("1..%d\n", step);
	return failed;
}
