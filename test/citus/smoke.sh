#!/usr/bin/env bash
# smoke.sh: the Citus cluster of `scripts/test.sh citus` is usable: Citus
# answers on the coordinator, both workers are active, and the credits
# extension installs through the coordinator (Citus creates it on the
# workers too).  Runs against the coordinator in PGHOST/PGPORT, workers in
# CREDITS_CITUS_WORKER_HOSTS/_PORTS; leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null ||
	fail "could not create the extensions on the coordinator"
v=$(psql -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'")
[[ $v == 13.2-* ]] || fail "citus extension version is '$v', want 13.2-*"
n=$(psql -c "SELECT count(*) FROM citus_get_active_worker_nodes()")
[[ $n == 2 ]] || fail "$n active worker nodes, want 2"
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
((${#hosts[@]} == 2 && ${#ports[@]} == 2)) || fail "CREDITS_CITUS_WORKER_HOSTS/_PORTS do not name 2 workers"
for i in 0 1; do
	w=$(psql -h "${hosts[i]}" -p "${ports[i]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'credits'")
	[[ -n $w ]] || fail "credits was not created on the worker at port ${ports[i]}"
done
b=$(psql -c "SELECT credits_balance('smoke')")
[[ $b == 0 ]] || fail "credits_balance('smoke') is '$b' on a new ledger, want 0"
echo "ok: Citus $v, 2 active workers, credits installed"
