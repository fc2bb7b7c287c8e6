#!/usr/bin/env bash
# test/citus/explore/distribute.sh: what happens to credits 1.1 on Citus as it
# is today.  Not a test (it passes whatever Citus answers): it records, step
# by step, which statement works and which fails with which error, as the
# input of the distributed design.
#
# Starts its own coordinator and two workers (scripts/citus.sh; builds Citus
# if needed), then:
#   1. CREATE EXTENSION credits on the coordinator; is it on the workers?
#   2. each table distributed naively, alone, in a rolled-back transaction
#      (per-account tables by account co-located with credits.account,
#      configuration tables as reference tables): the error each one meets;
#   3. the order and settings that distribute them all;
#   4. the API called through the coordinator, one statement each;
#   5. create_distributed_function for per-account functions, and the API
#      again, delegated;
#   6. what the ledger looks like afterwards (ids across shards, verify).
# Prints a log of every step and ends with a table: step | result | error.
# Usage: bash test/citus/explore/distribute.sh [> report.md]
#        KEEP_CLUSTER=1 leaves the cluster running afterwards.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
source "$here/../../../scripts/lib.sh"
# shellcheck source=scripts/citus.sh
source "$CREDITS_ROOT/scripts/citus.sh"

credits_setup || exit 1
citus_install || exit 1
citus_cluster_start || exit 1
read -r -a WHOSTS <<<"$CREDITS_CITUS_WORKER_HOSTS"
read -r -a WPORTS <<<"$CREDITS_CITUS_WORKER_PORTS"

RESULTS=$(mktemp /tmp/credits-explore.XXXXXX)
trap 'rm -f "$RESULTS"; citus_cluster_stop' EXIT

psql_c() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# Run SQL on worker i (0, 1).
psql_w() { local i=$1; shift; psql_c -h "${WHOSTS[i]}" -p "${WPORTS[i]}" "$@"; }

# step LABEL SQL [WHY]: run SQL (statements, psql commands) on the
# coordinator in one psql session (ON_ERROR_STOP: a failing statement ends it); log the SQL and its
# output, and record LABEL | works/FAILS | the output or the error (ERROR,
# DETAIL and the first lines of CONTEXT) | WHY (the cause, as analysed).
# The output (first line) is left in OUT for later steps.
OUT=
step() {
	local label=$1 sql=$2 why=${3-} out rc=0 err
	out=$(psql_c <<<"$sql" 2>&1) || rc=$?
	# shellcheck disable=SC2016 # backquotes of markdown
	printf '\n### %s\n```sql\n%s\n```\n```\n%s\n```\n' "$label" "$sql" "$out"
	OUT=$(head -n 1 <<<"$out")
	if ((rc == 0)); then
		printf '%s\tworks\t%s\t%s\n' "$label" "$(head -c 160 <<<"$out" | tr '\n\t' '; ')" "$why" >>"$RESULTS"
	else
		err=$(grep -E '^(psql:[^ ]* )?(ERROR|DETAIL|CONTEXT):|^(SQL statement|PL/pgSQL|SQL function|while )' <<<"$out" |
			sed -E 's/^psql:[^ ]* //; s/[[:space:]]+/ /g' | cut -c1-260 | head -n 4 | paste -sd ' ' -)
		printf '%s\tFAILS\t%s\t%s\n' "$label" "${err:-$out}" "$why" >>"$RESULTS"
	fi
	return "$rc"
}

# note LABEL TEXT: a finding that is no statement.
note() {
	printf '\n### %s\n%s\n' "$1" "$2"
	printf '%s\tnote\t%s\t\n' "$1" "$2" >>"$RESULTS"
}

# on_all_nodes LABEL SQL: run SQL on every node (coordinator and workers)
# with DDL propagation off, so that each node runs it exactly once.
on_all_nodes() {
	local label=$1 sql=$2 rc=0
	# shellcheck disable=SC2016 # backquotes of markdown
	printf '\n### %s (every node)\n```sql\n%s\n```\n' "$label" "$sql"
	psql_c -c "SET citus.enable_ddl_propagation = off; $sql" || rc=1
	psql_w 0 -c "SET citus.enable_ddl_propagation = off; $sql" || rc=1
	psql_w 1 -c "SET citus.enable_ddl_propagation = off; $sql" || rc=1
	printf '%s\t%s\t%s\t\n' "$label" "$( ((rc == 0)) && echo 'workaround' || echo 'FAILS')" "every node: $sql" >>"$RESULTS"
}

PER_ACCOUNT=(account lot entry allocation idempotency event request issue account_reset hold subscription subscription_period)
CONFIG=(credit_type setting portal_role rate package product price_tier rule)
SETTINGS="SET LOCAL client_min_messages = warning;"
UNSAFE_TRIGGERS="SET LOCAL citus.enable_unsafe_triggers = on;"
NO_LOCAL_REF_FK="SET LOCAL citus.enable_local_reference_table_foreign_keys = off;"
dist_sql() {
	if [[ $1 == account ]]; then
		echo "SELECT create_distributed_table('credits.account', 'account');"
	else
		echo "SELECT create_distributed_table('credits.$1', 'account', colocate_with => 'credits.account');"
	fi
}
ref_sql() { echo "SELECT create_reference_table('credits.$1');"; }
all_ref_sql() { local t; for t in "${CONFIG[@]}"; do ref_sql "$t"; done; }
all_dist_sql() { local t; for t in "${PER_ACCOUNT[@]}"; do dist_sql "$t"; done; }

echo "# credits on Citus $CREDITS_CITUS_VERSION: exploration"
echo "coordinator port $PGPORT, workers ${WPORTS[*]}; credits $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$CREDITS_ROOT/credits.control")"

## 1. The extension, and a ledger made before distribution
echo; echo "## 1. CREATE EXTENSION through the coordinator"
step "create extension credits (coordinator)" "CREATE EXTENSION credits"
for i in 0 1; do
	note "worker $((i + 1)) after CREATE EXTENSION" "$(psql_w "$i" -c "
		SELECT 'extension ' || coalesce((SELECT extversion FROM pg_extension WHERE extname = 'credits'), 'absent')
		    || '; roles ' || (SELECT string_agg(rolname || CASE WHEN rolcanlogin THEN '(login)' ELSE '' END, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'credits%')")"
done
note "tables of schema credits" "$(psql_c -c "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'")"
note "per-account tables (account in the primary key)" "$(psql_c -c "
	SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p'
	WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r'
	  AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'account' AND a.attnum = ANY (k.conkey))")"
step "ledger before distribution (single node)" "
	SELECT count(credits_grant('pre' || g, 100)) AS grants FROM generate_series(1, 20) g;
	SELECT count(credits_spend('pre' || g, 10)) AS spends FROM generate_series(1, 20) g;
	SELECT credits_set_rate('USD', 10) AS rate_id, credits_define_package('Starter', 500, 'USD', 50.00) AS package_id;"

## 2. Naive: each table alone with the defaults (rolled back)
echo; echo "## 2. Each table alone, Citus defaults (rolled back)"
for t in "${PER_ACCOUNT[@]}"; do
	pre=''
	[[ $t == account ]] || pre=$(dist_sql account)
	why=''
	case $t in
	entry | allocation | subscription_period) why='append-only triggers (refuse_change): Citus refuses tables with triggers unless citus.enable_unsafe_triggers' ;;
	request) why='FKs to lot (distributed later), package and product (still local)' ;;
	esac
	step "alone: distribute $t" "BEGIN; $SETTINGS $pre $(dist_sql "$t") ROLLBACK;" "$why"
done
for t in "${CONFIG[@]}"; do
	why=''
	case $t in
	credit_type | setting | rate | portal_role) why='cache-invalidation (and append-only) triggers' ;;
	package | product | price_tier) why='a local table has an FK to it (request, price_tier): Citus turns the FK graph into citus local tables and tries to create them on the workers, where CREATE EXTENSION already made them' ;;
	esac
	step "alone: reference $t" "BEGIN; $SETTINGS $(ref_sql "$t") ROLLBACK;" "$why"
done

## 3. What distributes everything
echo; echo "## 3. Distributing every table"
step "all, unsafe triggers only (rolled back)" "BEGIN; $SETTINGS $UNSAFE_TRIGGERS $(all_ref_sql) $(all_dist_sql) ROLLBACK;" \
	'citus.enable_local_reference_table_foreign_keys (on by default) converts request/price_tier, which reference package/product, to citus local tables'
step "all, per-account tables first (rolled back)" "BEGIN; $SETTINGS $UNSAFE_TRIGGERS $NO_LOCAL_REF_FK $(all_dist_sql) $(all_ref_sql) ROLLBACK;" \
	'request references package and product: they must be reference tables before request is distributed'
step "all, in one statement (rolled back)" "BEGIN; $SETTINGS $UNSAFE_TRIGGERS $NO_LOCAL_REF_FK
	SELECT count(create_reference_table(('credits.' || t)::regclass)) FROM unnest(string_to_array('${CONFIG[*]}', ' ')) t;
	SELECT create_distributed_table('credits.account', 'account');
	SELECT count(*) FROM (SELECT create_distributed_table(('credits.' || t)::regclass, 'account', colocate_with => 'credits.account')
		FROM unnest(string_to_array('${PER_ACCOUNT[*]:1}', ' ')) WITH ORDINALITY u(t, n) ORDER BY n) d;
	ROLLBACK;"
step "all: reference tables, then account, then the rest co-located (committed)" \
	"BEGIN; $SETTINGS $UNSAFE_TRIGGERS $NO_LOCAL_REF_FK $(all_ref_sql) $(all_dist_sql) COMMIT;" \
	'needs citus.enable_unsafe_triggers = on and citus.enable_local_reference_table_foreign_keys = off, and this order'
note "distributed tables" "$(psql_c -c "SELECT string_agg(logicalrelid::text || ':' || CASE partmethod WHEN 'n' THEN 'reference' ELSE 'by account, colocation ' || colocationid END, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'credits.%'")"
note "shards" "$(psql_c -c "SELECT count(*) || ' shards, ' || count(*) FILTER (WHERE shardminvalue IS NULL) || ' of reference tables' FROM pg_dist_shard WHERE logicalrelid::text LIKE 'credits.%'")"
step "truncate_local_data_after_distributing_table(account)" "SELECT truncate_local_data_after_distributing_table('credits.account')" \
	'the coordinator keeps the pre-distribution rows in the shell table until truncated'
step "truncate_local_data_after_distributing_table(entry)" "SELECT truncate_local_data_after_distributing_table('credits.entry')" \
	'entry_no_truncate (ENABLE ALWAYS) refuses the truncate of the local copy'
for i in 0 1; do
	note "sequences on worker $((i + 1))" "$(psql_w "$i" -c "SELECT string_agg(sequencename || ' from ' || start_value || ' last ' || coalesce(last_value::text, 'unused'), ', ' ORDER BY sequencename) FROM pg_sequences WHERE schemaname = 'credits'")"
done
note "sequences distributed by Citus (pg_dist_object)" "$(psql_c -c "SELECT coalesce(string_agg(objid::regclass::text, ' '), 'none') FROM pg_dist_object WHERE classid = 'pg_class'::regclass AND objid::regclass::text LIKE 'credits.%'")"

## 4. The API through the coordinator (no function delegated)
echo; echo "## 4. The API through the coordinator"
step "credits_balance (as installed)" "SELECT credits_balance('pre1')" \
	'access.c loads portal roles with a subquery on pg_roles; Citus deparses the view into pg_authid for the (local) shard query, which credits_owner may not read'
on_all_nodes "exploration workaround W1: credits_owner may read pg_authid" "GRANT SELECT ON pg_authid TO credits_owner"
step "credits_balance (after W1)" "SELECT credits_balance('pre1')" \
	'definer code runs as credits_owner: Citus connects to the workers as the current user, and credits_owner is NOLOGIN'
on_all_nodes "exploration workaround W2: credits_owner LOGIN" "ALTER ROLE credits_owner LOGIN"
step "credits_balance" "SELECT credits_balance('pre1')"
step "credits_grant alice" "SELECT credits_grant('alice', 100)"
step "credits_grant bob" "SELECT credits_grant('bob', 100, expires_at => now() + interval '1 day')"
note "placement of alice, bob" "$(psql_c -c "SELECT string_agg(a || ' on port ' || p.nodeport, ', ') FROM unnest(ARRAY['alice', 'bob']) a, LATERAL (SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('credits.account', a)) p")"
step "credits_spend" "SELECT credits_spend('alice', 10, 'ref1')" \
	'the fast path runs credits.spend_lots() (SPI on lot, entry, event, allocation) inside the UPDATE of account that Citus routes to the shard: a distributed query nested in a shard query'
step "exploration workaround W3: ALTER ROLE credits_owner SET citus.allow_nested_distributed_execution" \
	"ALTER ROLE credits_owner SET citus.allow_nested_distributed_execution = on" \
	'propagated to the workers; applies to the connections Citus opens as credits_owner'
step "credits_spend (after W3)" "SELECT credits_spend('alice', 10, 'ref1')" \
	'spend_lots runs on the worker and draws entry_id from the worker sequence (starts at 1)'
SPEND_ID=$OUT
[[ $SPEND_ID =~ ^[0-9]+$ ]] || SPEND_ID=NULL
step "credits_spend timing (3 spends, after W3)" "\\timing on
SELECT credits_spend('alice', 1); SELECT credits_spend('alice', 1); SELECT credits_spend('alice', 1);"
step "credits_balance alice" "SELECT credits_balance('alice')"
step "credits_history alice" "SELECT * FROM credits_history('alice')"
step "credits_hold" "SELECT credits_hold('alice', 5, 'h1')"
HOLD_ID=$OUT
[[ $HOLD_ID =~ ^[0-9]+$ ]] || HOLD_ID=NULL
step "credits_capture (its id)" "SELECT credits_capture($HOLD_ID)"
step "credits_capture in a query on credits.hold" "SELECT credits_capture((SELECT max(hold_id) FROM credits.hold WHERE account = 'alice'))" \
	'the scalar subquery makes the statement a router query on the shard of alice: Citus pushes the whole statement, credits_capture() included, to the worker, where its queries are nested distributed queries'
step "credits_release(credits_hold())" "SELECT credits_release(credits_hold('alice', 5, 'h2'))"
step "credits_set_rate + credits_convert (same session)" "SELECT credits_set_rate('EUR', 2); SELECT credits_convert(5, 'EUR'); SELECT credits_set_rate('EUR', 3); SELECT credits_convert(5, 'EUR');"
step "credits_set_enabled(false)" "SELECT credits_set_enabled(false)" \
	'INSERT ... ON CONFLICT DO UPDATE SET updated_at = now() on a reference table: Citus wants IMMUTABLE functions in DO UPDATE SET'
step "credits_define_type" "SELECT credits_define_type('GLD', 'Gold', 2)" 'ON CONFLICT DO UPDATE ... updated_at = now() (same cause)'
step "credits_define_package (redefine)" "SELECT credits_define_package('Starter', 600, 'USD', 55.00)"
step "credits_define_price_tier" "SELECT credits_define_price_tier('api', 1, 0.10, 'USD')"
step "credits_define_rule" "SELECT credits_define_rule('hosting', 100, 'add')"
step "credits_expire" "SELECT credits_grant('carol', 10, expires_at => now() + interval '1 second'); SELECT pg_sleep(1.5); SELECT credits_expire();" \
	'locks the due accounts with one multi-shard SELECT ... FOR UPDATE SKIP LOCKED'
step "credits_grant_many" "SELECT credits_grant_many(ARRAY['m1', 'm2', 'm3'], 5)" \
	'locks the accounts with one multi-shard SELECT ... FOR UPDATE'
step "credits_events_since" "SELECT count(*), count(DISTINCT event_id) FROM credits_events_since(0, 10000); SELECT count(*) FROM credits.event;" \
	'one query per shard (32); credits.event_horizon() (snapshot xmin << 22) is evaluated on each worker'
step "credits_verify" "SELECT * FROM credits_verify()" 'a VALUES list with non-immutable expressions joined to distributed tables'
step "credits_liability (now, nothing held)" "SELECT * FROM credits_liability()"
step "credits_liability (past instant)" "SELECT * FROM credits_liability(now() - interval '1 minute')" \
	'credits.lot_unused() is a SQL function with parameters over distributed tables'
step "credits_liability (now, credits held)" "SELECT credits_hold('bob', 1, 'h-open'); SELECT * FROM credits_liability();" \
	'with an account holding credits, liability_lots() takes its LATERAL credits.lot_unused() branch (same cause)'
step "credits_reverse (the spend's id)" "SELECT credits_reverse($SPEND_ID); SELECT 'reversed', account, related_id FROM credits.entry WHERE kind = 'reversal';" \
	"the spend's entry_id $SPEND_ID came from a worker sequence; entries of other accounts have the same id, and the look-up by id (every shard) takes whichever it meets first: alice's spend or another account's grant"
step "spends on two workers in one transaction" "BEGIN; SELECT credits_spend('alice', 1); SELECT credits_spend('bob', 1); COMMIT;" \
	'spend_lots queued a NOTIFY on each worker; the commit is two-phase and PostgreSQL cannot PREPARE a transaction that sent NOTIFY'
step "same with SET LOCAL credits.notify = off" "BEGIN; SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL credits.notify = off; SELECT credits_spend('alice', 1); SELECT credits_spend('bob', 1); COMMIT;"

## 5. Delegation: create_distributed_function
echo; echo "## 5. create_distributed_function"
for f in 'credits_spend(text,credit_amount,text,text,text)' \
	'credits_grant(text,credit_amount,text,timestamptz,text,text,text,numeric,text)' \
	'credits_balance(text,text,timestamptz)' \
	'credits_hold(text,credit_amount,text,text,text)' \
	'credits_history(text,text)' \
	'credits_pay(text,numeric,text,text,boolean,text,text)'; do
	step "create_distributed_function ${f%%(*}" "SELECT create_distributed_function('$f', 'account', colocate_with => 'credits.account')"
done
step "capture has no account argument" "SELECT create_distributed_function('credits_capture(bigint,credit_amount)', 'hold_id', colocate_with => 'credits.account')" \
	'functions given only an id cannot be routed by account'
step "delegated credits_grant dave" "SET citus.log_remote_commands = on; SET client_min_messages = log; SELECT credits_grant('dave', 50)" \
	'delegated: the whole call runs on the worker; lot id from the worker sequence'
step "delegated credits_spend dave" "SELECT credits_spend('dave', 5)" \
	'the delegated session logs in as the caller (postgres), not credits_owner: the role setting of W3 does not apply there'
on_all_nodes "exploration workaround W4: nested execution for every session" "ALTER DATABASE postgres SET citus.allow_nested_distributed_execution = on"
step "delegated credits_spend dave (after W4), timed" "\\timing on
SELECT credits_spend('dave', 5); SELECT credits_spend('dave', 5); SELECT credits_spend('dave', 5);" \
	'each nested statement opens a connection from the worker (as credits_owner) to the shard'
step "credits_spend inside a transaction block" "SET citus.log_remote_commands = on; SET client_min_messages = log; BEGIN; SELECT credits_spend('dave', 1); COMMIT;" \
	'no delegation inside a transaction block (create_distributed_function without force_delegation)'
step "delegated credits_balance / credits_history" "SELECT credits_balance('dave'); SELECT count(*) FROM credits_history('dave');"
step "delegated credits_hold" "SELECT credits_hold('dave', 2, 'h3')"
# Caches on the workers: session A (one psql, so its worker connections
# stay open) warms the caches of its worker backends, another session
# changes the configuration, A calls again.
other() { printf '\\! %s/psql -X -q -A -t -c "%s"\n' "$PGBIN" "$1"; }
step "rate cache on the workers (delegated credits_pay, rate changed by another session)" "SELECT credits_set_rate('EUR', 7);
SELECT 'before', credits_applied FROM credits_pay('dave', 1, 'EUR', 'inv1');
$(other "SELECT credits_set_rate('EUR', 9)")
SELECT 'after', credits_applied FROM credits_pay('dave', 1, 'EUR', 'inv2');" \
	'7 then 9 is the right answer: the new rate reached the cache of the worker backend'
step "switch cache on the workers (setting written directly: credits_set_enabled fails)" "SELECT 'before', credits_spend('dave', 1);
$(other "INSERT INTO credits.setting (name, value) VALUES ('enabled', 'off')")
SELECT 'after', credits_spend('dave', 1);" \
	'CR002 on the second spend is the right answer: the switch reached the cache of the worker backend'
step "switch back on" "DELETE FROM credits.setting WHERE name = 'enabled'"
step "delegated credits_hold dave" "SELECT credits_hold('dave', 1, 'h4')"
HOLD_ID=$OUT
[[ $HOLD_ID =~ ^[0-9]+$ ]] || HOLD_ID=NULL
step "delegated credits_capture by hold_id (co-located by the id)" "SET citus.log_remote_commands = on; SET client_min_messages = log; SELECT credits_capture($HOLD_ID);" \
	'Citus accepted a bigint argument co-located with the text account column: it routes by the hash of the id to some worker, which then looks the hold up in every shard (nested, multi-shard)'
step "force_delegation: credits_grant" "SELECT create_distributed_function('credits_grant(text,credit_amount,text,timestamptz,text,text,text,numeric,text)', 'account', colocate_with => 'credits.account', force_delegation => true)"
step "force_delegation: two accounts on one worker in a transaction" "SET citus.log_remote_commands = on; SET client_min_messages = log; BEGIN; SELECT credits_grant('dave', 1); SELECT credits_grant('alice', 1); COMMIT;"
step "force_delegation: two accounts on two workers in a transaction" "BEGIN; SELECT credits_grant('dave', 1); SELECT credits_grant('bob', 1); COMMIT;" \
	'a forced-delegation transaction is pinned to the node of its first call'
step "outbox: events written after a consumer page" "CREATE TEMP TABLE seen AS SELECT id, account FROM credits.event;
SELECT max(event_id) FROM credits_events_since(0, 100000) \\gset
SELECT credits_spend('dave', 1); SELECT credits_spend('bob', 1); SELECT credits_grant('erin', 1);
SELECT count(*) AS written_after FROM credits.event WHERE (id, account) NOT IN (SELECT id, account FROM seen);
SELECT count(*) AS seen_after_page FROM credits_events_since(:max, 100000);
SELECT count(*) AS numbered_below_page FROM credits.event WHERE (id, account) NOT IN (SELECT id, account FROM seen) AND id <= :max;" \
	'event ids are xid << 22 of the node that wrote them: delegated calls number them from the workers xids, which are unrelated to the coordinators'

## 6. The ledger afterwards
echo; echo "## 6. The ledger afterwards"
step "entry ids used twice" "SELECT entry_id, string_agg(account || ':' || kind, ', ') FROM credits.entry GROUP BY entry_id HAVING count(*) > 1 ORDER BY entry_id" \
	'entry_id_seq of the coordinator and of each worker all start at 1'
step "lot ids used twice" "SELECT lot_id, string_agg(account, ', ') FROM credits.lot GROUP BY lot_id HAVING count(*) > 1 ORDER BY lot_id"
step "hold ids used twice" "SELECT hold_id, string_agg(account, ', ') FROM credits.hold GROUP BY hold_id HAVING count(*) > 1 ORDER BY hold_id"
step "event ids used twice" "SELECT id, string_agg(account || ':' || type, ', ') FROM credits.event GROUP BY id HAVING count(*) > 1 ORDER BY id"

echo; echo "## Summary"
echo
echo "| step | result | output or error | cause |"
echo "|---|---|---|---|"
while IFS=$'\t' read -r label result text why; do
	printf '| %s | %s | %s | %s |\n' "$label" "$result" "${text//|/\\|}" "${why//|/\\|}"
done <"$RESULTS"
