#!/usr/bin/env bash
# scripts/pgroot.sh: a Debian root with PostgreSQL NN (17 from trixie, 18 from
# forky) for the version matrix, made once and kept in a cache outside the
# repository ($CREDITS_CACHE, default /var/cache/credits).
# Usage: scripts/pgroot.sh NN        makes the root if needed; prints its path
#        scripts/pgroot.sh NN --check  prints the path if the root is complete
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ver=${1-}
case $ver in
17) suite=trixie script=trixie ;;
18) suite=forky script=sid ;; # debootstrap has no forky script; sid's fits
*)
	echo "usage: $0 17|18 [--check]" >&2
	exit 2
	;;
esac
cache=${CREDITS_CACHE:-/var/cache/credits}
root=$cache/roots/pg$ver
packages=(postgresql-$ver postgresql-server-dev-$ver postgresql-$ver-pgtap
	postgresql-$ver-cron make gcc libc6-dev python3 python3-psycopg
	libtap-parser-sourcehandler-pgtap-perl procps)

if [[ -f $root/.complete ]]; then
	echo "$root"
	exit 0
fi
[[ ${2-} == --check ]] && exit 1
((EUID == 0)) || { credits_err "making a root needs root"; exit 1; }

# The archive this machine already uses (read at run time, never written
# into the repository).
mirror() {
	local u
	u=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/\{0,1\}$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
	[[ -n $u ]] || u=$(sed -n 's/^deb  *\(\[[^]]*\]  *\)\{0,1\}\(http[^ ]*debian\)\/\{0,1\} .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
	[[ -n $u ]] || u=http://deb.debian.org/debian
	echo "$u"
}

mounted=()
unmount_all() {
	local m
	for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
	mounted=()
}
trap unmount_all EXIT

if ! command -v debootstrap >/dev/null; then
	CREDITS_PACKAGES=(debootstrap)
	credits_install_packages
fi
url=$(mirror)
# A half-made root (an earlier run stopped) is made again; never remove a
# root that still has mounts in it.
if [[ -d $root ]]; then
	if grep -q " $root/" /proc/mounts; then
		credits_err "$root has mounts; unmount them first"
		exit 1
	fi
	rm -rf "$root"
fi
mkdir -p "$cache/roots"
credits_log "making a Debian $suite root for PostgreSQL $ver in $root (about 2 minutes)"
log=$cache/roots/pg$ver.log
if ! debootstrap --variant=minbase "$suite" "$root" "$url" "/usr/share/debootstrap/scripts/$script" >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	credits_err "debootstrap failed (log: $log)"
	exit 1
fi
# The archive serves Release files past their expiry date; no services, no
# default cluster inside the root.
echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99credits"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/etc/postgresql-common"
echo 'create_main_cluster = false' >"$root/etc/postgresql-common/createcluster.conf"
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --bind /dev "$root/dev" && mounted+=("$root/dev")
credits_log "installing PostgreSQL $ver into the root (about a minute)"
if ! chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
	sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages[*]}" >>"$log" 2>&1; then
	tail -n 30 "$log" >&2
	credits_err "installing PostgreSQL $ver into the root failed (log: $log)"
	exit 1
fi
unmount_all
touch "$root/.complete"
echo "$root"
