#!/usr/bin/env bash
# two_workers.sh: one application transaction that spends from two accounts
# held by two different workers commits (Citus commits it in two phases on
# both), and one that fails leaves both accounts as they were.  A worker
# that had sent NOTIFY could not take part in a two-phase commit
# ("cannot PREPARE a transaction that has executed LISTEN, UNLISTEN, or
# NOTIFY"): on a distributed ledger no event is notified, consumers poll
# credits_events_since(), which still lists the events.
#
# Runs against the coordinator in PGHOST/PGPORT, workers in
# CREDITS_CITUS_WORKER_HOSTS/_PORTS (scripts/test.sh citus); leaves the
# database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
cleanup() { psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null

# Two accounts on two different workers.
node_of() {
	psql -c "SELECT p.nodeport FROM pg_dist_shard_placement p
		WHERE p.shardid = get_shard_id_for_distribution_column('credits.account', '$1')"
}
a=acct1
b=''
for i in $(seq 2 50); do
	if [[ $(node_of "acct$i") != "$(node_of "$a")" ]]; then
		b=acct$i
		break
	fi
done
[[ -n $b ]] || fail "no two accounts on two workers"
psql -c "SELECT credits_grant('$a', 100)" -c "SELECT credits_grant('$b', 100)" >/dev/null

# One transaction, both workers, with credits.notify on (its default).
psql >/dev/null <<SQL || fail "a transaction spending on two workers did not commit"
BEGIN;
SELECT credits_spend('$a', 10, 'order-1');
SELECT credits_spend('$b', 20, 'order-1');
COMMIT;
SQL
expect "balance of $a" "$(psql -c "SELECT credits_balance('$a')")" 90
expect "balance of $b" "$(psql -c "SELECT credits_balance('$b')")" 80

# One that fails on its second spend changes neither account.
if psql >/dev/null 2>&1 <<SQL; then
BEGIN;
SELECT credits_spend('$a', 10, 'order-2');
SELECT credits_spend('$b', 1000, 'order-2');
COMMIT;
SQL
	fail "a spend beyond the balance succeeded"
fi
expect "balance of $a after the failed transaction" "$(psql -c "SELECT credits_balance('$a')")" 90
expect "balance of $b after the failed transaction" "$(psql -c "SELECT credits_balance('$b')")" 80

# The events are there for a consumer that polls.
expect "spent events" "$(psql -c "SELECT count(*) FROM credits_events_since(0, 1000) WHERE type = 'account.credits.spent'")" 2
echo PASS
