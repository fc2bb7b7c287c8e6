#!/usr/bin/env bash
# caches.sh: configuration changed through the coordinator reaches the
# caches of the workers, where the delegated calls run: the switch
# (credits_set_enabled), a conversion rate (credits_set_rate, read by
# credits_pay), a credit type's scale (credits_define_type).  Each worker
# session has used the old value first, so a stale cache would answer with
# it.
#
# Runs against the coordinator in PGHOST/PGPORT (scripts/test.sh citus);
# leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
cleanup() { psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null

# One session throughout: Citus keeps its connections to the workers, so
# the worker sessions that cached the old values are the ones asked again.
out=$(psql -v ON_ERROR_STOP=0 -v VERBOSITY=sqlstate 2>&1 <<'SQL'
SELECT credits_grant(a, 100) > 0 FROM (VALUES ('cache-1'), ('cache-2'), ('cache-3'), ('cache-4')) v(a);
SELECT credits_set_rate('EUR', 10) > 0;
SELECT credits_define_type('BRZ', 'Bronze', 0);
\echo spends
SELECT credits_spend('cache-1', 1) > 0;
SELECT credits_spend('cache-2', 1) > 0;
SELECT credits_set_enabled(false);
SELECT credits_spend('cache-1', 1) > 0;
SELECT credits_spend('cache-2', 1) > 0;
SELECT credits_set_enabled(true);
SELECT credits_spend('cache-1', 1) > 0;
\echo pays
SELECT credits_applied FROM credits_pay('cache-3', 1.00, 'EUR', 'inv-1');
SELECT credits_set_rate('EUR', 20, effective_from => now()) > 0;
SELECT credits_applied FROM credits_pay('cache-3', 1.00, 'EUR', 'inv-2');
\echo types
SELECT credits_grant('cache-4', '1.5', credit_type => 'BRZ') > 0;
SELECT credits_define_type('BRZ', 'Bronze', 1);
SELECT credits_grant('cache-4', '1.5', credit_type => 'BRZ') > 0;
SQL
)
got=$(sed -n '/^spends$/,$p' <<<"$out" | grep -v '^$' | sed 's/^ERROR: *//' | paste -sd ' ' -)
expect "answers" "$got" "spends t t CR002 CR002 t pays 10 t 20 types 22023 t"
echo PASS
