-- credits_clawback: a refunded invoice's credits are deducted, first from
-- the lot it created, then soonest-expiring first, never below zero
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

\i test/sql/include/lots_of.psql

SELECT credits_define_rule('pack', 100, 'add') > 0;
SELECT credits_define_rule('bundle', 50, 'add') > 0;

-- Part of the issued lot was spent: what is left of it goes first, the rest
-- comes from the other lots soonest-expiring first.
SELECT credits_grant('k-1', 40, reason => 'forever') > 0;
SELECT credits_issue('k-1', 'pack', 'inv-1') > 0;
SELECT credits_grant('k-1', 40, expires_at => now() + interval '10 days', reason => 'ten-days') > 0;
SELECT credits_spend('k-1', 110) AS spend \gset
SELECT pg_temp.lots_of(:spend) AS spent_from;
SELECT credits_grant('k-1', 20, reason => 'later-forever') > 0;
SELECT credits_grant('k-1', 20, expires_at => now() + interval '30 days', reason => 'thirty-days') > 0;
SELECT * FROM credits_clawback('inv-1');
SELECT entry_id AS claw FROM credits.entry WHERE account = 'k-1' AND kind = 'clawback' \gset
SELECT pg_temp.lots_of(:claw) AS deducted_from;
SELECT credits_balance('k-1');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-1');

-- A second clawback of the same invoice deducts nothing: (0, 0).
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_clawback('inv-1');
SELECT * FROM credits_clawback(reference => 'inv-1');
SELECT credits_fingerprint() = :'before' AS unchanged;

-- Clawback of an already-spent grant: the balance cannot cover it, so it
-- goes to zero and the rest is a shortfall, returned and recorded on the
-- entry.
SELECT credits_issue('k-2', 'pack', 'inv-2') > 0;
SELECT credits_grant('k-2', 5, reason => 'bonus') > 0;
SELECT credits_spend('k-2', 90) > 0;
SELECT * FROM credits_clawback('inv-2');
SELECT credits_balance('k-2');
SELECT kind, amount, running_balance, shortfall FROM credits.entry WHERE account = 'k-2' ORDER BY seq;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-2');
-- Nothing left at all: the clawback deducts 0 and records the whole
-- shortfall.
SELECT credits_issue('k-3', 'bundle', 'inv-3') > 0;
SELECT credits_spend('k-3', 50) > 0;
SELECT * FROM credits_clawback('inv-3');
SELECT kind, amount, running_balance, shortfall FROM credits.entry WHERE account = 'k-3' ORDER BY seq;

-- The issued lot expired meanwhile: its expiry is recorded first, and the
-- clawback takes from the other lots.
SELECT credits_define_rule('trial', 10, 'add', expires_after => '1 second') > 0;
SELECT credits_grant('k-4', 25, reason => 'paid') > 0;
SELECT credits_issue('k-4', 'trial', 'inv-4') > 0;
SELECT pg_sleep(1.2);
SELECT * FROM credits_clawback('inv-4');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-4');

-- Held credits are not available: the clawback leaves them held.
SELECT credits_issue('k-5', 'pack', 'inv-5') > 0;
SELECT credits_hold('k-5', 60, 'order-5') AS hold5 \gset
SELECT * FROM credits_clawback('inv-5');
SELECT credits_balance('k-5') \gset
SELECT :'credits_balance' AS credits_balance, held FROM credits.account WHERE account = 'k-5';
SELECT credits_capture(:hold5) > 0 AS captured;
SELECT credits_balance('k-5');

-- A reset issue clawed back: the forfeited balance stays forfeited.
SELECT credits_define_rule('plan', 30, 'reset') > 0;
SELECT credits_grant('k-6', 12) > 0;
SELECT credits_issue('k-6', 'plan', 'inv-6') > 0;
SELECT * FROM credits_clawback('inv-6');
SELECT kind, amount, running_balance, reference FROM credits_history('k-6');

-- Clawbacks (refunds) work while credits are disabled.
SELECT credits_issue('k-7', 'bundle', 'inv-7') > 0;
SELECT credits_set_enabled(false);
SELECT * FROM credits_clawback('inv-7');
SELECT credits_set_enabled(true);

-- A recorded shortfall is settled first by credits that come back to the
-- account later, as clawback entries of the invoice.
-- 1. Held: the whole issue is held when the invoice is refunded, so the
-- clawback deducts nothing; releasing the hold brings the credits back and
-- they go to the refund at once, not to the client.
SELECT credits_issue('k-hc', 'pack', 'INV-HC') > 0;
SELECT credits_hold('k-hc', 100, 'order-hc') AS hold_hc \gset
SELECT * FROM credits_clawback('INV-HC');
SELECT credits_release(:hold_hc);
SELECT credits_balance('k-hc');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('k-hc');
SELECT kind, amount, shortfall FROM credits.entry WHERE account = 'k-hc' AND kind = 'clawback' ORDER BY seq;
SELECT reference, deducted, shortfall, shortfall_due FROM credits_invoices('k-hc');
SELECT * FROM credits_clawback('INV-HC');
-- 2. Spent, then the spend reversed: the reversed credits settle it.
SELECT credits_issue('k-rv', 'pack', 'INV-RV') > 0;
SELECT credits_spend('k-rv', 100, 'order-rv') AS spend_rv \gset
SELECT * FROM credits_clawback('INV-RV');
SELECT credits_reverse(:spend_rv) > 0 AS reversed;
SELECT credits_balance('k-rv');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-rv');
-- 3. A capture of less than was held releases the rest: the rest settles
-- the shortfall (70 of 100; 30 stays due).
SELECT credits_issue('k-pc', 'pack', 'INV-PC') > 0;
SELECT credits_hold('k-pc', 100, 'order-pc') AS hold_pc \gset
SELECT * FROM credits_clawback('INV-PC');
SELECT credits_capture(:hold_pc, 30) > 0 AS captured;
SELECT credits_balance('k-pc');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-pc');
SELECT reference, shortfall, shortfall_due FROM credits_invoices('k-pc');
-- 4. In several steps, and only by credits that come back: a later grant
-- is the client's own, the next returns settle the rest, oldest clawback
-- first, and once settled, returns are the client's again.  Settlements
-- take from the lots the credits came back to, soonest-expiring first.
SELECT credits_issue('k-st', 'pack', 'INV-ST1') > 0;
SELECT credits_issue('k-st', 'bundle', 'INV-ST2') > 0;
SELECT credits_grant('k-st', 30, expires_at => now() + interval '10 days', reason => 'ten-days') > 0;
SELECT credits_spend('k-st', 40, 'order-s1') AS spend_s1 \gset
SELECT credits_spend('k-st', 140, 'order-s2') AS spend_s2 \gset
SELECT pg_temp.lots_of(:spend_s2) AS s2_from;
SELECT * FROM credits_clawback('INV-ST1');
SELECT * FROM credits_clawback('INV-ST2');
SELECT credits_reverse(:spend_s1) > 0 AS reversed;
SELECT reference, shortfall, shortfall_due FROM credits_invoices('k-st') ORDER BY reference;
SELECT credits_grant('k-st', 25, reason => 'new-purchase') > 0;
SELECT credits_balance('k-st');
SELECT credits_reverse(:spend_s2) AS rev_s2 \gset
SELECT entry_id AS settle_st2 FROM credits.entry
WHERE account = 'k-st' AND kind = 'clawback' AND reference = 'INV-ST2' AND related_id IS NOT NULL \gset
SELECT pg_temp.lots_of(:settle_st2) AS st2_settled_from;
SELECT reference, shortfall, shortfall_due FROM credits_invoices('k-st') ORDER BY reference;
SELECT credits_balance('k-st');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-st');
SELECT credits_hold('k-st', 10, 'order-s3') AS hold_s3 \gset
SELECT credits_release(:hold_s3);
SELECT credits_balance('k-st');
SELECT * FROM credits_clawback('INV-ST1');
SELECT * FROM credits_clawback('INV-ST2');
-- 5. Credits that come back to a lot that no longer counts (voided,
-- expired) leave again at once and settle nothing.
SELECT credits_issue('k-vd', 'pack', 'INV-VD') AS lot_vd \gset
SELECT credits_hold('k-vd', 100, 'order-vd') AS hold_vd \gset
SELECT * FROM credits_clawback('INV-VD');
SELECT credits_void(:lot_vd, 'fraud');
SELECT credits_release(:hold_vd);
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-vd');
SELECT reference, shortfall, shortfall_due FROM credits_invoices('k-vd');

-- An invoice that never issued credits: 42704; NULL: 22004.  Nothing
-- changes.
SELECT credits_fingerprint() AS before \gset
SELECT * FROM credits_clawback('inv-404');
\set VERBOSITY sqlstate
SELECT * FROM credits_clawback('inv-404');
SELECT * FROM credits_clawback(NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;

-- What each invoice issued and what its clawback deducted.
SELECT reference, account, credits, deducted, shortfall, shortfall_due,
	   clawed_back_at IS NOT NULL AS clawed_back
FROM credits_invoices() ORDER BY reference;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
