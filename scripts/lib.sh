# shellcheck shell=bash
# Common helpers for the harness scripts. Source it; do not run it.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
# The assembled tree, and where kernels are built out of it; check-series.sh
# points both elsewhere, to a worktree of its own
TREE=${HARNESS_TREE:-$BUILD/linux}
OUT=${HARNESS_OUT:-$BUILD/out}
LOGS=${HARNESS_LOGS:-$BUILD/logs}
JOBS=${JOBS:-$(nproc)}
# Timings are printed and parsed with a decimal point, whatever the locale
export LC_NUMERIC=C
export CCACHE_DIR=${CCACHE_DIR:-$BUILD/ccache}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Stable timestamps and identity so ccache hits across rebuilds.
export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'
export KBUILD_BUILD_USER=iommufd-dirty
export KBUILD_BUILD_HOST=harness
# and the same image for the same sources (scripts/test.sh caches boots)
export KBUILD_BUILD_VERSION=1

# Our QEMU (scripts/build-qemu.sh) and how many of qemu/patches/ it carries;
# HARNESS_QEMU: another directory with qemu-system-* (e.g. a trial build)
QEMU_BIN=${HARNESS_QEMU:-$BUILD/qemu/install/bin}
QEMU_PATCHES=$(find "$TOP/qemu/patches" -name '*.patch' 2>/dev/null | wc -l)

SCRIPT=$(basename "$0" .sh)

log() { printf '[%s] %s\n' "$SCRIPT" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# now: seconds since the epoch, with fractions
now() { date +%s.%N; }
# elapsed START [END]: seconds from START to END (default: now), one decimal
elapsed() { awk -v s="$1" -v e="${2:-$(now)}" 'BEGIN { printf "%.1f", e - s }'; }

# arch_env ARCH: set ARCH/CROSS_COMPILE/KOUT for a kernel build of ARCH
arch_env() {
	case "$1" in
	x86_64) KARCH=x86_64; CROSS=; KIMAGE=arch/x86/boot/bzImage ;;
	arm64) KARCH=arm64; CROSS=aarch64-linux-gnu-; KIMAGE=arch/arm64/boot/Image ;;
	# iommufd and VFIO as modules (configs/x86_64-modules.config): built
	# for modpost, never booted, so vmlinux without the compressed image
	x86_64-modules) KARCH=x86_64; CROSS=; KIMAGE=vmlinux ;;
	*) die "unknown arch '$1' (known: x86_64 arm64 x86_64-modules)" ;;
	esac
	KOUT=$OUT/$1
}

# kmake ARCH ARGS...: make in the assembled tree for ARCH, with ccache
kmake() {
	local arch=$1; shift
	arch_env "$arch"
	make -C "$TREE" O="$KOUT" ARCH="$KARCH" CROSS_COMPILE="$CROSS" \
		CC="ccache ${CROSS}gcc" HOSTCC="ccache gcc" -j"$JOBS" -s "$@"
}

# audit_key TREE: what the prune audit of TREE's pruned base depends on (the
# base's tree, prune/identifiers, prune/cmd-numbers, the audit script); a
# passed audit is remembered as $AUDIT_CACHE/KEY (assemble.sh audits the
# base it commits, scripts/test.sh then need not audit it again)
AUDIT_CACHE=$BUILD/cache/prune-audit
audit_key() {
	{ git -C "$1" rev-parse 'base^{tree}' &&
		cat "$TOP"/prune/identifiers "$TOP"/prune/cmd-numbers "$TOP"/scripts/prune-audit.sh; } |
		sha1sum | cut -c1-16
}

# base_version DIR: print VERSION.PATCHLEVEL.SUBLEVEL of a kernel tree
base_version() {
	awk -F' *= *' '/^VERSION/ {v=$2} /^PATCHLEVEL/ {p=$2} /^SUBLEVEL/ {s=$2}
		/^EXTRAVERSION/ {print v "." p "." s $2; exit}' "$1/Makefile"
}

# cover_description FILE: the subject and body of a format-patch cover letter,
# without the shortlog and diffstat format-patch appends (the branch
# description format-patch --cover-from-description=subject consumes)
cover_description() {
	awk '
	/^Subject: / && !subj { sub(/^Subject: (\[[^]]*\] )?/, ""); print; subj = 1; next }
	subj && !body && /^$/ { body = 1; print ""; next }
	body && /^[^ ].* \([0-9]+\):$/ { exit }
	body { print }
	' "$1" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

mkdir -p "$LOGS"

# The iommufd_dirty_big variants make test runs in neither guest and make
# stress runs (scripts/test.sh says why, with the cost of each)
BIG_HAND=(domain_dirty_4G domain_dirty_128G_huge domain_dirty_128M_pgsz_2M domain_dirty_128M)
