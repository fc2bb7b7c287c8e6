#!/usr/bin/env bash
# bulk.sh: credits_grant_many() and credits_expire() on a distributed
# ledger.  On one node each locks all its accounts in one statement, which
# Citus refuses across shards ("could not run distributed query with FOR
# UPDATE/SHARE commands"); distributed they take one account at a time,
# each routed to its shard: the same lots, entries and events, and
# credits_verify() finds nothing.
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

# Twenty accounts (on both workers), one listed twice: 21 lots.
accounts="ARRAY(SELECT 'bulk-' || i FROM generate_series(1, 20) i) || ARRAY['bulk-1']"
expect "lots granted" "$(psql -c "SELECT credits_grant_many($accounts, 5, expires_at => clock_timestamp() + interval '1 second')")" 21
expect "workers holding them" "$(psql -c "SELECT count(DISTINCT p.nodeport) FROM generate_series(1, 20) i
	JOIN pg_dist_shard_placement p ON p.shardid = get_shard_id_for_distribution_column('credits.account', 'bulk-' || i)")" 2
expect "lots that never expire" "$(psql -c "SELECT credits_grant_many(ARRAY['bulk-1', 'bulk-2'], 3)")" 2
expect "balance of bulk-1" "$(psql -c "SELECT credits_balance('bulk-1')")" 13
expect "granted events" "$(psql -c "SELECT count(*) FROM credits_events_since(0, 1000) WHERE type = 'account.credits.granted'")" 23
sleep 1.2
expect "lots expired" "$(psql -c "SELECT credits_expire()")" 21
expect "a second run" "$(psql -c "SELECT credits_expire()")" 0
expect "balances" "$(psql -c "SELECT string_agg(credits_balance(a)::text, ',' ORDER BY a)
	FROM (VALUES ('bulk-1'), ('bulk-2'), ('bulk-3')) v(a)")" "3,3,0"
expect "expire entries of bulk-1" "$(psql -c "SELECT count(*) FROM credits.entry WHERE account = 'bulk-1' AND kind = 'expire'")" 2
expect "credits_verify()" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo PASS
