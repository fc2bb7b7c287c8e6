#!/usr/bin/env bash
# outbox_order.sh: transactions that commit out of id order.  A takes its
# xid first but writes its event last; B writes and commits first.  A
# consumer paging by the last id it saw must still get both events, and B
# must not wait for A.
set -euo pipefail
DB=credits_outbox_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; }
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null
q "SELECT credits_grant('a', 100), credits_grant('b', 100)" >/dev/null
last=$(q "SELECT coalesce(max(event_id), 0) FROM credits_events_since(0)")

session_open A
session_open B
session_run A "SET credits.notify = off; BEGIN; SELECT 'xid ' || pg_current_xact_id();"
session_run B "SET credits.notify = off; BEGIN; SELECT credits_spend('b', 1, 'B');" 5 \
	|| fail "B waited for A"
session_run B "COMMIT;" 5 || fail "B's commit waited for A"

# The consumer polls now: B's event is committed but must not be shown yet,
# because A (older xid, still open) could commit an event with a lower id.
seen=$(q "SELECT string_agg(payload->>'reference', ',' ORDER BY event_id) FROM credits_events_since($last)")
[[ -z $seen ]] || fail "consumer saw '$seen' while an older transaction was still open"
page_last=$(q "SELECT coalesce(max(event_id), $last) FROM credits_events_since($last)")

session_run A "SELECT credits_spend('a', 1, 'A'); COMMIT;" 5 || fail "A could not finish"

# Paging from what it had seen, the consumer now gets both, A's first.
seen=$(q "SELECT string_agg(payload->>'reference', ',' ORDER BY event_id) FROM credits_events_since($page_last)")
[[ $seen == "A,B" ]] || fail "expected events A,B after A committed, got '$seen'"
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "consumer saw nothing while A was open, then A,B in id order; B never waited"
echo "PASS"
