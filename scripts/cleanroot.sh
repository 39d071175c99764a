#!/usr/bin/env bash
# Run CI's job (.ci/run, that is make test) cold, as CI does, in a clean
# Debian bookworm root: a fresh clone of this repository's HEAD (committed
# work only) with ../shared beside it, nothing built, nothing cached, only
# git and make added to a minimal bookworm, the rest installed by the
# project's own scripts. The root's apt sources are the system's own
# (/etc/apt/sources.list and sources.list.d/*.sources for bookworm), so no
# mirror is named here. Prints the job's output and its time; the root is
# removed afterwards (KEEP=1 keeps it). Needs root; installs mmdebstrap.
# JOB=stress runs make stress there instead (cold, as a user's first run).
# Usage: scripts/cleanroot.sh [ROOT]     (default /var/tmp/cleanroot;
#   env: JOB=ci|stress, KEEP)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

root=${1:-/var/tmp/cleanroot}
case ${JOB:=ci} in
ci) cmd=.ci/run ;;
stress) cmd='make stress' ;;
*) die "JOB=$JOB: ci or stress" ;;
esac
[ "$(id -u)" = 0 ] || die "cleanroot.sh needs root (chroot, mounts)"
if ! command -v mmdebstrap >/dev/null; then
	log "installing mmdebstrap"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >"$LOGS/cleanroot-apt.log" 2>&1 ||
		die "cannot install mmdebstrap: see $LOGS/cleanroot-apt.log"
fi
[ -d "$TOP/../shared" ] || die "no ../shared beside the repository: CI runs with it"
[ ! -e "$root" ] || die "$root exists: remove it first (umount -R its proc, sys and dev)"

# The system's bookworm sources, one-line or deb822, as the mirror list
srcs=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && grep -qs '^[^#]*bookworm' "$f" && srcs+=("$f")
done
[ ${#srcs[@]} -gt 0 ] || die "no bookworm source in the system's apt configuration"

cleanup() {
	for m in dev/pts dev sys proc; do
		! mountpoint -q "$root/$m" || umount -l "$root/$m"
	done
	[ "${KEEP:-0}" = 1 ] || rm -rf "$root"
}
trap cleanup EXIT

t0=$(now)
log "bookworm root in $root (sources: ${srcs[*]})"
mmdebstrap --quiet --variant=important --include=git,make,ca-certificates \
	bookworm "$root" "${srcs[@]}" >"$LOGS/cleanroot-mmdebstrap.log" 2>&1 ||
	die "mmdebstrap failed: see $LOGS/cleanroot-mmdebstrap.log"
mkdir -p "$root/work"
git clone -q "$TOP" "$root/work/main"
cp -a "$TOP/../shared" "$root/work/shared"
for m in proc sys dev dev/pts; do
	mkdir -p "$root/$m"
	mount --bind "/$m" "$root/$m"
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
log "root ready in $(elapsed "$t0")s: running $cmd in it ($(git -C "$TOP" log -1 --format='%h %s'))"
t1=$(now)
rc=0
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
	bash -c "cd /work/main && $cmd" || rc=$?
log "$cmd ended (exit $rc) in $(elapsed "$t1")s, $(elapsed "$t0")s with the root"
exit $rc
