# sessions.bash: helpers for multi-session tests (sourced, not run).
# session_open NAME starts a psql session fed from a FIFO; session_run NAME
# SQL sends SQL and waits until the session has executed it (session_send
# NAME SQL does not wait); session_out NAME prints its output so far;
# session_close NAME ends it.
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SESSION_DIR=$(mktemp -d)
declare -A SESSION_FD

session_open() {
	local name=$1 fd
	mkfifo "$SESSION_DIR/$name.in"
	"$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=0 -d "$DB" \
		<"$SESSION_DIR/$name.in" >"$SESSION_DIR/$name.out" 2>&1 &
	exec {fd}>"$SESSION_DIR/$name.in"
	SESSION_FD[$name]=$fd
}

# Send SQL without waiting for it (it runs while the caller goes on).
session_send() {
	printf '%s\n' "$2" >&"${SESSION_FD[$1]}"
}

# Send SQL; wait (up to $3 seconds, default 20) until a marker printed after
# it appears, i.e. until the statement has finished.  Returns 1 on timeout
# (the statement is still running: it waits for a lock).
session_run() {
	local name=$1 sql=$2 limit=${3:-20} marker i
	marker="done-$RANDOM$RANDOM"
	printf '%s\n\\echo %s\n' "$sql" "$marker" >&"${SESSION_FD[$name]}"
	for ((i = 0; i < limit * 20; i++)); do
		grep -q "^$marker\$" "$SESSION_DIR/$name.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

session_out() { grep -v '^done-' "$SESSION_DIR/$1.out"; }

session_close() {
	local name=$1
	printf '\\q\n' >&"${SESSION_FD[$name]}" 2>/dev/null || true
	exec {SESSION_FD[$name]}>&- 2>/dev/null || true
}

sessions_cleanup() {
	local n
	for n in "${!SESSION_FD[@]}"; do session_close "$n"; done
	wait 2>/dev/null || true
	rm -rf "$SESSION_DIR"
}
