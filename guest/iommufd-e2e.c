// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end test of IOMMU dirty tracking on a real DMA path, as a VMM uses
 * it: QEMU's dma-writer PCI device (1b36:00f0), bound to vfio-pci by
 * guest/init, behind the machine's IOMMU: x86-intel's emulated VT-d in
 * scalable mode, whose second-stage A/D bits our QEMU emulates, x86-amd's
 * emulated AMD-Vi, whose host A/D bits it emulates, or arm64-smmuv3's
 * emulated SMMUv3, whose hardware update of the dirty state (HTTU) of
 * stage-1 descriptors it emulates.
 *
 * The device's VFIO cdev is bound to /dev/iommu, the buffer the device
 * writes is mapped into an IOAS at fixed IOVAs, the device is attached to a
 * HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, tracking is started,
 * the device writes chosen addresses by DMA, and every harvest
 * (IOMMU_HWPT_GET_DIRTY_BITMAP) is compared bit by bit with the pages of
 * the IOPTEs those writes went through, over a range reaching 2 MiB of
 * unmapped IOVA beyond each end of the buffer. Where harvests split large
 * IOPTEs (iommu_splits()), the model follows: after a
 * clearing harvest while tracking, a large IOPTE it reported is one level
 * smaller.
 *
 * Fixture e2e, for every write pattern and IOPTE size (4 KiB, 64 KiB where
 * the IOMMU has it, 2 MiB: a block on SMMUv3) of its variant table:
 *   dma_lands, dma_read, dma_blocked
 *                                the device and the DMA path without tracking
 *   no_dirty_ops                 a HWPT allocated without the dirty flag
 *                                refuses to track or report (EOPNOTSUPP)
 *   exact, redirty, no_clear     exact reports, a second harvest is clean, a
 *                                page written after a harvest is reported
 *                                again (needs the IOTLB flush), NO_CLEAR
 *   partial_range                an IOPTE cut by the harvested range
 *   start_discards, restart_keeps, stop_keeps, read_not_dirty
 *                                what starting and stopping keep or discard,
 *                                DMA reads do not dirty
 *   reattach, replace            detach / attach to the same HWPT, and
 *                                moving between a plain and a tracking HWPT
 *   unmap_after_no_clear         a NO_CLEAR read, unmap, map again: the new
 *                                mapping starts clean and is tracked
 *   split, coarse_bitmap_keeps_iopte
 *                                a large IOPTE reported whole, then split to
 *                                4 KiB precision, put back by a stop, written
 *                                through without a fault or a lost write
 *                                while split; none split with a page_size as
 *                                large as the IOPTE
 * Fixture race: the device writes on its own, from QEMU's main loop, while
 * the guest harvests round after round; no write is lost, none is made up.
 * Fixture soak: race's device and invariant under a VMM's other calls
 * (replace, restarts, bad and NO_CLEAR harvests, map and unmap of other
 * ranges from a second thread), chosen from a seed.
 * Fixture caps: IOMMU_GET_HW_INFO reports the capability; allocation
 * follows it. Fixture qemu: the calls QEMU 10.0's iommufd backend makes
 * during a migration, and QEMU 11's NO_CLEAR read before a vIOMMU unmap.
 *
 * Every DMA is checked on the device (DONE and ERRORS registers) and in
 * memory. The tests that need dirty tracking fail, not skip, when the
 * device's IOMMU does not offer it. Needs 2 MiB hugetlb pages
 * (guest.hugepages) and the device's cdev in /dev/vfio/devices. Output is
 * TAP (kselftest harness).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "dmaw.h"

/* Fixture e2e: a 4 MiB buffer of two hugetlb pages, harvested with guards */
#define BUF_SIZE		(2 * SZ_2M)
#define BUF_IOVA		0x40000000ULL
#define RANGE_IOVA		(BUF_IOVA - SZ_2M)
#define RANGE_LEN		(BUF_SIZE + 4 * SZ_2M)
#define RANGE_BITS		(RANGE_LEN / SZ_4K)
#define FILL			0x5a5a5a5a5a5a5a5aULL
#define TMO			120

static bool is_amd(void)
{
	return !access("/sys/class/iommu/ivhd0", F_OK);
}

/*
 * Whether the IOMMU records writes whatever the tracking state: SMMUv3,
 * whose writable stage-1 leaves are writable-clean (DBM) from map time, so
 * that new mappings are tracked atomically; stopping has nothing to turn
 * off there (the uAPI allows it: a stopped HWPT may go on recording)
 */
static bool records_when_stopped(void)
{
	struct dirent *e;
	bool smmuv3 = false;
	DIR *d = opendir("/sys/class/iommu");

	while (d && (e = readdir(d)))
		smmuv3 |= !strncmp(e->d_name, "smmu3.", 6);
	if (d)
		closedir(d);
	return smmuv3;
}

/*
 * Whether a clearing harvest, while tracking is on, splits each dirty
 * IOPTE larger than its bitmap's page (4 KiB here) into IOPTEs of the level
 * below, so that later harvests report writes there at that size: VT-d,
 * AMD-Vi, and SMMUv3 with BBML level 2 (SMMU_IDR3.BBML), which QEMU's
 * emulated SMMUv3 reports
 */
static bool iommu_splits(void)
{
	return !access("/sys/class/iommu/dmar0", F_OK) || is_amd() ||
	       records_when_stopped();
}

/*
 * The size of the IOPTEs a split of one of @size makes: a level down, or
 * for replicated entries (AMD-Vi's 64 KiB, 4 MiB) the size of their level
 */
static __u64 split_size(__u64 size)
{
	return size > SZ_2M ? SZ_2M : SZ_4K;
}

/*
 * The page sizes of the IOMMU's paging domains: AMD-Vi's v1 table has every
 * power of two from 4 KiB (but 512 GiB); VT-d's second stage, and SMMUv3's
 * stage 1 with the 4 KiB granule of a 4 KiB-page kernel, 4 KiB, 2 MiB and
 * 1 GiB
 */
static __u64 iommu_pgsizes(void)
{
	return is_amd() ? ~(SZ_4K - 1) & ~(2ULL << 38) : SZ_4K | SZ_2M | SZ_1G;
}

/*
 * The largest IOPTE size an IOMMU gives IOVA and physical ranges aligned
 * alike to @align, and no more (4 KiB to 2 MiB)
 */
static __u64 iopte_size(__u64 align)
{
	__u64 sizes = iommu_pgsizes() & (2 * align - 1);

	return 1ULL << (63 - __builtin_clzll(sizes));
}

/*
 * The physical addresses of the @n pages from @va on, in @pa (root reads
 * them in pagemap, with one read: each open and read of it costs
 * milliseconds in a TCG guest with KASAN): ~0ULL for a page that is not
 * present. False if pagemap cannot be read.
 */
static bool phys_addrs(void *va, __u64 n, __u64 *pa)
{
	size_t want = n * sizeof(*pa);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ssize_t got;
	bool ok;
	__u64 i;

	if (fd < 0)
		return false;
	got = pread(fd, pa, want, (__u64)va / SZ_4K * sizeof(*pa));
	ok = got >= 0 && (size_t)got == want;
	close(fd);
	/* bit 63: present; bits 54:0: page frame number, 0 if not root's */
	for (i = 0; ok && i < n; i++) {
		__u64 pfn = pa[i] >> 63 ? pa[i] & ((1ULL << 55) - 1) : 0;

		pa[i] = pfn ? pfn * SZ_4K : ~0ULL;
	}
	return ok;
}

/* The physical address of the page at @va, ~0ULL if unknown */
static __u64 phys_addr(void *va)
{
	__u64 pa;

	return phys_addrs(va, 1, &pa) ? pa : ~0ULL;
}

/*
 * The size of the IOPTE that maps @iova, of @len bytes of @va mapped at
 * @base, as iommu_map() makes them: iommufd maps each run of physically
 * contiguous pages at once, and iommu_map() cuts a run into the largest
 * pages the IOMMU has that fit it and its IOVA and physical alignment.
 * On AMD-Vi, whose table has every power of two, the IOPTEs of anonymous
 * memory depend on its physical contiguity. 0 if pagemap has no answer,
 * or no memory for it. @len is a multiple of 4 KiB.
 */
static __u64 iopte_at(void *va, __u64 base, __u64 len, __u64 iova)
{
	__u64 n = len / SZ_4K;
	__u64 first, last, size = 0;
	__u64 *pa;

	if (iova - base >= len)
		return 0;
	pa = calloc(n, sizeof(*pa));
	if (!pa || !phys_addrs(va, n, pa))
		goto out;
	/* the run of physically contiguous pages around the one of @iova */
	first = (iova - base) / SZ_4K;
	last = first;
	if (pa[first] == ~0ULL)
		goto out;
	while (first && pa[first - 1] == pa[first] - SZ_4K)
		first--;
	while (last + 1 < n && pa[last + 1] == pa[last] + SZ_4K)
		last++;

	/* cut as iommu_map() cuts it */
	for (;;) {
		__u64 at = base + first * SZ_4K, phys = pa[first];
		__u64 fits = iommu_pgsizes();

		/* as iommu_pgsize(): sizes up to the run's highest bit */
		fits &= (2ULL << (63 - __builtin_clzll((last + 1 - first) * SZ_4K))) - 1;
		fits &= ((at | phys) & -(at | phys)) * 2 - 1;
		size = 1ULL << (63 - __builtin_clzll(fits));
		if (iova < at + size)
			break;
		first += size / SZ_4K;
	}
out:
	free(pa);
	return size;
}

/* Open /dev/iommu and the dma-writer, bind it, let it master the bus */
static void dmaw_open(struct __test_metadata *_metadata, struct dmaw *d)
{
	char err[PATH_MAX + 256];

	ASSERT_EQ(0, dmaw_setup(d, err, sizeof(err))) TH_LOG("%s", err);
}

/* The device writes 8 bytes at @iova; it must reach memory */
static void dmaw_write1(struct __test_metadata *_metadata, struct dmaw *d,
			__u64 iova, __u64 value)
{
	struct dmaw_result r = dmaw_run(d->bar, DMAW_OP_WRITE, iova, 0, 1, value);

	ASSERT_EQ(0, r.errors) TH_LOG("DMA write to IOVA 0x%llx faulted", iova);
	ASSERT_EQ(1, r.done);
}

/* Fail, naming the cause, unless the device's IOMMU can track DMA writes */
static void assert_dirty_capable(struct __test_metadata *_metadata,
				 struct dmaw *d)
{
	struct iommu_hw_info_vtd vtd;
	__u64 caps;
	__u32 type = hw_info(d->iommufd, d->dev_id, &vtd, &caps);

	ASSERT_NE(HW_INFO_FAILED, type)
		TH_LOG("IOMMU_GET_HW_INFO: %s", strerror(errno));
	ASSERT_TRUE(caps & IOMMU_HW_CAP_DIRTY_TRACKING)
		TH_LOG("IOMMU_GET_HW_INFO: no IOMMU_HW_CAP_DIRTY_TRACKING (capabilities 0x%llx, VT-d ecap 0x%llx)",
		       caps, vtd.ecap_reg);
}

/* A tracking HWPT on @ioas_id; the device's IOMMU must offer it */
static __u32 hwpt_dirty(struct __test_metadata *_metadata, struct dmaw *d,
			__u32 ioas_id)
{
	__u32 hwpt_id;

	assert_dirty_capable(_metadata, d);
	ASSERT_EQ(0, hwpt_alloc(d->iommufd, d->dev_id, ioas_id,
				IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt_id))
		TH_LOG("IOMMU_HWPT_ALLOC(DIRTY_TRACKING): %s", strerror(errno));
	return hwpt_id;
}

static __u32 hwpt_plain(struct __test_metadata *_metadata, struct dmaw *d,
			__u32 ioas_id)
{
	__u32 hwpt_id;

	ASSERT_EQ(0, hwpt_alloc(d->iommufd, d->dev_id, ioas_id, 0, &hwpt_id))
		TH_LOG("IOMMU_HWPT_ALLOC: %s", strerror(errno));
	return hwpt_id;
}

static void set_tracking(struct __test_metadata *_metadata, int iommufd,
			 __u32 hwpt_id, bool on)
{
	ASSERT_EQ(0, vmm_set_tracking(iommufd, hwpt_id, on))
		TH_LOG("IOMMU_HWPT_SET_DIRTY_TRACKING(%s): %s", on ? "on" : "off",
		       strerror(errno));
}

/* @size bytes of 2 MiB hugetlb pages, every byte 0x5a */
static void *hugetlb_alloc(struct __test_metadata *_metadata, __u64 size)
{
	void *p = dmaw_hugetlb(size);

	ASSERT_NE(NULL, p)
		TH_LOG("no 2 MiB hugetlb pages (guest.hugepages=N on the kernel command line): %s",
		       strerror(errno));
	return p;
}

/*
 * The harvest @got must be @want exactly: every bit of [@base, @base +
 * @nbits * @page), and no bit set past them in the last word.
 */
static void check_bitmap(struct __test_metadata *_metadata, const __u64 *got,
			 const __u64 *want, __u64 base, __u64 nbits,
			 __u64 page)
{
	__u64 i, bad = 0;

	for (i = 0; i < nbits; i++) {
		if (bit_test(got, i) == bit_test(want, i))
			continue;
		if (bad++ < 8)
			TH_LOG("IOVA 0x%llx: %s", base + i * page,
			       bit_test(got, i) ? "reported, not expected" :
						  "expected, not reported");
	}
	for (; i < (nbits + 63) / 64 * 64; i++) {
		if (bit_test(got, i) && bad++ < 8)
			TH_LOG("bit %llu set, past the %llu of the range", i,
			       nbits);
	}
	ASSERT_EQ(0, bad) TH_LOG("%llu bits wrong: %llu reported, %llu expected",
				 bad, bitmap_weight(got, nbits),
				 bitmap_weight(want, nbits));
}

/* The capability, as a VMM probes it at VM start */
FIXTURE(caps) {
	struct dmaw dev;
	__u32 ioas_id;
};

FIXTURE_SETUP(caps)
{
	dmaw_open(_metadata, &self->dev);
	ASSERT_EQ(0, vmm_ioas_alloc(self->dev.iommufd, &self->ioas_id));
}

FIXTURE_TEARDOWN(caps)
{
	dmaw_close(&self->dev);
}

/*
 * AMD-Vi's extended feature register, from sysfs: Linux 6.12 has no
 * IOMMU_GET_HW_INFO data for AMD-Vi. 0 if there is none.
 */
static __u64 amd_efr(void)
{
	unsigned long long efr = 0;
	FILE *f = fopen("/sys/class/iommu/ivhd0/amd-iommu/features", "r");

	if (f) {
		if (fscanf(f, "%llx", &efr) != 1)
			efr = 0;
		fclose(f);
	}
	return efr;
}

/*
 * The device's IOMMU reports dirty tracking; on VT-d only with second-stage
 * A/D support (ECAP SLADS, bit 45) and coherent page walks (SMPWC, bit 48),
 * without which the A/D bits the IOMMU sets need not be visible to the CPU;
 * on AMD-Vi only with host access and dirty bit support (EFR HASup, bit 49,
 * and HDSup, bit 52). SMMUv3 has no IOMMU_GET_HW_INFO data in Linux 6.12:
 * its IDR0.HTTU is not visible here, only the capability.
 */
TEST_F_TIMEOUT(caps, hw_info, TMO)
{
	struct iommu_hw_info_vtd vtd;
	__u64 caps;
	__u32 type = hw_info(self->dev.iommufd, self->dev.dev_id, &vtd, &caps);

	ASSERT_NE(HW_INFO_FAILED, type)
		TH_LOG("IOMMU_GET_HW_INFO: %s", strerror(errno));
	if (type == IOMMU_HW_INFO_TYPE_INTEL_VTD)
		TH_LOG("VT-d cap 0x%llx ecap 0x%llx: SLADS %llu SMPWC %llu, capabilities 0x%llx",
		       vtd.cap_reg, vtd.ecap_reg, vtd.ecap_reg >> 45 & 1,
		       vtd.ecap_reg >> 48 & 1, caps);
	ASSERT_TRUE(caps & IOMMU_HW_CAP_DIRTY_TRACKING)
		TH_LOG("no IOMMU_HW_CAP_DIRTY_TRACKING (capabilities 0x%llx)",
		       caps);
	if (type == IOMMU_HW_INFO_TYPE_INTEL_VTD) {
		ASSERT_EQ(1, vtd.ecap_reg >> 45 & 1);
		ASSERT_EQ(1, vtd.ecap_reg >> 48 & 1);
	} else if (is_amd()) {
		__u64 efr = amd_efr();

		TH_LOG("AMD-Vi EFR 0x%llx: HASup %llu HDSup %llu", efr,
		       efr >> 49 & 1, efr >> 52 & 1);
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_NONE, type);
		ASSERT_EQ(1, efr >> 49 & 1);
		ASSERT_EQ(1, efr >> 52 & 1);
	} else {
		ASSERT_EQ(IOMMU_HW_INFO_TYPE_NONE, type);
	}
}

/* A tracking HWPT can be allocated if and only if the capability is reported */
TEST_F_TIMEOUT(caps, alloc_follows_capability, TMO)
{
	struct iommu_hw_info_vtd vtd;
	__u64 caps;
	__u32 hwpt_id;
	int rc;

	ASSERT_NE(HW_INFO_FAILED,
		  hw_info(self->dev.iommufd, self->dev.dev_id, &vtd, &caps));
	rc = hwpt_alloc(self->dev.iommufd, self->dev.dev_id, self->ioas_id,
			IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt_id);
	if (caps & IOMMU_HW_CAP_DIRTY_TRACKING) {
		ASSERT_EQ(0, rc) TH_LOG("capability reported, allocation: %s",
					strerror(errno));
	} else {
		ASSERT_EQ(-1, rc) TH_LOG("no capability, allocation succeeded");
		ASSERT_EQ(EOPNOTSUPP, errno);
	}
}

FIXTURE(e2e) {
	struct dmaw dev;
	__u32 ioas_id;
	__u32 hwpt_id;		/* the HWPT the device is attached to */
	void *buf;
	__u64 iova;		/* where buf is mapped */
	__u64 iopte;		/* the size of the IOPTEs it is mapped with */
	bool tracking;		/* started on hwpt_id */
	__u64 split;		/* bit i: a harvest split IOPTE i of buf */
	__u64 value;		/* what the device writes next */
	__u64 landed;		/* what its last write that got through wrote */
	__u64 *got, *want;	/* bitmaps of [RANGE_IOVA, + RANGE_LEN) */
};

/*
 * The device writes 8 bytes at buf + offset + i * stride, i < count. The
 * buffer is two 2 MiB hugetlb pages, mapped at an IOVA @align past a 2 MiB
 * boundary (@align 2 MiB: on one, 4 MiB away from the physical alignment).
 * An IOPTE maps IOVA and physical ranges aligned alike, so the buffer gets
 * IOPTEs of the largest size the IOMMU has that divides @align, whatever
 * its physical contiguity: see iopte_size().
 */
FIXTURE_VARIANT(e2e) {
	__u64 align;
	__u64 offset;
	__u64 stride;
	__u64 count;
};

/* One page */
FIXTURE_VARIANT_ADD(e2e, iopte_4k_one) {
	.align = SZ_4K, .offset = 5 * SZ_4K + 0x18, .stride = 0, .count = 1,
};

/* Pages scattered over both hugetlb pages, at drifting offsets in them */
FIXTURE_VARIANT_ADD(e2e, iopte_4k_sparse) {
	.align = SZ_4K, .offset = 3 * SZ_4K + 8, .stride = 37 * SZ_4K + 8,
	.count = 27,
};

/* Every page */
FIXTURE_VARIANT_ADD(e2e, iopte_4k_all) {
	.align = SZ_4K, .offset = 0, .stride = SZ_4K, .count = BUF_SIZE / SZ_4K,
};

/* The first and the last 8 bytes of the buffer */
FIXTURE_VARIANT_ADD(e2e, iopte_4k_edges) {
	.align = SZ_4K, .offset = 0, .stride = BUF_SIZE - 8, .count = 2,
};

/*
 * 64 KiB IOPTEs where the IOMMU has them (AMD-Vi: 16 replicated PTEs, the
 * IOMMU sets the dirty bit in the one the write went through), else 4 KiB.
 * One write through the last replica of the second IOPTE.
 */
FIXTURE_VARIANT_ADD(e2e, iopte_64k_last) {
	.align = SZ_64K, .offset = 2 * SZ_64K - 8, .stride = 0, .count = 1,
};

/* Writes through drifting replicas of IOPTEs over both hugetlb pages */
FIXTURE_VARIANT_ADD(e2e, iopte_64k_spread) {
	.align = SZ_64K, .offset = SZ_64K - 8, .stride = 3 * SZ_64K + SZ_4K,
	.count = 20,
};

/* One 8-byte write dirties one 2 MiB IOPTE: 512 pages */
FIXTURE_VARIANT_ADD(e2e, iopte_2m_one) {
	.align = SZ_2M, .offset = SZ_2M + 0x12340, .stride = 0, .count = 1,
};

/* Two writes across the boundary of the two 2 MiB IOPTEs: 1024 pages */
FIXTURE_VARIANT_ADD(e2e, iopte_2m_both) {
	.align = SZ_2M, .offset = SZ_2M - 8, .stride = 8, .count = 2,
};

FIXTURE_SETUP(e2e)
{
	__u64 last = variant->offset + (variant->count - 1) * variant->stride;

	ASSERT_LT(last, BUF_SIZE - 7);
	dmaw_open(_metadata, &self->dev);
	ASSERT_EQ(0, vmm_ioas_alloc(self->dev.iommufd, &self->ioas_id));
	self->buf = hugetlb_alloc(_metadata, BUF_SIZE);
	/*
	 * IOVA and physical addresses alike modulo 2 * align, not modulo
	 * 4 * align: no larger IOPTE, also where the hugetlb pages are
	 * physically contiguous (AMD-Vi has 4 MiB IOPTEs)
	 */
	ASSERT_NE(~0ULL, phys_addr(self->buf));
	self->iova = BUF_IOVA + variant->align % SZ_2M;
	if (variant->align == SZ_2M)
		self->iova += (phys_addr(self->buf) + SZ_2M) % SZ_4M;
	self->iopte = iopte_size(variant->align);
	ASSERT_EQ(0, vmm_map(self->dev.iommufd, self->ioas_id, self->buf,
			     self->iova, BUF_SIZE))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	/* the IOPTEs the variant is about */
	ASSERT_EQ(self->iopte, iopte_at(self->buf, self->iova, BUF_SIZE,
					self->iova + BUF_SIZE / 2));
	self->value = 0xd1a7000000000001ULL;
	self->landed = FILL;
	self->got = malloc(bitmap_bytes(RANGE_BITS));
	self->want = malloc(bitmap_bytes(RANGE_BITS));
	ASSERT_NE(NULL, self->got);
	ASSERT_NE(NULL, self->want);
}

FIXTURE_TEARDOWN(e2e)
{
	dmaw_close(&self->dev);
}

/* The device is attached to a new HWPT allocated with @dirty or without */
static void attach_new(struct __test_metadata *_metadata,
		       FIXTURE_DATA(e2e) *self, bool dirty)
{
	struct dmaw *d = &self->dev;

	if (dirty)
		self->hwpt_id = hwpt_dirty(_metadata, d, self->ioas_id);
	else
		self->hwpt_id = hwpt_plain(_metadata, d, self->ioas_id);
	self->tracking = false;
	self->split = 0;
	ASSERT_EQ(0, vfio_attach(d->fd, self->hwpt_id))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", strerror(errno));
}

/* Start or stop tracking on hwpt_id: stopping puts split IOPTEs back */
static void track(struct __test_metadata *_metadata, FIXTURE_DATA(e2e) *self,
		  bool on)
{
	set_tracking(_metadata, self->dev.iommufd, self->hwpt_id, on);
	self->tracking = on;
	if (!on)
		self->split = 0;
}

/* A tracking HWPT, attached, tracking started */
static void attach_tracking(struct __test_metadata *_metadata,
			    FIXTURE_DATA(e2e) *self)
{
	attach_new(_metadata, self, true);
	track(_metadata, self, true);
}

/* The size of the IOPTE that maps @iova of buf now */
static __u64 iopte_now(FIXTURE_DATA(e2e) *self, __u64 iova)
{
	__u64 i = (iova - self->iova) / self->iopte;

	if (self->iopte > SZ_4K && i < 64 && (self->split >> i & 1))
		return split_size(self->iopte);
	return self->iopte;
}

/* Is byte @off of the buffer where the variant's accesses start? */
static bool written_at(const FIXTURE_VARIANT(e2e) *v, __u64 off)
{
	if (off < v->offset)
		return false;
	if (!v->stride)
		return off == v->offset;
	return (off - v->offset) % v->stride == 0 &&
	       (off - v->offset) / v->stride < v->count;
}

/* The buffer holds what the device's writes that got through wrote */
static void check_memory(struct __test_metadata *_metadata,
			 FIXTURE_DATA(e2e) *self,
			 const FIXTURE_VARIANT(e2e) *variant)
{
	const __u64 *w = self->buf;
	__u64 off, bad = 0;

	for (off = 0; off < BUF_SIZE; off += 8) {
		__u64 want = written_at(variant, off) ? self->landed : FILL;

		if (w[off / 8] != want && bad++ < 8)
			TH_LOG("buffer + 0x%llx: 0x%llx, want 0x%llx", off,
			       w[off / 8], want);
	}
	ASSERT_EQ(0, bad);
}

/*
 * The device accesses the variant's addresses with @op: all must succeed
 * if @reach, else all must fault. Memory is checked after writes.
 */
static void dma(struct __test_metadata *_metadata, FIXTURE_DATA(e2e) *self,
		const FIXTURE_VARIANT(e2e) *variant, __u64 op, bool reach)
{
	struct dmaw_result r;

	r = dmaw_run(self->dev.bar, op, self->iova + variant->offset,
		     variant->stride, variant->count, self->value);
	if (reach) {
		ASSERT_EQ(0, r.errors) TH_LOG("%llu DMA accesses faulted", r.errors);
		ASSERT_EQ(variant->count, r.done);
	} else {
		ASSERT_EQ(0, r.done) TH_LOG("%llu DMA accesses got through", r.done);
		ASSERT_EQ(variant->count, r.errors);
	}
	if (op != DMAW_OP_WRITE)
		return;
	if (reach)
		self->landed = self->value;
	self->value++;
	check_memory(_metadata, self, variant);
}

#define dma_write(reach) dma(_metadata, self, variant, DMAW_OP_WRITE, reach)
#define dma_read() dma(_metadata, self, variant, DMAW_OP_READ, true)

/*
 * @self->want += the pages in [@base, @base + @nbits * 4 KiB) of the IOPTEs
 * the variant's writes went through that end above IOVA @above
 */
static void want_writes(FIXTURE_DATA(e2e) *self,
			const FIXTURE_VARIANT(e2e) *variant, __u64 base,
			__u64 nbits, __u64 above)
{
	__u64 i, iova;

	for (i = 0; i < variant->count; i++) {
		__u64 size;

		iova = self->iova + variant->offset + i * variant->stride;
		size = iopte_now(self, iova);
		if ((iova & ~(size - 1)) + size > above)
			want_iopte(self->want, base, nbits, SZ_4K, size, iova);
	}
}

/*
 * Harvest [@base, @base + @nbits * 4 KiB) with @flags: @self->want exactly.
 * A clearing harvest while tracking splits, on an IOMMU that does, each
 * IOPTE of buf larger than 4 KiB it reported and cleared: wholly inside
 * the range.
 */
static void harvest_check(struct __test_metadata *_metadata,
			  FIXTURE_DATA(e2e) *self, __u64 base, __u64 nbits,
			  __u32 flags)
{
	__u64 i, start;

	memset(self->got, 0, bitmap_bytes(RANGE_BITS));
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id, base,
				 nbits * SZ_4K, SZ_4K, self->got, flags))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
	check_bitmap(_metadata, self->got, self->want, base, nbits, SZ_4K);

	if (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR || !self->tracking ||
	    !iommu_splits() || self->iopte == SZ_4K)
		return;
	for (i = 0; i < BUF_SIZE / self->iopte && i < 64; i++) {
		start = self->iova + i * self->iopte;
		if (!(self->split >> i & 1) && start >= base &&
		    start + self->iopte <= base + nbits * SZ_4K &&
		    bit_test(self->want, (start - base) / SZ_4K))
			self->split |= 1ULL << i;
	}
}

enum { CLEAN, WRITTEN };

/*
 * Harvest the buffer and 2 MiB of unmapped IOVA on each side with @flags:
 * exactly the pages of the IOPTEs the variant's writes went through are
 * reported if @expect is WRITTEN, none if CLEAN.
 */
static void harvest(struct __test_metadata *_metadata, FIXTURE_DATA(e2e) *self,
		    const FIXTURE_VARIANT(e2e) *variant, __u32 flags,
		    int expect)
{
	memset(self->want, 0, bitmap_bytes(RANGE_BITS));
	if (expect == WRITTEN)
		want_writes(self, variant, RANGE_IOVA, RANGE_BITS, 0);
	harvest_check(_metadata, self, RANGE_IOVA, RANGE_BITS, flags);
}

#define expect_dirty(flags) harvest(_metadata, self, variant, flags, WRITTEN)
#define expect_clean(flags) harvest(_metadata, self, variant, flags, CLEAN)

/* Without tracking: the writes land where they should, and only there */
TEST_F_TIMEOUT(e2e, dma_lands, TMO)
{
	attach_new(_metadata, self, false);
	dma_write(true);
	dma_write(true);
}

/* Reads get through too, and change nothing */
TEST_F_TIMEOUT(e2e, dma_read, TMO)
{
	attach_new(_metadata, self, false);
	dma_write(true);
	dma_read();
	check_memory(_metadata, self, variant);
}

/*
 * DMA reaches only what is mapped for the device: none while it is
 * detached or after the unmap, and again once attached and mapped (the
 * tests of tracking across detach and unmap rely on this)
 */
TEST_F_TIMEOUT(e2e, dma_blocked, TMO)
{
	int fd = self->dev.iommufd;

	attach_new(_metadata, self, false);
	ASSERT_EQ(0, vfio_detach(self->dev.fd))
		TH_LOG("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(errno));
	dma_write(false);
	ASSERT_EQ(0, vfio_attach(self->dev.fd, self->hwpt_id));
	dma_write(true);
	ASSERT_EQ(0, vmm_unmap(fd, self->ioas_id, self->iova, BUF_SIZE));
	dma_write(false);
	ASSERT_EQ(0, vmm_map(fd, self->ioas_id, self->buf, self->iova,
			     BUF_SIZE));
	dma_write(true);
}

/* A HWPT allocated without IOMMU_HWPT_ALLOC_DIRTY_TRACKING cannot track */
TEST_F_TIMEOUT(e2e, no_dirty_ops, TMO)
{
	int fd = self->dev.iommufd;

	attach_new(_metadata, self, false);
	dma_write(true);
	ASSERT_EQ(-1, vmm_set_tracking(fd, self->hwpt_id, true));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(-1, vmm_set_tracking(fd, self->hwpt_id, false));
	ASSERT_EQ(EOPNOTSUPP, errno);
	ASSERT_EQ(-1, vmm_harvest(fd, self->hwpt_id, RANGE_IOVA, RANGE_LEN,
				  SZ_4K, self->got, 0));
	ASSERT_EQ(EOPNOTSUPP, errno);
}

/* Exactly the written pages, once */
TEST_F_TIMEOUT(e2e, exact, TMO)
{
	attach_tracking(_metadata, self);
	expect_clean(0);
	dma_write(true);
	expect_dirty(0);
	expect_clean(0);
}

/*
 * Pages written again after a harvest are reported again: the harvest must
 * flush the IOTLB for what it cleared, or the IOMMU keeps writing through
 * its cached dirty translation without setting the bit again.
 */
TEST_F_TIMEOUT(e2e, redirty, TMO)
{
	int round;

	attach_tracking(_metadata, self);
	for (round = 0; round < 3; round++) {
		dma_write(true);
		expect_dirty(0);
		expect_clean(0);
	}
}

/*
 * As redirty, each round writing another 4 KiB page of the IOPTE of the
 * variant's first write than the round before. An IOMMU caches a large
 * IOPTE's translation once for all its pages (and one of replicated PTEs
 * once for the replicas), so a write to another page of it after a
 * harvest goes through the cached dirty translation too: the harvest must
 * flush it whichever page was written. Where harvests split, the first
 * splits it and the next rounds write through the split, which the flush
 * must have made the IOMMU see.
 */
TEST_F_TIMEOUT(e2e, redirty_elsewhere, TMO)
{
	__u64 first = self->iova + variant->offset, iova, *va;
	struct dmaw_result r;
	int round;

	if (self->iopte == SZ_4K)
		SKIP(return, "4 KiB IOPTEs: redirty covers them");
	attach_tracking(_metadata, self);
	for (round = 0; round < 4; round++) {
		iova = (first & ~(self->iopte - 1)) |
		       ((first + round * 5 * SZ_4K) & (self->iopte - 1));
		va = (__u64 *)((char *)self->buf + (iova - self->iova));
		r = dmaw_run(self->dev.bar, DMAW_OP_WRITE, iova, 0, 1,
			     self->value);
		ASSERT_EQ(1, r.done);
		ASSERT_EQ(self->value, *va);
		self->value++;
		memset(self->want, 0, bitmap_bytes(RANGE_BITS));
		want_iopte(self->want, RANGE_IOVA, RANGE_BITS, SZ_4K,
			   iopte_now(self, iova), iova);
		harvest_check(_metadata, self, RANGE_IOVA, RANGE_BITS, 0);
		memset(self->want, 0, bitmap_bytes(RANGE_BITS));
		harvest_check(_metadata, self, RANGE_IOVA, RANGE_BITS, 0);
	}
}

/*
 * On an IOMMU whose harvests split (iommu_splits()): the first harvest
 * reports each written large IOPTE whole and splits it, the next reports
 * only the 4 KiB pages written. Stopping tracking puts the large IOPTEs
 * back: after a restart a write is reported whole again. And the device
 * writes through splits without a fault, and none of its writes goes
 * unreported: the whole buffer, continuously, while harvests split every
 * IOPTE of it.
 */
TEST_F_TIMEOUT(e2e, split, TMO)
{
	volatile __u64 *bar = self->dev.bar;
	__u64 i, pages = 0, round;

	if (self->iopte == SZ_4K || !iommu_splits())
		SKIP(return, "no IOPTE to split");
	attach_tracking(_metadata, self);
	dma_write(true);
	expect_dirty(0);
	ASSERT_NE(0, self->split);
	dma_write(true);
	expect_dirty(0);
	/* exactly the pages written */
	for (i = 0; i < variant->count; i++)
		pages += !i || (variant->offset + i * variant->stride) / SZ_4K !=
			       (variant->offset + (i - 1) * variant->stride) / SZ_4K;
	ASSERT_EQ(pages, bitmap_weight(self->want, RANGE_BITS));
	expect_clean(0);

	track(_metadata, self, false);
	track(_metadata, self, true);
	dma_write(true);
	expect_dirty(0);
	ASSERT_LT(pages, bitmap_weight(self->want, RANGE_BITS));

	track(_metadata, self, false);
	track(_metadata, self, true);
	bar[DMAW_ADDR] = self->iova;
	bar[DMAW_STRIDE] = SZ_4K;
	bar[DMAW_COUNT] = BUF_SIZE / SZ_4K;
	bar[DMAW_VALUE] = self->value;
	bar[DMAW_BURST] = 64;
	bar[DMAW_PERIOD] = 150000;
	bar[DMAW_DOORBELL] = DMAW_OP_START;
	ASSERT_EQ(1, bar[DMAW_RUNNING]) TH_LOG("the dma-writer has no continuous mode");
	/* self->got: ORed into by every harvest, the one after the stop too */
	memset(self->got, 0, bitmap_bytes(RANGE_BITS));
	for (round = 0; round < 4 || bar[DMAW_SEQ] < 2 * BUF_SIZE / SZ_4K;
	     round++) {
		ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id,
					 RANGE_IOVA, RANGE_LEN, SZ_4K,
					 self->got, 0))
			TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
		ASSERT_GT(200, round) TH_LOG("the device made %llu writes",
					     (__u64)bar[DMAW_SEQ]);
	}
	bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	ASSERT_EQ(0, bar[DMAW_ERRORS]) TH_LOG("%llu DMA writes faulted",
					      (__u64)bar[DMAW_ERRORS]);
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id, RANGE_IOVA,
				 RANGE_LEN, SZ_4K, self->got, 0));
	memset(self->want, 0, bitmap_bytes(RANGE_BITS));
	for (i = 0; i < BUF_SIZE / SZ_4K; i++)
		bit_set(self->want, (self->iova - RANGE_IOVA) / SZ_4K + i);
	check_bitmap(_metadata, self->got, self->want, RANGE_IOVA, RANGE_BITS,
		     SZ_4K);
	/* the last write of each page landed */
	for (i = 0; i < BUF_SIZE / SZ_4K; i++) {
		__u64 seq = bar[DMAW_SEQ];
		__u64 k = seq - 1 - (seq - 1 - i) % (BUF_SIZE / SZ_4K);

		ASSERT_EQ(self->value + k,
			  ((__u64 *)self->buf)[i * SZ_4K / 8]);
	}
}

/*
 * A VMM that harvests with a page_size as large as the IOPTEs keeps them:
 * nothing is split, and a write after such a harvest is reported whole
 * again by a 4 KiB one
 */
TEST_F_TIMEOUT(e2e, coarse_bitmap_keeps_iopte, TMO)
{
	__u64 i, nbits = RANGE_LEN / self->iopte;

	if (self->iopte == SZ_4K)
		SKIP(return, "4 KiB IOPTEs: nothing to keep");
	attach_tracking(_metadata, self);
	dma_write(true);
	memset(self->want, 0, bitmap_bytes(RANGE_BITS));
	for (i = 0; i < variant->count; i++)
		want_iopte(self->want, RANGE_IOVA, nbits, self->iopte,
			   self->iopte,
			   self->iova + variant->offset + i * variant->stride);
	memset(self->got, 0, bitmap_bytes(RANGE_BITS));
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id, RANGE_IOVA,
				 RANGE_LEN, self->iopte, self->got, 0))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
	check_bitmap(_metadata, self->got, self->want, RANGE_IOVA, nbits,
		     self->iopte);
	dma_write(true);
	expect_dirty(0);
}

/* NO_CLEAR reads report without clearing; a clearing read then clears */
TEST_F_TIMEOUT(e2e, no_clear, TMO)
{
	attach_tracking(_metadata, self);
	dma_write(true);
	expect_dirty(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	expect_dirty(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	expect_dirty(0);
	expect_clean(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	expect_clean(0);
	/* and the cleared pages are tracked again */
	dma_write(true);
	expect_dirty(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	expect_dirty(0);
}

/*
 * A harvest of part of the range reports the part of the written IOPTEs
 * inside it, and clears only the IOPTEs wholly inside it: one cut by its
 * end (a 2 MiB IOPTE cut at 1 MiB + 32 KiB, a 64 KiB one at 32 KiB) is
 * reported again by the next harvest. The cut also leaves the bitmap's
 * last word partly used.
 */
TEST_F_TIMEOUT(e2e, partial_range, TMO)
{
	__u64 cut = self->iova + SZ_1M + SZ_32K;
	__u64 nbits = (cut - RANGE_IOVA) / SZ_4K;

	attach_tracking(_metadata, self);
	dma_write(true);
	memset(self->want, 0, bitmap_bytes(RANGE_BITS));
	want_writes(self, variant, RANGE_IOVA, nbits, 0);
	harvest_check(_metadata, self, RANGE_IOVA, nbits, 0);

	memset(self->want, 0, bitmap_bytes(RANGE_BITS));
	want_writes(self, variant, RANGE_IOVA, RANGE_BITS, cut);
	harvest_check(_metadata, self, RANGE_IOVA, RANGE_BITS, 0);
	expect_clean(0);
}

/*
 * Starting discards what was recorded before: writes made before tracking
 * was ever started, and those recorded while it ran before a stop.
 */
TEST_F_TIMEOUT(e2e, start_discards, TMO)
{
	attach_new(_metadata, self, true);
	dma_write(true);
	track(_metadata, self, true);
	expect_clean(0);

	dma_write(true);
	track(_metadata, self, false);
	track(_metadata, self, true);
	expect_clean(0);

	dma_write(true);
	expect_dirty(0);
}

/* Starting while started does nothing: it discards nothing */
TEST_F_TIMEOUT(e2e, restart_keeps, TMO)
{
	attach_tracking(_metadata, self);
	dma_write(true);
	track(_metadata, self, true);
	expect_dirty(0);
}

/*
 * Stopping keeps what was recorded, for a last harvest; writes made while
 * stopped are not recorded, except by an IOMMU that records them whatever
 * the tracking state (SMMUv3), where they are reported exactly
 */
TEST_F_TIMEOUT(e2e, stop_keeps, TMO)
{
	attach_tracking(_metadata, self);
	dma_write(true);
	track(_metadata, self, false);
	expect_dirty(0);
	expect_clean(0);
	dma_write(true);
	if (records_when_stopped())
		expect_dirty(0);
	else
		expect_clean(0);
	track(_metadata, self, false);
	expect_clean(0);
}

/* DMA reads are not writes */
TEST_F_TIMEOUT(e2e, read_not_dirty, TMO)
{
	attach_tracking(_metadata, self);
	dma_read();
	expect_clean(0);
	dma_write(true);
	dma_read();
	expect_dirty(0);
	dma_read();
	expect_clean(0);
}

/*
 * Detach and attach again to the same tracking HWPT while tracking: what
 * was recorded stays, DMA while detached is blocked and records nothing,
 * writes after the attach are recorded (the IOMMU's context for the device
 * must be set up for tracking again).
 */
TEST_F_TIMEOUT(e2e, reattach, TMO)
{
	int fd = self->dev.fd;

	attach_tracking(_metadata, self);
	dma_write(true);
	ASSERT_EQ(0, vfio_detach(fd))
		TH_LOG("VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", strerror(errno));
	dma_write(false);
	ASSERT_EQ(0, vfio_attach(fd, self->hwpt_id))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", strerror(errno));
	expect_dirty(0);
	expect_clean(0);

	ASSERT_EQ(0, vfio_detach(fd));
	dma_write(false);
	ASSERT_EQ(0, vfio_attach(fd, self->hwpt_id));
	expect_clean(0);
	dma_write(true);
	expect_dirty(0);
	expect_clean(0);
}

/*
 * Moving the device (attach while attached) between a plain HWPT and a
 * tracking one on the same IOAS: a HWPT records only the writes made
 * while the device is attached to it.
 */
TEST_F_TIMEOUT(e2e, replace, TMO)
{
	struct dmaw *d = &self->dev;
	__u32 plain_id, dirty_id;

	dirty_id = hwpt_dirty(_metadata, d, self->ioas_id);
	set_tracking(_metadata, d->iommufd, dirty_id, true);
	attach_new(_metadata, self, false);
	plain_id = self->hwpt_id;
	dma_write(true);

	self->hwpt_id = dirty_id;
	self->tracking = true;
	expect_clean(0);
	ASSERT_EQ(0, vfio_attach(d->fd, dirty_id))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT (replace): %s",
		       strerror(errno));
	dma_write(true);
	expect_dirty(0);

	ASSERT_EQ(0, vfio_attach(d->fd, plain_id));
	dma_write(true);
	expect_clean(0);
}

/*
 * The model for a VMM that must know whether a range was written before
 * unmapping it (QEMU >= 11 before a vIOMMU unmap): a NO_CLEAR read, then a
 * normal unmap. The dirty state is kept in the IOPTEs, so it goes with
 * them: after the unmap nothing is reported there, DMA faults, and a new
 * mapping of the same IOVA starts clean (nothing stale from the old one)
 * and is tracked, tracking covering future mappings too.
 */
TEST_F_TIMEOUT(e2e, unmap_after_no_clear, TMO)
{
	int fd = self->dev.iommufd;

	attach_tracking(_metadata, self);
	dma_write(true);
	expect_dirty(IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	ASSERT_EQ(0, vmm_unmap(fd, self->ioas_id, self->iova, BUF_SIZE))
		TH_LOG("IOMMU_IOAS_UNMAP: %s", strerror(errno));
	self->split = 0;
	expect_clean(0);
	dma_write(false);
	ASSERT_EQ(0, vmm_map(fd, self->ioas_id, self->buf, self->iova,
			     BUF_SIZE))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	expect_clean(0);
	dma_write(true);
	expect_dirty(0);
	expect_clean(0);
}

/*
 * Fixture race: the device keeps writing, from QEMU's main loop (the
 * dma-writer's continuous mode), while the guest harvests a buffer of
 * 4 KiB IOPTEs round after round. Write k goes to page k % RACE_PAGES, in
 * order. The device's SEQ, read just before harvest h begins (B[h]) and
 * just after it returns (E[h]), tells what each harvest must and may
 * report:
 *  - a page written after harvest h - 1 returned and before h began is
 *    reported by h;
 *  - a page written while harvest h - 1 ran is reported by h - 1 or h;
 *  - a page harvest h reports was written after h - 1 began and before h
 *    returned.
 * The writes that land while the driver clears dirty bits are those a
 * non-atomic clear (a read-modify-write that stores back a dirty bit the
 * IOMMU just set as clean) or a flush issued before the clear loses.
 * After the rounds the device stops, and two more harvests must report
 * the last writes, then nothing.
 */
#define RACE_PAGES		512
/*
 * The buffer is 4 KiB into the first of two leaf tables, whose rest is
 * mapped too, from a filler the device never writes: the harvests, which
 * cover all of it, are then given whole table entries to age (VT-d), as a
 * VMM's harvests of guest memory mapped in large runs are, and must
 * report nothing of the filler
 */
#define RACE_SPAN		(2 * SZ_2M)
#define RACE_STRIDE		(SZ_4K + 8)	/* drifts over each page */
#define RACE_VALUE		0x7ace000000000000ULL

FIXTURE(race) {
	struct dmaw dev;
	__u32 ioas_id;
	__u32 hwpt_id;
	void *buf;
	__u64 iova;
	__u64 *got[2];		/* harvests h - 1 and h */
	__u64 *wide;		/* what a harvest reports: RACE_SPAN */
	void *filler;
	__u64 *want;
	__u64 begin[2];		/* SEQ before harvests h - 1 and h */
	__u64 end[2];		/* and after them */
	unsigned int rounds;
	unsigned int busy;	/* rounds the device wrote during */
	unsigned int sharp;	/* rounds that saw under RACE_PAGES writes */
};

FIXTURE_VARIANT(race) {
	unsigned int seconds;	/* of harvests while the device writes */
	__u64 burst;		/* the device's writes per tick */
	__u64 period;		/* ns from a tick to the next */
};

/*
 * make test's slice. At most 427 writes per ms: fewer than RACE_PAGES per
 * round on each machine, so that a round's checks name the pages written
 * since the last one began, not all of them.
 */
FIXTURE_VARIANT_ADD(race, short) {
	.seconds = 5, .burst = 64, .period = 150000,
};

/*
 * Bursts a millisecond apart: a burst that a harvest misses is less often
 * made up for by the next burst's writes to its leaf table before the next
 * harvest. A VT-d harvest that invalidated the paging-structure caches
 * after its leaf walk, not before, would leave writes made in between
 * behind a table entry with A clear, which the next harvest skips unless
 * a later write to the table set A again.
 */
FIXTURE_VARIANT_ADD(race, bursts) {
	.seconds = 5, .burst = 64, .period = 1000000,
};

/* By hand (e2e@-v@long): a minute of rounds */
FIXTURE_VARIANT_ADD(race, long) {
	.seconds = 60, .burst = 64, .period = 150000,
};

FIXTURE_SETUP(race)
{
	dmaw_open(_metadata, &self->dev);
	ASSERT_EQ(0, vmm_ioas_alloc(self->dev.iommufd, &self->ioas_id));
	self->buf = hugetlb_alloc(_metadata, SZ_2M);
	/* 4 KiB off a 2 MiB boundary: 4 KiB IOPTEs on every IOMMU */
	self->iova = BUF_IOVA + SZ_4K;
	ASSERT_EQ(0, vmm_map(self->dev.iommufd, self->ioas_id, self->buf,
			     self->iova, SZ_2M))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	ASSERT_EQ(SZ_4K, iopte_at(self->buf, self->iova, SZ_2M, self->iova));
	self->filler = mmap(NULL, RACE_SPAN - SZ_2M, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->filler);
	ASSERT_EQ(0, vmm_map(self->dev.iommufd, self->ioas_id, self->filler,
			     BUF_IOVA, SZ_4K))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	ASSERT_EQ(0, vmm_map(self->dev.iommufd, self->ioas_id,
			     self->filler + SZ_4K, self->iova + SZ_2M,
			     RACE_SPAN - SZ_2M - SZ_4K))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	self->got[0] = calloc(1, bitmap_bytes(RACE_PAGES));
	self->got[1] = calloc(1, bitmap_bytes(RACE_PAGES));
	self->wide = malloc(bitmap_bytes(RACE_SPAN / SZ_4K));
	self->want = malloc(bitmap_bytes(RACE_PAGES));
	ASSERT_NE(NULL, self->wide);
	ASSERT_NE(NULL, self->got[0]);
	ASSERT_NE(NULL, self->got[1]);
	ASSERT_NE(NULL, self->want);
}

FIXTURE_TEARDOWN(race)
{
	if (self->dev.bar)
		self->dev.bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	dmaw_close(&self->dev);
	if (self->filler && self->filler != MAP_FAILED)
		munmap(self->filler, RACE_SPAN - SZ_2M);
	free(self->wide);
	free(self->want);
	free(self->got[0]);
	free(self->got[1]);
}

/* @map = the pages of writes [@from, @to) */
static void race_pages(__u64 *map, __u64 from, __u64 to)
{
	__u64 k;

	memset(map, 0, bitmap_bytes(RACE_PAGES));
	if (to - from >= RACE_PAGES)
		to = from + RACE_PAGES;
	for (k = from; k < to; k++)
		bit_set(map, k % RACE_PAGES);
}

/*
 * Every page of @want is in @got (or @also), or every page of @got is in
 * @want if @only; the first pages that are not are logged
 */
static __u64 race_diff(struct __test_metadata *_metadata, const __u64 *want,
		       const __u64 *got, const __u64 *also, bool only,
		       const char *what, unsigned int round)
{
	__u64 i, bad = 0;

	for (i = 0; i < RACE_PAGES; i++) {
		bool w = bit_test(want, i), g = bit_test(got, i);

		if (also)
			g |= bit_test(also, i);
		if (only ? !g || w : !w || g)
			continue;
		if (bad++ < 4)
			TH_LOG("round %u: page %llu %s", round, i, what);
	}
	return bad;
}

/*
 * Harvest the buffer as round @self->rounds, between reads of SEQ, and
 * judge it and the round before it
 */
static void race_round(struct __test_metadata *_metadata,
		       FIXTURE_DATA(race) *self)
{
	volatile __u64 *bar = self->dev.bar;
	unsigned int h = self->rounds;
	__u64 *got = self->got[h % 2], *prev = self->got[(h + 1) % 2];
	__u64 b, e, pb = self->begin[(h + 1) % 2], pe = self->end[(h + 1) % 2];
	__u64 i, first = (self->iova - BUF_IOVA) / SZ_4K, bad = 0;

	memset(self->wide, 0, bitmap_bytes(RACE_SPAN / SZ_4K));
	b = bar[DMAW_SEQ];
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id, BUF_IOVA,
				 RACE_SPAN, SZ_4K, self->wide, 0))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
	e = bar[DMAW_SEQ];
	memset(got, 0, bitmap_bytes(RACE_PAGES));
	for (i = 0; i < RACE_SPAN / SZ_4K; i++) {
		if (!bit_test(self->wide, i))
			continue;
		ASSERT_TRUE(i >= first && i < first + RACE_PAGES)
			TH_LOG("round %u: IOVA 0x%llx of the filler reported",
			       h, BUF_IOVA + i * SZ_4K);
		bit_set(got, i - first);
	}
	ASSERT_EQ(0, bar[DMAW_ERRORS]) TH_LOG("round %u: %llu DMA writes faulted",
					       h, (__u64)bar[DMAW_ERRORS]);

	/* written between the two harvests: reported by this one */
	race_pages(self->want, pe, b);
	bad += race_diff(_metadata, self->want, got, NULL, false,
			 "written between harvests, not reported", h);
	/* written during the last one: reported by it or this one */
	race_pages(self->want, pb, pe);
	bad += race_diff(_metadata, self->want, got, prev, false,
			 "written during the last harvest, reported by neither", h);
	/* reported: written since the last one began */
	race_pages(self->want, pb, e);
	bad += race_diff(_metadata, self->want, got, NULL, true,
			 "reported, not written since the last harvest began", h);
	ASSERT_EQ(0, bad) TH_LOG("round %u: writes [%llu, %llu) before it, [%llu, %llu) during it",
				 h, pb, b, b, e);
	self->begin[h % 2] = b;
	self->end[h % 2] = e;
	self->busy += e != b;
	self->sharp += e - pb < RACE_PAGES;
	self->rounds++;
}

/* Harvest after harvest while the device writes, then after it stopped */
TEST_F_TIMEOUT(race, harvest_while_writing, TMO)
{
	volatile __u64 *bar = self->dev.bar;
	struct timespec t0, t;
	const __u64 *w = self->buf;
	__u64 seq, k, p, bad = 0;

	self->hwpt_id = hwpt_dirty(_metadata, &self->dev, self->ioas_id);
	ASSERT_EQ(0, vfio_attach(self->dev.fd, self->hwpt_id))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", strerror(errno));
	set_tracking(_metadata, self->dev.iommufd, self->hwpt_id, true);

	bar[DMAW_ADDR] = self->iova;
	bar[DMAW_STRIDE] = RACE_STRIDE;
	bar[DMAW_COUNT] = RACE_PAGES;
	bar[DMAW_VALUE] = RACE_VALUE;
	bar[DMAW_BURST] = variant->burst;
	bar[DMAW_PERIOD] = variant->period;
	bar[DMAW_DOORBELL] = DMAW_OP_START;
	ASSERT_EQ(1, bar[DMAW_RUNNING]) TH_LOG("the dma-writer has no continuous mode");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		race_round(_metadata, self);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < variant->seconds);

	bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	seq = bar[DMAW_SEQ];
	/* the last writes, then nothing */
	race_round(_metadata, self);
	race_round(_metadata, self);
	TH_LOG("%u harvests, %u of them while the device wrote, %u after fewer than %u writes; %llu writes",
	       self->rounds, self->busy, self->sharp, RACE_PAGES, seq);
	/*
	 * Enough writes raced enough harvests to mean something, and enough
	 * rounds told the pages written since the last one from the others
	 */
	ASSERT_LE(RACE_PAGES, seq);
	ASSERT_LE(10, self->busy);
	ASSERT_LE(10, self->sharp);

	/* each page holds the last write made to it */
	for (p = 0; p < RACE_PAGES; p++) {
		k = seq - 1 - (seq - 1 - p) % RACE_PAGES;
		if (w[p * RACE_STRIDE / 8] != RACE_VALUE + k && bad++ < 4)
			TH_LOG("page %llu holds 0x%llx, not write %llu's 0x%llx",
			       p, w[p * RACE_STRIDE / 8], k, RACE_VALUE + k);
	}
	ASSERT_EQ(0, bad);
}

/*
 * Fixture soak: a VMM's pre-copy rounds, with the device writing on its
 * own throughout (as in race), and around them everything else a VMM
 * does, chosen round by round from a seed:
 *  - the device moves between two tracking HWPTs of the IOAS (replace).
 *    Each round harvests both, each into its own bitmap: the one the
 *    device was on must report its writes, the other nothing, so writes
 *    that go on through the HWPT the device left are caught. The device
 *    is stopped for a replace: no driver of Linux 6.12 replaces without a
 *    window in which DMA faults (VT-d blocks translation first, AMD-Vi
 *    detaches first, SMMUv3 makes the CD invalid while it changes its ASID
 *    and table), so the round harvests with the device stopped, and the
 *    device starts again, its SEQ from 0: an epoch of the oracle;
 *  - the HWPT the device is not on is stopped and started again, and the
 *    one it is on is restarted (as when a migration is cancelled and
 *    tried again): a start discards what was recorded before it began, so
 *    the round after it is judged as if the start were a harvest that
 *    reported every page;
 *  - bad harvests: a read-only, NULL or inaccessible bitmap (EFAULT, or 0
 *    when there was no bit to set), a page_size of 1 << 63, an unaligned
 *    IOVA, an unknown flag, a range that wraps (the bitmap stays as it
 *    was); none may lose a dirty bit;
 *  - NO_CLEAR reads: they report the pages written since the last harvest
 *    returned, and the harvest after them still does;
 *  - meanwhile a thread maps, harvests and unmaps other ranges of the
 *    IOAS: the free slots of the two leaf tables the written pages are
 *    in, and a 2 MiB range (one IOPTE where the IOMMU has them); nothing
 *    is written there, so its harvests report nothing.
 * Each round is judged by race's invariant: a page written before
 * harvest h began is reported by h, or by h - 1 if written while h - 1
 * ran; a page h reports was written since h - 1 began.
 * E2E_SEED in the environment replaces the variant's seed (0: the time);
 * the seed is printed. The device's timing is not the seed's: a failure
 * replays the same choices, not the same interleaving.
 */
#define SOAK_FAR_IOVA		0x80000000ULL	/* 2 MiB, 2 MiB aligned */
#define SOAK_PREV_IOVA		BUF_IOVA	/* the page before the buffer */
#define SOAK_NEXT_IOVA		(BUF_IOVA + SZ_4K + SZ_2M)
#define SOAK_NEXT_LEN		(SZ_2M - SZ_4K)	/* the 2nd leaf table's rest */
#define SOAK_PATTERN		0xa5

enum soak_act {
	SOAK_REPLACE, SOAK_IDLE_RESTART, SOAK_RESTART, SOAK_BAD, SOAK_NO_CLEAR,
	SOAK_ACTS, SOAK_NONE = SOAK_ACTS,
};

static const char *const soak_act_name[SOAK_ACTS + 1] = {
	"replaces", "idle HWPT restarts", "restarts", "bad harvests",
	"NO_CLEAR reads", "plain rounds",
};

/*
 * What the thread that maps and unmaps other ranges did, or its failure:
 * @failed is set (release) once @err is written
 */
struct soak_churn {
	int iommufd;
	__u32 ioas_id;
	__u32 hwpt_id[2];
	void *buf;		/* 2 MiB hugetlb, never written by the device */
	__u64 seed;
	int stop;		/* atomic */
	int failed;		/* atomic */
	__u64 maps;
	char err[256];
};

FIXTURE(soak) {
	struct dmaw dev;
	__u32 ioas_id;
	__u32 hwpt_id[2];
	unsigned int cur;	/* the HWPT the device is on */
	void *buf;
	__u64 *got[2];		/* harvests h - 1 and h */
	__u64 *other;		/* h's harvest of the other HWPT */
	__u64 *want;
	__u64 *ro;		/* a read-only bitmap page */
	void *none;		/* a page with no access */
	__u64 begin, end;	/* SEQ around the last harvest */
	__u64 *prev;		/* what it reported */
	__u64 seed, rnd;
	__u64 epoch_value;	/* VALUE of the device's writes since its start */
	__u64 last[RACE_PAGES];	/* what each page holds, epochs past */
	__u64 writes;		/* of epochs past */
	unsigned int rounds, busy, sharp, efaults, epochs;
	unsigned int acts[SOAK_ACTS + 1];
	struct soak_churn churn;
	pthread_t thread;
	bool threaded;
};

FIXTURE_VARIANT(soak) {
	unsigned int seconds;
	__u64 seed;		/* 0: the time */
};

/* make test's slice */
FIXTURE_VARIANT_ADD(soak, short) {
	.seconds = 20, .seed = 1,
};

/* make stress (e2e@-v@long) */
FIXTURE_VARIANT_ADD(soak, long) {
	.seconds = 300, .seed = 0,
};

static __u64 soak_next(__u64 *state)	/* splitmix64 */
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u64 soak_below(__u64 *state, __u64 n)
{
	return soak_next(state) % n;
}

/*
 * The churn thread: map a piece of its buffer into a free slot of the
 * written pages' leaf tables, or all of it at SOAK_FAR_IOVA, harvest it
 * from either HWPT, unmap it. Failures are left in @c->err for the test's
 * thread, which asserts.
 */
static void *soak_churn(void *arg)
{
	struct soak_churn *c = arg;
	__u64 *bits = calloc(1, bitmap_bytes(SZ_2M / SZ_4K));
	__u64 state = c->seed;

	if (!bits) {
		snprintf(c->err, sizeof(c->err), "no memory");
		__atomic_store_n(&c->failed, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		unsigned int zone = soak_below(&state, 3);
		__u64 len = SZ_4K, iova = SOAK_PREV_IOVA, off = 0;
		__u32 hwpt = c->hwpt_id[soak_below(&state, 2)];
		__u32 flags = soak_below(&state, 2) ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0;
		__u64 n;

		if (zone == 1) {
			len = SZ_4K * (1 + soak_below(&state, SOAK_NEXT_LEN / SZ_4K));
			iova = SOAK_NEXT_IOVA +
			       SZ_4K * soak_below(&state, (SOAK_NEXT_LEN - len) / SZ_4K + 1);
		} else if (zone == 2) {
			len = SZ_2M;
			iova = SOAK_FAR_IOVA;
		}
		if (len < SZ_2M)
			off = SZ_4K * soak_below(&state, (SZ_2M - len) / SZ_4K + 1);

		if (vmm_map(c->iommufd, c->ioas_id, c->buf + off, iova, len)) {
			snprintf(c->err, sizeof(c->err), "map of 0x%llx at IOVA 0x%llx: %s",
				 len, iova, strerror(errno));
			break;
		}
		c->maps++;
		memset(bits, 0, bitmap_bytes(len / SZ_4K));
		if (vmm_harvest(c->iommufd, hwpt, iova, len, SZ_4K, bits, flags)) {
			snprintf(c->err, sizeof(c->err), "harvest of 0x%llx at IOVA 0x%llx: %s",
				 len, iova, strerror(errno));
			break;
		}
		n = bitmap_weight(bits, len / SZ_4K);
		if (n) {
			snprintf(c->err, sizeof(c->err), "harvest of 0x%llx at IOVA 0x%llx, never written: %llu pages reported",
				 len, iova, n);
			break;
		}
		if (vmm_unmap(c->iommufd, c->ioas_id, iova, len)) {
			snprintf(c->err, sizeof(c->err), "unmap of 0x%llx at IOVA 0x%llx: %s",
				 len, iova, strerror(errno));
			break;
		}
	}
	if (c->err[0])
		__atomic_store_n(&c->failed, 1, __ATOMIC_RELEASE);
	free(bits);
	return NULL;
}

FIXTURE_SETUP(soak)
{
	const char *env = getenv("E2E_SEED");
	struct timespec ts;
	unsigned int i;

	dmaw_open(_metadata, &self->dev);
	ASSERT_EQ(0, vmm_ioas_alloc(self->dev.iommufd, &self->ioas_id));
	self->buf = hugetlb_alloc(_metadata, SZ_2M);
	ASSERT_EQ(0, vmm_map(self->dev.iommufd, self->ioas_id, self->buf,
			     BUF_IOVA + SZ_4K, SZ_2M))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	ASSERT_EQ(SZ_4K, iopte_at(self->buf, BUF_IOVA + SZ_4K, SZ_2M,
				  BUF_IOVA + SZ_4K));
	self->churn.buf = hugetlb_alloc(_metadata, SZ_2M);
	for (i = 0; i < 2; i++) {
		self->got[i] = calloc(1, bitmap_bytes(RACE_PAGES));
		ASSERT_NE(NULL, self->got[i]);
	}
	self->other = malloc(bitmap_bytes(RACE_PAGES));
	self->want = malloc(bitmap_bytes(RACE_PAGES));
	ASSERT_NE(NULL, self->other);
	ASSERT_NE(NULL, self->want);
	self->ro = mmap(NULL, SZ_4K, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->ro);
	self->none = mmap(NULL, SZ_4K, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->none);
	/* the buffer's fill until the device writes a page */
	for (i = 0; i < RACE_PAGES; i++)
		self->last[i] = FILL;

	self->seed = variant->seed;
	if (env)
		self->seed = strtoull(env, NULL, 0);
	if (!self->seed) {
		clock_gettime(CLOCK_REALTIME, &ts);
		self->seed = ts.tv_sec ^ ts.tv_nsec;
	}
	self->rnd = self->seed;
	TH_LOG("seed %llu (E2E_SEED=%llu replays its choices)", self->seed,
	       self->seed);
}

FIXTURE_TEARDOWN(soak)
{
	if (self->threaded) {
		__atomic_store_n(&self->churn.stop, 1, __ATOMIC_RELEASE);
		pthread_join(self->thread, NULL);
	}
	if (self->dev.bar)
		self->dev.bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	dmaw_close(&self->dev);
	free(self->got[0]);
	free(self->got[1]);
	free(self->other);
	free(self->want);
}

/*
 * Judge the harvest that reported @got between SEQ @b and @e against the
 * last one (self->begin, self->end, self->prev), as race_round() does
 */
static void soak_judge(struct __test_metadata *_metadata,
		       FIXTURE_DATA(soak) *self, const __u64 *got, __u64 b,
		       __u64 e, bool no_clear)
{
	__u64 bad = 0;

	race_pages(self->want, self->end, b);
	bad += race_diff(_metadata, self->want, got, NULL, false,
			 "written between harvests, not reported", self->rounds);
	if (!no_clear) {
		race_pages(self->want, self->begin, self->end);
		bad += race_diff(_metadata, self->want, got, self->prev, false,
				 "written during the last harvest, reported by neither",
				 self->rounds);
	}
	race_pages(self->want, self->begin, e);
	bad += race_diff(_metadata, self->want, got, NULL, true,
			 "reported, not written since the last harvest began",
			 self->rounds);
	ASSERT_EQ(0, bad)
		TH_LOG("round %u (%s, seed %llu): writes [%llu, %llu) before it, [%llu, %llu) during it",
		       self->rounds, no_clear ? "NO_CLEAR" : "harvest", self->seed,
		       self->end, b, b, e);
}

/*
 * Harvest the written pages (clearing, or NO_CLEAR) from the HWPT @src
 * into @got and from the other one into self->other, which must report
 * nothing; judge @got
 */
static void soak_harvest(struct __test_metadata *_metadata,
			 FIXTURE_DATA(soak) *self, unsigned int src,
			 __u64 *got, __u32 flags)
{
	volatile __u64 *bar = self->dev.bar;
	__u64 b, e, n;

	memset(got, 0, bitmap_bytes(RACE_PAGES));
	memset(self->other, 0, bitmap_bytes(RACE_PAGES));
	b = bar[DMAW_SEQ];
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id[src],
				 BUF_IOVA + SZ_4K, RACE_PAGES * SZ_4K, SZ_4K,
				 got, flags))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id[!src],
				 BUF_IOVA + SZ_4K, RACE_PAGES * SZ_4K, SZ_4K,
				 self->other, flags))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP: %s", strerror(errno));
	e = bar[DMAW_SEQ];
	n = bitmap_weight(self->other, RACE_PAGES);
	ASSERT_EQ(0, n)
		TH_LOG("round %u (seed %llu): the HWPT the device is not on reports %llu pages",
		       self->rounds, self->seed, n);
	soak_judge(_metadata, self, got, b, e, flags);
	if (flags)
		return;
	self->busy += e != b;
	self->sharp += e - self->begin < RACE_PAGES;
	self->begin = b;
	self->end = e;
	self->prev = got;
}

/* One bad harvest of the active HWPT: it must fail, and lose nothing */
static void soak_bad(struct __test_metadata *_metadata,
		     FIXTURE_DATA(soak) *self)
{
	__u64 iova = BUF_IOVA + SZ_4K, len = RACE_PAGES * SZ_4K;
	__u64 page = SZ_4K, *bits = self->want;
	__u32 flags = 0;
	int rc, want, kind = soak_below(&self->rnd, 7);
	struct iommu_hwpt_get_dirty_bitmap cmd;
	__u64 i;

	memset(self->want, SOAK_PATTERN, bitmap_bytes(RACE_PAGES));
	switch (kind) {
	case 0:
		bits = self->ro;
		want = -EFAULT;
		break;
	case 1:
		bits = NULL;
		want = -EFAULT;
		break;
	case 2:
		bits = self->none;
		want = -EFAULT;
		break;
	case 3:
		page = 1ULL << 63;
		want = -EINVAL;
		break;
	case 4:
		iova += SZ_4K / 2;
		want = -EINVAL;
		break;
	case 5:
		flags = 1U << (1 + soak_below(&self->rnd, 31));
		want = -EOPNOTSUPP;
		break;
	default:
		iova = -SZ_4K * 4;
		len = SZ_4K * 8;
		want = -EOVERFLOW;
		break;
	}
	cmd = (struct iommu_hwpt_get_dirty_bitmap){
		.size = sizeof(cmd),
		.hwpt_id = self->hwpt_id[self->cur],
		.flags = flags,
		.iova = iova,
		.length = len,
		.page_size = page,
		.data = (uintptr_t)bits,
	};
	rc = ioctl(self->dev.iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd) ? -errno : 0;
	/* (the EFAULT kinds' bitmaps cannot be written) */
	for (i = 0; bits == self->want && i < bitmap_bytes(RACE_PAGES) / 8; i++)
		ASSERT_EQ(0xa5a5a5a5a5a5a5a5ULL, self->want[i])
			TH_LOG("round %u: bad harvest %d wrote its bitmap",
			       self->rounds, kind);
	/* with no bit to set, a bad bitmap is not touched: no fault */
	if (want == -EFAULT && !rc)
		return;
	self->efaults += rc == -EFAULT;
	ASSERT_EQ(want, rc)
		TH_LOG("round %u (seed %llu): bad harvest %d: %s, not %s",
		       self->rounds, self->seed, kind, strerror(-rc), strerror(-want));
}

/* Start the device's continuous writes, an epoch with SEQ from 0 */
static void soak_start(struct __test_metadata *_metadata,
		       FIXTURE_DATA(soak) *self)
{
	volatile __u64 *bar = self->dev.bar;

	self->epoch_value = RACE_VALUE + self->writes;
	bar[DMAW_ADDR] = BUF_IOVA + SZ_4K;
	bar[DMAW_STRIDE] = RACE_STRIDE;
	bar[DMAW_COUNT] = RACE_PAGES;
	bar[DMAW_VALUE] = self->epoch_value;
	bar[DMAW_BURST] = 64;
	bar[DMAW_PERIOD] = 150000;
	bar[DMAW_DOORBELL] = DMAW_OP_START;
	ASSERT_EQ(1, bar[DMAW_RUNNING]) TH_LOG("the dma-writer has no continuous mode");
	self->epochs++;
}

/*
 * Stop the device: the epoch's writes go to @self->last and
 * @self->writes. The harvest after this is judged from SEQ 0 on.
 */
static void soak_stop(FIXTURE_DATA(soak) *self)
{
	volatile __u64 *bar = self->dev.bar;
	__u64 n, k, p;

	bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	n = bar[DMAW_SEQ];
	for (p = 0; p < RACE_PAGES && p < n; p++) {
		k = n - 1 - (n - 1 - p) % RACE_PAGES;
		self->last[p] = self->epoch_value + k;
	}
	self->writes += n;
}

/*
 * Round @self->rounds: the seed's action, then a harvest of both HWPTs,
 * judged
 */
static void soak_round(struct __test_metadata *_metadata,
		       FIXTURE_DATA(soak) *self, bool quiet)
{
	volatile __u64 *bar = self->dev.bar;
	__u64 *got = self->got[self->rounds % 2], b, e;
	unsigned int act = quiet ? SOAK_NONE : soak_below(&self->rnd, 16);
	unsigned int src = self->cur;	/* the HWPT the device was on */
	__u32 idle = self->hwpt_id[!self->cur];
	bool paused = false;

	if (act >= SOAK_ACTS)
		act = SOAK_NONE;
	self->acts[act]++;
	switch (act) {
	case SOAK_REPLACE:
		paused = true;
		soak_stop(self);
		ASSERT_EQ(0, vfio_attach(self->dev.fd, idle))
			TH_LOG("replace: %s", strerror(errno));
		self->cur = !self->cur;
		break;
	case SOAK_IDLE_RESTART:
		set_tracking(_metadata, self->dev.iommufd, idle, false);
		set_tracking(_metadata, self->dev.iommufd, idle, true);
		break;
	case SOAK_RESTART:
		b = bar[DMAW_SEQ];
		set_tracking(_metadata, self->dev.iommufd,
			     self->hwpt_id[self->cur], false);
		set_tracking(_metadata, self->dev.iommufd,
			     self->hwpt_id[self->cur], true);
		e = bar[DMAW_SEQ];
		/* as if a harvest between b and e had reported every page */
		self->begin = b;
		self->end = e;
		memset(self->prev, 0xff, bitmap_bytes(RACE_PAGES));
		break;
	case SOAK_BAD:
		soak_bad(_metadata, self);
		break;
	case SOAK_NO_CLEAR:
		soak_harvest(_metadata, self, src, got,
			     IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
		break;
	}

	soak_harvest(_metadata, self, src, got, 0);
	ASSERT_EQ(0, bar[DMAW_ERRORS])
		TH_LOG("round %u, after one of the %s: %llu DMA writes faulted",
		       self->rounds, soak_act_name[act], (__u64)bar[DMAW_ERRORS]);
	self->rounds++;
	if (paused) {
		/* each write of the epoch was reported: a new one begins */
		self->begin = 0;
		self->end = 0;
		memset(got, 0, bitmap_bytes(RACE_PAGES));
		soak_start(_metadata, self);
	}
}

TEST_F_TIMEOUT(soak, precopy_while_writing, 600)
{
	struct timespec t0, t;
	const __u64 *w = self->buf;
	__u64 p, bad = 0;
	unsigned int i;

	for (i = 0; i < 2; i++) {
		self->hwpt_id[i] = hwpt_dirty(_metadata, &self->dev, self->ioas_id);
		set_tracking(_metadata, self->dev.iommufd, self->hwpt_id[i], true);
	}
	ASSERT_EQ(0, vfio_attach(self->dev.fd, self->hwpt_id[0]))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", strerror(errno));
	self->prev = self->got[1];

	self->churn.iommufd = self->dev.iommufd;
	self->churn.ioas_id = self->ioas_id;
	self->churn.hwpt_id[0] = self->hwpt_id[0];
	self->churn.hwpt_id[1] = self->hwpt_id[1];
	self->churn.seed = self->seed ^ 0x5eed;
	ASSERT_EQ(0, pthread_create(&self->thread, NULL, soak_churn, &self->churn));
	self->threaded = true;

	soak_start(_metadata, self);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		soak_round(_metadata, self, false);
		ASSERT_EQ(0, __atomic_load_n(&self->churn.failed, __ATOMIC_ACQUIRE))
			TH_LOG("churn thread: %s", self->churn.err);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < variant->seconds);

	soak_stop(self);
	/* the last writes, then nothing */
	soak_round(_metadata, self, true);
	soak_round(_metadata, self, true);
	__atomic_store_n(&self->churn.stop, 1, __ATOMIC_RELEASE);
	pthread_join(self->thread, NULL);
	self->threaded = false;
	ASSERT_EQ(0, self->churn.failed) TH_LOG("churn thread: %s", self->churn.err);

	TH_LOG("%u rounds, %u of them while the device wrote, %u after fewer than %u writes; %llu writes in %u epochs",
	       self->rounds, self->busy, self->sharp, RACE_PAGES, self->writes,
	       self->epochs);
	for (i = 0; i <= SOAK_ACTS; i++)
		TH_LOG("  %u %s", self->acts[i], soak_act_name[i]);
	TH_LOG("  %u bad harvests failed with EFAULT", self->efaults);
	TH_LOG("  %llu maps of other ranges, each harvested and unmapped",
	       self->churn.maps);
	/*
	 * Enough rounds raced the device and told the pages written since
	 * the last one from the others; each action was chosen; bad
	 * bitmaps met bits to set; the churn went on throughout
	 */
	ASSERT_LE(10, self->busy);
	ASSERT_LE(10, self->sharp);
	for (i = 0; i < SOAK_ACTS; i++)
		ASSERT_LE(1, self->acts[i]) TH_LOG("no %s", soak_act_name[i]);
	ASSERT_LE(1, self->efaults);
	ASSERT_LE(10, self->churn.maps);

	/* each page holds the last write made to it */
	for (p = 0; p < RACE_PAGES; p++) {
		if (w[p * RACE_STRIDE / 8] != self->last[p] && bad++ < 4)
			TH_LOG("page %llu holds 0x%llx, not the last write's 0x%llx",
			       p, w[p * RACE_STRIDE / 8], self->last[p]);
	}
	ASSERT_EQ(0, bad);
}

/*
 * QEMU's iommufd backend. Guest RAM is made of memory sections, each its
 * own IOAS mapping; a harvest per section, with page_size the host page
 * size, into a zeroed bitmap of whole u64 words. Section 1 does not fill
 * its last word; section 2 is hugetlb-backed, one 2 MiB IOPTE. A write
 * dirties the IOPTE it goes through: on AMD-Vi, anonymous memory can have
 * IOPTEs larger than a page, see iopte_at().
 */
#define SECTIONS	3

static const struct section_layout {
	__u64 iova;
	__u64 size;
	bool hugetlb;
	__u64 write[4];		/* offsets the device writes, ~0 ends */
} qemu_sections[SECTIONS] = {
	{ 0x100000, SZ_256K, false,
	  { 0, SZ_4K, 62 * SZ_4K + 0x10, SZ_256K - 8 } },
	{ 0x800000, SZ_1M + SZ_64K, false,
	  { 8, 100 * SZ_4K + 0x800, SZ_1M + SZ_64K - 8, ~0ULL } },
	{ 0x40000000, SZ_2M, true, { SZ_1M + 8, ~0ULL } },
};

struct section {
	const struct section_layout *l;
	void *va;
	__u64 pages;
	__u64 *bitmap;		/* what QEMU allocates per harvest */
	__u64 *want;
	__u64 split[4];		/* first IOVA of each IOPTE a harvest split */
	int nsplit;
};

FIXTURE(qemu) {
	struct dmaw dev;
	__u32 ioas_id;
	__u32 hwpt_id;
	__u64 page;		/* the host page size */
	bool tracking;
	struct section sec[SECTIONS];
};

/*
 * The size of the IOPTE that maps the section's @iova now: as mapped, or
 * a level down once a harvest split it (iommu_splits())
 */
static __u64 section_iopte(struct section *s, __u64 iova)
{
	__u64 size = iopte_at(s->va, s->l->iova, s->l->size, iova);
	int i;

	for (i = 0; i < s->nsplit; i++)
		if (size > SZ_4K && s->split[i] == (iova & ~(size - 1)))
			return split_size(size);
	return size;
}

FIXTURE_SETUP(qemu)
{
	long page = sysconf(_SC_PAGESIZE);
	int i;

	ASSERT_LT(0, page);
	self->page = page;
	dmaw_open(_metadata, &self->dev);
	for (i = 0; i < SECTIONS; i++) {
		struct section *s = &self->sec[i];

		s->l = &qemu_sections[i];
		s->pages = (s->l->size + self->page - 1) / self->page;
		if (s->l->hugetlb) {
			s->va = hugetlb_alloc(_metadata, s->l->size);
		} else {
			s->va = mmap(NULL, s->l->size, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			ASSERT_NE(MAP_FAILED, s->va);
		}
		s->want = calloc(1, bitmap_bytes(s->pages));
		ASSERT_NE(NULL, s->want);
	}
}

FIXTURE_TEARDOWN(qemu)
{
	dmaw_close(&self->dev);
}

/*
 * What QEMU 10.0 does when it realizes a VFIO device on iommufd: bind,
 * IOMMU_GET_HW_INFO, an IOAS, a HWPT allocated with the dirty flag because
 * the capability is reported, attach, then map every section.
 */
static void qemu_realize(struct __test_metadata *_metadata,
			 FIXTURE_DATA(qemu) *self)
{
	struct dmaw *d = &self->dev;
	struct iommu_hw_info_vtd vtd;
	__u32 flags = 0;
	__u64 caps;
	int i;

	ASSERT_NE(HW_INFO_FAILED,
		  hw_info(d->iommufd, d->dev_id, &vtd, &caps))
		TH_LOG("IOMMU_GET_HW_INFO: %s", strerror(errno));
	ASSERT_EQ(0, vmm_ioas_alloc(d->iommufd, &self->ioas_id));
	/* QEMU would silently go on without: a test must not */
	ASSERT_TRUE(caps & IOMMU_HW_CAP_DIRTY_TRACKING)
		TH_LOG("IOMMU_GET_HW_INFO: no IOMMU_HW_CAP_DIRTY_TRACKING (capabilities 0x%llx)",
		       caps);
	if (caps & IOMMU_HW_CAP_DIRTY_TRACKING)
		flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING;
	ASSERT_EQ(0, hwpt_alloc(d->iommufd, d->dev_id, self->ioas_id, flags,
				&self->hwpt_id))
		TH_LOG("IOMMU_HWPT_ALLOC(0x%x): %s", flags, strerror(errno));
	ASSERT_EQ(0, vfio_attach(d->fd, self->hwpt_id))
		TH_LOG("VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", strerror(errno));
	for (i = 0; i < SECTIONS; i++)
		ASSERT_EQ(0, vmm_map(d->iommufd, self->ioas_id, self->sec[i].va,
				     self->sec[i].l->iova, self->sec[i].l->size))
			TH_LOG("IOMMU_IOAS_MAP of section %d: %s", i,
			       strerror(errno));
}

/* The device writes the section's offsets; @s->want gets their IOPTEs */
static void section_write(struct __test_metadata *_metadata,
			  FIXTURE_DATA(qemu) *self, struct section *s)
{
	const __u64 *w;
	__u64 size;

	for (w = s->l->write; w < s->l->write + 4 && *w != ~0ULL; w++) {
		dmaw_write1(_metadata, &self->dev, s->l->iova + *w,
			    0xc0de000000000000ULL | *w);
		ASSERT_EQ(0xc0de000000000000ULL | *w,
			  *(__u64 *)((char *)s->va + *w));
		size = section_iopte(s, s->l->iova + *w);
		ASSERT_NE(0, size) TH_LOG("pagemap unreadable, or no memory to read it");
		want_iopte(s->want, s->l->iova, s->pages, self->page, size,
			   s->l->iova + *w);
	}
}

/*
 * One harvest of a section the way QEMU does it (a new zeroed bitmap of
 * whole u64 words each time), checked against @s->want, which is then
 * cleared unless @flags keeps the state.
 */
static void section_sync(struct __test_metadata *_metadata,
			 FIXTURE_DATA(qemu) *self, struct section *s,
			 __u32 flags)
{
	__u64 *bitmap = calloc(1, bitmap_bytes(s->pages));
	const __u64 *w;

	ASSERT_NE(NULL, bitmap);
	ASSERT_EQ(0, vmm_harvest(self->dev.iommufd, self->hwpt_id, s->l->iova,
				 s->l->size, self->page, bitmap, flags))
		TH_LOG("IOMMU_HWPT_GET_DIRTY_BITMAP of section 0x%llx: %s",
		       s->l->iova, strerror(errno));
	check_bitmap(_metadata, bitmap, s->want, s->l->iova, s->pages,
		     self->page);
	free(bitmap);
	if (flags & IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)
		return;
	/* The reported IOPTEs larger than a page, wholly inside, are split */
	for (w = s->l->write; w < s->l->write + 4 && *w != ~0ULL; w++) {
		__u64 iova = s->l->iova + *w, size = section_iopte(s, iova);
		__u64 first = iova & ~(size - 1);

		if (self->tracking && iommu_splits() && size > self->page &&
		    first >= s->l->iova &&
		    first + size <= s->l->iova + s->l->size &&
		    bit_test(s->want, (iova - s->l->iova) / self->page) &&
		    s->nsplit < 4)
			s->split[s->nsplit++] = first;
	}
	memset(s->want, 0, bitmap_bytes(s->pages));
}

/* Tracking starts: nothing written so far is to be reported */
static void qemu_start(struct __test_metadata *_metadata,
		       FIXTURE_DATA(qemu) *self)
{
	int i;

	set_tracking(_metadata, self->dev.iommufd, self->hwpt_id, true);
	self->tracking = true;
	for (i = 0; i < SECTIONS; i++)
		memset(self->sec[i].want, 0, bitmap_bytes(self->sec[i].pages));
}

static void qemu_sync(struct __test_metadata *_metadata,
		      FIXTURE_DATA(qemu) *self)
{
	int i;

	for (i = 0; i < SECTIONS; i++)
		section_sync(_metadata, self, &self->sec[i], 0);
}

/*
 * A migration as QEMU 10.0 runs it: start tracking on the HWPT, a sync
 * per pre-copy iteration (one harvest per section), the device stopped,
 * a last sync, stop tracking.
 */
TEST_F_TIMEOUT(qemu, v10_migration, TMO)
{
	int fd = self->dev.iommufd, i;

	qemu_realize(_metadata, self);
	/* the device runs before migration starts */
	for (i = 0; i < SECTIONS; i++)
		section_write(_metadata, self, &self->sec[i]);
	qemu_start(_metadata, self);
	qemu_sync(_metadata, self);

	for (i = 0; i < SECTIONS; i++)
		section_write(_metadata, self, &self->sec[i]);
	qemu_sync(_metadata, self);

	section_write(_metadata, self, &self->sec[1]);
	qemu_sync(_metadata, self);

	/* the device stops after one more write: the last sync has it */
	section_write(_metadata, self, &self->sec[2]);
	qemu_sync(_metadata, self);
	qemu_sync(_metadata, self);
	set_tracking(_metadata, fd, self->hwpt_id, false);
}

/*
 * QEMU 11 with a vIOMMU, while tracking: before unmapping a range the
 * guest unmapped, it reads the range's dirty bits with NO_CLEAR (the unmap
 * destroys them anyway), then unmaps. The other sections keep their
 * state; the range mapped again starts clean and is tracked.
 */
TEST_F_TIMEOUT(qemu, v11_no_clear_before_unmap, TMO)
{
	struct section *s = &self->sec[1];
	int fd = self->dev.iommufd, i;

	qemu_realize(_metadata, self);
	qemu_start(_metadata, self);
	for (i = 0; i < SECTIONS; i++)
		section_write(_metadata, self, &self->sec[i]);

	section_sync(_metadata, self, s, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	ASSERT_EQ(0, vmm_unmap(fd, self->ioas_id, s->l->iova, s->l->size))
		TH_LOG("IOMMU_IOAS_UNMAP: %s", strerror(errno));
	memset(s->want, 0, bitmap_bytes(s->pages));
	s->nsplit = 0;
	section_sync(_metadata, self, &self->sec[0], 0);
	section_sync(_metadata, self, &self->sec[2], 0);
	section_sync(_metadata, self, s, 0);

	ASSERT_EQ(0, vmm_map(fd, self->ioas_id, s->va, s->l->iova, s->l->size))
		TH_LOG("IOMMU_IOAS_MAP: %s", strerror(errno));
	qemu_sync(_metadata, self);
	section_write(_metadata, self, s);
	qemu_sync(_metadata, self);
	set_tracking(_metadata, fd, self->hwpt_id, false);
}

TEST_HARNESS_MAIN
