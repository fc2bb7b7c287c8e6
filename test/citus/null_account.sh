#!/usr/bin/env bash
# null_account.sh: a call with a NULL account, or with an account read
# from a one-row VALUES, through the coordinator behaves as on one node and
# crashes nothing.  Citus 13.2 delegates a call
# of a distributed function by hashing its distribution argument and does
# not check it for NULL: SELECT credits_balance(NULL) crashed the session
# (signal 11) and so restarted every session of the coordinator.  credits,
# loaded at server start after Citus, keeps such calls from being delegated
# (src/delegation.c): every delegated function is called here with NULL
# for every argument, as a literal and as a prepared statement's parameter
# (past the five custom plans), named, by default, folded from an
# expression, also as SELECT * FROM f(...); each answers
# as on one node and the coordinator never restarts.
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
cleanup() { psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
expect "the guard is loaded at server start" "$(psql -c "SELECT credits.delegation_guarded()")" t
psql -c "SELECT credits_distribute()" >/dev/null
started=$(psql -c "SELECT pg_postmaster_start_time()")

# As on one node: NULL for credits_balance, 22004 for credits_spend.
expect "credits_balance(NULL)" "$(psql -c "SELECT credits_balance(NULL) IS NULL")" t
out=$(psql -c "SELECT credits_spend(NULL, 1)" 2>&1 || true)
[[ $out == *"account must not be null"* ]] || fail "credits_spend(NULL, 1) answered: $out"
out=$(psql -c "SELECT * FROM credits_history(NULL)" 2>&1 || true)
[[ $out != *"server closed"* ]] || fail "SELECT * FROM credits_history(NULL) crashed: $out"
# named, defaulted (credits_invoices' account is NULL by default: every
# account), folded by the planner
out=$(psql -c "SELECT credits_spend(amount => 1, account => NULL)" 2>&1 || true)
[[ $out == *"account must not be null"* ]] || fail "credits_spend(amount => 1, account => NULL) answered: $out"
expect "SELECT * FROM credits_invoices()" "$(psql -c "SELECT count(*) FROM (SELECT * FROM credits_invoices()) i")" 0
expect "credits_balance(nullif('x', 'x'))" "$(psql -c "SELECT credits_balance(nullif('x', 'x')) IS NULL")" t
out=$(psql <<'SQL' 2>&1 || true
\set ON_ERROR_STOP 0
\set VERBOSITY sqlstate
PREPARE spend(text, credit_amount) AS SELECT credits_spend($1, $2);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
EXECUTE spend(NULL, 1);
PREPARE balance(text) AS SELECT credits_balance($1) IS NULL;
EXECUTE balance(NULL);
EXECUTE balance(NULL);
EXECUTE balance(NULL);
EXECUTE balance(NULL);
EXECUTE balance(NULL);
EXECUTE balance(NULL);
EXECUTE balance(NULL);
SQL
)
expect "prepared spends with a NULL account" "$(grep -c '^ERROR:  22004' <<<"$out")" 7
expect "prepared balances with a NULL account" "$(grep -c '^t$' <<<"$out")" 7

# An account read from a row source that planning folds into a constant
# (one row of VALUES) crashed too: it is not delegated either.
psql -c "SELECT credits_grant('values-1', 5)" >/dev/null
expect "credits_balance(a) FROM (VALUES ('values-1')) v(a)" \
	"$(psql -c "SELECT credits_balance(a) FROM (VALUES ('values-1')) v(a)")" 5
psql -c "SELECT credits_spend(a, 2) FROM (VALUES ('values-1')) v(a)" >/dev/null
expect "balances of two rows of VALUES" \
	"$(psql -c "SELECT string_agg(credits_balance(a)::text, ',' ORDER BY a) FROM (VALUES ('values-1'), ('values-2')) v(a)")" "3,0"

# Every delegated function (its account first, or last and optional, as
# for the functions given an id), every argument NULL, in both forms; and
# with only the arguments that have no default, NULL, the others left out
# (an account left out is NULL too).
calls=$(psql <<'SQL'
SELECT format('SELECT %s(%s);', p.oid::regproc, string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY n)) || E'\n' ||
	   format('SELECT * FROM %s(%s);', p.oid::regproc, string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY n)) || E'\n' ||
	   format('SELECT %s(%s);', p.oid::regproc, coalesce(string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY n)
			  FILTER (WHERE n <= p.pronargs - p.pronargdefaults), ''))
FROM pg_dist_object o
JOIN pg_proc p ON o.classid = 'pg_proc'::regclass AND o.objid = p.oid
CROSS JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(t, n)
WHERE o.distribution_argument_index IS NOT NULL
GROUP BY p.oid ORDER BY p.oid::regproc::text
SQL
)
n=$(grep -c '^SELECT \* FROM credits_' <<<"$calls")
((n >= 29)) || fail "only $n delegated functions found"
out=$(psql -v ON_ERROR_STOP=0 <<<"$calls" 2>&1 || true)
[[ $out != *"server closed"* && $out != *"connection to server was lost"* ]] || fail "a call crashed: $out"
expect "coordinator restarts" "$(psql -c "SELECT pg_postmaster_start_time()")" "$started"
echo "PASS: $n delegated functions called with NULL, nothing crashed"
