# scripts/lib.sh: shared shell helpers for the credits extension (source it, don't run it).
# Installs prerequisites, builds and installs the extension, and runs throwaway PostgreSQL clusters
# (version $CREDITS_PG_VERSION, default 15: the host's; 17 and 18 run inside the roots of scripts/pgroot.sh).
# shellcheck shell=bash
#
# Every function reports failure through its return status instead of relying
# on `set -e` (which bash ignores inside functions called from `if`/`||`), so
# callers may use either style.  Status messages go to stderr.

# Repository root, from this file's own location (works from any cwd).
CREDITS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CREDITS_PG_VERSION=${CREDITS_PG_VERSION:-15}
PG_CONFIG=/usr/lib/postgresql/$CREDITS_PG_VERSION/bin/pg_config
PGBIN=/usr/lib/postgresql/$CREDITS_PG_VERSION/bin
export CREDITS_ROOT CREDITS_PG_VERSION PG_CONFIG PGBIN

# Opt-in private installation: with CREDITS_PRIVATE_PG=DIR, credits_build
# installs the extension into a copy of the PostgreSQL 15 installation kept
# in DIR/inst (made on first use, as scripts/sanitize.sh does) and the
# clusters run from that copy, so the system installation, which other
# people's tests use, is never written to.  PostgreSQL finds its share and
# lib directories relative to its binaries.  The build itself still uses
# the system pg_config (headers, PGXS); unset, nothing changes.
CREDITS_PORT_MIN=54320 CREDITS_PORT_MAX=54399
if [[ -n ${CREDITS_PRIVATE_PG-} ]]; then
	CREDITS_PRIVATE_PG=$(mkdir -p "$CREDITS_PRIVATE_PG" && cd "$CREDITS_PRIVATE_PG" && pwd) || exit 1
	CREDITS_PRIVATE_INST=$CREDITS_PRIVATE_PG/inst
	PGBIN=$CREDITS_PRIVATE_INST$PGBIN
	# A port range of its own, away from the shared test clusters.
	CREDITS_PORT_MIN=54500 CREDITS_PORT_MAX=54599
	export CREDITS_PRIVATE_PG CREDITS_PRIVATE_INST PGBIN
fi
# Prefer that version's binaries over Debian's pg_wrapper in /usr/bin.
case ":$PATH:" in *":$PGBIN:"*) ;; *) export PATH="$PGBIN:$PATH" ;; esac

_v=$CREDITS_PG_VERSION
CREDITS_PACKAGES=(postgresql-$_v postgresql-server-dev-$_v postgresql-$_v-pgtap python3 python3-psycopg
	libtap-parser-sourcehandler-pgtap-perl postgresql-$_v-cron make gcc)
unset _v

# Pid of a command started by credits_run_limited, killed if we are interrupted.
_CREDITS_CHILD=

credits_log() { printf '==> %s\n' "$*" >&2; }
credits_err() { printf 'error: %s\n' "$*" >&2; }

# Run a command as the OS user that owns the clusters: `postgres` when we are
# root (PostgreSQL refuses to run as root), otherwise the current user.
run_as_pg_owner() {
	if ((EUID == 0)); then
		# cd / so that initdb/pg_ctl don't complain about an unreadable cwd.
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# Install whichever of CREDITS_PACKAGES is missing (quietly; apt-get update
# only when the first attempt fails, e.g. for lack of package lists).
credits_install_packages() {
	local p missing=() log rc=0
	for p in "${CREDITS_PACKAGES[@]}"; do
		if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) != "install ok installed" ]]; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		credits_err "missing packages: ${missing[*]}"
		credits_err "install them with: sudo apt-get install ${missing[*]}"
		return 1
	fi
	credits_log "installing ${missing[*]}"
	log=$(mktemp /tmp/credits-apt.XXXXXX) || return 1
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq "${missing[@]}" >"$log" 2>&1; then
		credits_log "apt-get install failed; refreshing package lists and retrying"
		{ apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >>"$log" 2>&1 || rc=$?
	fi
	((rc == 0)) || { cat "$log" >&2; credits_err "package installation failed"; }
	rm -f "$log"
	return "$rc"
}

# Copy the system installation's bindir, pkglibdir and sharedir into
# $CREDITS_PRIVATE_INST, once (the .complete marker says the copy is whole).
_credits_private_copy() {
	local d
	[[ -f $CREDITS_PRIVATE_INST/.complete ]] && return 0
	credits_log "copying the PostgreSQL $CREDITS_PG_VERSION installation to $CREDITS_PRIVATE_INST"
	rm -rf "$CREDITS_PRIVATE_INST"
	for d in "$("$PG_CONFIG" --bindir)" "$("$PG_CONFIG" --pkglibdir)" "$("$PG_CONFIG" --sharedir)"; do
		mkdir -p "$CREDITS_PRIVATE_INST$(dirname "$d")" &&
			cp -a "$d" "$CREDITS_PRIVATE_INST$d" || return 1
	done
	# The clusters run as postgres, which must reach the copied binaries.
	chmod 755 "$CREDITS_PRIVATE_PG" "$CREDITS_PRIVATE_INST" || return 1
	touch "$CREDITS_PRIVATE_INST/.complete"
}

# Build and install the extension; output is shown only on failure.
credits_build() {
	local log rc=0 sudo=()
	log=$(mktemp /tmp/credits-build.XXXXXX) || return 1
	credits_log "building the credits extension"
	if ! make -C "$CREDITS_ROOT" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		credits_err "build failed"
		return 1
	fi
	if [[ -n ${CREDITS_PRIVATE_PG-} ]]; then
		_credits_private_copy &&
			make -C "$CREDITS_ROOT" install PG_CONFIG="$PG_CONFIG" \
				DESTDIR="$CREDITS_PRIVATE_INST" >"$log" 2>&1 || rc=$?
		((rc == 0)) || { cat "$log" >&2; credits_err "make install into $CREDITS_PRIVATE_INST failed"; }
		rm -f "$log"
		return "$rc"
	fi
	if ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			rm -f "$log"
			credits_err "'make install' needs root and sudo is not available"
			return 1
		fi
	fi
	"${sudo[@]}" make -C "$CREDITS_ROOT" install PG_CONFIG="$PG_CONFIG" >"$log" 2>&1 || rc=$?
	((rc == 0)) || { cat "$log" >&2; credits_err "make install failed"; }
	rm -f "$log"
	return "$rc"
}

# Make this machine ready: packages, then build and install the extension.
credits_setup() {
	credits_install_packages && credits_build
}

# True if a PostgreSQL server answers on socket dir $1, port $2.
_credits_ready() {
	"$PGBIN/pg_isready" -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1
}

# Print a port in [$1, $2] that no server seems to use: no socket or lock
# file in the usual socket dirs or in another throwaway cluster, and nothing
# answering on it.  Starts at a random offset so concurrent runs rarely meet.
_credits_free_port() {
	local lo=$1 hi=$2 n i p d used
	n=$((hi - lo + 1))
	for ((i = 0, p = lo + RANDOM % n; i < n; i++, p = lo + (p - lo + 1) % n)); do
		used=
		for d in /tmp /var/run/postgresql /tmp/credits-pg.*/sock; do
			[[ -e $d/.s.PGSQL.$p || -e $d/.s.PGSQL.$p.lock ]] && { used=1; break; }
		done
		[[ -n $used ]] && continue
		_credits_ready /tmp "$p" || _credits_ready localhost "$p" || { echo "$p"; return 0; }
	done
	credits_err "no free port in $lo-$hi"
	return 1
}

# Create a cluster in $1/data listening only on socket dir $1/sock, port $2.
# Further arguments are extra settings, "name=value" or "-c name=value".
_credits_init_cluster() {
	local dir=$1 port=$2 arg name value
	shift 2
	if ! run_as_pg_owner mkdir -p "$dir/sock" ||
		! run_as_pg_owner "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync \
			-E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2 2>/dev/null
		credits_err "initdb failed in $dir"
		return 1
	fi
	# Settings go into postgresql.conf, so a restart (devdb) keeps them.
	{
		echo "# added by scripts/lib.sh"
		echo "port = $port"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir/sock'"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		echo "max_connections = 100"
		echo "shared_preload_libraries = 'pg_cron'"
		echo "cron.database_name = 'postgres'"
		# pg_cron connects through libpq to cron.host (default localhost,
		# which is not listened on): point it at our socket dir instead.
		echo "cron.host = '$dir/sock'"
		echo "log_min_messages = warning"
		# Inside a Debian root (scripts/pgroot.sh) /dev/shm is no tmpfs.
		[[ -n ${CREDITS_IN_ROOT-} ]] && echo "dynamic_shared_memory_type = mmap"
		while (($#)); do
			arg=$1
			shift
			if [[ $arg == -c ]]; then arg=${1-}; shift || true; fi
			[[ $arg == -c* ]] && arg=${arg#-c}
			[[ $arg == *=* ]] || { credits_err "bad setting '$arg' (want name=value)"; return 1; }
			name=${arg%%=*} value=${arg#*=}
			echo "$name = '${value//\'/\'\'}'"
		done
	} | run_as_pg_owner tee -a "$dir/data/postgresql.conf" >/dev/null
}

# Start the cluster in $1 (created by _credits_init_cluster); log in $1/postgres.log.
_credits_start_cluster() {
	local dir=$1
	if ! run_as_pg_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
		start >"$dir/pg_ctl.log" 2>&1; then
		cat "$dir/pg_ctl.log" >&2
		credits_err "PostgreSQL failed to start; last lines of $dir/postgres.log:"
		tail -n 40 "$dir/postgres.log" >&2 2>/dev/null
		return 1
	fi
}

# Stop the cluster in $1 if it runs; $2 is the shutdown mode.
_credits_stop_cluster() {
	local dir=$1 mode=${2:-fast}
	[[ -f $dir/data/postmaster.pid ]] || return 0
	run_as_pg_owner "$PGBIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1
}

# Start a throwaway cluster (or reuse CREDITS_PGHOST/CREDITS_PGPORT) and
# export PGHOST PGPORT PGUSER PGDATABASE CREDITS_PGDATA CREDITS_TMP.  An exit
# or interrupt trap stops it and removes its directory (KEEP_CLUSTER=1 keeps
# it running).  Arguments are extra server settings ("name=value" or "-c name=value").
# shellcheck disable=SC2120 # the settings arguments are optional
cluster_start() {
	local port
	CREDITS_TMP=$(mktemp -d /tmp/credits-pg.XXXXXX) || return 1
	export CREDITS_TMP
	trap cluster_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	export PGUSER=postgres PGDATABASE=postgres

	if [[ -n ${CREDITS_PGHOST-} ]]; then
		export PGHOST=$CREDITS_PGHOST PGPORT=${CREDITS_PGPORT:-5432} CREDITS_PGDATA=
		if ! _credits_ready "$PGHOST" "$PGPORT"; then
			credits_err "no server answers at CREDITS_PGHOST=$PGHOST CREDITS_PGPORT=$PGPORT"
			return 1
		fi
		credits_log "reusing the running cluster at $PGHOST port $PGPORT"
		return 0
	fi

	((EUID == 0)) && { chown postgres:postgres "$CREDITS_TMP" || return 1; }
	export CREDITS_PGDATA=$CREDITS_TMP/data
	port=$(_credits_free_port "$CREDITS_PORT_MIN" "$CREDITS_PORT_MAX") || return 1
	credits_log "starting a throwaway PostgreSQL $CREDITS_PG_VERSION cluster in $CREDITS_TMP (port $port)"
	_credits_init_cluster "$CREDITS_TMP" "$port" "$@" || return 1
	_credits_start_cluster "$CREDITS_TMP" || return 1
	export PGHOST=$CREDITS_TMP/sock PGPORT=$port
}

# Stop the throwaway cluster and remove its directory; safe to call twice.
cluster_stop() {
	local rc=$?
	# Stop a test command still running in the background (interrupted run).
	if [[ -n $_CREDITS_CHILD ]]; then
		kill -TERM "$_CREDITS_CHILD" 2>/dev/null || true
		wait "$_CREDITS_CHILD" 2>/dev/null || true
		_CREDITS_CHILD=
	fi
	if [[ -n ${CREDITS_PGDATA-} ]]; then
		if [[ ${KEEP_CLUSTER-} == 1 ]]; then
			local as=''
			((EUID == 0)) && as='runuser -u postgres -- '
			credits_log "KEEP_CLUSTER=1: cluster left running in $CREDITS_TMP"
			credits_log "  connect: psql -h $PGHOST -p $PGPORT -U postgres"
			credits_log "  stop:    $as$PGBIN/pg_ctl -D $CREDITS_PGDATA stop && rm -rf $CREDITS_TMP"
			CREDITS_PGDATA='' CREDITS_TMP=''
			return "$rc"
		fi
		_credits_stop_cluster "$CREDITS_TMP" immediate ||
			credits_err "could not stop the cluster in $CREDITS_TMP"
	fi
	if [[ -n ${CREDITS_TMP-} && $CREDITS_TMP == /tmp/credits-pg.* ]]; then
		rm -rf "$CREDITS_TMP"
	fi
	CREDITS_PGDATA='' CREDITS_TMP=''
	return "$rc"
}

# credits_run_limited SECONDS CMD...: run CMD with a time limit, in the
# background so that an interrupt reaches our trap at once (which then stops
# CMD).  Returns CMD's status (124 on timeout).
credits_run_limited() {
	local secs=$1 rc=0
	shift
	timeout -k 10 "$secs" "$@" &
	_CREDITS_CHILD=$!
	wait "$_CREDITS_CHILD" || rc=$?
	_CREDITS_CHILD=
	return "$rc"
}

# credits_run_in_root VERSION SCRIPT [ARGS...]: run one of the repository's
# scripts with PostgreSQL VERSION (17, 18) inside its Debian root
# (scripts/pgroot.sh makes it on first use), on a copy of the working tree
# made for this run.  /proc and /dev are mounted for the run and unmounted
# on every exit path; the copy is removed.  Passes CI and TESTS through.
credits_run_in_root() {
	local v=$1 script=$2 root build rc=0 kv
	local -a pass=()
	shift 2
	# The benchmark's settings go in too.
	while IFS= read -r kv; do pass+=("$kv"); done < <(env | grep -E '^BENCH_[A-Z_]+=' || true)
	root=$(bash "$CREDITS_ROOT/scripts/pgroot.sh" "$v") || {
		credits_err "PostgreSQL $v: its Debian root could not be made"
		return 1
	}
	mkdir -p "$root/build" || return 1
	build=$(mktemp -d "$root/build/credits.XXXXXX") || return 1
	tar -C "$CREDITS_ROOT" -c --exclude=.git --exclude='*.o' --exclude='*.bc' \
		--exclude='*.so' --exclude=results --exclude='regression.*' . |
		tar -C "$build" -x || { rm -rf "$build"; return 1; }
	(
		mounts=()
		trap 'for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		mount -t proc proc "$root/proc" && mounts+=("$root/proc")
		mount --bind /dev "$root/dev" && mounts+=("$root/dev")
		chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 CI="${CI-}" TESTS="${TESTS-}" CREDITS_PG_VERSION="$v" \
			CREDITS_IN_ROOT=1 CREDITS_MATRIX_INNER=1 "${pass[@]}" \
			bash "${build#"$root"}/$script" "$@"
	) || rc=$?
	rm -rf "$build"
	return "$rc"
}
