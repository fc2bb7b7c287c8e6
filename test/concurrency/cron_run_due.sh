#!/usr/bin/env bash
# cron_run_due.sh: credits_run_due() scheduled every minute with pg_cron
# performs a renewal and records an expiry on its own.  pg_cron runs jobs at
# minute boundaries, so this waits up to about 75 seconds.
#
# Needs a server with shared_preload_libraries = 'pg_cron' and
# cron.database_name = 'postgres' (and cron.host pointing at a socket
# directory or host it listens on), as scripts/lib.sh sets up.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=credits_cron_$$
JOB=credits-run-due-$DB
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
cron() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	cron -c "SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = '$JOB'" >/dev/null 2>&1 || true
	cron -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

[[ $(cron -At -c "SHOW shared_preload_libraries") == *pg_cron* ]] \
	|| fail "pg_cron is not in shared_preload_libraries of this server"
[[ $(cron -At -c "SHOW cron.database_name") == postgres ]] \
	|| fail "cron.database_name is not 'postgres'"
cron -c "CREATE EXTENSION IF NOT EXISTS pg_cron" >/dev/null

"$PGBIN/createdb" "$DB"
# A daily subscription whose first period starts in 3 seconds, and a lot
# that expires in 3 seconds: both are due at the next minute boundary.
psql >/dev/null <<'SQL'
CREATE EXTENSION credits;
SELECT credits_subscribe('cron-1', 10, '1 day', starts_at => now() + interval '3 s');
SELECT credits_grant('cron-2', 4, expires_at => clock_timestamp() + interval '3 s');
SQL
[[ $(psql -At -c "SELECT credits_balance('cron-1')") == 0 ]] || fail "the subscription granted before its start"

# The schedule a deployment would use (see docs/lifecycle.md).
jobid=$(cron -At -c "SELECT cron.schedule_in_database('$JOB', '* * * * *',
	'SELECT * FROM credits_run_due()', '$DB')")
echo "scheduled job $jobid"

deadline=$((SECONDS + 80))
while ((SECONDS < deadline)); do
	state=$(psql -At -F' ' -c "SELECT credits_balance('cron-1'),
		(SELECT count(*) FROM credits.entry WHERE account = 'cron-2' AND kind = 'expire')")
	[[ $state == "10 1" ]] && break
	sleep 2
done
runs=$(cron -At -F' ' -c "SELECT count(*) FILTER (WHERE status = 'succeeded'),
	count(*) FILTER (WHERE status = 'failed'), string_agg(DISTINCT return_message, '; ')
	FROM cron.job_run_details WHERE jobid = $jobid")
echo "after ${SECONDS} s: balance/expiries '$state'; cron runs (succeeded failed messages): $runs"
[[ $state == "10 1" ]] || fail "pg_cron's credits_run_due() did not renew and expire within 80 s"
read -r ok failed _ <<<"$runs"
((ok >= 1)) || fail "pg_cron recorded no successful run"
((failed == 0)) || fail "pg_cron recorded failed runs"
[[ $(psql -At -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
# Exactly one grant: the period was renewed once, however many runs.
[[ $(psql -At -c "SELECT reason FROM credits_history('cron-1')") == "subscription period 0" ]] \
	|| fail "unexpected history for cron-1"
echo "PASS"
