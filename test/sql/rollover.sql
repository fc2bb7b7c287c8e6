-- Resets that keep something: a reset rule or subscription forfeits only
-- what exceeds its rollover of the credits of its reset_scope (the whole
-- type's available balance, or only what the same rule or subscription
-- issued), in spend order; the lots it leaves credits in stay open, the
-- others are closed to credits that come back later.
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET credits.notify = off;

\i test/sql/include/error_of.psql

-- An account's lots in spend order: reason, what is left, where from.
CREATE FUNCTION pg_temp.lots(acct text, typ text DEFAULT 'CRD')
RETURNS TABLE(reason text, amount credit_amount, remaining credit_amount, source text,
			  expires boolean)
LANGUAGE sql AS $$
	SELECT l.reason, l.amount, l.remaining, l.source, l.expires_at IS NOT NULL
	FROM credits_lots(acct, typ, include_closed => true) l
$$;
-- The lots a reset entry took from, in spend order.
CREATE FUNCTION pg_temp.forfeited(entry bigint)
RETURNS TABLE(reason text, forfeited credit_amount)
LANGUAGE sql AS $$
	SELECT l.reason, a.amount
	FROM credits.allocation a
	JOIN credits.lot l ON l.account = a.account AND l.lot_id = a.lot_id
	WHERE a.entry_id = entry
	ORDER BY l.priority, l.expires_at, l.granted_at, l.lot_id
$$;
-- The marks of the resets of an account: scope, and the lots each left
-- credits in (by reason).
CREATE FUNCTION pg_temp.marks(acct text)
RETURNS TABLE(scope text, kept_lots text)
LANGUAGE sql AS $$
	SELECT CASE WHEN r.scope = 'type' THEN 'type' ELSE split_part(r.scope, ':', 1) END,
		   (SELECT coalesce(string_agg(l.reason, ', ' ORDER BY l.lot_id), '-')
			FROM credits.lot l WHERE l.account = r.account AND l.lot_id = ANY (r.kept_lots))
	FROM credits.account_reset r WHERE r.account = acct
	ORDER BY 1
$$;
-- The payload of the latest reset event of an account, without its ids.
CREATE FUNCTION pg_temp.reset_payload(acct text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT payload - 'entry_id' FROM credits.event
	WHERE account = acct AND type = 'account.credits.reset'
	ORDER BY id DESC LIMIT 1
$$;

-- 1. Defining what a reset keeps: rollover (NULL keeps nothing) and
-- reset_scope ('type' by default, or 'own').  credits_rules shows them for
-- reset rules (NULL for add rules).
SELECT credits_define_rule('plan', 100, 'reset', rollover => 50) AS plan \gset
SELECT credits_define_rule('plan', 100, 'reset', variant => 'zero', rollover => 0) > 0;
SELECT credits_define_rule('seats', 100, 'reset', expires_after => '60 days', rollover => 30,
						   reset_scope => 'own') AS seats \gset
SELECT credits_define_rule('seats', 100, 'reset', variant => 'strict', expires_after => '60 days',
						   reset_scope => 'own') > 0;
SELECT credits_define_rule('topup', 10, 'add') > 0;
SELECT credits_define_rule(service => 'named', credits => 20, mode => 'reset', variant => NULL,
						   credit_type => 'CRD', expires_after => NULL, rollover => 5,
						   reset_scope => 'own') > 0 AS named_notation;
SELECT service, variant, credits, mode, rollover, reset_scope FROM credits_rules();
-- Defining the rule again replaces what it keeps (same rule).
SELECT credits_define_rule('named', 20, 'reset') AS named1 \gset
SELECT credits_define_rule('named', 20, 'reset', rollover => 7) = :named1 AS same_rule;
SELECT rollover, reset_scope FROM credits_rules('named');

-- 2. Scope 'type' with a rollover: of the whole available balance, what
-- exceeds the rollover is forfeited in spend order (soonest-expiring
-- first), as ONE reset entry; what is kept is what would be spent last.
SELECT credits_grant('k-1', 40, expires_at => now() + interval '10 days', reason => 'soon') > 0;
SELECT credits_grant('k-1', 80, reason => 'forever') > 0;
SELECT credits_spend('k-1', 10) > 0;
SELECT credits_issue('k-1', 'plan', 'INV-1') > 0;
SELECT credits_balance('k-1');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('k-1');
SELECT * FROM pg_temp.lots('k-1');
SELECT f.* FROM credits.entry e, pg_temp.forfeited(e.entry_id) f
WHERE e.account = 'k-1' AND e.kind = 'reset';
-- The reset event says what the reset kept, of which scope, under which
-- rollover.
SELECT pg_temp.reset_payload('k-1');
-- The lots it emptied are closed; the one it left credits in stays open.
SELECT * FROM pg_temp.marks('k-1');
-- The next invoice: again only what exceeds 50 of the whole balance.
SELECT credits_issue('k-1', 'plan', 'INV-2') > 0;
SELECT kind, amount, running_balance FROM credits_history('k-1') WHERE reference = 'INV-2';
SELECT * FROM pg_temp.lots('k-1');
SELECT * FROM pg_temp.marks('k-1');

-- No more than the rollover (or exactly it): nothing is forfeited, no
-- reset entry, and no lot is closed.
SELECT credits_grant('k-2', 20, reason => 'small') > 0;
SELECT credits_issue('k-2', 'plan', 'INV-3') > 0;
SELECT credits_grant('k-3', 50, reason => 'exact') > 0;
SELECT credits_issue('k-3', 'plan', 'INV-4') > 0;
SELECT kind, amount, running_balance FROM credits_history('k-2');
SELECT kind, amount, running_balance FROM credits_history('k-3');
SELECT count(*) AS marks FROM credits.account_reset WHERE account IN ('k-2', 'k-3');
-- rollover 0 keeps nothing, exactly as no rollover: the whole balance, and
-- every lot closed.
SELECT credits_grant('k-4', 30, reason => 'gone') > 0;
SELECT credits_issue('k-4', 'plan', 'INV-5', variant => 'zero') > 0;
SELECT kind, amount, running_balance FROM credits_history('k-4');
SELECT * FROM pg_temp.marks('k-4');
SELECT pg_temp.reset_payload('k-4');

-- Spend order leads with the priority, and so does the forfeiture: the
-- lot spent last is kept.  Lots restricted to services count and are
-- forfeited like any other (the balance counts them).
SELECT credits_grant('k-5', 50, reason => 'last', priority => 1) > 0;
SELECT credits_grant('k-5', 50, reason => 'first', priority => -1) > 0;
SELECT credits_grant('k-5', 40, reason => 'seo only', applies_to => ARRAY['seo']) > 0;
SELECT credits_issue('k-5', 'plan', 'INV-15') > 0;
SELECT f.* FROM credits.entry e, pg_temp.forfeited(e.entry_id) f
WHERE e.account = 'k-5' AND e.kind = 'reset';
SELECT reason, remaining, priority, applies_to FROM credits_lots('k-5', include_closed => true);
SELECT * FROM pg_temp.marks('k-5');

-- 3. Scope 'own': only the credits the same rule issued count; purchased
-- packages and other grants survive.  (The rule's lots expire in 60 days,
-- so spends take them before the never-expiring package.)
SELECT credits_set_rate('USD', 10) > 0;
SELECT credits_define_package('Pack', 500, 'USD', 50.00) > 0;
SELECT lot_id > 0 AS bought FROM credits_purchase('o-1', 'Pack', 'stripe');
SELECT credits_grant('o-1', 25, reason => 'gift') > 0;
SELECT credits_issue('o-1', 'seats', 'S-1') > 0;      -- nothing of its own yet
SELECT credits_spend('o-1', 20) > 0;                  -- from S-1's lot
SELECT credits_issue('o-1', 'seats', 'S-2') AS s2 \gset
SELECT kind, amount, running_balance, reference FROM credits_history('o-1');
SELECT reference, remaining, source FROM credits_lots('o-1', include_closed => true);
SELECT pg_temp.reset_payload('o-1');
-- Two lots of its own: 30 kept of S-1 and S-2's 100; the third invoice
-- forfeits 100 of those 130, soonest-expiring first, and keeps 30 of S-2.
SELECT credits_issue('o-1', 'seats', 'S-3') > 0;
SELECT kind, amount, running_balance, reference FROM credits_history('o-1') WHERE reference = 'S-3';
SELECT reference, remaining, source FROM credits_lots('o-1', include_closed => true);
SELECT scope = 'rule:' || :seats AS own_scope, array_length(kept_lots, 1) AS kept
FROM credits.account_reset WHERE account = 'o-1';
SELECT credits_balance('o-1');
-- Its variant is a rule of its own, without rollover: S-4 has nothing of
-- its own to forfeit; S-5 forfeits all of S-4's credits, and none of the
-- main rule's.  Each rule's resets mark only its own lots.
SELECT credits_issue('o-1', 'seats', 'S-4', variant => 'strict') > 0;
SELECT credits_issue('o-1', 'seats', 'S-5', variant => 'strict') > 0;
SELECT kind, amount, running_balance, reference FROM credits_history('o-1')
WHERE reference IN ('S-4', 'S-5');
SELECT scope LIKE 'rule:%' AS own_scope, cardinality(kept_lots) AS kept
FROM credits.account_reset WHERE account = 'o-1' ORDER BY scope = 'rule:' || :seats;
-- A reset of the whole type (plan, rollover 50) takes the package too, and
-- its mark takes the place of the marks of the 'own' resets.
SELECT credits_issue('o-1', 'plan', 'INV-6') > 0;
SELECT kind, amount, running_balance, reference FROM credits_history('o-1') WHERE reference = 'INV-6';
SELECT reference, remaining, source FROM credits_lots('o-1', include_closed => true);
SELECT * FROM pg_temp.marks('o-1');

-- 4. Held credits are not available: the reset neither counts nor
-- forfeits them.  When they come back, they are forfeited if their lot is
-- one the reset closed (left nothing in), and stay if it left credits in
-- it.
SELECT credits_grant('h-1', 30, expires_at => now() + interval '5 days', reason => 'A') > 0;
SELECT credits_grant('h-1', 100, reason => 'B') > 0;
-- A 30, B 10
SELECT credits_hold('h-1', 40, 'Q-1') AS hold1 \gset
SELECT credits_issue('h-1', 'plan', 'INV-7') > 0;        -- of B's 90, keeps 50
SELECT * FROM pg_temp.lots('h-1');
SELECT * FROM pg_temp.marks('h-1');
SELECT credits_release(:hold1);
-- A's 30 leave again at once (reset); B's 10 stay.
SELECT kind, direction, amount, running_balance FROM credits_history('h-1');
SELECT * FROM pg_temp.lots('h-1');
SELECT credits_balance('h-1');
-- A capture honours held credits whatever the reset did; what it does not
-- capture follows the same rule.
SELECT credits_grant('h-2', 30, expires_at => now() + interval '5 days', reason => 'A') > 0;
SELECT credits_grant('h-2', 100, reason => 'B') > 0;
SELECT credits_hold('h-2', 40, 'Q-2') AS hold2 \gset
SELECT credits_issue('h-2', 'plan', 'INV-8') > 0;
SELECT credits_capture(:hold2, 25) > 0;                  -- A 25; A's other 5 leave, B's 10 stay
SELECT kind, direction, amount, running_balance FROM credits_history('h-2');
SELECT * FROM pg_temp.lots('h-2');
-- Held when an 'own' reset ran: the rule's lot it left nothing in is
-- closed; the package's lot is not of its scope and takes its credits
-- back.  (A reset with a rollover that forfeits nothing closes nothing:
-- S-7's held credits come back.)
SELECT lot_id > 0 AS bought FROM credits_purchase('h-3', 'Pack', 'stripe');
SELECT credits_issue('h-3', 'seats', 'S-6', variant => 'strict') > 0;
SELECT credits_issue('h-3', 'seats', 'S-7') > 0;
-- S-6 100, S-7 100, the package 450
SELECT credits_hold('h-3', 650, 'Q-3') AS hold3 \gset
SELECT credits_issue('h-3', 'seats', 'S-8', variant => 'strict') > 0;   -- closes S-6's lot
SELECT credits_issue('h-3', 'seats', 'S-9') > 0;                        -- nothing of its own
SELECT * FROM pg_temp.marks('h-3');
SELECT credits_release(:hold3);
SELECT kind, direction, amount, running_balance, reference FROM credits_history('h-3');
SELECT reference, remaining, source FROM credits_lots('h-3', include_closed => true);

-- 5. Credits given back after a partial reset: a spend made before the
-- reset and reversed after it comes back to its lots -- forfeited from a
-- lot the reset closed, kept in a lot it left credits in.  A spend after
-- the reset, from the kept credits, reversed: they come back.
SELECT credits_grant('g-1', 100, expires_at => now() + interval '20 days', reason => 'A') > 0;
SELECT credits_grant('g-1', 100, reason => 'B') > 0;
-- A 100, B 30
SELECT credits_spend('g-1', 130, 'order-1') AS before_reset \gset
SELECT credits_issue('g-1', 'plan', 'INV-9') > 0;                   -- B keeps 50 of 70
-- B 50, the new lot 30
SELECT credits_spend('g-1', 80, 'order-2') AS after_reset \gset
SELECT credits_reverse(:before_reset) > 0;
SELECT credits_reverse(:after_reset) > 0;
SELECT kind, direction, amount, running_balance, reference FROM credits_history('g-1');
SELECT * FROM pg_temp.lots('g-1');
SELECT credits_balance('g-1');
-- A reset that forfeited nothing closed nothing: all comes back.
SELECT credits_grant('g-2', 100, reason => 'A') > 0;
SELECT credits_spend('g-2', 70, 'order-4') AS g2_spend \gset
SELECT credits_issue('g-2', 'plan', 'INV-10') > 0;                  -- 30 <= 50: nothing
SELECT credits_reverse(:g2_spend) > 0;
SELECT kind, direction, amount, running_balance FROM credits_history('g-2');

-- 6. Expiring lots: due expirations are recorded first, so an expired lot
-- is neither counted nor kept; kept credits keep their lot's expiry.
SELECT credits_grant('e-1', 10, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('e-1', 60, expires_at => now() + interval '3 days', reason => 'mid') > 0;
SELECT credits_grant('e-1', 60, expires_at => now() + interval '9 days', reason => 'late') > 0;
-- from short
SELECT credits_hold('e-1', 5, 'Q-4') AS hold4 \gset
SELECT pg_sleep(1.2);
SELECT credits_issue('e-1', 'plan', 'INV-11') > 0;
SELECT kind, direction, amount, running_balance FROM credits_history('e-1');
SELECT reason, remaining, expires_at - now() > interval '8 days' AS late FROM credits_lots('e-1');
-- The held credits of the lot that expired before the reset expire when
-- they come back (the lot expired first), not forfeited.
SELECT credits_release(:hold4);
SELECT kind, direction, amount, running_balance FROM credits_history('e-1') OFFSET 6;
-- A lot the reset closed that expires afterwards: credits coming back to
-- it are forfeited (the reset came first).
SELECT credits_grant('e-2', 10, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('e-2', 80, reason => 'long') > 0;
-- all of short
SELECT credits_hold('e-2', 10, 'Q-5') AS hold5 \gset
SELECT credits_issue('e-2', 'plan', 'INV-12') > 0;      -- long keeps 50; short closed
SELECT pg_sleep(1.2);
SELECT credits_release(:hold5);
SELECT kind, direction, amount, running_balance FROM credits_history('e-2');

-- 7. Subscriptions: the same terms, per subscription.  Time passes by
-- moving a subscription's schedule back.
CREATE FUNCTION pg_temp.backdate(sub bigint, by interval) RETURNS void LANGUAGE sql AS $$
	UPDATE credits.subscription SET starts_at = starts_at - by WHERE subscription_id = sub;
	UPDATE credits.subscription
	SET next_period_at = credits.period_start(starts_at, every, next_period, time_zone)
	WHERE subscription_id = sub;
$$;
SELECT lot_id > 0 AS bought FROM credits_purchase('s-1', 'Pack', 'stripe');
SELECT credits_subscribe('s-1', 100, '1 month', 'reset', rollover => 40,
						 reset_scope => 'own') AS sub1 \gset
SELECT credits_spend('s-1', 30) > 0;          -- the package (neither expires: the older first)
SELECT credits_spend('s-1', 500) > 0;         -- the package's 470, the subscription's 30
SELECT pg_temp.backdate(:sub1, '1 month');
SELECT * FROM credits_run_due();
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-1');
SELECT reference LIKE 'subscription:%' AS subscription_lot, remaining, source
FROM credits_lots('s-1', include_closed => true);
SELECT scope = 'subscription:' || :sub1 AS own_scope, cardinality(kept_lots) AS kept
FROM credits.account_reset WHERE account = 's-1';
SELECT credits, mode, rollover, reset_scope FROM credits_subscriptions('s-1');
SELECT pg_temp.reset_payload('s-1') - 'reference' AS reset_payload;
-- The whole type's balance with a rollover, named notation.
SELECT credits_subscribe(account => 's-2', credits => 100, every => '1 month', mode => 'reset',
						 credit_type => 'CRD', starts_at => now(), expires_after => NULL,
						 rollover => 25, reset_scope => 'type') AS sub2 \gset
SELECT credits_grant('s-2', 10, reason => 'gift') > 0;
SELECT pg_temp.backdate(:sub2, '1 month');
SELECT * FROM credits_run_due();
SELECT kind, direction, amount, running_balance, reason FROM credits_history('s-2');
SELECT * FROM pg_temp.lots('s-2');
-- Service subscriptions and add subscriptions keep no terms.
SELECT credits_subscribe('s-3', 5, '1 month') > 0;
SELECT mode, rollover, reset_scope FROM credits_subscriptions('s-3');

-- 8. Reports: usage counts what resets forfeited; the cost basis of a
-- package partly forfeited is breakage in proportion, and the revenue
-- identity holds.
SELECT credits_define_rule('plan', 100, 'reset', variant => 'big', rollover => 200) > 0;
SELECT now() AS t0 \gset
SELECT lot_id AS pack_lot FROM credits_purchase('f-1', 'Pack', 'stripe') \gset
SELECT credits_spend('f-1', 100) > 0;
SELECT credits_issue('f-1', 'plan', 'INV-13', variant => 'big') > 0;   -- forfeits 200 of 400
SELECT lot_id > 0 AS bought FROM credits_purchase('f-2', 'Pack', 'stripe');
SELECT credits_issue('f-2', 'seats', 'S-10') > 0;                      -- the package survives
SELECT credits_issue('f-2', 'seats', 'S-11') > 0;                      -- forfeits 70 of its own
SELECT now() AS t1 \gset
SELECT account, granted, spent, reset, net FROM credits_usage(:'t0', :'t1')
WHERE account IN ('f-1', 'f-2') ORDER BY account;
SELECT * FROM credits_revenue(:'t0', :'t1');
SELECT credit_type, currency, accounts, outstanding, cost_basis FROM credits_liability(:'t1')
WHERE currency IS NOT NULL;
-- sold - recognized - breakage - refunded = the change of the cost basis
SELECT r.sold - r.recognized - r.breakage - r.refunded
	   = coalesce((SELECT sum(cost_basis) FROM credits_liability(:'t1') WHERE currency = 'USD'), 0)
	   - coalesce((SELECT sum(cost_basis) FROM credits_liability(:'t0') WHERE currency = 'USD'), 0)
	   AS identity_holds
FROM credits_revenue(:'t0', :'t1') r WHERE r.currency = 'USD';
SELECT debit, credit, sum(amount) AS amount FROM credits_journal(:'t0', :'t1') j
WHERE j.account IN ('f-1', 'f-2') GROUP BY 1, 2 ORDER BY 1, 2;

-- 9. Bad input: reset_scope neither 'type' nor 'own', a negative
-- rollover, one finer than the type's scale, or either for mode 'add' are
-- 22023; NULL reset_scope is 22004.  Nothing changes.
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_fingerprint() AS before \gset
SELECT count(*) AS rules_before FROM credits.rule \gset
SELECT credits_define_rule('gold', 10, 'reset', reset_scope => 'all');
SELECT credits_define_rule('gold', 10, 'reset', reset_scope => 'TYPE');
SELECT credits_define_rule('gold', 10, 'reset', rollover => -1);
SELECT credits_define_rule('gold', 10, 'reset', rollover => '0.5');
SELECT credits_define_rule('gold', 10, 'reset', credit_type => 'HRS', rollover => '0.005');
SELECT credits_define_rule('gold', 10, 'add', rollover => 5);
SELECT credits_define_rule('gold', 10, 'add', reset_scope => 'own');
SELECT credits_define_rule('gold', 10, 'reset', reset_scope => NULL);
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', reset_scope => 'everything');
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', rollover => '-0.000001');
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', rollover => '2.5');
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', credit_type => 'HRS', rollover => '2.555');
SELECT credits_subscribe('b-1', 10, '1 month', rollover => 5);
SELECT credits_subscribe('b-1', 10, '1 month', 'add', reset_scope => 'own');
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', reset_scope => NULL);
\set VERBOSITY sqlstate
SELECT credits_define_rule('gold', 10, 'reset', reset_scope => '');
SELECT credits_define_rule('gold', 10, 'reset', rollover => '-0.000001');
SELECT credits_define_rule('gold', 10, 'reset', rollover => '1.5');
SELECT credits_define_rule('gold', 10, 'add', rollover => 0);
SELECT credits_define_rule('gold', 10, 'reset', reset_scope => NULL);
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', reset_scope => 'own ');
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', rollover => -5);
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', rollover => '0.1');
SELECT credits_subscribe('b-1', 10, '1 month', 'add', rollover => 0);
SELECT credits_subscribe('b-1', 10, '1 month', 'reset', reset_scope => NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged,
	   (SELECT count(*) FROM credits.rule) = :rules_before AS no_rule;
-- A fractional type keeps fractions of its scale.
SELECT credits_define_rule('support', 10, 'reset', credit_type => 'HRS', rollover => '2.5') > 0;
SELECT credits_grant('x-1', '7.25', 'HRS') > 0;
SELECT credits_issue('x-1', 'support', 'INV-14') > 0;
SELECT kind, amount, running_balance FROM credits_history('x-1', 'HRS');

-- 10. Who may: defining rules is the agency's configuration
-- (credits_admin), subscribing credits an operator's; a client portal may
-- do neither (42501).
CREATE ROLE regress_rollover_operator NOLOGIN IN ROLE credits_operator;
CREATE ROLE regress_rollover_portal NOLOGIN;
SELECT credits_portal_add_role('regress_rollover_portal');
SET ROLE regress_rollover_operator;
SELECT pg_temp.error_of($$SELECT credits_define_rule('gold', 10, 'reset', rollover => 5)$$);
SELECT credits_subscribe('p-1', 10, '1 month', 'reset', rollover => 5, reset_scope => 'own') > 0;
RESET ROLE;
SELECT set_config('credits.portal_account', 'p-1', false);
SET ROLE regress_rollover_portal;
SELECT pg_temp.error_of($$SELECT credits_define_rule('gold', 10, 'reset', rollover => 5)$$);
SELECT pg_temp.error_of($$SELECT credits_subscribe('p-1', 10, '1 month', 'reset', rollover => 5)$$);
SELECT pg_temp.error_of($$SELECT * FROM credits_rules()$$);
RESET ROLE;
RESET credits.portal_account;
SELECT credits_portal_remove_role('regress_rollover_portal');
DROP ROLE regress_rollover_operator, regress_rollover_portal;

-- 11. Lots made on another node after a reset.  Lot ids grow on each
-- node but are not ordered across the nodes of a distributed ledger: each
-- numbers from its node group's range (group << 48 onwards), and an
-- account's lots may be made on a worker, on the coordinator, or on
-- another worker after a shard move.  Here the lot sequence plays the
-- nodes: the account's lots are made in group 2, reset there, then made
-- in group 1 (lower ids).  A lot made after the reset is not closed by it:
-- credits given back to it stay, and verify finds nothing; the next reset
-- closes it.
CREATE FUNCTION pg_temp.reset_bounds(acct text) RETURNS TABLE (scope text, lots_upto text[])
LANGUAGE sql AS $$
	SELECT r.scope, array(SELECT CASE WHEN u IS NOT NULL THEN (u >> 48) || ':' || (u & 281474976710655) END
						  FROM unnest(r.lots_upto) u)
	FROM credits.account_reset r WHERE r.account = acct ORDER BY 1 $$;
SELECT setval('credits.lot_id_seq', 2::bigint << 48, true) > 0;
SELECT credits_grant('n-1', 10, reason => 'group 2, before') > 0;
SELECT credits_issue('n-1', 'plan', 'INV-N1', variant => 'zero') > 0;   -- resets in group 2
SELECT * FROM pg_temp.reset_bounds('n-1');
SELECT setval('credits.lot_id_seq', 1::bigint << 48, true) > 0;
SELECT credits_grant('n-1', 5, reason => 'group 1, after') > 0;
SELECT credits_spend('n-1', 100) > 0;                 -- the issued lot
-- (the hold takes from the lot of group 1)
SELECT credits_hold('n-1', 3, 'h-n1') AS hold \gset
SELECT credits_release(:hold);
SELECT credits_balance('n-1');
SELECT source, reason, remaining, lot_id >> 48 AS node_group FROM credits.lot
WHERE account = 'n-1' ORDER BY granted_at, lot_id;
SELECT * FROM credits_verify();
SELECT credits_issue('n-1', 'plan', 'INV-N2', variant => 'zero') > 0;   -- resets in group 1
SELECT * FROM pg_temp.reset_bounds('n-1');
SELECT source, reason, remaining, lot_id >> 48 AS node_group FROM credits.lot
WHERE account = 'n-1' ORDER BY granted_at, lot_id;
SELECT credits_balance('n-1');
DROP FUNCTION pg_temp.reset_bounds(text);

-- 12. credits_verify() sees a closed lot that holds credits, a mark that
-- keeps a lot out of its scope and a rollover finer than its type (the
-- checks can fail) ...
SELECT * FROM credits_verify();
BEGIN;
UPDATE credits.lot SET remaining = 1, is_open = true
WHERE account = 'k-1' AND reason = 'soon';
UPDATE credits.account_reset SET kept_lots = kept_lots || (SELECT lot_id FROM credits.lot
	WHERE account = 'h-3' AND source = 'purchase')
WHERE account = 'h-3';
-- (and a rollover finer than its type's scale)
UPDATE credits.rule SET rollover = '2.255' WHERE service = 'support';
SELECT check_name, account, regexp_replace(detail, '[0-9]+', 'N', 'g') AS detail
FROM credits_verify() WHERE check_name LIKE 'reset%' OR detail LIKE '%rollover%' ORDER BY 1, 2;
ROLLBACK;
-- ... and the ledger is consistent.
SELECT * FROM credits_verify();
DROP FUNCTION pg_temp.lots(text, text), pg_temp.forfeited(bigint);
DROP EXTENSION credits;
