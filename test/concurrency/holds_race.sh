#!/usr/bin/env bash
# holds_race.sh: eight sessions hold, spend, capture, release and reverse on
# one small account at once.  No call deadlocks or fails unexpectedly, the
# available balance is never overdrawn (no running balance below zero),
# account.held always equals the open holds, and credits_verify() stays
# clean.
set -euo pipefail
DB=credits_holds_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
psql >/dev/null <<'SQL'
CREATE EXTENSION credits;
CREATE TABLE outcome (what text);
SELECT credits_grant('hot', 30, expires_at => now() + interval '1 day');
SELECT credits_grant('hot', 30);
-- One step of the race; expected refusals are caught and counted, anything
-- else fails the pgbench client.
CREATE FUNCTION race_step(r int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h bigint;
	e bigint;
BEGIN
	CASE
	WHEN r <= 3 THEN
		PERFORM credits_hold('hot', 1 + (random() * 6)::int, 'race');
		INSERT INTO outcome VALUES ('held');
	WHEN r <= 5 THEN
		PERFORM credits_spend('hot', 1 + (random() * 3)::int, 'race');
		INSERT INTO outcome VALUES ('spent');
	WHEN r <= 7 THEN
		SELECT hold_id INTO h FROM credits_holds('hot', 'open') ORDER BY random() LIMIT 1;
		IF h IS NOT NULL THEN
			IF random() < 0.5 THEN
				PERFORM credits_capture(h);
			ELSE
				PERFORM credits_capture(h, 1);
			END IF;
			INSERT INTO outcome VALUES ('captured');
		END IF;
	WHEN r <= 9 THEN
		SELECT hold_id INTO h FROM credits_holds('hot', 'open') ORDER BY random() LIMIT 1;
		IF h IS NOT NULL THEN
			PERFORM credits_release(h);
			INSERT INTO outcome VALUES ('released');
		END IF;
	ELSE
		SELECT entry_id INTO e FROM credits_history('hot')
		WHERE kind IN ('spend', 'capture') ORDER BY random() LIMIT 1;
		IF e IS NOT NULL THEN
			PERFORM credits_reverse(e, 'race');
			INSERT INTO outcome VALUES ('reversed');
		END IF;
	END CASE;
EXCEPTION
	WHEN SQLSTATE 'CR001' THEN INSERT INTO outcome VALUES ('insufficient');
	WHEN SQLSTATE 'CR005' THEN INSERT INTO outcome VALUES ('already closed');
END
$$;
SQL

cat >"$WORK/step.sql" <<'SQL'
\set r random(1, 10)
SELECT race_step(:r);
SQL

"$PGBIN/pgbench" -n -c 8 -j 4 -t 150 -f "$WORK/step.sql" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 1200/1200" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every transaction completed"; }

# Release what is still open, then check.
psql -c "SELECT credits_release(hold_id) FROM credits_holds('hot', 'open')" >/dev/null
psql -At -c "SELECT what, count(*) FROM outcome GROUP BY 1 ORDER BY 1" | tr '\n' ' '
echo
result=$(psql -At -F' ' -c "
	SELECT (SELECT min(running_balance) FROM credits.entry WHERE account = 'hot'),
	       (SELECT held FROM credits.account WHERE account = 'hot'),
	       credits_balance('hot'),
	       (SELECT count(*) FROM outcome WHERE what = 'insufficient'),
	       (SELECT count(*) FROM credits_holds('hot') WHERE status = 'captured'),
	       (SELECT count(*) FROM credits_verify())")
read -r lowest held balance refused captured problems <<<"$result"
echo "lowest running balance $lowest, held $held, balance $balance, $refused refused, $captured holds captured, verify: $problems problems"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
[[ $lowest != -* ]] || fail "the available balance went below zero ($lowest)"
[[ $held == 0 ]] || fail "held is $held after every hold was closed"
((refused > 0)) || fail "no hold or spend was ever refused: the race did not contend"
((captured > 0)) || fail "no hold was captured"
# Conservation: what is left is what was granted minus what was spent and
# captured, plus what was reversed, minus what expired or was voided.
check=$(psql -At -c "
	SELECT sum(CASE kind WHEN 'grant' THEN amount WHEN 'reversal' THEN amount
	                     WHEN 'spend' THEN -amount WHEN 'capture' THEN -amount
	                     WHEN 'expire' THEN -amount WHEN 'void' THEN -amount ELSE 0 END)
	       = credits_balance('hot')
	FROM credits.entry WHERE account = 'hot'")
[[ $check == t ]] || fail "granted - spent - captured + reversed does not equal the balance"
echo "PASS"
