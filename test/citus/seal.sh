#!/usr/bin/env bash
# seal.sh: tamper evidence on a distributed ledger.  credits_seal() through
# the coordinator seals every entry of accounts on both workers once (a
# second run seals nothing), credits_verify() finds the chains whole, and an
# entry changed afterwards on its worker's shard, triggers off, is reported
# by the coordinator's credits_verify() (check "chain").  Runs against the
# coordinator in PGHOST/PGPORT (workers in CREDITS_CITUS_WORKER_HOSTS/
# _PORTS); leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits"
psql -c "SELECT credits_distribute()" >/dev/null
expect "credits.seal distributed" "$(psql -c "SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'credits.seal'::regclass")" h
for i in $(seq 1 20); do
	psql -c "SELECT credits_grant('s$i', 100)" -c "SELECT credits_spend('s$i', 7)" >/dev/null
done
# Accounts on both workers.
n=$(psql -c "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid)
	WHERE s.logicalrelid = 'credits.account'::regclass
	  AND s.shardid IN (SELECT get_shard_id_for_distribution_column('credits.account', 's' || i) FROM generate_series(1, 20) i)")
expect "workers holding the accounts" "$n" 2

expect "first seal" "$(psql -c "SELECT credits_seal()")" 40
expect "second seal" "$(psql -c "SELECT credits_seal()")" 0
expect "chains whole" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
expect "heads" "$(psql -c "SELECT count(*) FROM credits_seal_heads()")" 20
psql -c "SELECT credits_spend('s1', 1)" >/dev/null
expect "new entry sealed" "$(psql -c "SELECT credits_seal()")" 1

# Tamper with s3's spend on the worker that holds it, as a superuser with
# the triggers off.
port=$(psql -c "SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('credits.entry', 's3')")
shard=$(psql -c "SELECT shard_name('credits.entry'::regclass, get_shard_id_for_distribution_column('credits.entry', 's3'))")
for i in 0 1; do [[ ${ports[i]} == "$port" ]] && host=${hosts[i]}; done
tamper() {
	psql -h "$host" -p "$port" -c "SET citus.enable_manual_changes_to_shards = on" -c "BEGIN" \
		-c "ALTER TABLE $shard DISABLE TRIGGER ALL" \
		-c "UPDATE $shard SET amount = $1 WHERE account = 's3' AND kind = 'spend'" \
		-c "ALTER TABLE $shard ENABLE TRIGGER ALL" -c "COMMIT" >/dev/null
}
tamper 1
got=$(psql -c "SELECT check_name || ' ' || account FROM credits_verify() ORDER BY 1")
grep -qx "chain s3" <<<"$got" || fail "tampering not reported by the chain check: $got"
tamper 7
expect "restored" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: credits_seal() sealed 41 entries of 20 accounts on 2 workers once; a changed entry on a shard is reported (chain)"
