// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmarks of IOMMU dirty tracking on iommufd's mock domain, run in the
 * guest by 'make bench'. The machine is emulated and shared, so absolute
 * times mean little: each benchmark prints ratios between measurements
 * taken in the same run.
 *
 *  scaling   harvest time against the number of mapped IOPTEs: the ratio
 *            per IOPTE should stay flat as the mapping grows
 *  holes     harvest of a small mapping alone, and inside a range 1024 times
 *            bigger that is otherwise unmapped: work follows the mapped
 *            IOPTEs, not the range or the bitmap size
 *  latency   worst map+unmap latency of a small range while another thread
 *            harvests a large mapping in the same IOAS, against the length
 *            of one harvest: the harvest must not hold map/unmap off for
 *            its whole duration
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

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void setup(void)
{
	struct vmm_device dev;

	fd = open("/dev/iommu", O_RDWR);
	if (fd < 0)
		die("open /dev/iommu");
	if (vmm_ioas_alloc(fd, &ioas_id) || vmm_mock_device(fd, ioas_id, &dev) ||
	    vmm_hwpt_alloc_dirty(fd, dev.idev_id, ioas_id, &hwpt_id) ||
	    vmm_attach(fd, dev.stdev_id, hwpt_id) ||
	    vmm_set_tracking(fd, hwpt_id, 1))
		die("dirty-tracking HWPT setup");
}

static void *buffer(unsigned long len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	return p;
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

/* The device writes every page of [iova, iova + len) */
static void write_all(unsigned long iova, unsigned long len)
{
	size_t bytes = len / PAGE / 8;
	uint8_t *bits = malloc(bytes);

	if (!bits)
		die("malloc");
	memset(bits, 0xff, bytes);
	if (vmm_dma_write(fd, hwpt_id, iova, len, PAGE, bits))
		die("IOMMU_TEST_OP_DMA_WRITE");
	free(bits);
}

/* Microseconds for one harvest of [iova, iova + len), best of @runs */
static double harvest(unsigned long iova, unsigned long len, int runs)
{
	size_t bytes = len / PAGE / 8;
	uint8_t *bits = malloc(bytes);
	double best = 1e30;

	if (!bits)
		die("malloc");
	while (runs--) {
		double t0 = now_us();

		memset(bits, 0, bytes);
		if (vmm_harvest(fd, hwpt_id, iova, len, PAGE, bits,
				IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR))
			die("IOMMU_HWPT_GET_DIRTY_BITMAP");
		t0 = now_us() - t0;
		if (t0 < best)
			best = t0;
	}
	free(bits);
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
	double alone, sparse;

	map(buf, iova, len);
	write_all(iova, len);
	alone = harvest(iova, len, 3);
	/* 64 GiB range, 1023/1024 of it unmapped, a 2 MiB bitmap */
	sparse = harvest(MOCK_APERTURE_START, 1024 * len, 3);
	printf("holes: 64 MiB mapped: harvest of the mapping %.0f us, of a 64 GiB range around it %.0f us, ratio %.2f\n",
	       alone, sparse, sparse / alone);
	unmap(iova, len);
	munmap(buf, len);
}

struct latency {
	void *buf;
	volatile int stop;
	double worst;
	int rounds;
};

static void *map_unmap_loop(void *arg)
{
	struct latency *l = arg;
	unsigned long iova = MOCK_APERTURE_START + 300 * 1024 * MIB;

	while (!l->stop) {
		double t0 = now_us();

		map(l->buf, iova, 64 * 1024);
		unmap(iova, 64 * 1024);
		t0 = now_us() - t0;
		if (t0 > l->worst)
			l->worst = t0;
		l->rounds++;
	}
	return NULL;
}

static void bench_latency(void)
{
	unsigned long len = 1024 * MIB, iova = MOCK_APERTURE_START;
	void *big = buffer(256 * MIB);
	struct latency idle = { .buf = buffer(64 * 1024) };
	struct latency busy = { .buf = idle.buf };
	double one, t0;
	unsigned long off;
	pthread_t thread;

	/* 1 GiB of IOVA backed by one 256 MiB buffer */
	for (off = 0; off < len; off += 256 * MIB)
		map(big, iova + off, 256 * MIB);
	write_all(iova, len);
	one = harvest(iova, len, 1);

	pthread_create(&thread, NULL, map_unmap_loop, &idle);
	usleep(200000);
	idle.stop = 1;
	pthread_join(thread, NULL);

	pthread_create(&thread, NULL, map_unmap_loop, &busy);
	t0 = now_us();
	while (now_us() - t0 < 4 * one)
		harvest(iova, len, 1);
	busy.stop = 1;
	pthread_join(thread, NULL);

	printf("latency: one harvest of 1 GiB %.0f us; map+unmap of 64 KiB elsewhere: worst %.0f us idle, %.0f us during harvests (%d rounds); worst/harvest %.2f\n",
	       one, idle.worst, busy.worst, busy.rounds, busy.worst / one);
	for (off = 0; off < len; off += 256 * MIB)
		unmap(iova + off, 256 * MIB);
}

int main(void)
{
	setup();
	bench_scaling();
	bench_holes();
	bench_latency();
	return 0;
}
