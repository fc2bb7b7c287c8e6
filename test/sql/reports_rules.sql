-- The rules the reports keep: totals that never fail, usage whose net is
-- the balance's change, expiries counted when the lot expired, statements
-- whose bounds match credits_balance.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

-- Every report range below is checked against credits_balance: for each
-- account and type, net (summed over its rows) is the balance at to_at less
-- the balance at from_at, and the statement's lines add up to its closing
-- balance, which is the balance at to_at.
CREATE FUNCTION pg_temp.check_range(from_at timestamptz, to_at timestamptz)
RETURNS TABLE(account text, credit_type text, problem text) LANGUAGE sql AS $$
	WITH u AS (
		SELECT u.account, u.credit_type, sum(u.net::numeric) AS net,
			   sum(u.granted::numeric - u.spent::numeric - u.expired::numeric - u.voided::numeric
				   - u.reset::numeric - u.clawed_back::numeric) AS by_kind
		FROM credits_usage($1, $2) u GROUP BY 1, 2),
	a AS (SELECT a.account, a.credit_type,
				 credits_balance(a.account, a.credit_type, $2)::numeric
				 - credits_balance(a.account, a.credit_type, $1)::numeric AS change,
				 (SELECT coalesce(sum(CASE e.kind WHEN 'release' THEN e.amount::numeric
											 ELSE -e.amount::numeric END), 0)
				  FROM credits.entry e
				  WHERE e.account = a.account AND e.credit_type = a.credit_type
					AND e.kind IN ('hold', 'release') AND e.at > $1 AND e.at <= $2) AS holds
		  FROM credits.account a),
	s AS (SELECT a.account, a.credit_type,
				 (SELECT count(*) FROM credits_statement(a.account, $1, $2, a.credit_type) x
				  WHERE x.kind NOT IN ('opening', 'closing')) AS lines,
				 (SELECT max(x.balance::numeric) FILTER (WHERE x.kind = 'closing')
						 - min(x.balance::numeric) FILTER (WHERE x.kind = 'opening')
				  FROM credits_statement(a.account, $1, $2, a.credit_type) x) AS stmt_change
		  FROM credits.account a)
	SELECT a.account, a.credit_type,
		   format('usage net %s, by kind %s, holds %s; balance changed by %s; statement %s',
				  u.net, u.by_kind, a.holds, a.change, s.stmt_change)
	FROM a JOIN s USING (account, credit_type) LEFT JOIN u USING (account, credit_type)
	WHERE coalesce(u.net, 0) <> a.change
	   OR coalesce(u.by_kind, 0) + a.holds <> a.change
	   OR s.stmt_change <> a.change
$$;
-- The statement's own check: running balances add up line by line.
CREATE FUNCTION pg_temp.statement_adds_up(account text, from_at timestamptz, to_at timestamptz)
RETURNS boolean LANGUAGE sql AS $$
	SELECT bool_and(CASE WHEN x.kind = 'opening' THEN true
						 WHEN x.kind = 'closing' THEN x.balance = x.prev
						 ELSE x.balance::numeric = x.prev::numeric
							  + CASE x.direction WHEN 'in' THEN x.amount::numeric
												 ELSE -x.amount::numeric END END)
	FROM (SELECT s.*, lag(s.balance) OVER (ORDER BY s.line) AS prev
		  FROM credits_statement($1, $2, $3) s) x
$$;

-- a. Totals beyond the credit_amount range never fail.  Two accounts of
-- 5 x 10^12: the liability of CRD comes in two rows, one per account, that
-- add up; an account whose unused credits (available and held) exceed the
-- range is split too, counted in its first row only (its hold stays open:
-- releasing it would take the balance itself beyond the range).
SELECT now() AS t0 \gset
SELECT credits_grant('big-1', 5000000000000) > 0;
SELECT credits_grant('big-2', 5000000000000) > 0;
SELECT * FROM credits_liability();
SELECT * FROM credits_liability(now() - interval '1 microsecond');
SELECT credits_grant('big-3', 9000000000000) > 0;
SELECT credits_hold('big-3', 5000000000000, 'H-1') AS big_hold \gset
SELECT credits_grant('big-3', 5000000000000) > 0;
SELECT * FROM credits_liability();
SELECT sum(accounts) AS accounts, sum(outstanding::numeric) AS outstanding FROM credits_liability();
-- Usage sums as numeric: 18 x 10^12 granted to one account in the range
-- comes over two rows of that account, which add up.
SELECT credits_spend('big-1', 5000000000000) > 0;
SELECT credits_grant('big-1', 9000000000000) > 0;
SELECT credits_spend('big-1', 9000000000000) > 0;
SELECT credits_grant('big-1', 9000000000000) > 0;
SELECT * FROM credits_usage(:'t0', now(), 'big-1');
SELECT account, sum(granted::numeric) AS granted, sum(spent::numeric) AS spent, sum(net::numeric) AS net
FROM credits_usage(:'t0', now()) GROUP BY account ORDER BY account;

-- b. reset and clawed_back: net is the balance's change.  A rule issues
-- 1000 credits per invoice and replaces the balance (reset); an invoice
-- refunded later is clawed back.  Holds and releases move net too; spent
-- counts captures.
SELECT credits_define_rule('pro', 1000, 'reset') > 0;
SELECT now() AS t1 \gset
SELECT credits_issue('rb', 'pro', 'INV-1') > 0;
SELECT credits_grant('rb', 6) > 0;
SELECT credits_spend('rb', 120) > 0;
SELECT credits_issue('rb', 'pro', 'INV-2') > 0;
SELECT * FROM credits_clawback('INV-2');
SELECT credits_grant('rb', 50) > 0;
SELECT credits_hold('rb', 20, 'H-2') AS rb_hold \gset
SELECT credits_capture(:rb_hold, 15) > 0;
SELECT credits_hold('rb', 10, 'H-3') > 0;
SELECT * FROM credits_usage(:'t1', now(), 'rb');
SELECT credits_balance('rb') AS balance_now;
-- Resets that keep something: reset counts only what they forfeit (one
-- keeps 300 of the whole balance, one 50 of its own credits and all the
-- others), and what a closed lot gets back and forfeits at once (a
-- released hold).
SELECT credits_define_rule('pro', 1000, 'reset', variant => 'keep', rollover => 300) > 0;
SELECT credits_define_rule('team', 200, 'reset', rollover => 50, reset_scope => 'own') > 0;
SELECT credits_grant('rk', 100, expires_at => now() + interval '1 day') > 0;
SELECT credits_grant('rk', 400) > 0;
SELECT credits_hold('rk', 60, 'H-4') AS rk_hold \gset
SELECT credits_issue('rk', 'pro', 'INV-3', variant => 'keep') > 0;
SELECT credits_release(:rk_hold);
SELECT credits_issue('rk', 'team', 'INV-4') > 0;
SELECT credits_spend('rk', 1250) > 0;
SELECT credits_issue('rk', 'team', 'INV-5') > 0;
SELECT * FROM credits_usage(:'t1', now(), 'rk');
SELECT kind, amount, running_balance FROM credits_history('rk') WHERE kind = 'reset';
SELECT credits_balance('rk') AS balance_now;

-- c. An expiry counts when the lot expired, whenever it was recorded: a
-- lot of 10 expires 1 s after t2; by t3 nobody has recorded it, at t4 a
-- run of credits_expire() does.
SELECT now() AS t2 \gset
SELECT credits_grant('ex', 10, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT credits_grant('ex', 3) > 0;
SELECT pg_sleep(1.1);
SELECT now() AS t3 \gset
SELECT account, granted, expired, net FROM credits_usage(:'t2', :'t3', 'ex');
SELECT credits_expire() >= 1 AS recorded;
SELECT now() AS t4 \gset
SELECT at > :'t3' AS recorded_after_t3 FROM credits.entry WHERE account = 'ex' AND kind = 'expire';
-- Its expire entry lies in (t3, t4], yet the expiry belongs to (t2, t3].
SELECT account, granted, expired, net FROM credits_usage(:'t2', :'t3', 'ex');
SELECT account, granted, expired, net FROM credits_usage(:'t3', :'t4', 'ex');
SELECT account, granted, expired, net FROM credits_usage(:'t2', :'t4', 'ex');
SELECT line, kind, amount, balance, reason FROM credits_statement('ex', :'t2', :'t3');
SELECT line, kind, amount, balance, reason FROM credits_statement('ex', :'t3', :'t4');
SELECT credits_spend('ex', 1) > 0;
-- Credits held from a lot when it expires were not available then: they
-- count when a release gives them back and they leave again at once.
SELECT credits_grant('hx', 10, expires_at => clock_timestamp() + interval '1 s') > 0;
SELECT credits_hold('hx', 4, 'H-4') AS hx_hold \gset
SELECT now() AS h1 \gset
SELECT pg_sleep(1.1);
SELECT now() AS h2 \gset
SELECT credits_release(:hx_hold);
SELECT now() AS h3 \gset
SELECT kind, amount, running_balance FROM credits_history('hx');
SELECT account, expired, net FROM credits_usage(:'h1', :'h2', 'hx');
SELECT account, expired, net FROM credits_usage(:'h2', :'h3', 'hx');
SELECT line, kind, amount, balance FROM credits_statement('hx', :'h2', :'h3');

-- d. Statement bounds: opening is the balance at from_at, lines the entries
-- after it up to to_at, closing the balance at to_at.  A from_at equal to a
-- grant's time counts that grant once (in the opening balance) ...
SELECT credits_grant('sb', 10) AS sb_lot \gset
SELECT at AS sb_at FROM credits.entry WHERE lot_id = :sb_lot \gset
SELECT line, kind, amount, balance, reason FROM credits_statement('sb', :'sb_at', now());
SELECT line, kind, amount, balance FROM credits_statement('sb', :'sb_at'::timestamptz - interval '1 microsecond', :'sb_at');
-- ... and a spend of the current transaction is a line of a statement that
-- ends now, never an invented expiry.
BEGIN;
SELECT credits_spend('sb', 4) > 0;
SELECT line, kind, amount, balance, reason FROM credits_statement('sb', :'sb_at', now());
SELECT pg_temp.statement_adds_up('sb', :'sb_at', now());
COMMIT;

-- Every account, over every range between the instants above.
SELECT now() AS t5 \gset
SELECT f.name AS from_name, t.name AS to_name, c.*
FROM (VALUES ('t0', :'t0'::timestamptz), ('t1', :'t1'), ('t2', :'t2'), ('t3', :'t3'),
			 ('t4', :'t4'), ('h1', :'h1'), ('h2', :'h2'), ('h3', :'h3'), ('t5', :'t5')) f(name, at),
	 (VALUES ('t0', :'t0'::timestamptz), ('t1', :'t1'), ('t2', :'t2'), ('t3', :'t3'),
			 ('t4', :'t4'), ('h1', :'h1'), ('h2', :'h2'), ('h3', :'h3'), ('t5', :'t5')) t(name, at),
	 LATERAL pg_temp.check_range(f.at, t.at) c
WHERE f.at <= t.at;
SELECT a.account, pg_temp.statement_adds_up(a.account, :'t0', :'t5') AS adds_up
FROM credits.account a ORDER BY 1;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
