#!/usr/bin/env bash
# crash.sh: crash safety.  On its own throwaway cluster (fsync=on,
# synchronous_commit=on, full_page_writes=on: acknowledged commits are
# durable), CRASH_CLIENTS (default 4) clients storm a few accounts with
# grants, spends, holds, captures, releases, reversals, subscriptions (and
# their cancellation) and credits_run_due(), each call in its own
# transaction; a client logs a call only once its COMMIT was acknowledged,
# with the ids it returned.  Mid-storm
# the postmaster is killed with SIGKILL (every other round its backends
# too), the old processes are waited for, the server is restarted (crash
# recovery) and then:
#   - every acknowledged grant (lot), spend (entry), hold, capture (hold
#     captured by that entry), release, reversal and subscription is there,
#     and at least as many renewals as credits_run_due() reported;
#   - nothing is half-applied: credits_verify() returns no rows;
#   - the ledger works: a grant, spend, hold, capture, reversal and
#     run_due on the recovered cluster succeed, and verify stays clean.
# CRASH_ROUNDS crashes (default 2; make crashtest runs more), each after a
# random CRASH_MIN_SECONDS..CRASH_MAX_SECONDS (default 3..8) of storm.
#
# The cluster is this script's own (temporary directory, socket directory
# and port); the caller's cluster and PG* variables are left alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
ROUNDS=${CRASH_ROUNDS:-2}
CLIENTS=${CRASH_CLIENTS:-4}
MIN_S=${CRASH_MIN_SECONDS:-3}
MAX_S=${CRASH_MAX_SECONDS:-8}
DB=crashdb

fail() { echo "FAIL: $*"; [[ -n ${TMPC-} && -f $TMPC/postgres.log ]] && tail -n 30 "$TMPC/postgres.log" | sed 's/^/    log| /'; exit 1; }
CLIENT_PIDS=()
TMPC=
cleanup() {
	local p
	for p in "${CLIENT_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [[ -n $TMPC ]]; then
		_credits_stop_cluster "$TMPC" immediate || true
		[[ $TMPC == /tmp/credits-pg.* ]] && rm -rf "$TMPC"
	fi
}
trap cleanup EXIT

# Our own cluster.  The directory is named like lib.sh's throwaway clusters
# so that _credits_free_port sees its socket; the port range is one
# scripts/test.sh does not use.
TMPC=$(mktemp -d /tmp/credits-pg.XXXXXX)
((EUID == 0)) && chown postgres:postgres "$TMPC"
PORT=$(_credits_free_port 54600 54669)
_credits_init_cluster "$TMPC" "$PORT" fsync=on synchronous_commit=on full_page_writes=on \
	max_connections=40 || fail "initdb failed"
_credits_start_cluster "$TMPC" || fail "the crash cluster did not start"
SOCK=$TMPC/sock
q() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }
"$PGBIN/createdb" -h "$SOCK" -p "$PORT" -U postgres "$DB"

q -d "$DB" >/dev/null <<'SQL'
CREATE EXTENSION credits;
-- Storm steps.  Each returns the line its client logs once the commit is
-- acknowledged: a letter and the ids the call returned ("-" when an
-- expected refusal happened).
CREATE FUNCTION storm_grant(acct text) RETURNS text LANGUAGE sql AS $$
	SELECT 'G ' || credits_grant(acct, 1 + (random() * 40)::int,
		expires_at => CASE WHEN random() < 0.3 THEN now() + interval '30 days' END)
$$;
CREATE FUNCTION storm_spend(acct text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN 'S ' || credits_spend(acct, 1 + (random() * 15)::int, 'storm');
EXCEPTION WHEN SQLSTATE 'CR001' THEN RETURN '-';
END
$$;
CREATE FUNCTION storm_hold(acct text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RETURN 'H ' || credits_hold(acct, 1 + (random() * 10)::int, 'storm');
EXCEPTION WHEN SQLSTATE 'CR001' THEN RETURN '-';
END
$$;
-- Closing and reversing pick among the account's latest holds and entries
-- (the storm's cost must not grow with the history).
CREATE FUNCTION storm_close(acct text, capture boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	h bigint;
BEGIN
	SELECT x.hold_id INTO h FROM (SELECT hold_id FROM credits.hold
		WHERE account = acct AND status = 'open' ORDER BY hold_id DESC LIMIT 10) x
	ORDER BY random() LIMIT 1;
	IF h IS NULL THEN
		RETURN '-';
	ELSIF capture THEN
		RETURN 'C ' || h || ' ' || credits_capture(h, CASE WHEN random() < 0.5 THEN 1 END);
	END IF;
	PERFORM credits_release(h);
	RETURN 'L ' || h;
EXCEPTION WHEN SQLSTATE 'CR005' THEN RETURN '-';
END
$$;
CREATE FUNCTION storm_reverse(acct text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	e bigint;
BEGIN
	SELECT x.entry_id INTO e FROM (SELECT entry_id, kind FROM credits.entry
		WHERE account = acct AND credit_type = 'CRD' ORDER BY seq DESC LIMIT 30) x
	WHERE x.kind IN ('spend', 'capture') ORDER BY random() LIMIT 1;
	IF e IS NULL THEN
		RETURN '-';
	END IF;
	RETURN 'V ' || e || ' ' || credits_reverse(e, 'storm');
EXCEPTION WHEN SQLSTATE 'CR005' THEN RETURN '-';
END
$$;
-- A subscription renewed every 2 seconds; the account keeps its three
-- newest (older ones are cancelled), so that renewals stay few however
-- long the storm.
CREATE FUNCTION storm_subscribe(acct text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s bigint;
	old bigint;
BEGIN
	s := credits_subscribe(acct, 2, '2 seconds');
	FOR old IN SELECT subscription_id FROM credits_subscriptions(acct)
			   WHERE status <> 'cancelled' ORDER BY subscription_id DESC OFFSET 3
	LOOP
		PERFORM credits_cancel_subscription(old);
	END LOOP;
	RETURN 'U ' || s;
END
$$;
CREATE FUNCTION storm_run_due() RETURNS text LANGUAGE sql AS $$
	SELECT 'R ' || renewed FROM credits_run_due()
$$;

-- What the clients logged, loaded after each crash.
CREATE TABLE acked (kind text, id1 bigint, id2 bigint);
SQL

# A client's input: random calls, each "BEGIN; call; COMMIT;" and then the
# line to log, printed only after COMMIT returned (psql stops at the first
# error, e.g. when the server goes away; this generator then dies of
# SIGPIPE).
make_script() {
	local r acct call
	RANDOM=$1
	while :; do
		r=$((RANDOM % 100))
		acct="crash-$((RANDOM % 4))"
		if ((r < 22)); then call="storm_grant('$acct')"
		elif ((r < 50)); then call="storm_spend('$acct')"
		elif ((r < 64)); then call="storm_hold('$acct')"
		elif ((r < 73)); then call="storm_close('$acct', true)"
		elif ((r < 80)); then call="storm_close('$acct', false)"
		elif ((r < 87)); then call="storm_reverse('$acct')"
		elif ((r < 90)); then call="storm_subscribe('$acct')"
		else call="storm_run_due()"; fi
		printf 'BEGIN;\nSELECT %s AS r \\gset\nCOMMIT;\n\\echo :r\n' "$call"
	done
}

# Check everything acknowledged so far against the recovered ledger.
check_ledger() {
	local round=$1 out
	q -d "$DB" -c "TRUNCATE acked" -c "\\copy acked FROM '$TMPC/acked.log' WITH (FORMAT text, DELIMITER ' ')" ||
		fail "could not load the client logs"
	out=$(q -d "$DB" -At <<'SQL'
SELECT format('acknowledged %s %s %s is missing', kind, id1, id2) FROM acked a
WHERE (kind = 'G' AND NOT EXISTS (SELECT 1 FROM credits.lot l WHERE l.lot_id = a.id1))
   OR (kind = 'S' AND NOT EXISTS (SELECT 1 FROM credits.entry e WHERE e.entry_id = a.id1 AND e.kind = 'spend'))
   OR (kind = 'H' AND NOT EXISTS (SELECT 1 FROM credits.hold h WHERE h.hold_id = a.id1))
   OR (kind = 'C' AND NOT EXISTS (SELECT 1 FROM credits.hold h JOIN credits.entry e
		ON e.account = h.account AND e.entry_id = h.capture_entry_id
		WHERE h.hold_id = a.id1 AND h.status = 'captured' AND e.entry_id = a.id2 AND e.kind = 'capture'))
   OR (kind = 'L' AND NOT EXISTS (SELECT 1 FROM credits.hold h WHERE h.hold_id = a.id1 AND h.status = 'released'))
   OR (kind = 'V' AND NOT EXISTS (SELECT 1 FROM credits.entry e WHERE e.entry_id = a.id2
		AND e.kind = 'reversal' AND e.related_id = a.id1))
   OR (kind = 'U' AND NOT EXISTS (SELECT 1 FROM credits.subscription s WHERE s.subscription_id = a.id1))
UNION ALL
SELECT format('%s renewals and %s subscriptions acknowledged, %s periods recorded', r, u, p)
FROM (SELECT (SELECT coalesce(sum(id1), 0) FROM acked WHERE kind = 'R') AS r,
			 (SELECT count(*) FROM acked WHERE kind = 'U') AS u,
			 (SELECT count(*) FROM credits.subscription_period) AS p) x
WHERE r + u > p
UNION ALL
SELECT format('credits_verify: %s %s %s', check_name, account, detail) FROM credits_verify();
SQL
	) || fail "round $round: the checks could not run"
	[[ -z $out ]] || fail "round $round: $(head -n 20 <<<"$out")"
}

: >"$TMPC/acked.log"
total_acked=0
start=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
	# The storm.
	CLIENT_PIDS=()
	for ((c = 0; c < CLIENTS; c++)); do
		make_script $((round * 1000 + c + RANDOM)) 2>/dev/null |
			q -d "$DB" -At >"$TMPC/client-$c.out" 2>"$TMPC/client-$c.err" &
		CLIENT_PIDS+=($!)
	done
	storm=$((MIN_S + RANDOM % (MAX_S - MIN_S + 1)))
	sleep "$storm"
	for ((c = 0; c < CLIENTS; c++)); do
		kill -0 "${CLIENT_PIDS[c]}" 2>/dev/null || fail "round $round: client $c ended before the crash: $(tail -n 3 "$TMPC/client-$c.err")"
	done

	# The crash: SIGKILL the postmaster (and, every other round, its
	# backends at the same instant), then wait for every old process.
	pm=$(head -n 1 "$TMPC/data/postmaster.pid")
	mapfile -t children < <(ps -o pid= --ppid "$pm" | tr -d ' ')
	if ((round % 2 == 0)); then
		kill -9 "$pm" "${children[@]}" 2>/dev/null || true
		how="postmaster and ${#children[@]} children"
	else
		kill -9 "$pm"
		how="postmaster"
	fi
	for p in "${CLIENT_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	CLIENT_PIDS=()
	for ((i = 0; i < 600; i++)); do
		alive=0
		for p in "$pm" "${children[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	((alive == 0)) || fail "round $round: the killed server's processes are still there after 60 s"

	# What the clients saw committed.
	n=0
	for ((c = 0; c < CLIENTS; c++)); do
		awk '/^[GSHCLVUR] / { print $1, $2, ($3 == "" ? "\\N" : $3) }' "$TMPC/client-$c.out" >>"$TMPC/acked.log"
		n=$((n + $(grep -cE '^[GSHCLVUR] ' "$TMPC/client-$c.out" || true)))
		grep -qiE 'server closed the connection|terminat|connection to server' "$TMPC/client-$c.err" ||
			fail "round $round: client $c did not stop because of the crash: $(tail -n 3 "$TMPC/client-$c.err")"
	done
	((n > 0)) || fail "round $round: no call was acknowledged before the crash"
	total_acked=$((total_acked + n))

	# Restart: crash recovery.
	log_lines=$(wc -l <"$TMPC/postgres.log")
	_credits_start_cluster "$TMPC" || fail "round $round: the server did not restart after the crash"
	"$PGBIN/pg_isready" -q -h "$SOCK" -p "$PORT" -U postgres -t 30 || fail "round $round: the server is not ready"
	tail -n +"$((log_lines + 1))" "$TMPC/postgres.log" | grep -q 'not properly shut down\|was interrupted' ||
		fail "round $round: no crash recovery in the server log"

	check_ledger "$round"
	echo "round $round: ${storm}s of storm, SIGKILL of the $how, $n calls acknowledged; all present after recovery, credits_verify clean"
done

# The recovered ledger works.
out=$(q -d "$DB" -At <<'SQL'
SELECT credits_grant('after-crash', 50) > 0;
SELECT credits_spend('after-crash', 5, 'after') AS e \gset
SELECT credits_hold('after-crash', 10, 'after') AS h \gset
SELECT credits_capture(:h, 4) > 0;
SELECT credits_reverse(:e) > 0;
SELECT (credits_run_due()).renewed >= 0;
SELECT credits_balance('after-crash');
SELECT count(*) FROM credits_verify();
SQL
) || fail "the ledger does not work after recovery: $out"
[[ $(tr '\n' ' ' <<<"$out") == "t t t t 46 0 " ]] || fail "the ledger after recovery: unexpected $(tr '\n' ' ' <<<"$out")"
check_ledger final
counts=$(q -d "$DB" -At -F= -c "SELECT kind, count(*) FROM acked GROUP BY 1 ORDER BY 1" | tr '\n' ' ')
echo "crash: $ROUNDS crash(es) survived, $total_acked acknowledged calls ($counts) all present, credits_verify clean, ledger usable; $((SECONDS - start))s"
echo "PASS"
