#!/usr/bin/env bash
# scripts/devdb.sh: a persistent dev cluster in /tmp/credits-dev (port 54400), same settings as the test clusters.
# Usage: scripts/devdb.sh start|stop|status|env; then eval "$(scripts/devdb.sh env)" (scripts/test.sh then reuses it).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEV_DIR=/tmp/credits-dev
DEV_PORT=54400
DEV_SOCK=$DEV_DIR/sock

print_env() {
	printf 'export PGHOST=%q PGPORT=%q PGUSER=postgres\n' "$DEV_SOCK" "$DEV_PORT"
	# Makes scripts/test.sh and scripts/demo.sh reuse this cluster instead of a throwaway one.
	printf 'export CREDITS_PGHOST=%q CREDITS_PGPORT=%q\n' "$DEV_SOCK" "$DEV_PORT"
}

case ${1-} in
start)
	if _credits_ready "$DEV_SOCK" "$DEV_PORT"; then
		credits_log "dev cluster already running in $DEV_DIR (port $DEV_PORT)"
	else
		credits_install_packages
		if [[ ! -f $DEV_DIR/data/PG_VERSION ]]; then
			mkdir -p "$DEV_DIR"
			((EUID == 0)) && chown postgres:postgres "$DEV_DIR"
			credits_log "creating the dev cluster in $DEV_DIR"
			_credits_init_cluster "$DEV_DIR" "$DEV_PORT"
		fi
		credits_log "starting the dev cluster (port $DEV_PORT)"
		_credits_start_cluster "$DEV_DIR"
	fi
	credits_log "use it with: eval \"\$(scripts/devdb.sh env)\"; build and install with: make install"
	;;
stop)
	if [[ -f $DEV_DIR/data/postmaster.pid ]]; then
		_credits_stop_cluster "$DEV_DIR" fast
		credits_log "dev cluster stopped (data kept in $DEV_DIR; rm -rf it for a fresh one)"
	else
		credits_log "dev cluster is not running"
	fi
	;;
status)
	if _credits_ready "$DEV_SOCK" "$DEV_PORT"; then
		echo "running: $DEV_DIR (socket dir $DEV_SOCK, port $DEV_PORT, log $DEV_DIR/postgres.log)"
	else
		if [[ -f $DEV_DIR/data/PG_VERSION ]]; then
			echo "not running (data kept in $DEV_DIR/data)"
		else
			echo "not running (no cluster created yet)"
		fi
		exit 1
	fi
	;;
env)
	_credits_ready "$DEV_SOCK" "$DEV_PORT" ||
		credits_err "the dev cluster is not running: start it with scripts/devdb.sh start"
	print_env
	;;
*)
	echo "usage: $0 start|stop|status|env" >&2
	exit 2
	;;
esac
