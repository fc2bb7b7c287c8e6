-- Finance: credits_revenue and credits_journal, on a small ledger whose
-- figures are worked out by hand, then on a random ledger against the
-- identities that tie them to credits_liability.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

\i test/sql/include/error_of.psql

-- The ledger's revenue identity over (a, b], per credit type and currency:
-- the change of credits_liability's cost basis (over all its rows of that
-- type and currency) is sold - recognized - breakage - refunded.  One row
-- per pair and (type, currency) where it does not hold.  revenue names the
-- report to check (credits_revenue, or a deliberately wrong one).
CREATE FUNCTION pg_temp.revenue_violations(a timestamptz, b timestamptz,
										   revenue text DEFAULT 'credits_revenue')
RETURNS TABLE(from_at timestamptz, to_at timestamptz, credit_type text, currency text,
			  liability_change numeric, revenue_net numeric)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format($q$
		WITH lb AS (SELECT l.credit_type, l.currency, sum(l.cost_basis) AS cb
					FROM credits_liability($2) l WHERE l.currency IS NOT NULL GROUP BY 1, 2),
			 la AS (SELECT l.credit_type, l.currency, sum(l.cost_basis) AS cb
					FROM credits_liability($1) l WHERE l.currency IS NOT NULL GROUP BY 1, 2),
			 r AS (SELECT x.credit_type, x.currency,
						  x.sold - x.recognized - x.breakage - x.refunded AS net
				   FROM %s($1, $2) x),
			 k AS (SELECT lb.credit_type, lb.currency FROM lb
				   UNION SELECT la.credit_type, la.currency FROM la
				   UNION SELECT r.credit_type, r.currency FROM r)
		SELECT $1, $2, k.credit_type, k.currency,
			   coalesce(lb.cb, 0) - coalesce(la.cb, 0), coalesce(r.net, 0)
		FROM k
		LEFT JOIN lb ON lb.credit_type = k.credit_type AND lb.currency = k.currency
		LEFT JOIN la ON la.credit_type = k.credit_type AND la.currency = k.currency
		LEFT JOIN r ON r.credit_type = k.credit_type AND r.currency = k.currency
		WHERE coalesce(lb.cb, 0) - coalesce(la.cb, 0) <> coalesce(r.net, 0)$q$, revenue)
	USING a, b;
END
$$;

-- The journal's identities up to b (from a, before every entry): every
-- line moves one amount from one account to another; per currency, what
-- deferred_revenue holds is the liability's cost basis at b (all types),
-- and each ledger account's lines over (a, b] are what credits_revenue
-- says.  One row per violation.
CREATE FUNCTION pg_temp.journal_violations(a timestamptz, b timestamptz)
RETURNS TABLE(what text, currency text, expected numeric, found numeric)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	WITH j AS (SELECT * FROM credits_journal(a, b)),
		 bad_line AS (
			SELECT 'line' AS what, j.currency, NULL::numeric AS expected, j.amount AS found
			FROM j
			WHERE j.amount <= 0 OR j.debit = j.credit
			   OR j.debit NOT IN ('cash', 'deferred_revenue', 'revenue', 'breakage', 'refunds')
			   OR j.credit NOT IN ('cash', 'deferred_revenue', 'revenue', 'breakage', 'refunds')
			   OR 'deferred_revenue' NOT IN (j.debit, j.credit)),
		 deferred AS (
			SELECT j.currency,
				   sum(CASE WHEN j.credit = 'deferred_revenue' THEN j.amount ELSE -j.amount END) AS held
			FROM j GROUP BY j.currency),
		 liab AS (
			SELECT l.currency, sum(l.cost_basis) AS cb
			FROM credits_liability(b) l WHERE l.currency IS NOT NULL GROUP BY l.currency),
		 by_account AS (
			SELECT j.currency,
				   sum(j.amount) FILTER (WHERE j.debit = 'cash')
				   - coalesce(sum(j.amount) FILTER (WHERE j.credit = 'cash'), 0) AS sold,
				   sum(j.amount) FILTER (WHERE j.credit = 'revenue')
				   - coalesce(sum(j.amount) FILTER (WHERE j.debit = 'revenue'), 0) AS recognized,
				   sum(j.amount) FILTER (WHERE j.credit = 'breakage')
				   - coalesce(sum(j.amount) FILTER (WHERE j.debit = 'breakage'), 0) AS breakage,
				   sum(j.amount) FILTER (WHERE j.credit = 'refunds')
				   - coalesce(sum(j.amount) FILTER (WHERE j.debit = 'refunds'), 0) AS refunded
			FROM j GROUP BY j.currency),
		 rev AS (
			SELECT r.currency, sum(r.sold) AS sold, sum(r.recognized) AS recognized,
				   sum(r.breakage) AS breakage, sum(r.refunded) AS refunded
			FROM credits_revenue(a, b) r GROUP BY r.currency)
	SELECT * FROM bad_line
	UNION ALL
	SELECT 'deferred_revenue', coalesce(d.currency, l.currency), coalesce(l.cb, 0), coalesce(d.held, 0)
	FROM deferred d FULL JOIN liab l ON l.currency = d.currency
	WHERE coalesce(l.cb, 0) <> coalesce(d.held, 0)
	UNION ALL
	SELECT x.what, coalesce(b2.currency, r.currency), x.expected, x.found
	FROM by_account b2 FULL JOIN rev r ON r.currency = b2.currency,
		 LATERAL (VALUES ('sold', coalesce(r.sold, 0), coalesce(b2.sold, 0)),
						 ('recognized', coalesce(r.recognized, 0), coalesce(b2.recognized, 0)),
						 ('breakage', coalesce(r.breakage, 0), coalesce(b2.breakage, 0)),
						 ('refunded', coalesce(r.refunded, 0), coalesce(b2.refunded, 0))) x(what, expected, found)
	WHERE x.expected <> x.found;
END
$$;

-- The journal without ids and instants (they differ between runs): the
-- kind of each line's entry instead ('not recorded' for an expiry that no
-- entry records yet).  (PL/pgSQL, the report's lines first: on a
-- distributed ledger Citus plans no SQL function's parameters, nor a
-- report joined to the tables.)
CREATE TEMP TABLE journal_lines (entry_id bigint, at timestamptz, account text, debit text,
	credit text, amount numeric, currency text, ordinality bigint);
CREATE FUNCTION pg_temp.journal(a timestamptz, b timestamptz)
RETURNS TABLE(kind text, account text, debit text, credit text, amount numeric, currency text)
LANGUAGE plpgsql AS $$
BEGIN
	TRUNCATE journal_lines;
	INSERT INTO journal_lines SELECT * FROM credits_journal(a, b) WITH ORDINALITY;
	RETURN QUERY
	SELECT coalesce(e.kind::text, 'not recorded'), j.account, j.debit, j.credit, j.amount, j.currency
	FROM journal_lines j
	LEFT JOIN credits.entry e ON e.account = j.account AND e.entry_id = j.entry_id
	ORDER BY j.ordinality;
END
$$;

-- 1. A small ledger, by hand.  Costs per credit: USD 0.30 (f-1's package),
-- EUR 0.40 (f-1's expiring lot), USD 2.00 per hour (f-2), EUR 0.45 (f-3),
-- USD 10.00 for 3 hours (f-3: 3.333... each).
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_package('Starter', 100, 'USD', 30.00) > 0;
SELECT credits_define_rule('plan', 100, 'reset') > 0;
SELECT credits_define_rule('topup', 5, 'add') > 0;
SELECT now() AS t0 \gset
SELECT lot_id AS l1 FROM credits_purchase('f-1', 'Starter', 'stripe') \gset
SELECT credits_grant('f-1', 50, expires_at => clock_timestamp() + interval '3 s', reason => 'eur',
					 cost => 20.00, cost_currency => 'EUR') AS l2 \gset
SELECT credits_grant('f-1', 10, reason => 'free') AS l3 \gset
SELECT credits_grant('f-2', '10.5', 'HRS', cost => 21.00, cost_currency => 'USD') AS l4 \gset
SELECT credits_issue('f-3', 'topup', 'INV-C') > 0;
SELECT credits_grant('f-3', 20, reason => 'eur', cost => 9.00, cost_currency => 'EUR') > 0;
SELECT credits_grant('f-3', 3, 'HRS', cost => 10.00, cost_currency => 'USD') > 0;
SELECT now() AS t1 \gset
-- Sold so far: credits for 30.00 USD and 29.00 EUR (20.00 + 9.00), hours
-- for 31.00 USD (21.00 + 10.00); the free lots sell nothing.
SELECT * FROM credits_revenue(:'t0', :'t1');
SELECT * FROM pg_temp.journal(:'t0', :'t1');

-- f-1 spends 30 from the expiring EUR lot (12.00 recognized), then 25: 20
-- from it (8.00) and 5 from the package (1.50 USD), and that spend is
-- reversed (the opposite).  A hold of 10 moves nothing; capturing 6 of it
-- recognizes 6 x 0.40 = 2.40.
SELECT credits_spend('f-1', 30, 'O-1') > 0;
SELECT credits_spend('f-1', 25, 'O-2') AS o2 \gset
SELECT credits_reverse(:o2) > 0;
SELECT credits_hold('f-1', 10, 'H-1') AS h1 \gset
-- (the reversed spend nets to nothing: no row for USD)
SELECT * FROM credits_revenue(:'t1', now());
SELECT credits_capture(:h1, 6) > 0;
-- f-2 spends 2.25 hours (4.50 USD), then its lot is voided: 8.25 hours
-- (16.50 USD) are breakage.
SELECT credits_spend('f-2', '2.25', credit_type => 'HRS') > 0;
SELECT credits_void(:l4, 'closed') AS voided;
-- f-3 spends its 5 free credits, then the invoice that issued them is
-- refunded: the clawback takes 5 from the EUR lot (2.25 refunded).  It
-- spends its 3 hours one by one: 3.333... each, in cents 3.33, 3.34, 3.33.
SELECT credits_spend('f-3', 5) > 0;
SELECT * FROM credits_clawback('INV-C');
SELECT credits_spend('f-3', 1, credit_type => 'HRS') > 0;
SELECT credits_spend('f-3', 1, credit_type => 'HRS') > 0;
SELECT credits_spend('f-3', 1, credit_type => 'HRS') > 0;
-- f-3 gives 5 of its EUR credits to f-5: their cost basis (2.25) moves from
-- one client to the other, and no money: no line, no figure.  f-5 spends 2
-- of them (0.90).
SELECT credits_transfer('f-3', 'f-5', 5) > 0;
SELECT credits_spend('f-5', 2) > 0;
SELECT now() AS t2 \gset
-- The expiring lot's 14 unused credits (5.60 EUR) are breakage the instant
-- it expires, whenever that is recorded.
SELECT pg_sleep_until(expires_at + interval '100 ms') FROM credits.lot WHERE lot_id = :l2;
SELECT now() AS t3 \gset
SELECT * FROM credits_revenue(:'t2', :'t3');
SELECT * FROM pg_temp.journal(:'t2', :'t3');
SELECT credits_spend('f-1', 40, 'O-3') > 0;
SELECT * FROM pg_temp.journal(:'t2', :'t3');
-- The plan's reset forfeits f-1's whole balance: the package's 60 unused
-- credits (18.00 USD) are breakage, the free credits none.
SELECT credits_issue('f-1', 'plan', 'INV-P') > 0;
SELECT now() AS t4 \gset

SELECT * FROM credits_revenue(:'t0', :'t4');
SELECT * FROM credits_revenue(:'t1', :'t2');
SELECT * FROM credits_revenue(:'t2', :'t4');
SELECT * FROM pg_temp.journal(:'t0', :'t4');
-- What is left: f-3's 10 EUR credits (4.50 EUR) and f-5's 3 (1.35 EUR).
SELECT * FROM credits_liability(:'t4');
-- The identities, at every pair of those instants: no rows.
SELECT v.* FROM (VALUES (:'t0'::timestamptz), (:'t1'), (:'t2'), (:'t3'), (:'t4')) a(t),
			   (VALUES (:'t0'::timestamptz), (:'t1'), (:'t2'), (:'t3'), (:'t4')) b(t),
			   LATERAL pg_temp.revenue_violations(a.t, b.t) v
WHERE a.t <= b.t;
SELECT v.* FROM (VALUES (:'t1'::timestamptz), (:'t2'), (:'t3'), (:'t4')) b(t),
			   LATERAL pg_temp.journal_violations(:'t0', b.t) v;

-- An empty range has no lines; a range into the future shows the breakage
-- of lots that expire by its end, as credits_liability projects it.
SELECT count(*) AS empty_range FROM credits_revenue(:'t4', :'t4');
SELECT count(*) AS nothing_after FROM credits_journal(:'t4', now());
SELECT credits_grant('f-4', 8, expires_at => now() + interval '1 day', cost => 5.00,
					 cost_currency => 'USD') > 0;
SELECT now() AS t5 \gset
SELECT * FROM credits_revenue(:'t4', :'t5'::timestamptz + interval '2 days');
SELECT * FROM pg_temp.journal(:'t4', :'t5'::timestamptz + interval '2 days');
SELECT * FROM pg_temp.revenue_violations(:'t4', :'t5'::timestamptz + interval '2 days');
SELECT * FROM pg_temp.revenue_violations(:'t5', :'t5'::timestamptz + interval '2 days');

-- A transfer's two sides cancel to the cent even among other movements of
-- the same instant.  f-6 and f-7 each buy 3 hours for 1.00 EUR; in one
-- transaction f-7 spends one (0.333... of cost basis) and f-6 gives two to
-- f-8 (0.666...).  The spend recognizes 0.33, the transfer nothing; the
-- liability goes from 2.00 to 1.67 (0.333... + 0.666... + 0.666...).
SELECT credits_grant('f-6', 3, 'HRS', cost => 1.00, cost_currency => 'EUR') > 0;
SELECT credits_grant('f-7', 3, 'HRS', cost => 1.00, cost_currency => 'EUR') > 0;
SELECT now() AS t6 \gset
BEGIN;
SELECT credits_spend('f-7', 1, credit_type => 'HRS') > 0;
SELECT credits_transfer('f-6', 'f-8', 2, credit_type => 'HRS') > 0;
COMMIT;
SELECT now() AS t7 \gset
SELECT * FROM credits_revenue(:'t6', :'t7');
SELECT * FROM pg_temp.journal(:'t6', :'t7');
SELECT l.cost_basis AS before, r.cost_basis AS after
FROM credits_liability(:'t6') l, credits_liability(:'t7') r
WHERE (l.credit_type, l.currency, r.credit_type, r.currency) = ('HRS', 'EUR', 'HRS', 'EUR');
SELECT * FROM pg_temp.revenue_violations(:'t6', :'t7');
SELECT * FROM pg_temp.journal_violations(:'t0', :'t7');

-- 2. Bad arguments: NULL bounds (22004); infinite bounds (22023: the range
-- runs between two instants of credits_liability, which takes no infinite
-- instant); a range that ends before it starts (22023).  Nothing changes.
SELECT credits_fingerprint() AS before \gset
SELECT pg_temp.error_of('SELECT * FROM credits_revenue(NULL, now())');
SELECT pg_temp.error_of('SELECT * FROM credits_revenue(now(), NULL)');
SELECT pg_temp.error_of('SELECT * FROM credits_journal(NULL, NULL)');
SELECT pg_temp.error_of($$SELECT * FROM credits_revenue('-infinity', now())$$);
SELECT pg_temp.error_of($$SELECT * FROM credits_revenue(now(), 'infinity')$$);
SELECT pg_temp.error_of($$SELECT * FROM credits_journal('-infinity', 'infinity')$$);
SELECT pg_temp.error_of($$SELECT * FROM credits_journal('2024-01-02', '2024-01-01')$$);
SELECT pg_temp.error_of($$SELECT * FROM credits_revenue(to_at => '2024-01-01', from_at => '2024-01-02')$$);
SELECT credits_fingerprint() = :'before' AS unchanged;

-- 3. Roles: finance reports are for credits_reader (and the roles above
-- it); a client portal may not call them (they cover every account).
CREATE ROLE finance_reader IN ROLE credits_reader;
CREATE ROLE finance_nobody;
CREATE ROLE finance_portal;
SELECT credits_portal_add_role('finance_portal');
SET ROLE finance_reader;
SELECT count(*) AS revenue_rows FROM credits_revenue(:'t0', :'t4');
SELECT count(*) AS journal_lines FROM credits_journal(:'t0', :'t4');
RESET ROLE;
SET ROLE finance_nobody;
SELECT pg_temp.error_of(format('SELECT * FROM credits_revenue(%L, %L)', :'t0', :'t4'));
SELECT pg_temp.error_of(format('SELECT * FROM credits_journal(%L, %L)', :'t0', :'t4'));
RESET ROLE;
SET ROLE finance_portal;
SET credits.portal_account = 'f-1';
SELECT pg_temp.error_of(format('SELECT * FROM credits_revenue(%L, %L)', :'t0', :'t4'));
SELECT pg_temp.error_of(format('SELECT * FROM credits_journal(%L, %L)', :'t0', :'t4'));
-- the readers behind them are out of reach too
SELECT pg_temp.error_of(format('SELECT * FROM credits.finance_lines(%L, %L)', :'t0', :'t4'));
SELECT pg_temp.error_of(format('SELECT * FROM credits.revenue_rows(%L, %L)', :'t0', :'t4'));
RESET ROLE;
-- A portal role is refused even as a member of credits_reader.
GRANT credits_reader TO finance_portal;
SET ROLE finance_portal;
SELECT pg_temp.error_of(format('SELECT * FROM credits_revenue(%L, %L)', :'t0', :'t4'));
SELECT pg_temp.error_of(format('SELECT * FROM credits_journal(%L, %L)', :'t0', :'t4'));
RESET credits.portal_account;
RESET ROLE;
SELECT credits_portal_remove_role('finance_portal');
DROP ROLE finance_reader;
DROP ROLE finance_nobody;
DROP ROLE finance_portal;

-- Every entry kind the ledger allows has its ledger account (hold and
-- release none: held credits are still unused; nor the two sides of a
-- transfer, which moves deferred revenue between clients).  A new kind
-- shows here.
SELECT k AS kind, credits.finance_account(k) AS ledger_account
FROM regexp_matches((SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
					 WHERE c.contypid = 'credits.entry_kind'::regtype), '''(\w+)''', 'g') m(a),
	 LATERAL (SELECT m.a[1]) x(k)
ORDER BY 1;

SELECT * FROM credits_verify();
DROP EXTENSION credits;

-- 4. Totals beyond the credit_amount range.  Two accounts each hold 5.4 x
-- 10^12 unused credits of lots of 9 x 10^12 that cost 0.01 USD: 0.006 USD
-- each, 0.012 USD in all, which is 0.01.  credits_liability splits the
-- total over two rows; their cost bases add up to the rounded total (0.01
-- and 0.00, not 0.01 each), and the revenue agrees: 0.02 sold, 0.01
-- recognized.
CREATE EXTENSION credits;
SELECT now() AS big0 \gset
SELECT credits_grant('big-1', 9000000000000, cost => 0.01, cost_currency => 'USD') > 0;
SELECT credits_grant('big-2', 9000000000000, cost => 0.01, cost_currency => 'USD') > 0;
SELECT credits_spend('big-1', 3600000000000) > 0;
SELECT credits_spend('big-2', 3600000000000) > 0;
SELECT now() AS big1 \gset
SELECT * FROM credits_liability();
SELECT * FROM credits_liability(now() - interval '1 microsecond');
SELECT * FROM credits_revenue(:'big0', :'big1');
SELECT * FROM pg_temp.revenue_violations(:'big0', :'big1');
SELECT * FROM pg_temp.journal_violations(:'big0', :'big1');
SELECT * FROM credits_verify();
DROP EXTENSION credits;

-- 5. A random ledger: four accounts, two credit types, two currencies and
-- free credits; purchases, grants with a cost (some expiring within the
-- run), spends, transfers, reversals, holds captured or released or left
-- open, voids, resets, issues and their clawbacks, expiry runs; each
-- operation in a transaction of its own, so that entries are spread over
-- time.
CREATE EXTENSION credits;
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_define_package('Pack', 7, 'EUR', 2.00) > 0;
SELECT credits_define_rule('reset-CRD', 3, 'reset') > 0;
SELECT credits_define_rule('reset-HRS', '1.5', 'reset', credit_type => 'HRS') > 0;
SELECT credits_define_rule('add-CRD', 4, 'add') > 0;
SELECT credits_define_rule('add-HRS', '2.25', 'add', credit_type => 'HRS') > 0;
SELECT now() AS r0 \gset
SELECT setseed(0.16);
DO $$
DECLARE
	i int;
	op float8;
	acct text;
	typ text;
	scale int;
	id bigint;
	held numeric;
	ref text;
BEGIN
	FOR i IN 1..500 LOOP
		acct := 'r-' || (1 + floor(random() * 4))::int;
		typ := CASE WHEN random() < 0.6 THEN 'CRD' ELSE 'HRS' END;
		scale := CASE typ WHEN 'CRD' THEN 0 ELSE 2 END;
		op := random();
		BEGIN
			IF op < 0.20 THEN
				PERFORM credits_grant(acct, round((1 + random() * 40)::numeric, scale)::credit_amount, typ,
					expires_at => CASE WHEN random() < 0.4
									   THEN clock_timestamp() + (30 + random() * 1500) * interval '1 ms'
									   WHEN random() < 0.2 THEN now() + interval '1 day' END,
					cost => round((random() * 60)::numeric, 2),
					cost_currency => CASE WHEN random() < 0.5 THEN 'USD' ELSE 'EUR' END);
			ELSIF op < 0.26 THEN
				PERFORM credits_purchase(acct, 'Pack', 'stripe');
			ELSIF op < 0.30 THEN
				PERFORM credits_grant(acct, round((1 + random() * 20)::numeric, scale)::credit_amount, typ);
			ELSIF op < 0.48 THEN
				PERFORM credits_spend(acct, round((0.5 + random() * 25)::numeric, scale)::credit_amount,
									  credit_type => typ);
			ELSIF op < 0.52 THEN
				PERFORM credits_transfer(acct, 'r-' || (1 + (substr(acct, 3)::int + floor(random() * 3))::int % 4),
										 round((0.5 + random() * 15)::numeric, scale)::credit_amount,
										 credit_type => typ);
			ELSIF op < 0.60 THEN
				SELECT e.entry_id INTO id FROM credits.entry e
				WHERE e.account = acct AND e.kind IN ('spend', 'capture') ORDER BY random() LIMIT 1;
				IF id IS NOT NULL THEN
					PERFORM credits_reverse(id);
				END IF;
			ELSIF op < 0.67 THEN
				PERFORM credits_hold(acct, round((0.5 + random() * 10)::numeric, scale)::credit_amount,
									 'H-' || i, typ);
			ELSIF op < 0.74 THEN
				SELECT h.hold_id, h.amount, CASE h.credit_type WHEN 'CRD' THEN 0 ELSE 2 END
				INTO id, held, scale
				FROM credits.hold h
				WHERE h.account = acct AND h.status = 'open' ORDER BY random() LIMIT 1;
				IF id IS NOT NULL AND random() < 0.6 THEN
					-- all of it, or a part
					PERFORM credits_capture(id, least(held, greatest(0.1 ^ scale,
								round(held * random()::numeric, scale)))::credit_amount);
				ELSIF id IS NOT NULL THEN
					PERFORM credits_release(id);
				END IF;
			ELSIF op < 0.79 THEN
				SELECT l.lot_id INTO id FROM credits.lot l
				WHERE l.account = acct AND l.is_open ORDER BY random() LIMIT 1;
				IF id IS NOT NULL THEN
					PERFORM credits_void(id, 'random');
				END IF;
			ELSIF op < 0.84 THEN
				PERFORM credits_issue(acct, 'reset-' || typ, 'R-' || i);
			ELSIF op < 0.91 THEN
				PERFORM credits_issue(acct, 'add-' || typ, 'A-' || i);
			ELSIF op < 0.97 THEN
				SELECT x.reference INTO ref FROM credits.issue x
				WHERE x.service LIKE 'add-%' AND x.clawback_entry_id IS NULL ORDER BY random() LIMIT 1;
				IF ref IS NOT NULL THEN
					PERFORM credits_clawback(ref);
				END IF;
			ELSE
				PERFORM credits_expire();
			END IF;
		EXCEPTION WHEN SQLSTATE 'CR001' OR SQLSTATE 'CR005' THEN
			NULL;	-- not enough credits, or reversed already: the next one
		END;
		COMMIT;
		PERFORM pg_sleep(0.004);
	END LOOP;
END
$$;
-- A hold left open at the end (the liability then reads that account's
-- lots from their movements).
SELECT credits_grant('r-1', 10, cost => 3.33, cost_currency => 'USD') > 0;
SELECT credits_hold('r-1', 4, 'H-end') > 0;
SELECT now() AS r1 \gset
SELECT * FROM credits_verify();
-- Every kind of entry occurred, and every figure of the revenue.
SELECT k AS missing_kind FROM unnest(ARRAY['grant', 'spend', 'expire', 'void', 'reset', 'reversal',
										   'clawback', 'hold', 'capture', 'release', 'transfer_out',
										   'transfer_in']) k
WHERE NOT EXISTS (SELECT FROM credits.entry e WHERE e.kind = k);
SELECT bool_and(sold > 0) AS sold, bool_and(recognized > 0) AS recognized,
	   bool_and(breakage > 0) AS breakage, bool_or(refunded > 0) AS refunded,
	   count(*) AS type_currencies
FROM credits_revenue(:'r0', :'r1');
SELECT count(*) > 0 AS holds_left_open FROM credits.hold WHERE status = 'open';

-- Instants to look at: entries' instants, lots' expiries and the instant
-- before each, the start, now, and beyond the last expiry.
CREATE TEMP TABLE instants AS
SELECT t, row_number() OVER (ORDER BY t) AS n FROM (
	SELECT DISTINCT t FROM (
		(SELECT e.at AS t FROM credits.entry e ORDER BY random() LIMIT 25)
		UNION ALL
		(SELECT l.expires_at FROM credits.lot l WHERE l.expires_at < now() ORDER BY random() LIMIT 8)
		UNION ALL
		(SELECT l.expires_at - interval '1 microsecond' FROM credits.lot l
		 WHERE l.expires_at < now() ORDER BY random() LIMIT 8)
		UNION ALL
		SELECT :'r0'::timestamptz
		UNION ALL
		SELECT now()
		UNION ALL
		SELECT now() + interval '2 days') i) d;
SELECT count(*) >= 40 AS enough_instants FROM instants;

-- The revenue identity between consecutive instants and between 30 random
-- pairs (from the start to each instant: the journal's checks below): no
-- rows.
CREATE TEMP TABLE pairs AS
SELECT a.t AS a, b.t AS b FROM instants a JOIN instants b ON b.n = a.n + 1
UNION
(SELECT least(a.t, b.t), greatest(a.t, b.t) FROM instants a, instants b ORDER BY random() LIMIT 30);
SELECT v.* FROM pairs p, LATERAL pg_temp.revenue_violations(p.a, p.b) v;
-- The journal: lines well formed, deferred_revenue equal to the cost basis
-- at every instant, and each ledger account equal to the revenue report.
SELECT v.* FROM instants i, LATERAL pg_temp.journal_violations(:'r0', i.t) v;
-- Unrounded, the lines up to every instant add up to the liability's lots
-- exactly, per credit type and currency.
SELECT i.t, x.credit_type, x.currency, x.lines, y.lots
FROM instants i,
	 LATERAL (SELECT f.credit_type, f.currency, sum(f.raw) AS lines
			  FROM credits.finance_lines(:'r0', i.t) f GROUP BY 1, 2) x
	 FULL JOIN LATERAL (SELECT l.credit_type, l.currency, sum(l.cost) AS lots
						FROM credits.liability_lots(i.t) l WHERE l.currency IS NOT NULL
						GROUP BY 1, 2) y ON y.credit_type = x.credit_type AND y.currency = x.currency
WHERE coalesce(x.lines, 0) <> coalesce(y.lots, 0);

-- The checks can fail: rounding each line to cents by itself, instead of
-- the running total, breaks the revenue identity on this ledger.
CREATE FUNCTION pg_temp.revenue_rounded_per_line(a timestamptz, b timestamptz)
RETURNS TABLE(credit_type text, currency text, sold numeric, recognized numeric,
			  breakage numeric, refunded numeric)
LANGUAGE sql AS $$
	SELECT f.credit_type, f.currency,
		   coalesce(sum(round(f.raw, 2)) FILTER (WHERE f.ledger_account = 'cash'), 0),
		   -coalesce(sum(round(f.raw, 2)) FILTER (WHERE f.ledger_account = 'revenue'), 0),
		   -coalesce(sum(round(f.raw, 2)) FILTER (WHERE f.ledger_account = 'breakage'), 0),
		   -coalesce(sum(round(f.raw, 2)) FILTER (WHERE f.ledger_account = 'refunds'), 0)
	FROM credits.finance_lines(a, b) f
	GROUP BY 1, 2
$$;
SELECT EXISTS (SELECT FROM pairs p,
					  LATERAL pg_temp.revenue_violations(p.a, p.b, 'pg_temp.revenue_rounded_per_line') v)
	   AS per_line_rounding_caught;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
