#!/usr/bin/env bash
# run_due_race.sh: eight sessions run credits_run_due() at once, over and
# over, while other sessions spend and hold on the same accounts.  Every due
# period is processed exactly once (renewals and failures add up to the
# periods due, no period twice), every due lot expires once, nothing
# deadlocks, and credits_verify() stays clean.
set -euo pipefail
DB=credits_run_due_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"

ACCOUNTS=40
psql >/dev/null <<SQL
CREATE EXTENSION credits;
CREATE TABLE runs (renewed bigint, failed bigint, expired bigint);
-- Per account: a monthly grant subscription (add or reset), a monthly
-- service of 30 that the balance pays for two periods and then cannot,
-- and a lot that expires in a moment.
SELECT credits_grant('acc-' || i, 55) FROM generate_series(1, $ACCOUNTS) i;
SELECT credits_subscribe('acc-' || i, 5, '1 month', mode => CASE WHEN i % 2 = 0 THEN 'reset' ELSE 'add' END)
FROM generate_series(1, $ACCOUNTS) i;
SELECT credits_grant('acc-' || i, 3, expires_at => clock_timestamp() + interval '2 s')
FROM generate_series(1, $ACCOUNTS) i;
SQL
# Service subscriptions in their own credit type, so that the grants above
# (and resets) do not pay for them: 70 SRV pays checkout and one renewal.
psql >/dev/null <<SQL
SELECT credits_define_type('SRV', 'Service credits', 0);
SELECT credits_grant('acc-' || i, 70, credit_type => 'SRV') FROM generate_series(1, $ACCOUNTS) i;
SELECT credits_subscribe_service('acc-' || i, 'hosting', 30, '1 month', credit_type => 'SRV')
FROM generate_series(1, $ACCOUNTS) i;
SQL
# Three months pass: every subscription's schedule moves back three months,
# so that periods 1 to 3 are due (nothing renews ahead of time).
psql >/dev/null <<'SQL'
UPDATE credits.subscription SET starts_at = starts_at - interval '3 months';
UPDATE credits.subscription
SET next_period_at = credits.period_start(starts_at, every, next_period, time_zone);
SQL
sleep 2.5

# Runs look at what was due 2, 1 or 0 months ago, so that several of them
# find work.
cat >"$WORK/run_due.sql" <<'SQL'
\set m random(0, 2)
INSERT INTO runs SELECT * FROM credits_run_due(now() - interval '1 month' * :m);
SQL
cat >"$WORK/noise.sql" <<SQL
\set a random(1, $ACCOUNTS)
DO \$\$
BEGIN
	PERFORM credits_release(credits_hold('acc-' || :a, 1, 'noise'));
	PERFORM credits_spend('acc-' || :a, 1, 'noise');
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	NULL;
END
\$\$;
SQL

"$PGBIN/pgbench" -n -c 8 -j 4 -t 6 -f "$WORK/run_due.sql" "$DB" >"$WORK/run_due.out" 2>&1 &
runs=$!
"$PGBIN/pgbench" -n -c 4 -j 2 -t 100 -f "$WORK/noise.sql" "$DB" >"$WORK/noise.out" 2>&1 &
noise=$!
wait "$runs" || { cat "$WORK/run_due.out"; fail "pgbench (run_due) reported errors"; }
wait "$noise" || { cat "$WORK/noise.out"; fail "pgbench (noise) reported errors"; }
grep -q "number of transactions actually processed: 48/48" "$WORK/run_due.out" \
	|| { cat "$WORK/run_due.out"; fail "not every run completed"; }
grep -q "number of transactions actually processed: 400/400" "$WORK/noise.out" \
	|| { cat "$WORK/noise.out"; fail "not every spend completed"; }

# A last run makes sure every period due by now is processed (runs pass
# over accounts that other sessions hold).
psql -c "INSERT INTO runs SELECT * FROM credits_run_due()"
result=$(psql -At -F' ' -c "
	SELECT (SELECT sum(renewed) FROM runs), (SELECT sum(failed) FROM runs),
	       (SELECT sum(expired) FROM runs), (SELECT count(*) FROM runs WHERE renewed > 0),
	       (SELECT count(*) FROM credits.subscription_period),
	       (SELECT count(*) FROM credits_subscriptions() WHERE periods <> 4),
	       (SELECT count(*) FROM credits_subscriptions() WHERE status = 'past_due'),
	       (SELECT count(*) FROM credits.entry WHERE kind = 'expire'),
	       (SELECT count(*) FROM credits_verify())")
read -r renewed failed expired busy periods behind past_due expire_entries problems <<<"$result"
echo "runs: $renewed renewed, $failed failed, $expired expired ($busy runs did work); $periods periods recorded, $behind subscriptions not at period 4, $past_due past due, $expire_entries expire entries; verify: $problems problems"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
# Per account: grant periods 1..3 renew (3); service period 1 is paid,
# periods 2 and 3 fail (1 renewed, 2 failed).
((renewed == 4 * ACCOUNTS)) || fail "expected $((4 * ACCOUNTS)) renewals, got $renewed"
((failed == 2 * ACCOUNTS)) || fail "expected $((2 * ACCOUNTS)) failed renewals, got $failed"
# Each due lot expires once: by a run, or first by a spend or hold on its
# account (every call that changes an account records its due expirations).
((expired <= ACCOUNTS)) || fail "runs expired $expired lots; only $ACCOUNTS were due"
((expire_entries == ACCOUNTS)) || fail "expected $ACCOUNTS expire entries, got $expire_entries"
((periods == 8 * ACCOUNTS)) || fail "expected $((8 * ACCOUNTS)) period rows, got $periods"
((behind == 0)) || fail "$behind subscriptions are not at period 4"
((past_due == ACCOUNTS)) || fail "expected $ACCOUNTS past-due subscriptions, got $past_due"
# A later run finds nothing left to do.
again=$(psql -At -F' ' -c "SELECT * FROM credits_run_due()")
[[ $again == "0 0 0" ]] || fail "a further run still found work: $again"
echo "PASS"
