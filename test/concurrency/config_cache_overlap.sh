#!/usr/bin/env bash
# config_cache_overlap.sh: a change to the switch, a rate, the credit types or
# the portal roles, committed while session S has a statement or transaction
# running, is seen by S's next statement (READ COMMITTED and REPEATABLE READ),
# and a renamed portal role stays a portal role.
set -euo pipefail
DB=credits_overlap_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
P=cache_ovl_portal_$$		# the portal role
M=cache_ovl_member_$$		# a member of it
P2=cache_ovl_renamed_$$		# a portal role that is renamed to $P2R
P2R=cache_ovl_renamed2_$$
M2=cache_ovl_member2_$$
fail() { echo "FAIL: $*"; exit 1; }
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
cleanup() {
	local r
	sessions_cleanup
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	for r in "$M" "$M2" "$P" "$P2" "$P2R"; do
		"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null
q "SELECT credits_set_rate('USD', 10), credits_grant('acme', 100)" >/dev/null
q "CREATE ROLE $P NOLOGIN" >/dev/null
q "CREATE ROLE $M NOLOGIN IN ROLE $P, credits_reader" >/dev/null
# outcome(sql): 'ok <result>' or '<SQLSTATE> <message>'.  The error is caught
# in a subtransaction, so a transaction under test goes on.  STABLE: its
# query runs under the calling statement's snapshot, as if called directly
# (a VOLATILE one would take a new snapshot, which hides stale caches).
q "CREATE FUNCTION outcome(sql text) RETURNS text LANGUAGE plpgsql STABLE AS '
DECLARE
	r text;
BEGIN
	EXECUTE sql INTO r;
	RETURN ''ok '' || coalesce(r, '''');
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || '' '' || SQLERRM;
END'" >/dev/null

# What S checks: the rate (at the moment of the call, not at the start of
# its transaction), credit type $2, the switch and the portal role.
CONVERT="outcome('SELECT credits_convert(1, ''USD'', at => clock_timestamp())::text')"
SPEND="outcome('SELECT credits_spend(''acme'', 1)::text')"
balance() { echo "outcome('SELECT credits_balance(''acme'', ''$1'')::text')"; }
PORTAL="outcome('SELECT credits_balance(''acme'')::text')"

# checks LABEL TYPE: S's next statements, one per cache.
checks() {
	session_run S "SELECT '$1-rate ' || $CONVERT;" || fail "$1: S is stuck"
	session_run S "SELECT '$1-type ' || $(balance "$2");"
	session_run S "SELECT '$1-spend ' || $SPEND;"
	session_run S "SET ROLE $M; SELECT '$1-portal ' || $PORTAL; RESET ROLE;"
}

# expect LABEL RATE: what checks LABEL must have printed after change RATE.
expect() {
	local out line
	out=$(session_out S)
	for line in "$1-rate ok $2" "$1-type ok 0" \
		"$1-spend CR002 credit payments are disabled" \
		"$1-portal 42501 portal callers must set credits.portal_account"; do
		grep -qxF "$line" <<<"$out" || { echo "$out"; fail "$1: expected '$line'"; }
	done
}

# change RATE TYPE: another session commits a new rate, a new credit type,
# the switch off and the portal role, in one transaction.
change() {
	q "SELECT credits_set_rate('USD', $1); SELECT credits_define_type('$2', '$2', 2);
	   SELECT credits_set_enabled(false); SELECT credits_portal_add_role('$P')" >/dev/null
}

# The statement of S that sleeps must still run when the change commits.
running() {
	[[ $(q "SELECT state FROM pg_stat_activity WHERE pid = $SPID") == active ]] ||
		fail "$1: S's statement was not running $2 the change (machine too slow?)"
}

# overlap LABEL RATE TYPE: S's sleeping statement (sent just before) is
# running while change RATE TYPE commits.
overlap() {
	sleep 1
	running "$1" before
	change "$2" "$3"
	running "$1" after
	session_run S "SELECT '$1-slept';" 30 || fail "$1: the sleeping statement did not end"
}

restore() {
	q "SELECT credits_set_enabled(true); SELECT credits_portal_remove_role('$P')" >/dev/null
}

session_open S
session_run S "SELECT 'pid ' || pg_backend_pid();"
SPID=$(session_out S | sed -n 's/^pid //p')
[[ $SPID =~ ^[0-9]+$ ]] || { session_out S; fail "no pid for S"; }

# a. READ COMMITTED, autocommit: S warms its caches, they are invalidated,
#    and S's next statement reloads them while it runs, after the change has
#    committed but under a snapshot taken before it.
session_run S "SELECT 'warm ' || $CONVERT || ' ' || $SPEND || ' ' || $(balance CRD);"
session_out S | grep -q '^warm ok 10 ok [0-9]* ok [0-9]*$' || { session_out S; fail "warm-up"; }
q "SELECT credits_set_rate('USD', 11); SELECT credits_define_type('AAA', 'AAA');" >/dev/null
restore
session_send S "SELECT pg_sleep(6) IS NULL, $CONVERT, $(balance CRD), $SPEND;"
overlap A1 12 HRS
checks A1 HRS
expect A1 12

# b. READ COMMITTED transaction: S warms its caches in the transaction, and
#    a statement of it sleeps while the change commits.
restore
session_run S "BEGIN ISOLATION LEVEL READ COMMITTED;"
session_run S "SELECT 'A2-warm ' || $CONVERT || ' ' || $SPEND || ' ' || $(balance CRD);"
session_out S | grep -q '^A2-warm ok 12 ok [0-9]* ok [0-9]*$' || { session_out S; fail "A2 warm-up"; }
session_send S "SELECT pg_sleep(6);"
overlap A2 13 MIN
checks A2 MIN
expect A2 13
session_run S "COMMIT;"

# c. The same in a REPEATABLE READ transaction: its snapshot predates the
#    change, yet the caches must not.
restore
session_run S "BEGIN ISOLATION LEVEL REPEATABLE READ;"
session_run S "SELECT 'B-warm ' || $CONVERT || ' ' || $SPEND || ' ' || $(balance CRD);"
session_out S | grep -q '^B-warm ok 13 ok [0-9]* ok [0-9]*$' || { session_out S; fail "B warm-up"; }
session_send S "SELECT pg_sleep(6);"
overlap B 14 DAY
checks B DAY
expect B 14
session_run S "COMMIT;"
restore

# d. Portal roles are kept by OID: renaming one does not lift the
#    restriction, for a new session or for S.
q "CREATE ROLE $P2 NOLOGIN" >/dev/null
q "CREATE ROLE $M2 NOLOGIN IN ROLE $P2, credits_reader" >/dev/null
q "SELECT credits_portal_add_role('$P2')" >/dev/null
q "ALTER ROLE $P2 RENAME TO $P2R" >/dev/null
[[ $(q "SELECT string_agg(role::text, ',') FROM credits.portal_role") == "$P2R" ]] ||
	fail "credits.portal_role does not show the new name"
out=$(q "SET ROLE $M2; SELECT $PORTAL")
[[ $out == "42501 portal callers must set credits.portal_account" ]] ||
	fail "a new session: the renamed portal role lost its restriction: $out"
session_run S "SET ROLE $M2; SELECT 'C-portal ' || $PORTAL; RESET ROLE;"
session_out S | grep -qxF "C-portal 42501 portal callers must set credits.portal_account" ||
	{ session_out S; fail "S: the renamed portal role lost its restriction"; }
q "SELECT credits_portal_remove_role('$P2R')" >/dev/null
out=$(q "SET ROLE $M2; SELECT $PORTAL")
[[ $out =~ ^ok\ [0-9]+$ ]] || fail "removing the renamed portal role did not lift the restriction: $out"

session_close S
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "changes committed during a statement or transaction were seen by its next statement"
echo "PASS"
