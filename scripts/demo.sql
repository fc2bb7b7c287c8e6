-- scripts/demo.sql: a short agency scenario using the credits SQL API (run by scripts/demo.sh).
-- Client "acme" receives credits, spends some, is refused an order it cannot afford, and reads its statement.

\pset footer off
\pset null ''
\set VERBOSITY default

\echo
\echo '1. The agency gives client "acme" a welcome credit: 25 credits, valid for 90 days.'
SELECT credits_grant(account    => 'acme',
                     amount     => 25,
                     expires_at => now() + interval '90 days',
                     reason     => 'Welcome credit') AS lot \gset
\echo '   -> granted as lot' :lot

\echo '2. Acme buys a package of 500 credits (invoice INV-1001), valid for a year.'
SELECT credits_grant(account    => 'acme',
                     amount     => 500,
                     expires_at => now() + interval '365 days',
                     reason     => 'Package: 500 credits',
                     reference  => 'INV-1001') AS lot \gset
\echo '   -> granted as lot' :lot

\echo '3. Acme spends 36 credits on order ORD-2001 and 120 on order ORD-2002.'
\echo '   Credits are taken soonest-expiring first, so the welcome credit goes first.'
SELECT credits_spend(account => 'acme', amount => 36,  reference => 'ORD-2001') AS entry \gset
\echo '   -> ORD-2001 recorded as ledger entry' :entry
SELECT credits_spend(account => 'acme', amount => 120, reference => 'ORD-2002') AS entry \gset
\echo '   -> ORD-2002 recorded as ledger entry' :entry

\echo '4. Acme tries to spend 1000 credits on order ORD-2003.'
-- The spend raises SQLSTATE CR001: catch it and keep its message for display.
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM credits_spend(account => 'acme', amount => 1000, reference => 'ORD-2003');
    PERFORM set_config('demo.outcome', 'Order ORD-2003 accepted (unexpected!)', false);
    PERFORM set_config('demo.detail', '', false);
EXCEPTION WHEN SQLSTATE 'CR001' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    PERFORM set_config('demo.outcome',
                       format('Order ORD-2003 refused: %s (SQLSTATE CR001)', SQLERRM),
                       false);
    PERFORM set_config('demo.detail', coalesce(detail, ''), false);
END
$$;
SELECT current_setting('demo.outcome')      AS outcome,
       current_setting('demo.detail')       AS detail,
       current_setting('demo.detail') <> '' AS has_detail \gset
\echo '   ->' :outcome
\if :has_detail
\echo '     ' :detail
\endif
\echo '   Nothing was spent: a refused spend leaves the ledger unchanged.'

\echo
\echo '5. Acme''s statement, oldest first (in = credits received, out = credits used):'
SELECT to_char(h.at, 'YYYY-MM-DD HH24:MI')                          AS date,
       h.kind || ' (' || h.direction || ')'                          AS type,
       coalesce(h.reference, '')                                     AS reference,
       coalesce(h.reason, '')                                        AS reason,
       lpad(CASE h.direction WHEN 'in' THEN '+' ELSE '-' END
            || h.amount::text, 8)                                    AS amount,
       lpad(h.running_balance::text, 7)                              AS balance
FROM credits_history('acme') AS h
ORDER BY h.entry_id;

\echo '6. Available balance:'
SELECT credits_balance('acme') AS "acme's available credits";
