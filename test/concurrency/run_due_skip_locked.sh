#!/usr/bin/env bash
# run_due_skip_locked.sh: a slow transaction that holds one account's lock
# holds up nobody else's due work.  Session A spends from account x and
# keeps its transaction open; meanwhile credits_run_due() finishes at once,
# renewing and expiring the other accounts and passing over x, and
# credits_expire() passes over x too.  Once A commits, the next run renews
# and expires x: each period and each lot exactly once.
set -euo pipefail
DB=credits_skip_locked_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
q() { "$PGBIN/psql" -X -q -A -t -F' ' -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
cleanup() {
	sessions_cleanup
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
# Accounts x, y, z: 10 credits, a daily subscription of 5 whose second
# period starts in 5 seconds, and 3 credits that expire in 5 seconds.
q "CREATE EXTENSION credits" >/dev/null
q "CREATE TABLE due AS SELECT now() + interval '5 s' AS at" >/dev/null
q "SELECT credits_grant(a, 10), credits_grant(a, 3, expires_at => (SELECT at FROM due)),
	credits_subscribe(a, 5, '1 day', starts_at => (SELECT at FROM due) - interval '1 day')
	FROM unnest(ARRAY['x', 'y', 'z']) a" >/dev/null

# A: a slow application transaction on x (the first account in lock order).
session_open A
session_run A "BEGIN; SELECT credits_spend('x', 1) > 0 AS a_spent;" || fail "A could not spend"
q "SELECT pg_sleep(greatest(0, extract(epoch FROM (SELECT at FROM due) - clock_timestamp())) + 0.5)" >/dev/null

# B: the due work does not wait for x.
session_open B
session_run B "SET statement_timeout = '30s'; SELECT 'run1', * FROM credits_run_due();" 10 \
	|| fail "credits_run_due() waits for the lock that A holds"
session_run B "SELECT 'expire1', credits_expire();" 10 \
	|| fail "credits_expire() waits for the lock that A holds"
out=$(session_out B)
echo "$out"
grep -q '^run1|2|0|2$' <<<"$out" || fail "the first run did not renew and expire y and z (and only them)"
grep -q '^expire1|0$' <<<"$out" || fail "credits_expire() found work other than x's"
grep -q 'credits_run_due: 1 account was locked by another transaction' <<<"$out" \
	|| fail "credits_run_due() did not report the account it passed over"
grep -q 'credits_expire: 1 account was locked by another transaction' <<<"$out" \
	|| fail "credits_expire() did not report the account it passed over"
[[ $(q "SELECT periods FROM credits_subscriptions('x')") == 1 ]] || fail "x was renewed while A held it"

# A commits; the next run picks x up, once.
session_run A "COMMIT;" || fail "A could not commit"
second=$(q "SELECT * FROM credits_run_due()")
third=$(q "SELECT * FROM credits_run_due()")
echo "after A committed: $second; again: $third"
[[ $second == "1 0 1" ]] || fail "the next run did not renew and expire x: $second"
[[ $third == "0 0 0" ]] || fail "a further run still found work: $third"
state=$(q "SELECT string_agg(account || ':' || periods, ' ' ORDER BY account) FROM credits_subscriptions()")
[[ $state == "x:2 y:2 z:2" ]] || fail "periods per subscription: $state"
history=$(q "SELECT string_agg(kind || ' ' || amount, ', ' ORDER BY entry_id) FROM credits_history('x')")
echo "x: $history"
[[ $history == "grant 10, grant 3, grant 5, spend 1, expire 2, grant 5" ]] || fail "unexpected history of x"
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "PASS"
