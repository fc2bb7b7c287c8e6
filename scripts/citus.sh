# scripts/citus.sh: Citus for the distributed tests of the credits extension
# (source it after scripts/lib.sh, don't run it).
# shellcheck shell=bash
#
# citus_install         makes Citus $CREDITS_CITUS_VERSION available to the
#                       PostgreSQL of $CREDITS_PG_VERSION (15 only for now):
#                       the system installation, or the private copy of
#                       CREDITS_PRIVATE_PG.
# citus_cluster_start   a coordinator and two workers on loopback, Citus set
#                       up, PGHOST/PGPORT exported for the coordinator.
# citus_cluster_stop    stops them all (also run by the exit trap).
#
# Citus is not in Debian's archive and its source is not in this
# repository: citus_install builds it from the release tarball
# citus-$CREDITS_CITUS_VERSION.tar.gz, found at $CREDITS_CITUS_TARBALL or
# in ${CREDITS_CACHE:-/var/cache/credits}/vendor/ or in shared/vendor/
# beside the repository's directory.  Its Debian build dependencies are
# installed first.  The build is made once, installed into a staging
# directory of the cache ($CREDITS_CACHE/citus-VERSION-pgNN/stage), and
# later runs only copy the staged files into place (seconds).
#
# Like lib.sh, every function reports failure through its return status
# (no reliance on `set -e`); messages go to stderr.

CREDITS_CITUS_VERSION=13.2.2
export CREDITS_CITUS_VERSION

# Directories of the three clusters (coordinator first), for citus_cluster_stop.
_CREDITS_CITUS_DIRS=()

_citus_cache() { echo "${CREDITS_CACHE:-/var/cache/credits}"; }

# Where PostgreSQL's files are installed for the clusters: "" (the system
# installation) or the private copy of CREDITS_PRIVATE_PG.
_citus_destdir() { echo "${CREDITS_PRIVATE_INST-}"; }

# True if citus.so under destdir $1 is Citus $CREDITS_CITUS_VERSION.  Its
# citus_version() string ("Citus 13.2.2 on x86_64-...") is in the library.
_citus_installed() {
	local so
	so=$1$("$PG_CONFIG" --pkglibdir)/citus.so
	[[ -f $so ]] && grep -aqF "Citus $CREDITS_CITUS_VERSION on " "$so"
}

# Print the path of the source tarball, or fail saying where it was looked for.
_citus_tarball() {
	local name=citus-$CREDITS_CITUS_VERSION.tar.gz t
	for t in "${CREDITS_CITUS_TARBALL-}" "$(_citus_cache)/vendor/$name" \
		"$(dirname "$CREDITS_ROOT")/shared/vendor/$name"; do
		[[ -n $t && -f $t ]] && { echo "$t"; return 0; }
	done
	credits_err "Citus $CREDITS_CITUS_VERSION is not installed and its source $name was not found"
	credits_err "put it in $(_citus_cache)/vendor/ or point CREDITS_CITUS_TARBALL at it"
	return 1
}

# The one source fix for PostgreSQL 15.20 and later 15.x: they declare
# have_createdb_privilege() in commands/dbcommands.h, and Citus's
# src/include/pg_version_compat.h defines a static inline copy of it for
# PostgreSQL < 16 ("static declaration follows non-static declaration").
# Replace that definition by the server's declaration.  Only applied when
# the server declares the function and the copy is there.
_citus_fix_source() {
	local h=$1/src/include/pg_version_compat.h
	grep -q 'have_createdb_privilege' "$("$PG_CONFIG" --includedir-server)/commands/dbcommands.h" || return 0
	grep -q '^have_createdb_privilege(void)$' "$h" || return 0
	credits_log "patching Citus's src/include/pg_version_compat.h: have_createdb_privilege() comes from commands/dbcommands.h"
	# Drop "static inline bool" / "have_createdb_privilege(void)" / { ... }
	# up to the first line that is a lone "}", and include the header instead.
	if ! awk '
		skip { if ($0 == "}") skip = 0; next }
		held {
			held = 0
			if ($0 == "have_createdb_privilege(void)") {
				print "#include \"commands/dbcommands.h\""
				skip = 1; done = 1; next
			}
			print prev
		}
		/^static inline bool$/ { held = 1; prev = $0; next }
		{ print }
		END { if (held) print prev; exit !done }
	' "$h" >"$h.new" || ! mv "$h.new" "$h"; then
		rm -f "$h.new"
		credits_err "could not patch $h"
		return 1
	fi
}

# Build Citus from the tarball into the cache's staging directory $1.
_citus_build() {
	local stage=$1 top tarball build log start rc=0
	top=$(dirname "$stage")
	tarball=$(_citus_tarball) || return 1
	build=$top/build log=$top/build.log
	rm -rf "$build" "$stage.tmp" && mkdir -p "$build" || return 1
	credits_log "building Citus $CREDITS_CITUS_VERSION for PostgreSQL $CREDITS_PG_VERSION from $tarball (a few minutes; log in $log)"
	start=$SECONDS
	tar -xzf "$tarball" -C "$build" --strip-components=1 || {
		credits_err "could not unpack $tarball"
		return 1
	}
	_citus_fix_source "$build" || return 1
	# Citus's build dependencies from Debian (its configure needs them all).
	local -a CREDITS_PACKAGES=(liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libpam0g-dev
		libssl-dev libxslt1-dev libreadline-dev zlib1g-dev)
	credits_install_packages || return 1
	# with_llvm=no: no LLVM bitcode for JIT inlining (halves the build).
	{
		(cd "$build" && ./configure --without-libcurl PG_CONFIG="$PG_CONFIG") &&
			make -C "$build" -j2 with_llvm=no &&
			make -C "$build" install with_llvm=no DESTDIR="$stage.tmp"
	} >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		tail -n 60 "$log" >&2
		credits_err "the Citus build failed (whole log: $log)"
		return 1
	fi
	mv "$stage.tmp" "$stage" && rm -rf "$build" || return 1
	credits_log "built Citus $CREDITS_CITUS_VERSION in $((SECONDS - start)) s"
}

# Build into staging directory $1 unless a concurrent run has just done so
# (one build at a time per cache: flock on a file beside the stage).
_citus_build_locked() {
	local stage=$1 top fd rc=0
	top=$(dirname "$stage")
	if ! mkdir -p "$top" 2>/dev/null || [[ ! -w $top ]]; then
		credits_err "the build cache $top is not writable; set CREDITS_CACHE to a writable directory"
		return 1
	fi
	exec {fd}>"$top/.lock" || return 1
	flock "$fd" || { exec {fd}>&-; return 1; }
	if [[ ! -d $stage ]] || ! _citus_installed "$stage"; then
		rm -rf "$stage"
		_citus_build "$stage" || rc=1
	fi
	exec {fd}>&-
	return "$rc"
}

# Make Citus $CREDITS_CITUS_VERSION available to PostgreSQL $CREDITS_PG_VERSION.
citus_install() {
	local dest stage where sudo=()
	if [[ $CREDITS_PG_VERSION != 15 ]]; then
		credits_err "Citus tests support PostgreSQL 15 only for now (CREDITS_PG_VERSION=$CREDITS_PG_VERSION)"
		return 1
	fi
	if [[ -n ${CREDITS_PRIVATE_PG-} ]]; then
		_credits_private_copy || return 1
	fi
	dest=$(_citus_destdir)
	_citus_installed "$dest" && return 0
	stage=$(_citus_cache)/citus-$CREDITS_CITUS_VERSION-pg$CREDITS_PG_VERSION/stage
	if [[ ! -d $stage ]] || ! _citus_installed "$stage"; then
		_citus_build_locked "$stage" || return 1
	fi
	if [[ -z $dest ]] && ((EUID != 0)); then
		if command -v sudo >/dev/null 2>&1; then
			sudo=(sudo)
		else
			credits_err "installing Citus into the system's PostgreSQL needs root and sudo is not available"
			return 1
		fi
	fi
	where=${dest:-/}
	[[ -n $dest ]] || where="the system installation of PostgreSQL $CREDITS_PG_VERSION"
	credits_log "installing Citus $CREDITS_CITUS_VERSION into $where"
	# tar --no-overwrite-dir -m: existing directories (/usr ...) keep their
	# owner, mode and times.
	if ! tar -C "$stage" -cf - . | "${sudo[@]}" tar -C "${dest:-/}" -xmf - --no-overwrite-dir; then
		credits_err "could not copy $stage into ${dest:-/}"
		return 1
	fi
	_citus_installed "$dest" || {
		credits_err "Citus $CREDITS_CITUS_VERSION is still not installed after copying $stage"
		return 1
	}
}

# psql on one node: _citus_psql SOCKDIR PORT psql-args...
_citus_psql() {
	local host=$1 port=$2
	shift 2
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d postgres "$@"
}

# Start one node: a throwaway cluster listening on 127.0.0.1 and on its own
# socket dir, with Citus loaded and created.  Sets _CITUS_NODE_DIR and
# _CITUS_NODE_PORT (no subshell: the directory must reach the stop list).
#   citus.node_conninfo=sslmode=disable: loopback only; the default
#     (sslmode=require) makes CREATE EXTENSION citus turn ssl on and make a
#     self-signed certificate on every node.
#   shared_preload_libraries=citus,credits: credits after Citus, so that its
#     planner hook runs first (src/delegation.c; credits_distribute() checks).
#   max_prepared_transactions: Citus commits multi-node writes in two phases.
#   wal_level=logical: shard moves (rebalancing) copy through logical replication.
_citus_node_start() {
	local dir port
	_CITUS_NODE_DIR='' _CITUS_NODE_PORT=''
	dir=$(mktemp -d /tmp/credits-pg.XXXXXX) || return 1
	_CREDITS_CITUS_DIRS+=("$dir")
	((EUID == 0)) && { chown postgres:postgres "$dir" || return 1; }
	port=$(_credits_free_port "$CREDITS_PORT_MIN" "$CREDITS_PORT_MAX") || return 1
	_credits_init_cluster "$dir" "$port" \
		listen_addresses=127.0.0.1 \
		shared_preload_libraries=citus,credits \
		max_prepared_transactions=100 \
		wal_level=logical \
		citus.node_conninfo=sslmode=disable || return 1
	_credits_start_cluster "$dir" || return 1
	_citus_psql "$dir/sock" "$port" -c 'CREATE EXTENSION citus' || {
		credits_err "CREATE EXTENSION citus failed on the node in $dir"
		return 1
	}
	_CITUS_NODE_DIR=$dir _CITUS_NODE_PORT=$port
}

# Start a coordinator and two workers and register them.  Exports PGHOST,
# PGPORT, PGUSER, PGDATABASE (the coordinator), CREDITS_TMP and
# CREDITS_PGDATA (the coordinator's directories, as cluster_start does),
# CREDITS_CITUS_WORKER_HOSTS and CREDITS_CITUS_WORKER_PORTS (the workers'
# socket dirs and ports, space-separated, in the same order).  An exit or
# interrupt trap stops every node (KEEP_CLUSTER=1 leaves them running).
citus_cluster_start() {
	local role hosts=() ports=() sql i
	trap citus_cluster_stop EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	export PGUSER=postgres PGDATABASE=postgres
	for role in coordinator worker1 worker2; do
		credits_log "starting the Citus $role (PostgreSQL $CREDITS_PG_VERSION)"
		_citus_node_start || {
			credits_err "the Citus $role could not be started"
			return 1
		}
		hosts+=("$_CITUS_NODE_DIR/sock") ports+=("$_CITUS_NODE_PORT")
	done
	sql="SELECT citus_set_coordinator_host('127.0.0.1', ${ports[0]});"
	for ((i = 1; i < ${#ports[@]}; i++)); do
		sql+=" SELECT citus_add_node('127.0.0.1', ${ports[i]});"
	done
	_citus_psql "${hosts[0]}" "${ports[0]}" -c "$sql" >/dev/null || {
		credits_err "the workers could not be added to the coordinator"
		return 1
	}
	export PGHOST=${hosts[0]} PGPORT=${ports[0]}
	export CREDITS_TMP=${_CREDITS_CITUS_DIRS[0]} CREDITS_PGDATA=${_CREDITS_CITUS_DIRS[0]}/data
	export CREDITS_CITUS_WORKER_HOSTS="${hosts[*]:1}" CREDITS_CITUS_WORKER_PORTS="${ports[*]:1}"
	credits_log "Citus cluster up: coordinator port ${ports[0]}, workers ${ports[*]:1} (127.0.0.1)"
}

# Stop every node and remove its directory; safe to call twice.  A
# postmaster that pg_ctl could not stop is killed by the pid it recorded.
citus_cluster_stop() {
	local rc=$? dir pid i
	if [[ -n ${_CREDITS_CHILD-} ]]; then
		kill -TERM "$_CREDITS_CHILD" 2>/dev/null || true
		wait "$_CREDITS_CHILD" 2>/dev/null || true
		_CREDITS_CHILD=
	fi
	((${#_CREDITS_CITUS_DIRS[@]} == 0)) && return "$rc"
	if [[ ${KEEP_CLUSTER-} == 1 ]]; then
		local as=''
		((EUID == 0)) && as='runuser -u postgres -- '
		credits_log "KEEP_CLUSTER=1: Citus nodes left running (coordinator first): ${_CREDITS_CITUS_DIRS[*]}"
		credits_log "  connect: psql -h ${PGHOST-} -p ${PGPORT-} -U postgres"
		for dir in "${_CREDITS_CITUS_DIRS[@]}"; do
			credits_log "  stop:    $as$PGBIN/pg_ctl -D $dir/data stop && rm -rf $dir"
		done
		_CREDITS_CITUS_DIRS=() CREDITS_PGDATA='' CREDITS_TMP=''
		return "$rc"
	fi
	for dir in "${_CREDITS_CITUS_DIRS[@]}"; do
		if [[ -f $dir/data/postmaster.pid ]] && ! _credits_stop_cluster "$dir" immediate; then
			pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
			if [[ $pid =~ ^[0-9]+$ ]]; then
				credits_err "pg_ctl could not stop the node in $dir: killing postmaster $pid"
				kill -KILL "$pid" 2>/dev/null || true
				for ((i = 0; i < 50; i++)); do
					kill -0 "$pid" 2>/dev/null || break
					sleep 0.1
				done
			fi
		fi
		[[ $dir == /tmp/credits-pg.* ]] && rm -rf "$dir"
	done
	_CREDITS_CITUS_DIRS=() CREDITS_PGDATA='' CREDITS_TMP=''
	return "$rc"
}
