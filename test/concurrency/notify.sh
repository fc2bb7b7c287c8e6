#!/usr/bin/env bash
# notify.sh: a listening session receives NOTIFY credits_events (event id
# and type) when the writing transaction commits, not before; with
# credits.notify off nothing is sent.
set -euo pipefail
DB=credits_notify_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
"$PGBIN/psql" -X -q -d "$DB" -c "CREATE EXTENSION credits"

session_open L
session_open W
session_run L "LISTEN credits_events;"
session_run W "BEGIN; SELECT credits_grant('n-1', 10, reason => 'notify test');"
session_run L "SELECT 'poll-1';"
if session_out L | grep -q 'Asynchronous notification'; then
	fail "notification delivered before commit"
fi
session_run W "COMMIT;"
sleep 0.3
session_run L "SELECT 'poll-2';"
line=$(session_out L | grep 'Asynchronous notification' || true)
[[ -n $line ]] || { session_out L; fail "no notification after commit"; }
payload=$(sed -n 's/.*with payload "\([^"]*\)".*/\1/p' <<<"$line")
id=${payload%% *}
type=${payload#* }
[[ $type == account.credits.granted ]] || fail "unexpected type in payload '$payload'"
found=$("$PGBIN/psql" -X -A -t -d "$DB" -c "SELECT type FROM credits_events_since($id - 1, 1)")
[[ $found == account.credits.granted ]] || fail "payload id $id does not name the event"

# credits.notify = off: the event is written, no notification is sent.
session_run W "SET credits.notify = off; SELECT credits_grant('n-1', 5);"
sleep 0.3
session_run L "SELECT 'poll-3';"
n=$(session_out L | grep -c 'Asynchronous notification' || true)
[[ $n == 1 ]] || fail "expected no further notification with credits.notify off, got $n in all"
echo "notification '$payload' arrived after commit only; none with credits.notify off"
echo "PASS"
