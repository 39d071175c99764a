#!/usr/bin/env bash
# Build the guest userspace for ARCH: the iommu kselftests, the demo, the
# benchmarks (guest/iommufd-bench.c, guest/iommufd-vtbench.c), the
# end-to-end test (guest/iommufd-e2e.c) and the iommufd bind check of
# guest/init (guest/iommufd-bind.c) as static binaries, packed with
# busybox and guest/init into an initramfs.
# Usage: scripts/build-guest.sh ARCH     -> build/guest/ARCH/initramfs.cpio
set -euo pipefail
. "$(dirname "$0")/lib.sh"

arch=${1:?usage: build-guest.sh ARCH}
arch_env "$arch"
G=$BUILD/guest/$arch
root=$G/root
t0=$(now)
mkdir -p "$G/selftests"

# uapi headers of the assembled tree, for the tests and the demo
kmake "$arch" headers_install >/dev/null
HDR=$KOUT/usr/include

# The selftests include drivers/iommu/iommufd/iommufd_test.h from the tree.
log "building iommu selftests ($arch)"
# -B: the tests include headers from the tree that make does not track.
# IOMMU_TEST_TIMEOUT: the longer tests' timeout, 30 s (the kselftest
# harness's default) unless set; TCG with KASAN is one to two orders of
# magnitude slower than hardware. CFLAGS from the environment: the
# Makefile adds to it.
CFLAGS="-DIOMMU_TEST_TIMEOUT=300" \
make -B -C "$TREE/tools/testing/selftests/iommu" -s OUTPUT="$G/selftests" \
	CC="ccache ${CROSS}gcc" KHDR_INCLUDES="-I$HDR" LDFLAGS=-static \
	>"$LOGS/selftests-$arch.log" 2>&1 ||
	{ grep -m5 error "$LOGS/selftests-$arch.log" >&2; die "iommu selftests failed to build for $arch: see $LOGS/selftests-$arch.log"; }
# make stress's iommufd_dirty_big, as the Makefile builds it but with an
# hour for the longer tests: the 4G and 128G_huge variants it runs take
# 10 to 25 minutes each in the arm64 guest, past make test's 300 s
(cd "$TREE/tools/testing/selftests/iommu" &&
	ccache ${CROSS}gcc -Wall -O2 -Wno-unused-function -I"$HDR" -D_GNU_SOURCE= \
		-DIOMMU_TEST_TIMEOUT=3600 -static iommufd_dirty_big.c -lpthread \
		-o "$G/selftests/iommufd_dirty_big_long") ||
	die "iommufd_dirty_big_long failed to build for $arch"

log "building demo, benchmarks and end-to-end test ($arch)"
mkdir -p "$G/demo"
# (guest/*.h are found next to the sources that include them)
for prog in iommufd-demo iommufd-bench iommufd-vtbench iommufd-bind; do
	${CROSS}gcc -O2 -Wall -Wextra -Werror -static -pthread -I"$HDR" \
		-I"$TREE/drivers/iommu/iommufd" \
		-o "$G/demo/$prog" "$TOP/guest/$prog.c" ||
		die "$prog failed to build for $arch"
done
# The end-to-end test uses the kselftest harness, which is not -Wextra clean
${CROSS}gcc -O2 -Wall -Werror -static -pthread -I"$HDR" \
	-I"$TREE/drivers/iommu/iommufd" -I"$TREE/tools/testing/selftests" \
	-o "$G/demo/iommufd-e2e" "$TOP/guest/iommufd-e2e.c" ||
	die "iommufd-e2e failed to build for $arch"

case $arch in
x86_64) bb=/bin/busybox ;;
arm64) bb=$BUILD/debs/busybox-arm64/bin/busybox ;;
esac
[ -x "$bb" ] || die "no static busybox for $arch at $bb: run scripts/deps.sh"

rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,tests}
cp "$bb" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$TOP/guest/init" "$root/init"
cp "$G"/selftests/iommufd "$G"/selftests/iommufd_dirty_big \
	"$G"/selftests/iommufd_dirty_big_long \
	"$G"/selftests/iommufd_fail_nth "$G"/selftests/iommufd_fuzz \
	"$G"/demo/* "$root/tests/"
# The same files give the same initramfs (scripts/test.sh caches boots)
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible -R 0:0 >"$G/initramfs.cpio")
log "initramfs $(du -h "$G/initramfs.cpio" | cut -f1) for $arch in $(elapsed "$t0")s"
