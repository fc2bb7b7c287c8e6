#!/usr/bin/env bash
# config_cache.sh: backends cache credit types, the switch, rates and portal
# roles; a change committed by another session must be seen by the next
# call of every other session.
set -euo pipefail
DB=credits_cache_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; }
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null
q "SELECT credits_set_rate('USD', 10), credits_grant('acme', 100)" >/dev/null

# Session S warms every cache.
session_open S
session_run S "SELECT 'rate ' || credits_convert(1, 'USD'); SELECT 'spend ' || (credits_spend('acme', 1) > 0);
               SELECT 'type ' || credits_balance('acme', 'CRD');"
session_out S | grep -q "^rate 10$" || { session_out S; fail "warm-up"; }

# Other sessions change each cached table.
q "SELECT credits_set_rate('USD', 12)" >/dev/null
q "SELECT credits_define_type('HRS', 'Hours', 2)" >/dev/null
q "SELECT credits_set_enabled(false)" >/dev/null
q "CREATE ROLE cache_portal_$$ NOLOGIN" >/dev/null
q "SELECT credits_portal_add_role('cache_portal_$$')" >/dev/null

session_run S "SELECT 'rate2 ' || credits_convert(1, 'USD');"
session_run S "SELECT 'hrs ' || credits_balance('acme', 'HRS');"
session_run S "SELECT credits_spend('acme', 1);"
session_run S "SET ROLE cache_portal_$$; SELECT credits_balance('acme'); RESET ROLE;"
out=$(session_out S)
grep -q "^rate2 12$" <<<"$out" || { echo "$out"; fail "the new rate was not seen"; }
grep -q "^hrs 0$" <<<"$out" || { echo "$out"; fail "the new credit type was not seen"; }
grep -q "credit payments are disabled" <<<"$out" || { echo "$out"; fail "the switch was not seen"; }
grep -q "portal callers must set credits.portal_account" <<<"$out" || { echo "$out"; fail "the portal role was not seen"; }
session_close S
q "SELECT credits_set_enabled(true); SELECT credits_portal_remove_role('cache_portal_$$')" >/dev/null
q "DROP ROLE cache_portal_$$" >/dev/null
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "rate, credit type, switch and portal role changes were seen by a warmed-up session"
echo "PASS"
