#!/usr/bin/env bash
# contention.sh: many clients on ONE account, then lock and statement
# timeouts.
#
# 1. CONTENTION_CLIENTS (default 8) pgbench clients run, for
#    CONTENTION_SECONDS (default 8), a weighted mix of grants, spends, holds,
#    captures, releases and reversals on the account "hot".  Each call and a
#    row of a client-side log (what the client saw succeed, with the amount
#    and the id returned) commit in one transaction; expected refusals
#    (CR001 insufficient, CR005 already closed/reversed) are caught and
#    counted.  Then: pgbench reports no failed transaction and no aborted
#    client, no deadlock happened (pg_stat_database and the server log),
#    the balance equals granted - spent - captured + reversed computed from
#    the client log alone (no lost update), every logged id is in the
#    history with its amount, the history's "in" minus "out" is the balance,
#    no running balance or lot remainder is negative, credits_verify() is
#    clean.
# 2. A session holds the account's lock (BEGIN; spend; ...).  Another one
#    spends, grants and holds under lock_timeout = 100ms: a clean 55P03
#    each; under statement_timeout = 200ms: 57014.  The ledger's
#    fingerprint is the same before and after the failed calls, the failed
#    session goes on working, and its spend succeeds once the lock is free.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CLIENTS=${CONTENTION_CLIENTS:-8}
SECONDS_RUN=${CONTENTION_SECONDS:-8}
DB=credits_contention_$$
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
WORK=$(mktemp -d)
# shellcheck source=test/concurrency/sessions.bash
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
cleanup() {
	sessions_cleanup
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

# The server log, when this runs under scripts/test.sh (lib.sh's cluster).
LOG=
[[ -n ${CREDITS_TMP-} && -r $CREDITS_TMP/postgres.log ]] && LOG=$CREDITS_TMP/postgres.log
deadlocks_in_log() { if [[ -n $LOG ]]; then grep -c 'deadlock detected' "$LOG" || true; else echo 0; fi; }
log_deadlocks_before=$(deadlocks_in_log)

"$PGBIN/createdb" "$DB"
psql >/dev/null <<'SQL'
CREATE EXTENSION credits;
-- What each client saw succeed, written in the same transaction as the
-- call: kind, amount, and the id the call returned (lot, entry or hold;
-- for a capture, ref is the hold and entry the capture entry).
CREATE TABLE client_log (kind text NOT NULL, amount numeric, ref bigint, entry bigint);
CREATE TABLE refusal (kind text, state text);

SELECT credits_grant('hot', 100);
INSERT INTO client_log SELECT 'grant', 100, lot_id FROM credits.lot;

CREATE FUNCTION c_grant(amt int, expiring boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	-- expiring lots expire in weeks: in spend order, never during the run
	INSERT INTO client_log VALUES ('grant', amt,
		credits_grant('hot', amt, expires_at => CASE WHEN expiring
			THEN now() + (1 + amt % 5) * interval '1 week' END));
END
$$;

CREATE FUNCTION c_spend(amt int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO client_log VALUES ('spend', amt, credits_spend('hot', amt, 'contention'));
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refusal VALUES ('spend', SQLSTATE);
END
$$;

CREATE FUNCTION c_hold(amt int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO client_log VALUES ('hold', amt, credits_hold('hot', amt, 'contention'));
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refusal VALUES ('hold', SQLSTATE);
END
$$;

-- An open hold according to the client log (another client may close it
-- first: CR005).
CREATE FUNCTION c_open_hold(OUT h bigint, OUT amt numeric) LANGUAGE sql AS $$
	SELECT l.ref, l.amount FROM client_log l
	WHERE l.kind = 'hold' AND NOT EXISTS (SELECT 1 FROM client_log c
		WHERE c.kind IN ('capture', 'release') AND c.ref = l.ref)
	ORDER BY random() LIMIT 1
$$;

CREATE FUNCTION c_capture(part boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h bigint;
	held numeric;
	amt numeric;
	e bigint;
BEGIN
	SELECT * INTO h, held FROM c_open_hold();
	IF h IS NULL THEN
		RETURN;
	END IF;
	amt := CASE WHEN part THEN 1 + floor(random() * held) ELSE held END;
	e := credits_capture(h, CASE WHEN part THEN amt::int::credit_amount END);
	INSERT INTO client_log VALUES ('capture', amt, h, e);
	-- what was not captured went back: a release of the rest
	INSERT INTO client_log VALUES ('capture-rest', held - amt, h, e);
EXCEPTION WHEN SQLSTATE 'CR005' THEN
	INSERT INTO refusal VALUES ('capture', SQLSTATE);
END
$$;

CREATE FUNCTION c_release() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h bigint;
	held numeric;
BEGIN
	SELECT * INTO h, held FROM c_open_hold();
	IF h IS NULL THEN
		RETURN;
	END IF;
	PERFORM credits_release(h);
	INSERT INTO client_log VALUES ('release', held, h);
EXCEPTION WHEN SQLSTATE 'CR005' THEN
	INSERT INTO refusal VALUES ('release', SQLSTATE);
END
$$;

-- Reverse a spend or capture the client log knows (maybe already
-- reversed by another client: CR005).
CREATE FUNCTION c_reverse() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e bigint;
	amt numeric;
BEGIN
	SELECT coalesce(l.entry, l.ref), l.amount INTO e, amt FROM client_log l
	WHERE l.kind IN ('spend', 'capture') AND NOT EXISTS (SELECT 1 FROM client_log r
		WHERE r.kind = 'reverse' AND r.ref = coalesce(l.entry, l.ref))
	ORDER BY random() LIMIT 1;
	IF e IS NULL THEN
		RETURN;
	END IF;
	PERFORM credits_reverse(e, 'contention');
	INSERT INTO client_log VALUES ('reverse', amt, e);
EXCEPTION WHEN SQLSTATE 'CR005' THEN
	INSERT INTO refusal VALUES ('reverse', SQLSTATE);
END
$$;

-- A digest of the ledger: every row of every table of schema credits.
CREATE FUNCTION fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	t regclass;
	part text;
	parts text := '';
BEGIN
	FOR t IN SELECT c.oid FROM pg_class c
			 WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind = 'r' ORDER BY c.relname
	LOOP
		EXECUTE format('SELECT coalesce(string_agg(x::text, E''\n'' ORDER BY x::text), '''') FROM %s x', t)
			INTO part;
		parts := parts || t::text || E'\n' || part;
	END LOOP;
	RETURN md5(parts);
END
$$;
SQL

# Weighted scripts: pgbench picks one per transaction.
w() { printf '%s\n' "$2" >"$WORK/$1.sql"; }
w grant '\set amt random(1, 40)
\set expiring random(0, 1)
SELECT c_grant(:amt, :expiring = 1);'
w spend '\set amt random(1, 25)
SELECT c_spend(:amt);'
w hold '\set amt random(1, 20)
SELECT c_hold(:amt);'
w capture '\set part random(0, 1)
SELECT c_capture(:part = 1);'
w release 'SELECT c_release();'
w reverse 'SELECT c_reverse();'

deadlocks_before=$(psql -At -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
rc=0
"$PGBIN/pgbench" -n -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" \
	-f "$WORK/grant.sql@3" -f "$WORK/spend.sql@6" -f "$WORK/hold.sql@3" \
	-f "$WORK/capture.sql@2" -f "$WORK/release.sql@1" -f "$WORK/reverse.sql@2" \
	"$DB" >"$WORK/pgbench.out" 2>&1 || rc=$?
((rc == 0)) || { cat "$WORK/pgbench.out"; fail "pgbench exited with status $rc (a client was aborted)"; }
grep -q '^number of failed transactions: 0 ' "$WORK/pgbench.out" ||
	{ cat "$WORK/pgbench.out"; fail "pgbench reports failed transactions"; }
transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/pgbench.out")
((transactions > 100)) || { cat "$WORK/pgbench.out"; fail "only $transactions transactions ran"; }

# Close what is still open, as a client would (logged the same way).
psql -c "SELECT c_release() FROM client_log WHERE kind = 'hold'" >/dev/null

# Counts, for the summary line, and the refusals that prove contention.
counts=$(psql -At -F= -c "SELECT kind, count(*) FROM client_log GROUP BY 1 ORDER BY 1" | tr '\n' ' ')
refusals=$(psql -At -F= -c "SELECT kind || '/' || state, count(*) FROM refusal GROUP BY 1 ORDER BY 1" | tr '\n' ' ')
echo "pgbench: $CLIENTS clients, ${SECONDS_RUN}s, $transactions transactions; logged: $counts; refused: $refusals"

problems=$(psql -At <<'SQL'
WITH
-- the client's own arithmetic, from client_log only
expect AS (SELECT
	coalesce(sum(amount) FILTER (WHERE kind = 'grant'), 0)
	- coalesce(sum(amount) FILTER (WHERE kind = 'spend'), 0)
	- coalesce(sum(amount) FILTER (WHERE kind = 'capture'), 0)
	+ coalesce(sum(amount) FILTER (WHERE kind = 'reverse'), 0) AS balance
	FROM client_log),
hist AS (SELECT coalesce(sum(CASE direction WHEN 'in' THEN amount::numeric ELSE -amount::numeric END), 0) AS net,
				min(running_balance::numeric) AS lowest, count(*) AS n
		 FROM credits_history('hot')),
kinds AS (SELECT kind, count(*) AS n, sum(amount::numeric) AS total FROM credits_history('hot') GROUP BY 1),
logged AS (SELECT kind, count(*) AS n, sum(amount) AS total FROM client_log GROUP BY 1)
SELECT format('balance %s, but the client log gives %s (lost or phantom update)',
			  credits_balance('hot'), e.balance)
FROM expect e WHERE credits_balance('hot')::numeric <> e.balance
UNION ALL
SELECT format('history: in - out = %s, balance %s', h.net, credits_balance('hot'))
FROM hist h WHERE h.net <> credits_balance('hot')::numeric
UNION ALL
SELECT format('a running balance went negative: %s', h.lowest) FROM hist h WHERE h.lowest < 0
UNION ALL
SELECT format('lot %s has remaining %s', l.lot_id, l.remaining) FROM credits.lot l
WHERE l.remaining < 0 OR l.remaining > l.amount
UNION ALL
SELECT format('held is %s after every hold was closed', held) FROM credits.account
WHERE account = 'hot' AND held <> 0
UNION ALL
-- every kind of movement in the history matches the client log, in
-- number and amount (a capture also writes the release of its hold)
SELECT format('%s: history has %s entries totalling %s, client log %s totalling %s',
			  x.kind, coalesce(k.n, 0), coalesce(k.total, 0), coalesce(x.n, 0), coalesce(x.total, 0))
FROM (SELECT 'grant' AS kind, n, total FROM logged WHERE kind = 'grant'
	  UNION ALL SELECT 'spend', n, total FROM logged WHERE kind = 'spend'
	  UNION ALL SELECT 'hold', n, total FROM logged WHERE kind = 'hold'
	  UNION ALL SELECT 'capture', n, total FROM logged WHERE kind = 'capture'
	  UNION ALL SELECT 'reversal', n, total FROM logged WHERE kind = 'reverse'
	  UNION ALL SELECT 'release', sum(n), sum(total) FROM logged WHERE kind IN ('release', 'capture')
	  UNION ALL SELECT 'release', 0, 0 WHERE NOT EXISTS (SELECT 1 FROM logged WHERE kind IN ('release', 'capture'))) x
LEFT JOIN kinds k ON k.kind = x.kind
WHERE (x.kind <> 'release' OR x.n > 0 OR k.n IS NOT NULL)
  AND (coalesce(k.n, 0) <> coalesce(x.n, 0)
	   OR coalesce(k.total, 0) <> coalesce(x.total, 0) + CASE x.kind WHEN 'release' THEN
		   (SELECT coalesce(sum(amount), 0) FROM client_log WHERE kind = 'capture-rest') ELSE 0 END)
UNION ALL
SELECT format('history has %s entries of kind %s the clients never made', n, kind)
FROM kinds WHERE kind NOT IN ('grant', 'spend', 'hold', 'capture', 'release', 'reversal')
UNION ALL
-- every id a client saw is in the history, with its amount
SELECT format('logged %s %s (%s) not in the ledger', c.kind, c.ref, c.amount)
FROM client_log c
WHERE (c.kind = 'grant' AND NOT EXISTS (SELECT 1 FROM credits.lot l WHERE l.lot_id = c.ref AND l.amount::numeric = c.amount))
   OR (c.kind = 'spend' AND NOT EXISTS (SELECT 1 FROM credits.entry e WHERE e.entry_id = c.ref AND e.kind = 'spend' AND e.amount::numeric = c.amount))
   OR (c.kind = 'capture' AND NOT EXISTS (SELECT 1 FROM credits.entry e WHERE e.entry_id = c.entry AND e.kind = 'capture' AND e.amount::numeric = c.amount AND e.related_id = c.ref))
   OR (c.kind = 'hold' AND NOT EXISTS (SELECT 1 FROM credits_holds('hot') h WHERE h.hold_id = c.ref AND h.amount::numeric = c.amount))
   OR (c.kind = 'release' AND NOT EXISTS (SELECT 1 FROM credits_holds('hot') h WHERE h.hold_id = c.ref AND h.status = 'released'))
   OR (c.kind = 'reverse' AND NOT EXISTS (SELECT 1 FROM credits.entry e WHERE e.related_id = c.ref AND e.kind = 'reversal' AND e.amount::numeric = c.amount))
UNION ALL
SELECT format('credits_verify: %s %s', check_name, detail) FROM credits_verify();
SQL
)
[[ -z $problems ]] || fail "$problems"
# The run must have contended: refusals of both kinds happened.
psql -At -c "SELECT count(*) FROM refusal WHERE state = 'CR001'" | grep -qv '^0$' || fail "no CR001: the account never ran short"
psql -At -c "SELECT count(*) FROM refusal WHERE state = 'CR005'" | grep -qv '^0$' || fail "no CR005: no two clients raced for one hold or entry"

# No deadlock, by the statistics and by the server log.  (Statistics are
# flushed when backends exit; give them a moment.)
sleep 1
deadlocks=$(psql -At -c "SELECT pg_stat_clear_snapshot(); SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()" | tail -n 1)
((deadlocks == deadlocks_before)) || fail "$((deadlocks - deadlocks_before)) deadlock(s) (pg_stat_database)"
log_deadlocks=$(deadlocks_in_log)
((log_deadlocks == log_deadlocks_before)) || fail "'deadlock detected' in the server log"
echo "no lost update: balance $(psql -At -c "SELECT credits_balance('hot')") = granted - spent - captured + reversed (client log); 0 deadlocks${LOG:+ (server log checked)}; credits_verify clean"

# 2. Timeouts.  A holds the account's lock; B is refused cleanly.
session_open A
session_open B
session_run A "BEGIN; SELECT credits_spend('hot', 1) > 0;" || fail "session A could not spend"
before=$(psql -At -c "SELECT fingerprint()")
session_run B '\set VERBOSITY verbose
\set SHOW_CONTEXT never' || true
t0=$(date +%s%N)
session_run B "SET lock_timeout = '100ms'; SELECT credits_spend('hot', 1);" 10 ||
	fail "a spend under lock_timeout did not return: $(session_out B)"
session_run B "SELECT credits_grant('hot', 5);" 10 || fail "a grant under lock_timeout did not return"
session_run B "SELECT credits_hold('hot', 1, 'timeout');" 10 || fail "a hold under lock_timeout did not return"
session_run B "RESET lock_timeout; SET statement_timeout = '200ms'; SELECT credits_spend('hot', 1);" 10 ||
	fail "a spend under statement_timeout did not return"
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
session_run B "RESET statement_timeout; SELECT 'still usable';" || fail "session B is stuck"
after=$(psql -At -c "SELECT fingerprint()")
out=$(session_out B)
grep -E '^(ERROR|still)' <<<"$out" | sed 's/^/    B| /'
n55=$(grep -c '^ERROR:  55P03: canceling statement due to lock timeout' <<<"$out" || true)
n57=$(grep -c '^ERROR:  57014: canceling statement due to statement timeout' <<<"$out" || true)
((n55 == 3)) || fail "expected three 55P03 lock timeouts, saw $n55"
((n57 == 1)) || fail "expected one 57014 statement timeout, saw $n57"
grep -q '^still usable$' <<<"$out" || fail "session B did not go on after the errors"
[[ $before == "$after" ]] || fail "the ledger changed while B's calls failed (fingerprint $before -> $after)"
((elapsed_ms < 5000)) || fail "the timed-out calls took ${elapsed_ms} ms"
# Once A commits, B's spend goes through.
session_run A "COMMIT;" || fail "session A could not commit"
session_run B "SELECT credits_spend('hot', 1) > 0 AS spent_after_commit;" 10 || fail "B's spend hangs after A committed"
session_out B | grep -q '^t$' || fail "B's spend failed after A committed: $(session_out B)"
problems=$(psql -At -c "SELECT count(*) FROM credits_verify()")
[[ $problems == 0 ]] || fail "credits_verify() found $problems problems after the timeouts"
echo "timeouts: 3 x 55P03 (lock_timeout 100ms: spend, grant, hold), 1 x 57014 (statement_timeout 200ms) in ${elapsed_ms} ms; ledger unchanged by them; the session goes on"
echo "PASS"
