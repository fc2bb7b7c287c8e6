-- credits_reverse: a spend's (or capture's) credits go back to the very lots
-- they came from, once
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

\i test/sql/include/error_of.psql

\i test/sql/include/lots_of.psql

-- A spend across three lots is given back to those three lots.
SELECT now() + interval '10 days' AS d10, now() + interval '30 days' AS d30 \gset
SELECT credits_grant('r-1', 10, expires_at => :'d10', reason => 'ten-days') > 0;
SELECT credits_grant('r-1', 10, expires_at => :'d30', reason => 'thirty-days') > 0;
SELECT credits_grant('r-1', 10, reason => 'forever') > 0;
SELECT credits_spend('r-1', 25, 'order-1') AS spend1 \gset
SELECT pg_temp.lots_of(:spend1) AS spent_from;
SELECT credits_reverse(:spend1, 'order cancelled') AS rev1 \gset
SELECT pg_temp.lots_of(:rev1) AS given_back_to;
SELECT reason, remaining, is_open FROM credits.lot WHERE account = 'r-1' ORDER BY lot_id;
SELECT credits_balance('r-1');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('r-1');
-- The credits are back in their places: the next spend takes the
-- soonest-expiring lot first again.
SELECT credits_spend('r-1', 12, 'order-2') AS spend2 \gset
SELECT pg_temp.lots_of(:spend2) AS spent_from;

-- Reversing twice is CR005; other kinds of entry are 22023; an unknown entry
-- is 42704; NULL is 22004.  Nothing changes.
SELECT entry_id AS grant_entry FROM credits.entry WHERE account = 'r-1' AND kind = 'grant' ORDER BY seq LIMIT 1 \gset
SELECT credits_fingerprint() AS before \gset
SELECT credits_reverse(-1);
SELECT pg_temp.error_of(format('SELECT credits_reverse(%s)', :spend1), :spend1, :rev1) AS twice;
SELECT pg_temp.error_of(format('SELECT credits_reverse(%s)', :grant_entry), :grant_entry) AS a_grant;
\set VERBOSITY sqlstate
SELECT credits_reverse(:spend1);
SELECT credits_reverse(:spend1, 'again');
SELECT credits_reverse(:rev1);
SELECT credits_reverse(:grant_entry);
SELECT credits_reverse(-1);
SELECT credits_reverse(NULL);
\set VERBOSITY default
SELECT credits_fingerprint() = :'before' AS unchanged;
-- "Once" is also a property of the schema: a second reversal of the same
-- spend cannot be written, even bypassing the API.
\set VERBOSITY sqlstate
INSERT INTO credits.entry (account, credit_type, seq, kind, amount, running_balance, related_id)
VALUES ('r-1', 'CRD', 100, 'reversal', 25, 0, :spend1);
\set VERBOSITY default

-- Reversal across an expired lot: the part that came from a lot that has
-- expired meanwhile comes back and expires again at once (recorded).
SELECT credits_grant('r-2', 6, expires_at => clock_timestamp() + interval '1 s', reason => 'short') > 0;
SELECT credits_grant('r-2', 20, reason => 'forever') > 0;
SELECT credits_spend('r-2', 10, 'order-3') AS spend3 \gset
SELECT pg_temp.lots_of(:spend3) AS spent_from;
SELECT pg_sleep(1.2);
SELECT credits_reverse(:spend3) AS rev3 \gset
SELECT pg_temp.lots_of(:rev3) AS given_back_to;
SELECT credits_balance('r-2');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('r-2');
SELECT reason, remaining, is_open FROM credits.lot WHERE account = 'r-2' ORDER BY lot_id;

-- Reversal across a voided lot: that part is voided again at once.
SELECT credits_grant('r-3', 8, reason => 'promo') AS promo \gset
SELECT credits_grant('r-3', 8, reason => 'paid') > 0;
SELECT credits_spend('r-3', 10, 'order-4') AS spend4 \gset
SELECT credits_void(:promo, 'promo withdrawn');
SELECT credits_reverse(:spend4, 'refund') > 0;
SELECT credits_balance('r-3');
SELECT kind, direction, amount, running_balance, reference, reason FROM credits_history('r-3');

-- A capture is reversed like a spend; it goes back to the hold's lots.
SELECT credits_grant('r-4', 5, expires_at => :'d10', reason => 'first') > 0;
SELECT credits_grant('r-4', 50, reason => 'second') > 0;
SELECT credits_hold('r-4', 20, 'invoice-9') AS hold \gset
SELECT credits_capture(:hold, 15) AS capture \gset
SELECT pg_temp.lots_of(:capture) AS captured_from;
SELECT credits_reverse(:capture, 'invoice credited') AS rev4 \gset
SELECT pg_temp.lots_of(:rev4) AS given_back_to;
SELECT credits_balance('r-4');
SELECT kind, direction, amount, running_balance, reference FROM credits_history('r-4');
-- Neither the hold nor its release can be reversed.
SELECT entry_id AS hold_entry FROM credits.entry WHERE account = 'r-4' AND kind = 'hold' \gset
SELECT entry_id AS release_entry FROM credits.entry WHERE account = 'r-4' AND kind = 'release' \gset
\set VERBOSITY sqlstate
SELECT credits_reverse(:hold_entry);
SELECT credits_reverse(:release_entry);
\set VERBOSITY default

-- Reversals (refunds) keep working while credits are disabled.
SELECT credits_grant('r-5', 10) > 0;
SELECT credits_spend('r-5', 4) AS spend5 \gset
SELECT credits_set_enabled(false);
SELECT credits_reverse(:spend5, 'refund while off') > 0;
SELECT credits_set_enabled(true);
SELECT credits_balance('r-5');

SELECT * FROM credits_verify();
DROP EXTENSION credits;
