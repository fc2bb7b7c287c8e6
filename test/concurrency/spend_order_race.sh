#!/usr/bin/env bash
# spend_order_race.sh: a spend that waits for the account lock must see what
# the lock holder committed.  A grants a sooner-expiring lot while B's spend
# waits; once A commits, B must take its credits from that new lot, not from
# the lot it would have chosen before waiting.
set -euo pipefail
DB=credits_order_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; }
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null
q "SELECT credits_grant('acc', 100, reason => 'never expires')" >/dev/null

for round in 1 2 3; do
	session_open "A$round"
	session_open "B$round"
	session_run "A$round" "SET credits.notify = off; BEGIN; SELECT credits_grant('acc', 10, expires_at => now() + interval '$((4 - round)) days', reason => 'soon $round');"
	if session_run "B$round" "SET credits.notify = off; SELECT credits_spend('acc', 5, 'B$round');" 1; then
		fail "round $round: B's spend did not wait for A's lock"
	fi
	session_run "A$round" "COMMIT;"
	session_run "B$round" "SELECT 'B done';" 10 || fail "round $round: B never finished"
	session_out "B$round" | grep -q ERROR && { session_out "B$round"; fail "round $round: B failed"; }
	drawn=$(q "SELECT string_agg(l.reason || ':' || al.amount, ' ') FROM credits.allocation al
	           JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
	           JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	           WHERE e.reference = 'B$round'")
	[[ $drawn == "soon $round:5" ]] || fail "round $round: B drew '$drawn', expected 'soon $round:5'"
	session_close "A$round"
	session_close "B$round"
done
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "3 rounds: each waiting spend took the sooner-expiring lot committed while it waited"
echo "PASS"
