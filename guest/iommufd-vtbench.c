// SPDX-License-Identifier: GPL-2.0
/*
 * Dirty tracking benchmark on a real DMA path, run in the guest by 'make
 * bench' (part 2) on our kernel and on the stock 6.12 kernel (upstream's
 * dirty tracking, same uAPI), whose outputs scripts/bench.sh compares: QEMU's
 * dma-writer PCI device (1b36:00f0, guest/dmaw.h) behind the emulated VT-d
 * (x86-intel, second-stage A/D bits), AMD-Vi (x86-amd, host A/D bits in
 * the v1 table) or SMMUv3 (arm64-smmuv3, HTTU dirty state in stage-1
 * descriptors of the 4 KiB granule), bound through its VFIO cdev to
 * /dev/iommu, as a VMM does it.
 *
 * Setup: an IOAS, a HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING
 * for the device, attached. A 4 MiB buffer (two 2 MiB hugetlb pages) is
 * mapped 256 times at consecutive IOVAs from 1 GiB + 4 KiB on: 1 GiB of
 * IOVA, each IOVA 4 KiB away from the 2 MiB alignment of its (2 MiB
 * aligned) physical page, so every IOPTE is a 4 KiB one: 262144 IOPTEs.
 * Tracking is started and a first harvest clears the span.
 *
 * Every harvest is one IOMMU_HWPT_GET_DIRTY_BITMAP of the whole span, page
 * size 4 KiB, into a zeroed bitmap of whole u64 words, timed with
 * CLOCK_MONOTONIC; the bitmap is checked bit by bit against what the
 * device wrote (any difference, failed DMA or failed ioctl: exit 1).
 *
 *  sparse    the device writes every 100th page of the span (1%), then one
 *            harvest; the best of 5
 *  dense     the device writes every page, then one harvest; the best of 5
 *  clean     a harvest with nothing written since the last one: the cost
 *            of the walk alone; the best of 5
 *  mapunmap  latency of IOMMU_IOAS_MAP + IOMMU_IOAS_UNMAP of 64 KiB at
 *            64 GiB (far from the span), in a second thread: 200 times
 *            with the main thread idle, then while the main thread runs
 *            dense rounds (device writes every page, harvest) back to back,
 *            each sample begun while an IOMMU_HWPT_GET_DIRTY_BITMAP runs,
 *            until 200 were taken or 30 rounds ran (a kernel that blocks
 *            map and unmap for a whole harvest gets one a round). The
 *            device does not write while a sample runs (see
 *            mu_wait_harvest()). The number of samples, worst, 99th
 *            percentile (nearest rank: with fewer than 100 samples, the
 *            worst) and median of each, the ratios of the worsts and of the
 *            99th percentiles, and a note with the 5 slowest busy samples.
 *
 *  dmarate   the device's DMA throughput during harvests: it writes
 *            RATE_PAGES pages, one every 4 MiB of the span, over and over
 *            from its timer (as fast as QEMU's main loop runs it), for
 *            RATE_MS with the main thread idle, then for RATE_MS while it
 *            harvests the first half of the span back to back: writes per
 *            second of each, their ratio (busy_per_idle; at least 0.5 is
 *            the goal), the harvests made. Each harvest makes the device
 *            walk again for the pages of the first half it cleared; the
 *            pages of the second half stay cached in the IOTLB unless a
 *            flush drops more than the IOVA it cleared (a domain-selective
 *            invalidation, as VT-d turns one that spans more than CAP.MAMV
 *            allows into). Under TCG the harvesting vCPU and the device
 *            (QEMU's main loop) also share the host, so the ratio bounds
 *            the cost from above. lost_pages: pages of the first half the
 *            device wrote between two harvests that the second missed
 *            (scripts/bench.sh requires 0 of ours).
 *
 *  huge      the span is mapped again as 512 maps of one 2 MiB hugetlb
 *            page each, at 2 MiB-aligned IOVAs: 512 2 MiB IOPTEs. The
 *            device writes 1% of its 4 KiB pages, drawn at random, each
 *            round; every harvest must report only pages of IOPTEs
 *            written through, and should report each page written: the
 *            pages it misses are counted (lost_pages; stock 6.12 on
 *            SMMUv3 does not flush the IOTLB after a harvest, and loses
 *            writes through cached blocks), scripts/bench.sh requires 0
 *            of ours. huge_first: the first round
 *            after tracking starts (on an IOMMU whose harvests split, the
 *            harvest that splits every IOPTE it reports), best of 3 (each
 *            after a stop and a start); its IOMMU page-table pages added
 *            (nr_iommu_pages of /proc/vmstat) per IOPTE reported, and
 *            those left after the stop. huge_next: rounds 2 to 6, the
 *            KiB reported per round (mean) next to the KiB written
 *            (kib_floor: no harvest reports less), and the harvest time.
 *
 *  scale     VM scale: the same 4 MiB buffer mapped again SCALE_GIB times
 *            per GiB from SCALE_IOVA + 4 KiB (4 KiB away from 2 MiB
 *            alignment: 4 KiB IOPTEs, 16M of them at 64 GiB),
 *            VTBENCH_SCALE_GIB GiB (64 by default, 0 to skip). Harvests of
 *            all of it, in microseconds per GiB mapped, each the best of 3:
 *            clean (nothing written since the last harvest), local (1% of
 *            the pages, one run from the start: a guest's working set),
 *            spread (every 100th page: the same 1%, in every 2 MiB), all
 *            (every page), and all_noclear (the same bits read with
 *            NO_CLEAR before each all harvest: a walk of every leaf that
 *            clears and flushes nothing, the floor of a walk that visits
 *            every leaf); each as a ratio to all_noclear (*_per_read: below
 *            1, the walk skipped leaves). Each harvest is checked page by
 *            page: no page of an IOPTE not written through may be
 *            reported, and the pages written but not reported are counted
 *            (lost_pages; scripts/bench.sh requires 0 of ours).
 *  scale_2m  the same from SCALE_IOVA: 2 MiB IOPTEs, 32K of them at 64 GiB.
 *            A harvest may report whole IOPTEs (so a page is checked
 *            against its 2 MiB IOPTE, even once ours has split it); ours
 *            splits each one it finds written, so its first harvest after
 *            a page of an IOPTE is written costs a split, and walks 512
 *            4 KiB IOPTEs after.
 *
 * Output, one line per case, the same cases and keys on both kernels
 * (values are plain numbers, units are in the key names):
 *   vtbench: CASE key=value ...
 * and vtbench-note: lines for notes. The machine is emulated and shared:
 * compare the two kernels' figures, not the absolute times. With
 * --dmarate it runs the dmarate case only. With --diag
 * it prints, as notes only, the time of NO_CLEAR harvests (bits reported,
 * none cleared, no IOTLB flush) next to clearing ones, sparse and dense.
 *
 * The device's doorbell runs its writes inside the MMIO write, holding
 * QEMU's global lock, which would also stall the other vCPU's VT-d
 * invalidations (a map or unmap): the writes of a dense round are
 * therefore issued in doorbells of DOORBELL_PAGES pages.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dmaw.h"

#define BUF_SIZE	(2 * SZ_2M)
#define COPIES		256
#define SPAN_IOVA	(0x40000000ULL + SZ_4K)
#define SPAN_LEN	(COPIES * BUF_SIZE)
#define NPAGES		(SPAN_LEN / SZ_4K)		/* IOPTEs, bitmap bits */
#define SPARSE_STEP	100
#define REPS		5
#define DOORBELL_PAGES	4096
#define MU_IOVA		(64ULL << 30)
#define MU_LEN		SZ_64K
#define MU_ITERS	200
#define MU_ROUNDS	30

static struct dmaw dev;
static __u32 ioas_id, hwpt_id;
/* Set while IOMMU_HWPT_GET_DIRTY_BITMAP runs (mapunmap's busy samples) */
static int in_harvest;
static __u64 *bitmap;
static __u64 value = 0xd1a7000000000000ULL;

static void die(const char *what)
{
	fprintf(stderr, "vtbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("vtbench: FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* The device writes every @step-th page of the span; all must land */
static __u64 dirty(__u64 step)
{
	__u64 count = (NPAGES + step - 1) / step, i, n;
	struct dmaw_result r;

	value++;
	for (i = 0; i < count; i += n) {
		n = count - i < DOORBELL_PAGES ? count - i : DOORBELL_PAGES;
		r = dmaw_run(dev.bar, DMAW_OP_WRITE,
			     SPAN_IOVA + i * step * SZ_4K, step * SZ_4K, n,
			     value);
		if (r.errors || r.done != n)
			fail("DMA writes from page %llu: %llu done, %llu faulted of %llu",
			     i * step, r.done, r.errors, n);
	}
	return count;
}

/*
 * One harvest of the span; its time in microseconds. The bitmap must have
 * exactly every @step-th page set (none if @step is 0).
 */
static double harvest_flags(__u64 step, __u32 flags)
{
	__u64 i, bad = 0, weight;
	double t0, t;

	memset(bitmap, 0, bitmap_bytes(NPAGES));
	t0 = now_us();
	__atomic_store_n(&in_harvest, 1, __ATOMIC_SEQ_CST);
	if (vmm_harvest(dev.iommufd, hwpt_id, SPAN_IOVA, SPAN_LEN, SZ_4K,
			bitmap, flags))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP");
	__atomic_store_n(&in_harvest, 0, __ATOMIC_SEQ_CST);
	t = now_us() - t0;
	for (i = 0; i < NPAGES; i++) {
		bool want = step && i % step == 0;

		if (bit_test(bitmap, i) != want && bad++ < 8)
			fprintf(stderr, "vtbench: IOVA 0x%llx: %s\n",
				SPAN_IOVA + i * SZ_4K,
				want ? "written, not reported" :
				       "reported, not written");
	}
	weight = bitmap_weight(bitmap, NPAGES);
	if (bad)
		fail("harvest: %llu bits wrong, %llu reported, %llu written",
		     bad, weight, step ? (NPAGES + step - 1) / step : 0);
	return t;
}

static double harvest(__u64 step)
{
	return harvest_flags(step, 0);
}

static void setup(void)
{
	struct iommu_hw_info_vtd vtd;
	char err[PATH_MAX + 256];
	__u64 caps, i;
	__u32 type;
	void *buf;

	if (dmaw_setup(&dev, err, sizeof(err)))
		fail("%s", err);
	type = hw_info(dev.iommufd, dev.dev_id, &vtd, &caps);
	if (type == HW_INFO_FAILED)
		die("IOMMU_GET_HW_INFO");
	if (!(caps & IOMMU_HW_CAP_DIRTY_TRACKING))
		fail("no IOMMU_HW_CAP_DIRTY_TRACKING (capabilities 0x%llx, data type %u, VT-d ecap 0x%llx)",
		     caps, type, vtd.ecap_reg);
	if (vmm_ioas_alloc(dev.iommufd, &ioas_id))
		die("IOMMU_IOAS_ALLOC");
	if (hwpt_alloc(dev.iommufd, dev.dev_id, ioas_id,
		       IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &hwpt_id))
		die("IOMMU_HWPT_ALLOC(DIRTY_TRACKING)");
	if (vfio_attach(dev.fd, hwpt_id))
		die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	buf = dmaw_hugetlb(BUF_SIZE);
	if (!buf)
		die("4 MiB of 2 MiB hugetlb pages (guest.hugepages=N)");
	for (i = 0; i < COPIES; i++)
		if (vmm_map(dev.iommufd, ioas_id, buf, SPAN_IOVA + i * BUF_SIZE,
			    BUF_SIZE))
			die("IOMMU_IOAS_MAP");
	bitmap = malloc(bitmap_bytes(NPAGES));
	if (!bitmap)
		die("malloc");
	if (vmm_set_tracking(dev.iommufd, hwpt_id, 1))
		die("IOMMU_HWPT_SET_DIRTY_TRACKING");
	harvest(0);
}

/* Best of REPS: the device writes every @step-th page, one harvest */
static void written(const char *name, __u64 step)
{
	double best = 0, t;
	__u64 n = 0;
	int r;

	for (r = 0; r < REPS; r++) {
		n = dirty(step);
		t = harvest(step);
		if (!r || t < best)
			best = t;
	}
	printf("vtbench: %s iopte=%llu dirty=%llu harvest_us=%.0f ns_per_iopte=%.1f\n",
	       name, NPAGES, n, best, best * 1e3 / NPAGES);
	fflush(stdout);
}

static void clean(void)
{
	double best = 0, t;
	int r;

	for (r = 0; r < REPS; r++) {
		t = harvest(0);
		if (!r || t < best)
			best = t;
	}
	printf("vtbench: clean iopte=%llu harvest_us=%.0f ns_per_iopte=%.1f\n",
	       NPAGES, best, best * 1e3 / NPAGES);
	fflush(stdout);
}

/*
 * mapunmap: the measuring thread and what it shares with the main one.
 * While busy, every sample begins during a harvest, and the device does no
 * DMA while a sample runs: its doorbells hold QEMU's global lock, which the
 * IOMMU's invalidations of an unmap also need (QEMU is not fair with that
 * lock: on arm64 a waiting vCPU could be kept out for a whole round of
 * doorbells). The main thread, after a harvest, waits for the sample in
 * flight to end before the device writes again.
 */
static void *mu_buf;
static double mu_lat[MU_ITERS];
static double mu_map_lat[MU_ITERS];	/* of the map alone */
static int mu_n;		/* samples taken */
static int mu_done, mu_stop, mu_in_sample;
static int mu_errno;

/* busy: wait for a harvest and claim it for a sample; false to stop */
static bool mu_wait_harvest(void)
{
	for (;;) {
		while (!__atomic_load_n(&in_harvest, __ATOMIC_SEQ_CST))
			if (__atomic_load_n(&mu_stop, __ATOMIC_SEQ_CST))
				return false;
		__atomic_store_n(&mu_in_sample, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&in_harvest, __ATOMIC_SEQ_CST))
			return true;
		__atomic_store_n(&mu_in_sample, 0, __ATOMIC_SEQ_CST);
	}
}

static void *mu_thread(void *arg)
{
	for (mu_n = 0; mu_n < MU_ITERS; mu_n++) {
		double t0;

		if (arg && !mu_wait_harvest())
			break;
		t0 = now_us();
		if (vmm_map(dev.iommufd, ioas_id, mu_buf, MU_IOVA, MU_LEN)) {
			mu_errno = errno;
			break;
		}
		mu_map_lat[mu_n] = now_us() - t0;
		if (vmm_unmap(dev.iommufd, ioas_id, MU_IOVA, MU_LEN)) {
			mu_errno = errno;
			break;
		}
		mu_lat[mu_n] = now_us() - t0;
		__atomic_store_n(&mu_in_sample, 0, __ATOMIC_SEQ_CST);
	}
	__atomic_store_n(&mu_in_sample, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&mu_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Run the thread; @busy: dense rounds meanwhile, at most MU_ROUNDS (a
 * kernel that blocks map and unmap for a whole harvest gets one sample a
 * round). Worst, 99th percentile and median, in us, of the samples taken,
 * and the median of their maps alone.
 */
static void mu_run(bool busy, double *worst, double *p99, double *median,
		   double *map_median, int *rounds)
{
	pthread_t th;

	mu_done = 0;
	mu_stop = 0;
	*rounds = 0;
	if (pthread_create(&th, NULL, mu_thread, busy ? &th : NULL))
		fail("pthread_create");
	while (busy && !__atomic_load_n(&mu_done, __ATOMIC_SEQ_CST) &&
	       *rounds < MU_ROUNDS) {
		dirty(1);
		harvest(1);
		/* in_harvest is clear: no sample begins before the next one */
		while (__atomic_load_n(&mu_in_sample, __ATOMIC_SEQ_CST))
			;
		++*rounds;
	}
	__atomic_store_n(&mu_stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(th, NULL);
	if (mu_errno) {
		errno = mu_errno;
		die("IOMMU_IOAS_MAP/UNMAP of 64 KiB at 64 GiB");
	}
	if (!mu_n)
		fail("mapunmap: no sample taken");
	qsort(mu_lat, mu_n, sizeof(mu_lat[0]), cmp_double);
	qsort(mu_map_lat, mu_n, sizeof(mu_map_lat[0]), cmp_double);
	*map_median = (mu_map_lat[(mu_n - 1) / 2] + mu_map_lat[mu_n / 2]) / 2;
	*worst = mu_lat[mu_n - 1];
	*p99 = mu_lat[(mu_n * 99 + 99) / 100 - 1];
	*median = (mu_lat[(mu_n - 1) / 2] + mu_lat[mu_n / 2]) / 2;
}

static void mapunmap(void)
{
	double iw, im, ip, bw, bm, bp, imap, bmap;
	int rounds, i, idle_n;

	mu_buf = mmap(NULL, MU_LEN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mu_buf == MAP_FAILED)
		die("mmap");
	memset(mu_buf, 0x5a, MU_LEN);
	mu_run(false, &iw, &ip, &im, &imap, &rounds);
	idle_n = mu_n;
	mu_run(true, &bw, &bp, &bm, &bmap, &rounds);
	printf("vtbench: mapunmap idle_n=%d idle_worst_us=%.0f idle_p99_us=%.0f idle_median_us=%.0f idle_map_median_us=%.0f busy_n=%d busy_worst_us=%.0f busy_p99_us=%.0f busy_median_us=%.0f busy_map_median_us=%.0f worst_ratio=%.2f p99_ratio=%.2f\n",
	       idle_n, iw, ip, im, imap, mu_n, bw, bp, bm, bmap, bw / iw,
	       bp / ip);
	printf("vtbench-note: mapunmap: %d busy samples, each begun during a harvest ioctl, over %d dense rounds (write every page, harvest); the 5 slowest (us):",
	       mu_n, rounds);
	for (i = 1; i <= 5 && i <= mu_n; i++)
		printf(" %.0f", mu_lat[mu_n - i]);
	printf("\n");
	fflush(stdout);
}

#define RATE_PAGES	256
#define RATE_MS		2000
#define RATE_STRIDE	(SPAN_LEN / RATE_PAGES)

static __u64 rate_lost;	/* pages written between two harvests, not reported */

/*
 * The device's continuous writes (RATE_PAGES pages over the span) per
 * second, for RATE_MS; if @harvests, the main thread meanwhile harvests the
 * first half of the span back to back, counts them in *@harvests, and
 * counts in rate_lost the pages of that half that the device wrote between
 * the end of a harvest and the start of the next, and the next missed.
 */
static double dmarate_sample(int *harvests)
{
	__u64 s0, s1, before, after = 0, i;
	double t0, t;

	dev.bar[DMAW_ADDR] = SPAN_IOVA;
	dev.bar[DMAW_STRIDE] = RATE_STRIDE;
	dev.bar[DMAW_COUNT] = RATE_PAGES;
	dev.bar[DMAW_VALUE] = ++value;
	dev.bar[DMAW_BURST] = 256;
	dev.bar[DMAW_PERIOD] = 1000;
	dev.bar[DMAW_DOORBELL] = DMAW_OP_START;
	if (dev.bar[DMAW_RUNNING] != 1)
		fail("dmarate: the dma-writer has no continuous mode");
	usleep(100 * 1000);
	t0 = now_us();
	s0 = dev.bar[DMAW_SEQ];
	do {
		if (!harvests) {
			usleep(10 * 1000);
		} else {
			memset(bitmap, 0, bitmap_bytes(NPAGES));
			before = dev.bar[DMAW_SEQ];
			if (vmm_harvest(dev.iommufd, hwpt_id, SPAN_IOVA,
					SPAN_LEN / 2, SZ_4K, bitmap, 0))
				die("IOMMU_HWPT_GET_DIRTY_BITMAP (dmarate)");
			/* write k is to page k % RATE_PAGES */
			for (i = 0; after && before - after >= RATE_PAGES &&
				    i < RATE_PAGES / 2; i++)
				if (!bit_test(bitmap, i * RATE_STRIDE / SZ_4K))
					rate_lost++;
			after = dev.bar[DMAW_SEQ];
			(*harvests)++;
		}
		t = now_us() - t0;
	} while (t < RATE_MS * 1e3);
	s1 = dev.bar[DMAW_SEQ];
	dev.bar[DMAW_DOORBELL] = DMAW_OP_STOP;
	if (dev.bar[DMAW_ERRORS])
		fail("dmarate: %llu DMA writes faulted",
		     (__u64)dev.bar[DMAW_ERRORS]);
	if (vmm_harvest(dev.iommufd, hwpt_id, SPAN_IOVA, SPAN_LEN, SZ_4K,
			bitmap, 0))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP (dmarate)");
	return (s1 - s0) / (t / 1e6);
}

static void dmarate(void)
{
	double idle, busy;
	int n = 0;

	rate_lost = 0;
	idle = dmarate_sample(NULL);
	busy = dmarate_sample(&n);
	printf("vtbench: dmarate pages=%d idle_wps=%.0f busy_wps=%.0f busy_per_idle=%.3f harvests=%d lost_pages=%llu\n",
	       RATE_PAGES, idle, busy, busy / idle, n, rate_lost);
}

/*
 * --diag: where a harvest's time goes, as notes: a NO_CLEAR harvest
 * (report only: no dirty bit cleared, no IOTLB flush) against a clearing
 * one, after the device wrote every @step-th page
 */
static void diag(const char *name, __u64 step)
{
	double t_noclear, t_clear, t_clean;

	dirty(step);
	t_noclear = harvest_flags(step, IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
	t_clear = harvest(step);
	t_clean = harvest(0);
	printf("vtbench-note: diag %s: harvest_us no_clear=%.0f clear=%.0f then_clean=%.0f\n",
	       name, t_noclear, t_clear, t_clean);
}

/* huge: 512 2 MiB IOPTEs over the span, 1% of their pages written a round */
#define HUGE_IOVA	0x40000000ULL
#define HUGE_IOPTES	(SPAN_LEN / SZ_2M)
#define HUGE_WRITES	(NPAGES / 100)
#define HUGE_ROUNDS	6
#define HUGE_FIRSTS	3

static __u64 *huge_written;	/* the pages the device wrote this round */

/* The IOMMU's page-table pages now (nr_iommu_pages), or -1 */
static long iommu_pages(void)
{
	char line[128];
	long n = -1;
	FILE *f = fopen("/proc/vmstat", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "nr_iommu_pages %ld", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* A random number: the same sequence on both kernels */
static __u64 huge_rand(void)
{
	static __u64 x = 0x9e3779b97f4a7c15ULL;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* The device writes HUGE_WRITES distinct pages of the span, at random */
static void huge_dirty(void)
{
	struct dmaw_result r;
	__u64 n, page;

	memset(huge_written, 0, bitmap_bytes(NPAGES));
	value++;
	for (n = 0; n < HUGE_WRITES;) {
		page = huge_rand() % NPAGES;
		if (bit_test(huge_written, page))
			continue;
		huge_written[page / 64] |= 1ULL << (page % 64);
		r = dmaw_run(dev.bar, DMAW_OP_WRITE, HUGE_IOVA + page * SZ_4K,
			     SZ_4K, 1, value);
		if (r.errors || r.done != 1)
			fail("huge: DMA write to page %llu faulted", page);
		n++;
	}
}

/*
 * One harvest of the span after huge_dirty(): none reported outside the
 * 2 MiB IOPTEs written through; the time in *@us, the pages written but
 * not reported added to *@lost, the pages reported returned
 */
static __u64 huge_harvest(double *us, __u64 *lost_pages)
{
	__u64 i, per = SZ_2M / SZ_4K, lost = 0, extra = 0;
	double t0;

	memset(bitmap, 0, bitmap_bytes(NPAGES));
	t0 = now_us();
	if (vmm_harvest(dev.iommufd, hwpt_id, HUGE_IOVA, SPAN_LEN, SZ_4K,
			bitmap, 0))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP (huge)");
	*us = now_us() - t0;
	for (i = 0; i < NPAGES; i++) {
		bool in = false;
		__u64 j;

		if (bit_test(huge_written, i) && !bit_test(bitmap, i))
			lost++;
		if (!bit_test(bitmap, i))
			continue;
		for (j = i / per * per; j < (i / per + 1) * per && !in; j++)
			in = bit_test(huge_written, j);
		extra += !in;
	}
	if (extra)
		fail("huge: %llu pages reported outside the IOPTEs written (and %llu written not reported)",
		     extra, lost);
	*lost_pages += lost;
	return bitmap_weight(bitmap, NPAGES);
}

static void huge(void)
{
	double t, first_us = 0, next_us = 0;
	__u64 i, reported = 0, first_reported = 0, first_lost = 0, lost = 0;
	long pt0, pt_split = 0, pt_left;
	void *buf;
	int r;

	if (vmm_set_tracking(dev.iommufd, hwpt_id, 0))
		die("IOMMU_HWPT_SET_DIRTY_TRACKING (stop)");
	if (vmm_unmap(dev.iommufd, ioas_id, SPAN_IOVA, SPAN_LEN))
		die("IOMMU_IOAS_UNMAP");
	buf = dmaw_hugetlb(BUF_SIZE);
	huge_written = malloc(bitmap_bytes(NPAGES));
	if (!buf || !huge_written)
		die("huge: 4 MiB of 2 MiB hugetlb pages and a bitmap");
	/* a map per hugetlb page: no IOPTE larger than 2 MiB */
	for (i = 0; i < HUGE_IOPTES; i++)
		if (vmm_map(dev.iommufd, ioas_id, buf + i % 2 * SZ_2M,
			    HUGE_IOVA + i * SZ_2M, SZ_2M))
			die("IOMMU_IOAS_MAP (huge)");

	pt0 = iommu_pages();
	for (r = 0; r < HUGE_FIRSTS; r++) {
		if (vmm_set_tracking(dev.iommufd, hwpt_id, 1))
			die("IOMMU_HWPT_SET_DIRTY_TRACKING (start)");
		huge_dirty();
		first_reported = huge_harvest(&t, &first_lost);
		if (!r || t < first_us)
			first_us = t;
		if (!r)
			pt_split = iommu_pages() - pt0;
		if (r == HUGE_FIRSTS - 1)
			break;
		if (vmm_set_tracking(dev.iommufd, hwpt_id, 0))
			die("IOMMU_HWPT_SET_DIRTY_TRACKING (stop)");
	}
	for (r = 1; r < HUGE_ROUNDS; r++) {
		huge_dirty();
		reported += huge_harvest(&t, &lost);
		next_us += t;
	}
	if (vmm_set_tracking(dev.iommufd, hwpt_id, 0))
		die("IOMMU_HWPT_SET_DIRTY_TRACKING (stop)");
	pt_left = iommu_pages() - pt0;

	printf("vtbench: huge_first iopte=%llu dirty=%llu lost_pages=%llu reported_kib=%llu harvest_us=%.0f pt_kib=%ld pt_bytes_per_iopte=%.0f pt_kib_after_stop=%ld\n",
	       HUGE_IOPTES, HUGE_WRITES, first_lost, first_reported * 4, first_us,
	       pt_split * 4, pt_split * 4096.0 / (first_reported / 512),
	       pt_left * 4);
	printf("vtbench: huge_next rounds=%d dirty=%llu lost_pages=%llu kib_floor=%llu reported_kib=%llu harvest_us=%.0f\n",
	       HUGE_ROUNDS - 1, HUGE_WRITES, lost, HUGE_WRITES * 4,
	       reported * 4 / (HUGE_ROUNDS - 1), next_us / (HUGE_ROUNDS - 1));
	free(huge_written);
}

#define SCALE_IOVA	(128ULL << 30)
#define SCALE_REPS	3

static __u64 scale_iova;	/* where the scale case maps, see scale() */
static __u64 scale_pages;	/* 4 KiB pages mapped from scale_iova */
static __u64 scale_iopte;	/* 4 KiB pages an IOPTE maps */
static __u64 scale_lost;	/* pages written, not reported */
static __u64 *scale_bitmap;

/* The device writes @count pages, every @step-th from page @first */
static void scale_dirty(__u64 first, __u64 count, __u64 step)
{
	struct dmaw_result r;
	__u64 i, n;

	value++;
	for (i = 0; i < count; i += n) {
		n = count - i < DOORBELL_PAGES ? count - i : DOORBELL_PAGES;
		r = dmaw_run(dev.bar, DMAW_OP_WRITE,
			     scale_iova + (first + i * step) * SZ_4K,
			     step * SZ_4K, n, value);
		if (r.errors || r.done != n)
			fail("scale: DMA writes from page %llu: %llu done, %llu faulted of %llu",
			     first + i * step, r.done, r.errors, n);
	}
}

/* Whether the device wrote a page of [@b, @b + @n) (see scale_dirty()) */
static bool scale_written(__u64 b, __u64 n, __u64 first, __u64 count,
			  __u64 step)
{
	__u64 k;

	if (!count || b + n <= first)
		return false;
	k = b > first ? (b - first + step - 1) / step : 0;
	return k < count && first + k * step < b + n;
}

/*
 * One harvest of all scale_pages with @flags, @count pages written, every
 * @step-th from page @first. The bitmap must hold every page written (one
 * it misses counts in scale_lost: a stock kernel may miss some, see huge
 * above) and no page of an IOPTE not written through. Its time in
 * microseconds.
 */
static double scale_harvest(__u64 first, __u64 count, __u64 step,
			    __u32 flags)
{
	__u64 i, bad = 0;
	double t0, t;

	memset(scale_bitmap, 0, bitmap_bytes(scale_pages));
	t0 = now_us();
	if (vmm_harvest(dev.iommufd, hwpt_id, scale_iova, scale_pages * SZ_4K,
			SZ_4K, scale_bitmap, flags))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP (scale)");
	t = now_us() - t0;
	for (i = 0; i < scale_pages; i++) {
		__u64 b = i / scale_iopte * scale_iopte;
		bool got = bit_test(scale_bitmap, i);

		if (!got && scale_written(i, 1, first, count, step))
			scale_lost++;
		else if (got &&
			 !scale_written(b, scale_iopte, first, count, step) &&
			 bad++ < 8)
			fprintf(stderr, "vtbench: scale: IOVA 0x%llx: reported, not written\n",
				scale_iova + i * SZ_4K);
	}
	if (bad)
		fail("scale: %llu pages reported, of no IOPTE written", bad);
	return t;
}

/*
 * Best of SCALE_REPS of: write @count pages as scale_dirty(), harvest; and
 * if @read, of a NO_CLEAR harvest before that one, into *@read.
 */
static double scale_round(__u64 first, __u64 count, __u64 step,
			  double *read)
{
	double best = 0, t;
	int r;

	for (r = 0; r < SCALE_REPS; r++) {
		if (count)
			scale_dirty(first, count, step);
		if (read) {
			t = scale_harvest(first, count, step,
					  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR);
			if (!r || t < *read)
				*read = t;
		}
		t = scale_harvest(first, count, step, 0);
		if (!r || t < best)
			best = t;
	}
	return best;
}

/*
 * VM scale, as CASE: the same buffer mapped from @iova over
 * VTBENCH_SCALE_GIB GiB, harvested whole (see the top of the file).
 */
static void scale(const char *name, __u64 iova, __u64 iopte)
{
	const char *env = getenv("VTBENCH_SCALE_GIB");
	__u64 gib = env ? strtoull(env, NULL, 0) : 64, i, per_gib;
	double t0, map_ms, clean, local, spread, all, read = 0;
	void *buf;

	if (!gib)
		return;
	per_gib = (1ULL << 30) / BUF_SIZE;
	scale_iova = iova;
	scale_iopte = iopte / SZ_4K;
	scale_lost = 0;
	scale_pages = gib << (30 - 12);
	buf = dmaw_hugetlb(BUF_SIZE);
	scale_bitmap = malloc(bitmap_bytes(scale_pages));
	if (!buf || !scale_bitmap)
		die("scale: 4 MiB of 2 MiB hugetlb pages and a bitmap");
	t0 = now_us();
	for (i = 0; i < gib * per_gib; i++)
		if (vmm_map(dev.iommufd, ioas_id, buf, iova + i * BUF_SIZE,
			    BUF_SIZE))
			die("IOMMU_IOAS_MAP (scale)");
	map_ms = (now_us() - t0) / 1e3;
	if (vmm_set_tracking(dev.iommufd, hwpt_id, 1))
		die("IOMMU_HWPT_SET_DIRTY_TRACKING (scale)");
	scale_harvest(0, 0, 1, 0);

	clean = scale_round(0, 0, 1, NULL);
	local = scale_round(0, scale_pages / 100, 1, NULL);
	spread = scale_round(0, scale_pages / SPARSE_STEP, SPARSE_STEP, NULL);
	all = scale_round(0, scale_pages, 1, &read);
	scale_harvest(0, 0, 1, 0);

	printf("vtbench: %s gib=%llu pages=%llu clean_us_per_gib=%.1f local_us_per_gib=%.1f spread_us_per_gib=%.1f all_us_per_gib=%.1f all_noclear_us_per_gib=%.1f clean_per_read=%.4f local_per_read=%.4f spread_per_read=%.4f all_per_read=%.3f lost_pages=%llu\n",
	       name, gib, scale_pages, clean / gib, local / gib, spread / gib,
	       all / gib, read / gib, clean / read, local / read,
	       spread / read, all / read, scale_lost);
	printf("vtbench-note: %s: %llu GiB mapped from IOVA 0x%llx in %.0f ms\n",
	       name, gib, iova, map_ms);
	if (vmm_set_tracking(dev.iommufd, hwpt_id, 0))
		die("IOMMU_HWPT_SET_DIRTY_TRACKING (scale stop)");
	if (vmm_unmap(dev.iommufd, ioas_id, iova, scale_pages * SZ_4K))
		die("IOMMU_IOAS_UNMAP (scale)");
	free(scale_bitmap);
	munmap(buf, BUF_SIZE);
}

int main(int argc, char **argv)
{
	double t0 = now_us();
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	printf("vtbench-note: setup: %llu 4 KiB IOPTEs (%d maps of 4 MiB) in %.0f ms\n",
	       NPAGES, COPIES, (now_us() - t0) / 1e3);
	if (argc > 1 && !strcmp(argv[1], "--diag")) {
		for (r = 0; r < REPS; r++) {
			diag("sparse", SPARSE_STEP);
			diag("dense", 1);
		}
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--dmarate")) {
		dmarate();
		return 0;
	}
	written("sparse", SPARSE_STEP);
	written("dense", 1);
	clean();
	mapunmap();
	dmarate();
	huge();
	/* 4 KiB away from 2 MiB alignment: 4 KiB IOPTEs; then 2 MiB ones */
	scale("scale", SCALE_IOVA + SZ_4K, SZ_4K);
	scale("scale_2m", SCALE_IOVA, SZ_2M);
	dmaw_close(&dev);
	printf("vtbench-note: done in %.1f s\n", (now_us() - t0) / 1e6);
	return 0;
}
