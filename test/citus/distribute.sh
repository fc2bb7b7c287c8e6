#!/usr/bin/env bash
# distribute.sh: credits_distribute() on a Citus coordinator that already
# holds a ledger.  Every per-account table ends up distributed by account and
# co-located with credits.account, every other table of schema credits a
# reference table but credits.event_log, which stays the coordinator's own;
# the data stays whole and readable through the coordinator, the
# coordinator's local copies are emptied, the triggers are
# as they were; a second call changes nothing; the functions that take an
# account first are delegated; the define functions and credits_set_enabled
# work on the reference tables.  A credits_admin that is no superuser is
# refused (42501) before anything is distributed.  Runs against the coordinator in
# PGHOST/PGPORT (workers in CREDITS_CITUS_WORKER_HOSTS/_PORTS); leaves the
# database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
# Run SQL on every node (coordinator first), without DDL propagation.
on_all() {
	psql -c "SET citus.enable_ddl_propagation = off" -c "$1"
	for i in "${!ports[@]}"; do
		psql -h "${hosts[i]}" -p "${ports[i]}" -c "SET citus.enable_ddl_propagation = off" -c "$1"
	done
}
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	on_all "ALTER ROLE credits_owner NOLOGIN" >/dev/null 2>&1 || true
	psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# expect WHAT GOT WANT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits"

# A ledger with data on every kind of table, before distribution.
psql >/dev/null <<'SQL'
SELECT credits_define_type('GLD', 'Gold', 2);
SELECT credits_set_rate('USD', 10);
SELECT credits_define_package('Starter', 500, 'USD', 50.00);
SELECT credits_define_price_tier('api', 1, 0.10, 'USD');
SELECT credits_define_rule('hosting', 100, 'add');
SELECT count(credits_grant('pre' || g, 100)) FROM generate_series(1, 40) g;
SELECT count(credits_spend('pre' || g, g)) FROM generate_series(1, 40) g;
SELECT credits_hold('pre1', 5, 'h1');
SELECT credits_grant('pre2', 3.5::credit_amount, 'GLD');
SQL
before=$(psql -c "SELECT md5(string_agg(format('%s %s %s', account, credit_type, balance), ',' ORDER BY account, credit_type)) FROM credits.account")
# (A call alone in its statement, SELECT f(account ...), is what Citus delegates.)
history_before=$(psql -c "SELECT credits_history('pre7')")
entries=$(psql -c "SELECT count(*) FROM credits.entry")
# A consumer that has read the first 30 events, its cursor the 30th id.
events=$(psql -c "SELECT count(*) FROM credits_events_since(0, 100000)")
cursor=$(psql -c "SELECT max(event_id) FROM (SELECT event_id FROM credits_events_since(0, 30)) e")

# A credits_admin that is no superuser is refused on the coordinator
# (42501: Citus distributes as the caller), and nothing is distributed.
psql -c "CREATE ROLE regress_distribute_admin NOLOGIN IN ROLE credits_admin" >/dev/null
got=$(psql -v VERBOSITY=verbose -c "SET ROLE regress_distribute_admin" -c "SELECT credits_distribute()" 2>&1 || true)
psql -c "DROP ROLE regress_distribute_admin" >/dev/null
grep -q '^ERROR:  42501: permission denied: credits_distribute() must be run by a superuser' <<<"$got" ||
	fail "a credits_admin that is no superuser: $got"
expect "distributed by a refused call" \
	"$(psql -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'credits.%'")" 0

psql -c "SELECT credits_distribute()" >/dev/null


# Every table of schema credits: per-account tables by account, co-located
# with credits.account; the others reference tables.
wrong=$(psql <<'SQL'
SELECT string_agg(c.relname || ' ' || coalesce(d.partmethod::text, 'local'), ', ' ORDER BY c.relname)
FROM pg_class c
LEFT JOIN pg_dist_partition d ON d.logicalrelid = c.oid::regclass
WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
  AND (CASE WHEN EXISTS (SELECT FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
						  WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attname = 'account')
			THEN d.partmethod = 'h' AND d.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'credits.account'::regclass)
				 AND column_to_column_name(d.logicalrelid, d.partkey) = 'account'
			WHEN c.relname = 'event_log' THEN d.partmethod IS NULL	-- the coordinator's own
			ELSE d.partmethod = 'n' END) IS NOT TRUE
SQL
)
expect "tables not distributed as they should be" "$wrong" ""
n=$(psql -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'credits.%' AND partmethod = 'h'")
((n >= 12)) || fail "$n per-account tables distributed, want 12 or more"

# The data, through the coordinator.
expect "balances after distribution" \
	"$(psql -c "SELECT md5(string_agg(format('%s %s %s', account, credit_type, balance), ',' ORDER BY account, credit_type)) FROM credits.account")" "$before"
expect "entries after distribution" "$(psql -c "SELECT count(*) FROM credits.entry")" "$entries"
expect "history of pre7 (delegated)" \
	"$(psql -c "SELECT credits_history('pre7')")" "$history_before"
expect "balance of pre7 (delegated)" "$(psql -c "SELECT credits_balance('pre7')")" 93
expect "balance of pre1 (delegated)" "$(psql -c "SELECT credits_balance('pre1')")" 94
expect "GLD of pre2 (delegated)" "$(psql -c "SELECT credits_balance('pre2', 'GLD')")" 3.5
expect "package" "$(psql -c "SELECT name || ' ' || credits FROM credits.package")" "Starter 500"

# The coordinator's own copies are empty; the append-only triggers are back.
expect "rows left in the coordinator's tables" "$(psql -c "
	SELECT coalesce(string_agg(c.relname, ', '), '') FROM pg_class c
	WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r' AND pg_relation_size(c.oid) > 0
	  AND c.relname <> 'event_log'")" ""
expect "TRUNCATE triggers" "$(psql -c "
	SELECT string_agg(tgname || ' ' || tgenabled::text, ', ' ORDER BY tgname) FROM pg_trigger
	WHERE tgrelid IN ('credits.entry'::regclass, 'credits.allocation'::regclass, 'credits.rate'::regclass,
					  'credits.subscription_period'::regclass) AND tgname LIKE '%no_truncate'")" \
	"allocation_no_truncate A, entry_no_truncate A, rate_no_truncate A, subscription_period_no_truncate A"

# Delegated, co-located with the accounts.
n=$(psql -c "SELECT count(*) FROM pg_dist_object o JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
	WHERE p.proname IN ('credits_grant', 'credits_spend', 'credits_balance', 'credits_history', 'credits_hold', 'credits_pay')
	  AND o.distribution_argument_index = 0 AND o.force_delegation
	  AND o.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'credits.account'::regclass)")
expect "delegated functions among grant, spend, balance, history, hold, pay" "$n" 6

# A second call: harmless, nothing changes.
state="SELECT string_agg(format('%s %s %s', logicalrelid, partmethod, colocationid), ',' ORDER BY logicalrelid::text) FROM pg_dist_partition;
	SELECT string_agg(format('%s %s %s %s', sequencename, min_value, max_value, last_value), ',' ORDER BY sequencename) FROM pg_sequences WHERE schemaname = 'credits';
	SELECT count(*) FROM pg_dist_shard"
s1=$(psql -c "$state")
psql -c "SELECT credits_distribute()" >/dev/null || fail "the second credits_distribute() failed"
expect "state after a second call" "$(psql -c "$state")" "$s1"
expect "balance of pre7 after a second call" "$(psql -c "SELECT credits_balance('pre7')")" 93

# Configuration on the reference tables.  These calls run on the
# coordinator, whose definer code connects to the workers as credits_owner:
# credits_distribute() let it log in, on every node.
logins=$(psql -c "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'credits_owner'")
for i in "${!ports[@]}"; do
	logins+=" $(psql -h "${hosts[i]}" -p "${ports[i]}" -c "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'credits_owner'")"
done
expect "credits_owner can log in on every node" "$logins" "t t t"
psql >/dev/null <<'SQL'
SELECT credits_set_enabled(false);
SELECT credits_set_enabled(true);
SELECT credits_define_type('GLD', 'Golden', 2);
SELECT credits_define_package('Starter', 600, 'USD', 55.00);
SELECT credits_define_price_tier('api', 1, 0.20, 'USD');
SELECT credits_define_rule('hosting', 200, 'add');
SQL
expect "configuration after redefinitions" "$(psql -c "
	SELECT (SELECT name FROM credits.credit_type WHERE code = 'GLD') || ' ' ||
		   (SELECT credits FROM credits.package WHERE name = 'Starter') || ' ' ||
		   (SELECT unit_price FROM credits.price_tier WHERE product = 'api') || ' ' ||
		   (SELECT credits FROM credits.rule WHERE service = 'hosting') || ' ' ||
		   (SELECT value FROM credits.setting WHERE name = 'enabled')")" "Golden 600 0.20 200 on"
expect "credits_enabled()" "$(psql -c "SELECT credits_enabled()")" t

# The consumer's cursor still holds: after it, exactly the events it had
# not read, then the new ones.
psql -c "SELECT credits_grant('pre3', 1)" >/dev/null
expect "events after the cursor, through the coordinator" \
	"$(psql -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE account = 'pre3' AND payload->>'amount' = '1')
		FROM credits_events_since($cursor, 100000)")" "$((events - 30 + 1)) 1"
expect "the new event comes last" \
	"$(psql -c "SELECT account FROM credits_events_since($cursor, 100000) ORDER BY event_id DESC LIMIT 1")" pre3
echo "ok: distributed with its data, co-located, reference tables, second call harmless, configuration works, consumers' cursors hold"
