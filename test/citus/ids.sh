#!/usr/bin/env bash
# ids.sh: ids stay unique across nodes once credits_distribute() has run.
# Grants and holds for 200 accounts, spread over both workers, each call
# made through the coordinator and delegated to the account's worker; then
# every lot, entry and hold id is distinct, and the ids each worker drew lie
# in its node group's range (group g: g << 48 + 1 to (g + 1) << 48 - 1).
# A second credits_distribute() moves no sequence back.  Runs against the
# coordinator in PGHOST/PGPORT (workers in CREDITS_CITUS_WORKER_HOSTS/
# _PORTS); leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	psql -c "ALTER ROLE credits_owner NOLOGIN" >/dev/null 2>&1 || true
	psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits"
# Some ids drawn on the coordinator before distribution.
psql -c "SELECT count(credits_grant('pre' || g, 10)) FROM generate_series(1, 5) g" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null

# One statement per call, so that Citus delegates each (a psql script of
# 400 calls on one connection).
for i in $(seq 1 200); do
	echo "SELECT credits_grant('acct$i', 100);"
	echo "SELECT credits_hold('acct$i', 1, 'h$i');"
done | psql >/dev/null

# The accounts are on both workers.
expect "workers holding the accounts" "$(psql -c "
	SELECT count(DISTINCT p.nodeport) FROM generate_series(1, 200) g,
		LATERAL (SELECT nodeport FROM pg_dist_shard_placement
				 WHERE shardid = get_shard_id_for_distribution_column('credits.account', 'acct' || g)) p")" 2

# Distinct ids across the cluster.
for q in "lot_id FROM credits.lot" "entry_id FROM credits.entry" "hold_id FROM credits.hold"; do
	dup=$(psql -c "SELECT count(*) - count(DISTINCT ${q%% *}) FROM (SELECT $q) s")
	expect "ids used twice: SELECT $q" "$dup" 0
done
expect "holds" "$(psql -c "SELECT count(*) FROM credits.hold")" 200
expect "lots" "$(psql -c "SELECT count(*) FROM credits.lot")" 205

# Each worker's ids lie in its group's range: the rows of its own shards.
for i in "${!ports[@]}"; do
	w() { psql -h "${hosts[i]}" -p "${ports[i]}" "$@"; }
	g=$(w -c "SELECT groupid FROM pg_dist_local_group")
	lo=$(((g << 48) + 1)) hi=$((((g + 1) << 48) - 1))
	# Rows of the shards placed on this worker (not the pre-distribution ones).
	out=$(w -c "
		SELECT count(*), count(*) FILTER (WHERE id BETWEEN $lo AND $hi) FROM (
			SELECT lot_id AS id, account FROM credits.lot UNION ALL
			SELECT entry_id, account FROM credits.entry UNION ALL
			SELECT hold_id, account FROM credits.hold) x
		WHERE account LIKE 'acct%'
		  AND (SELECT nodeport FROM pg_dist_shard_placement
			   WHERE shardid = get_shard_id_for_distribution_column('credits.account', x.account)) = ${ports[i]}")
	n=${out%%|*} inr=${out##*|}
	((n > 0)) || fail "worker $((i + 1)) holds no ids of the test accounts"
	expect "ids of worker $((i + 1)) (group $g) in $lo..$hi" "$inr" "$n"
	expect "sequence ranges of worker $((i + 1))" "$(w -c "
		SELECT count(*) FROM pg_sequences WHERE schemaname = 'credits' AND sequencename <> 'event_log_seq'
		  AND (min_value <> $lo OR max_value <> $hi)")" 0
done

# The coordinator keeps group 0's range, from where it was.
expect "coordinator's lot sequence" "$(psql -c "SELECT min_value || ' ' || max_value || ' ' || last_value FROM pg_sequences WHERE schemaname = 'credits' AND sequencename = 'lot_id_seq'")" \
	"1 $(((1 << 48) - 1)) 5"
# A second call moves no sequence back.
state="SELECT string_agg(format('%s %s', sequencename, last_value), ',' ORDER BY sequencename) FROM pg_sequences WHERE schemaname = 'credits'"
before=$(psql -h "${hosts[0]}" -p "${ports[0]}" -c "$state")
psql -c "SELECT credits_distribute()" >/dev/null
expect "worker 1 sequences after a second call" "$(psql -h "${hosts[0]}" -p "${ports[0]}" -c "$state")" "$before"
echo "ok: 200 accounts on both workers, lot/entry/hold ids distinct, each node in its range"
