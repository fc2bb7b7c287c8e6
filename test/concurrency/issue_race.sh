#!/usr/bin/env bash
# issue_race.sh: eight sessions mark the same invoices paid at once, some of
# them for the wrong account, while clawbacks run.  Every invoice reference
# issues credits exactly once, to one account; repeats return the first lot;
# each clawback deducts once; nothing deadlocks; credits_verify() is clean.
set -euo pipefail
DB=credits_issue_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
psql >/dev/null <<'SQL'
CREATE EXTENSION credits;
CREATE TABLE outcome (what text);
SELECT credits_define_rule('pack', 10, 'add');
SELECT credits_define_rule('plan', 25, 'reset');
-- Invoice i belongs to account 'a-' || (i % 5); a session sometimes names
-- the wrong account (CR003), and sometimes refunds the invoice instead.
CREATE FUNCTION race_step(i int, wrong boolean, refund boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF refund THEN
		PERFORM credits_clawback('inv-' || i);
		INSERT INTO outcome VALUES ('clawed back');
	ELSE
		PERFORM credits_issue('a-' || (i % 5 + CASE WHEN wrong THEN 1 ELSE 0 END),
							  CASE WHEN i % 3 = 0 THEN 'plan' ELSE 'pack' END, 'inv-' || i);
		INSERT INTO outcome VALUES ('issued');
	END IF;
EXCEPTION
	WHEN SQLSTATE 'CR003' THEN INSERT INTO outcome VALUES ('wrong account');
	WHEN SQLSTATE '42704' THEN INSERT INTO outcome VALUES ('not issued yet');
END
$$;
SQL
cat >"$WORK/step.sql" <<'SQL'
\set i random(1, 40)
\set w random(1, 6)
\set r random(1, 8)
SELECT race_step(:i, :w = 1, :r = 1);
SQL
"$PGBIN/pgbench" -n -c 8 -j 4 -t 100 -f "$WORK/step.sql" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 800/800" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every transaction completed"; }

psql -At -c "SELECT what, count(*) FROM outcome GROUP BY 1 ORDER BY 1" | tr '\n' ' '
echo
result=$(psql -At -F' ' -c "
	SELECT (SELECT count(*) FROM credits.issue),
	       (SELECT count(DISTINCT reference) FROM credits.issue),
	       (SELECT count(*) FROM credits.issue WHERE account <> 'a-' || (substr(reference, 5)::int % 5)),
	       (SELECT count(*) FROM credits.lot WHERE source = 'issue'),
	       (SELECT count(*) FROM credits.entry WHERE kind = 'clawback'),
	       (SELECT count(*) FROM credits.issue WHERE clawback_entry_id IS NOT NULL),
	       (SELECT count(*) FROM credits_verify())")
read -r issues refs misplaced lots clawbacks clawed problems <<<"$result"
echo "$issues issues of $refs references, $misplaced first issued for the wrong account (the first call wins), $lots issued lots, $clawbacks clawback entries for $clawed clawed-back issues; verify: $problems problems"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
((issues == refs)) || fail "a reference issued more than once"
((lots == issues)) || fail "$lots lots for $issues issues"
((clawbacks == clawed)) || fail "$clawbacks clawback entries for $clawed clawed-back invoices"
((issues > 0 && clawed > 0)) || fail "the race issued or clawed back nothing"
echo "PASS"
