// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks of IOMMU dirty tracking on iommufd's mock domain, run in the
 * guest by 'make bench'. The machine is emulated and shared, so absolute
 * times mean little: each benchmark prints ratios between measurements
 * taken in the same run.
 *
 *  scaling   harvest time against the number of mapped IOPTEs: the ratio
 *            per IOPTE should stay flat as the mapping grows
 *  holes     harvest of a small mapping alone, and inside ranges 1024 and
 *            2^20 times bigger (64 GiB, 64 TiB) that are otherwise unmapped:
 *            work follows the mapped IOPTEs, not the range or the bitmap
 *            size (target: ratio <= 1.1)
 *  latency   worst and 99th-percentile map+unmap latency of 64 KiB while
 *            another thread harvests a large mapping in the same IOAS back
 *            to back, as ratios to the same without harvests (target <= 2),
 *            outside the harvested range and in a hole inside it; for
 *            1 GiB of small IOPTEs, and for 64 GiB of 2 MiB and larger
 *            IOPTEs on a domain with AMD-Vi's page sizes
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"

#define PAGE		4096UL
#define MIB		(1UL << 20)

static int fd;
static __u32 ioas_id, hwpt_id;

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A new IOAS with a dirty tracking HWPT for a mock device of @dev_flags */
static void setup(__u32 dev_flags)
{
	struct vmm_device dev;

	if (vmm_ioas_alloc(fd, &ioas_id) ||
	    vmm_mock_device_flags(fd, ioas_id, dev_flags, &dev) ||
	    vmm_hwpt_alloc_dirty(fd, dev.idev_id, ioas_id, &hwpt_id) ||
	    vmm_attach(fd, dev.stdev_id, hwpt_id) ||
	    vmm_set_tracking(fd, hwpt_id, 1))
		die("dirty-tracking HWPT setup");
}

static void *buffer_flags(unsigned long len, int flags)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE | flags, -1, 0);

	if (p == MAP_FAILED)
		die(flags & MAP_HUGETLB ?
		    "mmap of 2 MiB pages (boot with guest.hugepages >= 128)" :
		    "mmap");
	return p;
}

static void *buffer(unsigned long len)
{
	return buffer_flags(len, 0);
}

static void map(void *buf, unsigned long iova, unsigned long len)
{
	if (vmm_map(fd, ioas_id, buf, iova, len))
		die("IOMMU_IOAS_MAP");
}

static void unmap(unsigned long iova, unsigned long len)
{
	if (vmm_unmap(fd, ioas_id, iova, len))
		die("IOMMU_IOAS_UNMAP");
}

/*
 * The device writes every @pgsz page of [iova, iova + len), of which
 * @mapped bytes are mapped: each of those must hit a tracking IOPTE.
 */
static void write_pages(unsigned long iova, unsigned long len,
			unsigned long pgsz, unsigned long mapped)
{
	size_t bytes = len / pgsz / 8;
	uint8_t *bits = malloc(bytes);
	__u64 nr;

	if (!bits)
		die("malloc");
	memset(bits, 0xff, bytes);
	if (vmm_dma_write_nr(fd, hwpt_id, iova, len, pgsz, bits, &nr))
		die("IOMMU_TEST_OP_DMA_WRITE");
	if (nr != mapped / pgsz) {
		fprintf(stderr, "bench: %llu of %lu pages written are tracked\n",
			(unsigned long long)nr, mapped / pgsz);
		exit(1);
	}
	free(bits);
}

static void write_all(unsigned long iova, unsigned long len)
{
	write_pages(iova, len, PAGE, len);
}

/*
 * A bitmap for [iova, iova + len) at 4 KiB, in anonymous memory that is
 * only populated where the kernel pins it to set bits: for a sparse range,
 * the windows of up to 2 MiB of bitmap around the mapped IOVA.
 */
static void *bitmap_alloc(unsigned long len)
{
	void *bits = mmap(NULL, len / PAGE / 8, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (bits == MAP_FAILED)
		die("mmap of a bitmap");
	return bits;
}

/* Microseconds for one harvest of [iova, iova + len) into @bits */
static double harvest_into(unsigned long iova, unsigned long len, void *bits)
{
	double t0 = now_us();

	if (vmm_harvest(fd, hwpt_id, iova, len, PAGE, bits,
			IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR))
		die("IOMMU_HWPT_GET_DIRTY_BITMAP");
	return now_us() - t0;
}

/*
 * Microseconds for one harvest of [iova, iova + len), best of @runs into
 * one bitmap: the first run's page faults on the bitmap are left out.
 */
static double harvest(unsigned long iova, unsigned long len, int runs)
{
	void *bits = bitmap_alloc(len);
	double best = 1e30;

	while (runs--) {
		double t = harvest_into(iova, len, bits);

		if (t < best)
			best = t;
	}
	munmap(bits, len / PAGE / 8);
	return best;
}

static void bench_scaling(void)
{
	static const unsigned long sizes[] = { 16 * MIB, 64 * MIB, 256 * MIB };
	double first = 0;
	unsigned int i;

	for (i = 0; i < 3; i++) {
		unsigned long len = sizes[i], iova = MOCK_APERTURE_START;
		void *buf = buffer(len);
		unsigned long ioptes = len / (PAGE / 2);	/* 2K mock IOPTEs */
		double t, per;

		map(buf, iova, len);
		write_all(iova, len);
		t = harvest(iova, len, 3);
		per = t * 1000 / ioptes;
		if (!i)
			first = per;
		printf("scaling: %4lu MiB mapped, %7lu IOPTEs all dirty: harvest %9.0f us, %6.1f ns/IOPTE, ratio to 16 MiB %.2f\n",
		       len / MIB, ioptes, t, per, per / first);
		unmap(iova, len);
		munmap(buf, len);
	}
}

static void bench_holes(void)
{
	unsigned long len = 64 * MIB, iova = MOCK_APERTURE_START + 32 * 1024 * MIB;
	void *buf = buffer(len);
	double alone, sparse, huge;

	map(buf, iova, len);
	write_all(iova, len);
	alone = harvest(iova, len, 3);
	/* 64 GiB range, 1023/1024 of it unmapped, a 2 MiB bitmap */
	sparse = harvest(MOCK_APERTURE_START, 1024 * len, 3);
	/*
	 * 64 TiB range, a 2 GiB bitmap of which the kernel pins one window
	 * (2 MiB at most) around the bits it sets
	 */
	huge = harvest(MOCK_APERTURE_START, (1UL << 20) * len, 3);
	printf("holes: 64 MiB mapped: harvest of the mapping %.0f us; of a 64 GiB range around it %.0f us, ratio %.2f; of a 64 TiB range %.0f us, ratio %.2f\n",
	       alone, sparse, sparse / alone, huge, huge / alone);
	unmap(iova, len);
	munmap(buf, len);
}

#define LATENCY_SAMPLES (1 << 20)

struct latency {
	void *buf;
	unsigned long iova;	/* of the 64 KiB mapped and unmapped */
	int stop;
	double worst;
	double p99;		/* 99th percentile */
	int rounds;
	double *samples;	/* of the first LATENCY_SAMPLES rounds */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void *map_unmap_loop(void *arg)
{
	struct latency *l = arg;

	while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
		double t0 = now_us();

		map(l->buf, l->iova, 64 * 1024);
		unmap(l->iova, 64 * 1024);
		t0 = now_us() - t0;
		if (t0 > l->worst)
			l->worst = t0;
		if (l->rounds < LATENCY_SAMPLES)
			l->samples[l->rounds] = t0;
		l->rounds++;
	}
	return NULL;
}

/*
 * Map and unmap 64 KiB at @at over and over for @us; meanwhile harvest
 * [iova, iova + len) into @bits back to back, or sleep. Returns the worst.
 */
static struct latency latency_run(void *buf, unsigned long at, double us,
				  unsigned long iova, unsigned long len,
				  void *bits)
{
	struct latency l = { .buf = buf, .iova = at };
	pthread_t thread;
	double t0;
	int n;

	l.samples = malloc(LATENCY_SAMPLES * sizeof(*l.samples));
	if (!l.samples)
		die("malloc");
	if (pthread_create(&thread, NULL, map_unmap_loop, &l))
		die("pthread_create");
	t0 = now_us();
	while (now_us() - t0 < us) {
		if (bits)
			harvest_into(iova, len, bits);
		else
			usleep(10000);
	}
	__atomic_store_n(&l.stop, 1, __ATOMIC_RELAXED);
	pthread_join(thread, NULL);
	n = l.rounds < LATENCY_SAMPLES ? l.rounds : LATENCY_SAMPLES;
	qsort(l.samples, n, sizeof(*l.samples), cmp_double);
	l.p99 = n ? l.samples[(n - 1) * 99 / 100] : 0;
	free(l.samples);
	l.samples = NULL;
	return l;
}

/*
 * Worst map+unmap of 64 KiB at @outside and at @inside (a hole in the
 * harvested range) while [iova, iova + len), all dirty, is harvested back
 * to back, each against the worst at the same IOVA without harvests.
 */
static void latency(const char *what, unsigned long iova, unsigned long len,
		    unsigned long outside, unsigned long inside)
{
	void *buf = buffer(64 * 1024);
	void *bits = bitmap_alloc(len);
	struct latency idle_out, idle_in, out, in;
	double one, us;

	/* Warm up: the first map at each IOVA and the bitmap's page faults */
	latency_run(buf, outside, 20000, iova, len, NULL);
	latency_run(buf, inside, 20000, iova, len, NULL);
	harvest_into(iova, len, bits);
	one = harvest_into(iova, len, bits);
	us = 4 * one < 500000 ? 500000 : 4 * one;

	idle_out = latency_run(buf, outside, us, iova, len, NULL);
	idle_in = latency_run(buf, inside, us, iova, len, NULL);
	out = latency_run(buf, outside, us, iova, len, bits);
	in = latency_run(buf, inside, us, iova, len, bits);
	printf("latency: %s: one harvest %.0f us; map+unmap of 64 KiB outside the range: idle worst %.0f us p99 %.0f us (%d rounds), during harvests worst %.0f us p99 %.0f us (%d rounds), ratio worst %.2f p99 %.2f; in a hole inside it: idle worst %.0f us p99 %.0f us (%d rounds), during harvests worst %.0f us p99 %.0f us (%d rounds), ratio worst %.2f p99 %.2f\n",
	       what, one, idle_out.worst, idle_out.p99, idle_out.rounds,
	       out.worst, out.p99, out.rounds, out.worst / idle_out.worst,
	       out.p99 / idle_out.p99, idle_in.worst, idle_in.p99,
	       idle_in.rounds, in.worst, in.p99, in.rounds,
	       in.worst / idle_in.worst, in.p99 / idle_in.p99);
	munmap(bits, len / PAGE / 8);
	munmap(buf, 64 * 1024);
}

/* 1 GiB of IOVA backed by one 256 MiB buffer: small IOPTEs */
static void bench_latency(void)
{
	unsigned long len = 1024 * MIB, iova = MOCK_APERTURE_START;
	void *big = buffer(256 * MIB);
	unsigned long off;

	/* A hole inside the range */
	for (off = 0; off < len; off += 256 * MIB)
		map(big, iova + off, 256 * MIB - 1 * MIB);
	write_pages(iova, len, PAGE, 4 * (256 * MIB - 1 * MIB));
	latency("1 GiB of 2 KiB IOPTEs", iova, len,
		MOCK_APERTURE_START + 300 * 1024 * MIB,
		iova + 512 * MIB - 1 * MIB);
	for (off = 0; off < len; off += 256 * MIB)
		unmap(iova + off, 256 * MIB - 1 * MIB);
	munmap(big, 256 * MIB);
}

/*
 * 64 GiB of IOVA backed by one 256 MiB buffer of 2 MiB pages, on a domain
 * with AMD-Vi v1's page sizes: IOPTEs of 2 MiB and larger, walked in steps
 * that do not grow with them.
 */
static void bench_latency_large(void)
{
	unsigned long len = 64UL * 1024 * MIB, iova = 1UL << 30;
	void *big = buffer_flags(256 * MIB, MAP_HUGETLB);
	unsigned long off;

	setup(MOCK_FLAGS_DEVICE_AMD_PGSIZES);
	/* 256 areas with a 2 MiB hole at the end of each */
	for (off = 0; off < len; off += 256 * MIB)
		map(big, iova + off, 256 * MIB - 2 * MIB);
	write_pages(iova, len, 2 * MIB, 256 * (256 * MIB - 2 * MIB));
	latency("64 GiB of 2 MiB+ IOPTEs, AMD-Vi page sizes", iova, len,
		iova + len + 1024 * MIB, iova + len / 2 - 2 * MIB);
	for (off = 0; off < len; off += 256 * MIB)
		unmap(iova + off, 256 * MIB - 2 * MIB);
	munmap(big, 256 * MIB);
}

int main(void)
{
	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		die("open /dev/iommu");
	setup(0);
	bench_scaling();
	bench_holes();
	bench_latency();
	bench_latency_large();
	return 0;
}
