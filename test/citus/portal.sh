#!/usr/bin/env bash
# portal.sh: a client portal through the coordinator of a distributed
# ledger.  A delegated call runs on the worker, in a session of its own:
# a portal account set for the session (SET credits.portal_account) does
# not reach it, and the call is refused -- never answered for another
# account.  Set in the transaction (SET LOCAL) with
# citus.propagate_set_commands = 'local', it reaches the worker: the portal
# reads and spends its own account, and another account is refused (42501)
# as on one node.  The outbox, read on the coordinator, shows the portal
# its own account's events only.
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
cleanup() {
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" \
		-c "DROP ROLE IF EXISTS citus_portal_test" >/dev/null 2>&1 || true
}
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null
psql >/dev/null <<'SQL'
SET client_min_messages = warning;
DROP ROLE IF EXISTS citus_portal_test;
CREATE ROLE citus_portal_test LOGIN;
GRANT credits_reader, credits_operator TO citus_portal_test;
SELECT credits_portal_add_role('citus_portal_test');
SELECT credits_grant('alice', 10);
SELECT credits_grant('bob', 5);
SQL

as_portal() { psql -v VERBOSITY=sqlstate -c "SET ROLE citus_portal_test" "$@" 2>&1 || true; }

# Set for the session: the worker does not see it, the call is refused.
out=$(as_portal -c "SET credits.portal_account = 'alice'" -c "SELECT credits_balance('alice')")
[[ $out == *ERROR*42501* ]] || fail "a session-level portal account answered through the coordinator: $out"

# Set in the transaction, propagated: its own account, and only that one.
in_transaction() { # sql: run by the portal, its account set in the transaction
	as_portal -c "BEGIN" -c "SET LOCAL citus.propagate_set_commands = 'local'" \
		-c "SET LOCAL credits.portal_account = 'alice'" -c "$1" -c "COMMIT"
}
expect "the portal's balance" "$(in_transaction "SELECT credits_balance('alice')")" 10
expect "the portal's spend" "$(in_transaction "SELECT credits_spend('alice', 3) > 0")" t
out=$(in_transaction "SELECT credits_balance('bob')")
[[ $out == *ERROR*42501* ]] || fail "the portal read another account: $out"
out=$(in_transaction "SELECT credits_spend('bob', 1)")
[[ $out == *ERROR*42501* ]] || fail "the portal spent from another account: $out"
expect "balances" "$(psql -c "SELECT credits_balance('alice') || ' ' || credits_balance('bob')")" "7 5"

# The outbox on the coordinator: its own account's events only.
expect "the portal's events" \
	"$(as_portal -c "SET credits.portal_account = 'alice'" -c "SELECT string_agg(DISTINCT account, ',') FROM credits_events_since(0)")" alice
echo PASS
