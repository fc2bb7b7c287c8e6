#!/usr/bin/env bash
# reports.sh: the reports answer through the coordinator of a distributed
# ledger as on one node, also inside a transaction block (where a call for
# one account is delegated to its worker, which may then read that
# account's shard only): credits_statement, credits_usage, credits_summary
# and credits_liability over accounts on both workers, with a lot that
# expired unrecorded, a hold and a cost basis.  Each answer is checked
# against the ledger's own balances.  The view credits_balances answers a
# reader and a client portal (its own account only).  Runs against the coordinator in
# PGHOST/PGPORT; leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" \
		-c "DROP ROLE IF EXISTS creports_reader" -c "DROP ROLE IF EXISTS creports_portal" >/dev/null 2>&1 || true
}
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null
t0=$(psql -c "SELECT now()")
sleep 0.1
for i in $(seq 1 8); do
	psql -c "SELECT credits_grant('r$i', 100, cost => 50, cost_currency => 'USD')" \
		-c "SELECT credits_grant('r$i', 20, expires_at => now() + interval '2 s')" \
		-c "SELECT credits_spend('r$i', $i)" >/dev/null
done
psql -c "SELECT credits_hold('r1', 10, 'order-1')" >/dev/null
n=$(psql -c "SELECT count(DISTINCT get_shard_id_for_distribution_column('credits.account', 'r' || i)) FROM generate_series(1, 8) i")
((n > 1)) || fail "the accounts share one shard"
sleep 2.5 # the 20-credit lots expire, unrecorded

for mode in plain transaction; do
	if [[ $mode == transaction ]]; then b=(-c BEGIN) e=(-c COMMIT); else b=() e=(); fi
	for i in 1 5; do
		# A statement's lines add up to its closing balance, which is the balance.
		got=$(psql "${b[@]}" -c "SELECT string_agg(kind || ':' || coalesce(amount::text, '') || ':' || balance, ' ' ORDER BY line)
			FROM credits_statement('r$i', '$t0')" "${e[@]}")
		# (The spend and the hold take from the lot that expires first.)
		want="opening::0 grant:100:100 grant:20:120 spend:$i:$((120 - i)) expire:$((20 - i)):100 closing::100"
		[[ $i == 1 ]] && want="opening::0 grant:100:100 grant:20:120 spend:1:119 hold:10:109 expire:9:100 closing::100"
		expect "credits_statement r$i ($mode)" "$got" "$want"
		got=$(psql "${b[@]}" -c "SELECT available || '/' || held FROM credits_summary('r$i')" "${e[@]}")
		expect "credits_summary r$i ($mode)" "$got" "$([[ $i == 1 ]] && echo 100/10 || echo 100/0)"
		got=$(psql "${b[@]}" -c "SELECT granted || '/' || spent || '/' || expired || '/' || net FROM credits_usage('$t0', now(), 'r$i')" "${e[@]}")
		expect "credits_usage r$i ($mode)" "$got" "120/$i/$([[ $i == 1 ]] && echo 9 || echo $((20 - i)))/100"
	done
	# Every account at once: usage nets add up to the balances.
	got=$(psql "${b[@]}" -c "SELECT count(*) || '/' || sum(net::numeric) FROM credits_usage('$t0', now())" "${e[@]}")
	expect "credits_usage, every account ($mode)" "$got" "8/800"
	# Liability: the unused credits of the lots not expired, and their share of the price.
	got=$(psql "${b[@]}" -c "SELECT accounts || '/' || outstanding || '/' || cost_basis FROM credits_liability() WHERE currency = 'USD'" "${e[@]}")
	expect "credits_liability ($mode)" "$got" "8/800/400.00"
	got=$(psql "${b[@]}" -c "SELECT coalesce(sum(outstanding::numeric), 0) FROM credits_liability('$t0')" "${e[@]}")
	expect "credits_liability before the grants ($mode)" "$got" 0
done
# The view, as a reader (not the owner of the tables) and as a portal.
psql -c "CREATE ROLE creports_reader LOGIN IN ROLE credits_reader" -c "CREATE ROLE creports_portal LOGIN" \
	-c "SELECT credits_portal_add_role('creports_portal')" -c "GRANT SELECT ON credits_balances TO creports_portal" >/dev/null
got=$(psql -c "SET ROLE creports_reader" -c "SELECT count(*) || '/' || sum(available::numeric) || '/' || sum(held::numeric) FROM credits_balances")
expect "credits_balances for a reader" "$got" "8/800/10"
got=$(psql -c "SET ROLE creports_portal" -c "SELECT set_config('credits.portal_account', 'r3', false)" \
	-c "SELECT string_agg(account || ':' || available, ' ') FROM credits_balances" | tail -n 1)
expect "credits_balances for the portal of r3" "$got" "r3:100"
psql -c "REVOKE SELECT ON credits_balances FROM creports_portal" -c "SELECT credits_portal_remove_role('creports_portal')" >/dev/null
expect "credits_verify" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: statement, summary, usage and liability through the coordinator, with and without a transaction block; the view for a reader and a portal"
