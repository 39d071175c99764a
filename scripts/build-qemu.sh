#!/usr/bin/env bash
# Build our QEMU: upstream QEMU 10.0.2 from Debian's source tarball
# (bookworm-backports) with qemu/patches/ applied, for the two targets we boot,
# with only the machines and devices scripts/boot.sh uses (qemu/devices/) and
# without debug info.
# The source comes through a private apt configuration under build/qemu/apt
# whose mirror is the one the system's apt already uses for bookworm; the
# system's own sources are not touched. The result is cached: a second run
# with the same patches, device lists and script rebuilds nothing.
# Usage: scripts/build-qemu.sh          (prints the install prefix on stdout)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

VERSION=10.0.2
SUITE=bookworm-backports
Q=$BUILD/qemu
APTDIR=$Q/apt
SRC=$Q/src
BLD=$Q/build
PREFIX=$Q/install
STAMP=$PREFIX/.built
# qemu/devices/TARGET.mak: the devices of each target (Kconfig selects what
# they need); installed in the source as configs/devices/TARGET/harness.mak
TARGETS=(x86_64-softmmu aarch64-softmmu)
CONFIGURE=(--python=/usr/bin/python3 --disable-download --disable-install-blobs
	--target-list=x86_64-softmmu,aarch64-softmmu --without-default-features
	--without-default-devices --with-devices-x86_64=harness --with-devices-aarch64=harness
	--enable-tcg --enable-fdt=system --disable-docs --disable-werror --disable-debug-info
	--prefix="$PREFIX")
# what scripts/boot.sh asks of each binary: machines, then -device names
NEED_x86_64=(q35 intel-iommu amd-iommu edu dma-writer pcie-root-port)
NEED_aarch64=(virt edu dma-writer)

patches=("$TOP"/qemu/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
devices=()
for t in "${TARGETS[@]}"; do
	[ -f "$TOP/qemu/devices/$t.mak" ] || die "qemu/devices/$t.mak is missing"
	devices+=("$TOP/qemu/devices/$t.mak")
done
key=$(cat ${patches[@]+"${patches[@]}"} "${devices[@]}" "$0" | sha1sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && [ "${FRESH:-0}" = 0 ]; then
	log "QEMU $VERSION with ${#patches[@]} patches of ours: up to date ($PREFIX)"
	echo "$PREFIX"
	exit 0
fi
t0=$(now)

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

# The mirror the system uses for Debian bookworm (deb822 or one-line sources)
mirror=$(apt-cache policy | awk '$3 == "bookworm/main" { print $2; exit }')
[ -n "$mirror" ] || die "no 'bookworm main' source in the system's apt configuration: add Debian bookworm to /etc/apt/sources.list(.d)"

# papt ARGS...: apt-get with only bookworm-backports from that mirror
mkdir -p "$APTDIR"/lists/partial "$APTDIR"/cache/archives/partial
cat >"$APTDIR/sources.list" <<EOF
deb $mirror $SUITE main
deb-src $mirror $SUITE main
EOF
papt() {
	apt-get -q -o Dir::Etc::SourceList="$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::Cache="$APTDIR/cache" -o APT::Get::List-Cleanup=0 "$@"
}
if [ ! -f "$APTDIR/updated" ]; then
	log "fetching the $SUITE package lists from $mirror"
	$SUDO apt-get -q -o Dir::Etc::SourceList="$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::Cache="$APTDIR/cache" -o APT::Get::List-Cleanup=0 update >/dev/null ||
		die "apt-get update of $SUITE failed (mirror $mirror)"
	touch "$APTDIR/updated"
fi

# Build dependencies: scripts/deps.sh installs them, but for meson >= 1.5
# and pycotap, which only bookworm-backports has
for p in ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev pkg-config python3-venv \
	python3-setuptools; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		die "$p is not installed: run scripts/deps.sh"
done
mesonv=$(dpkg-query -W -f='${Version}' meson 2>/dev/null || true)
if ! dpkg --compare-versions "${mesonv:-0}" ge 1.5 ||
	! dpkg-query -W -f='${Status}' python3-pycotap 2>/dev/null | grep -q 'ok installed'; then
	log "installing meson and python3-pycotap from $SUITE"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
		-o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" \
		-t "$SUITE" meson python3-pycotap >"$LOGS/qemu-apt.log" 2>&1 ||
		die "cannot install meson and python3-pycotap from $SUITE: see $LOGS/qemu-apt.log"
fi

# The source: only the upstream (+ds) tarball of this version can be fetched
tarball=$Q/qemu_$VERSION+ds.orig.tar.xz
if [ ! -f "$tarball" ]; then
	uri=$(papt source --print-uris "qemu/$SUITE" 2>/dev/null |
		awk -v f="${tarball##*/}" '$2 == f { gsub(/'\''/, "", $1); print $1, $4; exit }')
	[ -n "$uri" ] || die "qemu $VERSION is not in $SUITE's sources on $mirror"
	set -- $uri
	log "downloading $1"
	/usr/lib/apt/apt-helper -q download-file "$1" "$tarball.part" "$2" >/dev/null ||
		die "download of $1 failed"
	mv "$tarball.part" "$tarball"
fi

log "unpacking and patching"
rm -rf "$SRC" "$BLD" && mkdir -p "$SRC" "$BLD"
tar -xf "$tarball" -C "$SRC" --strip-components=1
# sourcetree: QEMU VERSION, then the harness's own build change, tagged
# 'base' (what qemu/patches/ apply to), then ours
gsrc() { git -C "$SRC" -c user.name=harness -c user.email=harness@localhost "$@"; }
gsrc init -q
gsrc add -A >/dev/null
gsrc commit -qm "QEMU $VERSION (Debian's +ds source tarball)"
# The +ds tarball has no firmware blobs: do not unpack the edk2 images
sed -i 's/^\( *unpack_edk2_blobs = \)bzip2.found()$/\1false/' "$SRC/meson.build"
grep -q '^ *unpack_edk2_blobs = false$' "$SRC/meson.build" &&
	! grep -q 'unpack_edk2_blobs = bzip2' "$SRC/meson.build" ||
	die "QEMU's meson.build changed: cannot skip unpacking the edk2 blobs"
gsrc commit -qam "meson: do not unpack the edk2 blobs (not in the +ds tarball)"
gsrc tag base
for p in ${patches[@]+"${patches[@]}"}; do
	gsrc am -q "$p" || die "qemu/patches/$(basename "$p") does not apply to QEMU $VERSION"
done
for t in "${TARGETS[@]}"; do
	cp "$TOP/qemu/devices/$t.mak" "$SRC/configs/devices/$t/harness.mak"
done

log "configuring"
(cd "$BLD" && CC="ccache gcc" "$SRC/configure" "${CONFIGURE[@]}" >"$LOGS/qemu-configure.log" 2>&1) ||
	die "QEMU configure failed: see $LOGS/qemu-configure.log"
log "building (log: $LOGS/qemu-build.log)"
ninja -C "$BLD" -j"$JOBS" qemu-system-x86_64 qemu-system-aarch64 >"$LOGS/qemu-build.log" 2>&1 ||
	die "QEMU build failed: see $LOGS/qemu-build.log"
# has_all BINARY NAMES...: every machine or device boot.sh uses is in BINARY
has_all() {
	local bin=$1 list n; shift
	list=$("$bin" -machine help && "$bin" -device help) || die "${bin##*/} does not run"
	for n in "$@"; do
		grep -qE "^($n |name \"$n\")" <<<"$list" ||
			die "${bin##*/} has no machine or device '$n': add its CONFIG_ to qemu/devices/"
	done
}
has_all "$BLD/qemu-system-x86_64" "${NEED_x86_64[@]}"
has_all "$BLD/qemu-system-aarch64" "${NEED_aarch64[@]}"
rm -rf "$PREFIX" && mkdir -p "$PREFIX/bin"
cp "$BLD/qemu-system-x86_64" "$BLD/qemu-system-aarch64" "$PREFIX/bin/"
echo "$key" >"$STAMP"
log "QEMU $VERSION built in $(elapsed "$t0")s ($(grep -c 'Compiling C' "$LOGS/qemu-build.log") files compiled)"
echo "$PREFIX"
