#!/usr/bin/env bash
# finance.sh: credits_revenue() and credits_journal() on a distributed
# ledger.  Their per-lot pass is one query over the per-account tables
# (co-located, no function running SQL per row) and their running totals
# are computed on the coordinator: through the coordinator they give the
# figures of one node, and tie out to credits_liability() at every instant
# of the ledger, to the cent.
#
# Runs against the coordinator in PGHOST/PGPORT (scripts/test.sh citus);
# leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
cleanup() { psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true; }
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }
now() { psql -c "SELECT now()"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null
expect "workers holding the accounts" "$(psql -c "SELECT count(DISTINCT p.nodeport) FROM generate_series(1, 5) i
	JOIN pg_dist_shard_placement p ON p.shardid = get_shard_id_for_distribution_column('credits.account', 'fin-' || i)")" 2

# fin-1: 100 credits for 30.00 USD, 40 spent (12.00).  fin-2: 50 credits for
# 20.00 EUR expiring in a moment, 10 spent (4.00), 40 expire (16.00).
# fin-5: 3 credits for 10.00 USD spent one at a time (3.33, 3.34, 3.33).
# fin-4: 20 credits for 9.00 EUR: a hold of 10 of which 4 are captured
# (1.80), a spend of 2 (0.90) reversed, the lot voided (16 credits, 7.20).
# fin-1 then gives 10 credits to fin-5, on the other worker: their cost
# basis (3.00) changes clients, and no figure.
t0=$(now)
psql -c "SELECT credits_grant('fin-1', 100, cost => 30.00, cost_currency => 'USD')" >/dev/null
psql -c "SELECT credits_grant('fin-2', 50, expires_at => clock_timestamp() + interval '5 s',
	cost => 20.00, cost_currency => 'EUR')" >/dev/null
psql -c "SELECT credits_grant('fin-5', 3, cost => 10.00, cost_currency => 'USD')" >/dev/null
lot4=$(psql -c "SELECT credits_grant('fin-4', 20, cost => 9.00, cost_currency => 'EUR')")
psql -c "SELECT credits_grant('fin-4', 5)" >/dev/null
t1=$(now)
psql -c "SELECT credits_spend('fin-1', 40)" -c "SELECT credits_spend('fin-2', 10)" >/dev/null
for _ in 1 2 3; do psql -c "SELECT credits_spend('fin-5', 1)" >/dev/null; done
hold=$(psql -c "SELECT credits_hold('fin-4', 10, 'H-1')")
psql -c "SELECT credits_capture($hold, 4)" >/dev/null
spend=$(psql -c "SELECT credits_spend('fin-4', 2)")
psql -c "SELECT credits_reverse($spend)" >/dev/null
psql -c "SELECT credits_void($lot4, 'closed')" >/dev/null
psql -c "SELECT credits_transfer('fin-1', 'fin-5', 10)" >/dev/null
t2=$(now)
psql -c "SELECT pg_sleep_until(l.expires_at + interval '100 ms') FROM credits.lot l WHERE l.account = 'fin-2'" >/dev/null
psql -c "SELECT credits_expire()" >/dev/null
t3=$(now)
sleep 0.1

expect "revenue" "$(psql -c "SELECT string_agg(concat_ws(' ', credit_type, currency, sold, recognized, breakage, refunded), '; ')
	FROM credits_revenue('$t0', '$t3')")" \
	"CRD EUR 29.00 5.80 23.20 0.00; CRD USD 40.00 22.00 0.00 0.00"
expect "revenue before the expiry" "$(psql -c "SELECT string_agg(concat_ws(' ', credit_type, currency, sold, recognized, breakage, refunded), '; ')
	FROM credits_revenue('$t1', '$t2')")" \
	"CRD EUR 0.00 5.80 7.20 0.00; CRD USD 0.00 22.00 0.00 0.00"
expect "journal" "$(psql -c "SELECT string_agg(concat_ws(' ', account, debit, credit, amount, currency), '; ' ORDER BY o)
	FROM credits_journal('$t0', '$t3') WITH ORDINALITY j(entry_id, at, account, debit, credit, amount, currency, o)
	WHERE account IN ('fin-5', 'fin-4')")" \
	"fin-5 cash deferred_revenue 10.00 USD; fin-4 cash deferred_revenue 9.00 EUR; fin-5 deferred_revenue revenue 3.33 USD; fin-5 deferred_revenue revenue 3.34 USD; fin-5 deferred_revenue revenue 3.33 USD; fin-4 deferred_revenue revenue 1.80 EUR; fin-4 deferred_revenue revenue 0.90 EUR; fin-4 revenue deferred_revenue 0.90 EUR; fin-4 deferred_revenue breakage 7.20 EUR"
# (the report's rows first: Citus refuses a report joined to the tables)
expiry=$(psql -F ' ' -c "SELECT entry_id, concat_ws(' ', j.account, j.debit, j.credit, j.amount, j.currency)
	FROM credits_journal('$t0', '$t3') j WHERE j.credit = 'breakage' AND j.account = 'fin-2'")
expect "expiry line" "${expiry#* }" "fin-2 deferred_revenue breakage 16.00 EUR"
expect "its entry" "$(psql -c "SELECT kind FROM credits.entry WHERE account = 'fin-2' AND entry_id = ${expiry%% *}")" expire

# Both identities at every instant an entry was recorded (and the start):
# the change of the liability's cost basis is what the revenue report
# says, and deferred_revenue holds the liability's cost basis.  (The
# reports are called one at a time, from PL/pgSQL: Citus refuses a report
# run from inside another query.)
expect "violations" "$(psql <<SQL
SET client_min_messages = warning;
CREATE TEMP TABLE inst AS
	SELECT t, row_number() OVER (ORDER BY t) AS n
	FROM (SELECT DISTINCT e.at AS t FROM credits.entry e UNION SELECT '$t0'::timestamptz) x;
CREATE TEMP TABLE la (credit_type text, currency text, cb numeric);
CREATE TEMP TABLE lb (LIKE la);
CREATE TEMP TABLE rv (credit_type text, currency text, net numeric);
CREATE TEMP TABLE jr (currency text, held numeric);
CREATE TEMP TABLE bad (what text);
DO \$\$
DECLARE
	p record;
BEGIN
	FOR p IN SELECT a.t AS a, b.t AS b FROM inst a JOIN inst b ON b.n = a.n + 1 LOOP
		TRUNCATE la, lb, rv, jr;
		INSERT INTO la SELECT l.credit_type, l.currency, sum(l.cost_basis)
			FROM credits_liability(p.a) l WHERE l.currency IS NOT NULL GROUP BY 1, 2;
		INSERT INTO lb SELECT l.credit_type, l.currency, sum(l.cost_basis)
			FROM credits_liability(p.b) l WHERE l.currency IS NOT NULL GROUP BY 1, 2;
		INSERT INTO rv SELECT r.credit_type, r.currency, r.sold - r.recognized - r.breakage - r.refunded
			FROM credits_revenue(p.a, p.b) r;
		INSERT INTO jr SELECT j.currency,
				sum(CASE WHEN j.credit = 'deferred_revenue' THEN j.amount ELSE -j.amount END)
			FROM credits_journal('$t0', p.b) j GROUP BY 1;
		INSERT INTO bad
		SELECT format('revenue %s..%s %s %s', p.a, p.b, k.credit_type, k.currency)
		FROM (SELECT credit_type, currency FROM la UNION SELECT credit_type, currency FROM lb
			  UNION SELECT credit_type, currency FROM rv) k
		LEFT JOIN la ON la.credit_type = k.credit_type AND la.currency = k.currency
		LEFT JOIN lb ON lb.credit_type = k.credit_type AND lb.currency = k.currency
		LEFT JOIN rv ON rv.credit_type = k.credit_type AND rv.currency = k.currency
		WHERE coalesce(lb.cb, 0) - coalesce(la.cb, 0) <> coalesce(rv.net, 0)
		UNION ALL
		SELECT format('deferred_revenue at %s %s', p.b, coalesce(j.currency, l.currency))
		FROM jr j FULL JOIN (SELECT currency, sum(cb) AS cb FROM lb GROUP BY 1) l ON l.currency = j.currency
		WHERE coalesce(j.held, 0) <> coalesce(l.cb, 0);
	END LOOP;
END
\$\$;
SELECT count(*) || ' of ' || (SELECT count(*) - 1 FROM inst) || ' ranges'
	|| coalesce(': ' || string_agg(what, '; '), '') FROM bad;
SQL
)" "0 of 17 ranges"
expect "credits_verify()" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo PASS
