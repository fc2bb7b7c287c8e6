#!/usr/bin/env bash
# features.sh: the features of 1.2 on a distributed ledger, through the
# coordinator, for an account on each worker.
#  - priority and scope: a lot restricted to a service pays only for it
#    (a plain spend is refused with CR001 and the ledger unchanged, a spend
#    for the service takes both, in priority order), balances per service;
#  - resets that keep something, and the order of lots across nodes: a
#    reset delegated to the worker keeps its rollover; a lot made after it
#    on the coordinator (credits_grant_many runs there, numbering from the
#    coordinator's node group, so its id is lower than the worker's) is not
#    closed by the reset: verify finds nothing and a hold released to it
#    stays; the next reset closes it;
#  - auto top-up: a spend crossing the threshold asks once (one pending
#    request, one event through the coordinator's outbox), accepting it
#    (a call given only the request id) grants the package;
#  - the functions given an id, naming the account, delegated and mixed
#    with delegated calls in one transaction block.
# credits_verify() returns no rows at the end.  Runs against the
# coordinator in PGHOST/PGPORT (scripts/test.sh citus); leaves the database
# as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }
# the SQLSTATE of a failing statement
sqlstate() {
	local out
	if out=$(psql -v VERBOSITY=verbose -c "$1" 2>&1); then
		echo "no error"
	else
		sed -n 's/^.*ERROR:  \([0-9A-Z]\{5\}\):.*$/\1/p' <<<"$out" | head -n 1
	fi
}

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits"
psql -c "SELECT credits_distribute()" >/dev/null

# An account name on each worker, for each part.
node_of() {
	psql -c "SELECT p.nodeport FROM pg_dist_shard_placement p
		WHERE p.shardid = get_shard_id_for_distribution_column('credits.account', '$1')"
}
pick() { # PREFIX: one name per worker port, printed in worker order
	local prefix=$1 n p found=()
	declare -A by_port=()
	for n in $(seq 1 60); do
		p=$(node_of "$prefix-$n")
		[[ -z ${by_port[$p]-} ]] && by_port[$p]=$prefix-$n
		((${#by_port[@]} == 2)) && break
	done
	((${#by_port[@]} == 2)) || fail "no $prefix account on each worker"
	for p in "${!by_port[@]}"; do found+=("${by_port[$p]}"); done
	echo "${found[@]}"
}
ledger() { # ACCOUNT: entries and lots, to show a refused call changed nothing
	psql -c "SELECT (SELECT count(*) FROM credits.entry WHERE account = '$1') || '/' ||
		(SELECT string_agg(remaining::text, ',' ORDER BY lot_id) FROM credits.lot WHERE account = '$1')"
}

# 1. Priority and scope.
read -r -a accts <<<"$(pick scope)"
for a in "${accts[@]}"; do
	psql -c "SELECT credits_grant('$a', 10, applies_to => ARRAY['ai'])" \
		-c "SELECT credits_grant('$a', 5, priority => 1)" >/dev/null
	expect "$a: balance (every lot)" "$(psql -c "SELECT credits_balance('$a')")" 15
	expect "$a: balance for ai" "$(psql -c "SELECT credits_balance('$a', service => 'ai')")" 15
	expect "$a: balance for search" "$(psql -c "SELECT credits_balance('$a', service => 'search')")" 5
	before=$(ledger "$a")
	expect "$a: a plain spend beyond the unrestricted lots" "$(sqlstate "SELECT credits_spend('$a', 12)")" CR001
	expect "$a: the refused spend changed nothing" "$(ledger "$a")" "$before"
	psql -c "SELECT credits_spend('$a', 12, service => 'ai')" >/dev/null
	# priority 0 (the restricted lot) first, then the lot of priority 1
	expect "$a: lots after a spend for ai" \
		"$(psql -c "SELECT string_agg(remaining::text || ' ' || coalesce(array_to_string(applies_to, ','), 'any'), ', ' ORDER BY lot_id)
			FROM credits.lot WHERE account = '$a'")" "0 ai, 3 any"
	expect "$a: balance for ai after" "$(psql -c "SELECT credits_balance('$a', service => 'ai')")" 3
done
echo "ok: scope and priority on both workers (${accts[*]})"

# 2. Resets that keep something, and lots made on another node after one.
psql -c "SELECT credits_define_rule('plan', 100, 'reset', rollover => 30)" \
	-c "SELECT credits_define_rule('plan', 100, 'reset', variant => 'zero', rollover => 0)" >/dev/null
read -r -a accts <<<"$(pick reset)"
for a in "${accts[@]}"; do
	psql -c "SELECT credits_grant('$a', 50)" -c "SELECT credits_issue('$a', 'plan', 'INV-$a-1')" >/dev/null
	expect "$a: after a reset keeping 30" "$(psql -c "SELECT credits_balance('$a')")" 130
	# a lot made on the coordinator, after the reset on the worker
	psql -c "SELECT credits_grant_many(ARRAY['$a'], 5, reason => 'coordinator')" >/dev/null
	expect "$a: node groups of the lots (worker, worker, coordinator)" \
		"$(psql -c "SELECT string_agg(CASE WHEN lot_id >> 48 = 0 THEN 'c' ELSE 'w' END, '' ORDER BY granted_at, lot_id)
			FROM credits.lot WHERE account = '$a'")" wwc
	expect "$a: balance with the coordinator's lot" "$(psql -c "SELECT credits_balance('$a')")" 135
	expect "$a: verify after the coordinator's lot" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
	psql -c "SELECT credits_spend('$a', 130)" >/dev/null
	h=$(psql -c "SELECT credits_hold('$a', 3, 'order-$a')")
	psql -c "SELECT credits_release($h)" >/dev/null
	expect "$a: a hold released to the coordinator's lot stays" "$(psql -c "SELECT credits_balance('$a')")" 5
	expect "$a: no reset entry for it" \
		"$(psql -c "SELECT count(*) FROM credits.entry WHERE account = '$a' AND kind = 'reset'")" 1
	psql -c "SELECT credits_issue('$a', 'plan', 'INV-$a-2', variant => 'zero')" >/dev/null
	expect "$a: the next reset closes it" \
		"$(psql -c "SELECT string_agg(remaining::text, ',' ORDER BY granted_at, lot_id) FROM credits.lot
			WHERE account = '$a'")" "0,0,0,100"
	expect "$a: balance after the second reset" "$(psql -c "SELECT credits_balance('$a')")" 100
done
expect "verify after resets" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: resets keep their rollover on both workers; a lot the coordinator made after one is not closed by it"

# 3. Auto top-up.
psql -c "SELECT credits_define_package('Refill', 100, 'USD', 10.00)" >/dev/null
read -r -a accts <<<"$(pick topup)"
ev0=$(psql -c "SELECT coalesce(max(event_id), 0) FROM credits_events_since(0, 100000)")
for a in "${accts[@]}"; do
	psql -c "SELECT credits_grant('$a', 50)" -c "SELECT credits_set_auto_topup('$a', 20, 'Refill', 'stripe')" >/dev/null
	psql -c "SELECT credits_spend('$a', 25)" >/dev/null
	expect "$a: above the threshold" "$(psql -c "SELECT count(*) FROM credits_requests('$a')")" 0
	psql -c "SELECT credits_spend('$a', 10)" -c "SELECT credits_spend('$a', 1)" >/dev/null
	expect "$a: one pending top-up" \
		"$(psql -c "SELECT package || ' ' || credits::text || ' ' || status FROM credits_requests('$a')")" "Refill 100 pending"
	r=$(psql -c "SELECT request_id FROM credits_requests('$a')")
	psql -c "SELECT credits_accept_request($r)" >/dev/null
	expect "$a: balance after the top-up" "$(psql -c "SELECT credits_balance('$a')")" 114
done
expect "top-up events through the coordinator" \
	"$(psql -c "SELECT count(*) FROM credits_events_since($ev0, 100000) WHERE type = 'account.credits.topup_requested'")" 2
expect "verify at the end" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: auto top-up on both workers, once each, its events published by the coordinator"

# 4. The functions given an id, naming the account: delegated like the
# others (each alone in its statement, as every delegated call), so they
# mix with delegated calls in one transaction block (given
# only the id, such a call runs on the coordinator as the ledger's owner,
# and Citus refuses it after a delegated call wrote the account's shard).
read -r -a accts <<<"$(pick byid)"
for a in "${accts[@]}"; do
	psql -c "SELECT credits_grant('$a', 20)" >/dev/null
	got=$(psql <<SQL
BEGIN;
SELECT credits_hold('$a', 8, 'order-$a') AS h \gset
SELECT credits_capture(:h, 5, account => '$a') AS c \gset
SELECT credits_spend('$a', 2, 'order-$a-2') AS e \gset
SELECT credits_reverse(:e, account => '$a') AS r \gset
SELECT credits_balance('$a');
COMMIT;
SQL
)
	expect "$a: hold, capture, spend and reverse in one transaction" "$got" 15
	# given only the id, in a transaction of its own: on the coordinator
	h=$(psql -c "SELECT credits_hold('$a', 1, 'order-$a-3')")
	psql -c "SELECT credits_release($h)" >/dev/null
	expect "$a: released by id alone" "$(psql -c "SELECT credits_balance('$a')")" 15
	expect "$a: named with another account, the hold is not found" \
		"$(sqlstate "SELECT credits_release($h, account => '${accts[0]}x')")" 42704
done
expect "verify after the calls given an id" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: the functions given an id, naming the account, run in one transaction block with delegated calls"
