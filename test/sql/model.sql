-- Model-based test: a reference model of the ledger, written the most
-- obvious way in plain SQL and PL/pgSQL from the documented rules (schema
-- "model": its own lots, history, allocations, holds, rules and issued
-- invoices), and a driver that applies one random, seeded sequence of
-- operations to both the extension and the model: grants (some expiring
-- within a fraction of a second), spends, holds, captures, releases, voids,
-- reversals, expiry runs, rules (add and reset), issues of paid invoices and
-- clawbacks, on a few accounts, with amounts that are sometimes zero,
-- negative, finer than the scale, larger than the balance or out of range,
-- and ids and references that are sometimes unknown, already used or of
-- another account.
--
-- Some operations run in other sessions (dblink): one that stays open while
-- this session works on other accounts and then commits or rolls back (the
-- model applies its operation only if it committed), and races of two
-- sessions on the same account (or invoice) where the second waits for the
-- first's lock; the model applies them in the order they took effect.
--
-- After every operation: both sides succeeded, or both failed with the same
-- SQLSTATE, with the same result where it says something (amount voided,
-- lots expired, lot issued, clawback's deducted/shortfall, rule id); the
-- balance and held amount of the accounts it touched agree (of every
-- account, every tenth operation).  At the end: every account's history
-- (kind, direction, amount, running balance, in order; times never
-- decrease), the lots of every entry (allocations, lot of a
-- grant/expire/void), every lot's remainder, every clawback's shortfall and
-- every issued invoice, and the balance at every past instant the
-- extension's history names (and at future ones) agree, and
-- credits_verify() is clean.  Entry times are taken from the extension: the
-- model relies on no entry being recorded at now().
--
-- Each operation runs in its own transaction (a procedure that commits), so
-- that now() moves and short expiries lapse between operations.
-- psql variables (or environment variables MODEL_SETTLE, MODEL_RESET_KIND):
--   model_ops (default 3000), model_seed (default 0.4242);
--   model_settle (default on): a clawback's recorded shortfall is settled
--     from credits that come back to the account later;
--   model_reset_kind (default latest): how credits that come back to a lot
--     that a reset forfeited and that has expired too leave again: as
--     "expire" if it expired before the account's latest reset (latest, what
--     the extension does), or before the reset that forfeited it (first).
-- make soak runs many more (MODEL_OPS, MODEL_SEED).
CREATE EXTENSION credits;
CREATE EXTENSION dblink;
\set VERBOSITY default
\set SHOW_CONTEXT never
\if :{?model_ops}
\else
\set model_ops 3000
\endif
\if :{?model_seed}
\else
\set model_seed 0.4242
\endif
\if :{?model_settle}
\else
\getenv model_settle MODEL_SETTLE
\endif
\if :{?model_settle}
\else
\set model_settle on
\endif
\if :{?model_reset_kind}
\else
\getenv model_reset_kind MODEL_RESET_KIND
\endif
\if :{?model_reset_kind}
\else
\set model_reset_kind latest
\endif

CREATE SCHEMA model;
CREATE TABLE model.config (settle boolean NOT NULL,
						   reset_kind text NOT NULL CHECK (reset_kind IN ('latest', 'first')));
INSERT INTO model.config VALUES (:'model_settle', :'model_reset_kind');

-- The model's state.  Amounts are numeric: the model owes nothing to
-- credit_amount.  ext_* columns hold the extension's ids of the same
-- objects, so that the driver can name them to both sides.
CREATE TABLE model.lot (
	lot_id		bigserial PRIMARY KEY,
	ext_lot_id	bigint,
	account		text NOT NULL,
	amount		numeric NOT NULL,
	remaining	numeric NOT NULL,
	granted_at	timestamptz NOT NULL,
	expires_at	timestamptz,
	voided		boolean NOT NULL DEFAULT false,
	forfeited_at timestamptz		-- by the first reset after its grant
);
-- The latest reset of each account.
CREATE TABLE model.account_reset (account text PRIMARY KEY, reset_at timestamptz NOT NULL);
CREATE TABLE model.entry (
	account		text NOT NULL,
	seq			int NOT NULL,
	at			timestamptz NOT NULL,	-- the extension's, copied at the end
	kind		text NOT NULL,
	direction	text NOT NULL,
	amount		numeric NOT NULL,
	running_balance numeric NOT NULL,
	lot_id		bigint,			-- grant, expire, void
	reversed	boolean NOT NULL DEFAULT false,
	reference	text,			-- clawback: the invoice
	shortfall	numeric,		-- clawback of an invoice: what it could not deduct
	PRIMARY KEY (account, seq)
);
CREATE TABLE model.alloc (
	account		text NOT NULL,
	seq			int NOT NULL,
	lot_id		bigint NOT NULL,
	amount		numeric NOT NULL
);
CREATE INDEX ON model.lot (account);
CREATE INDEX ON model.alloc (account, seq);
CREATE INDEX ON model.alloc (lot_id);
CREATE INDEX ON model.entry (lot_id);
CREATE TABLE model.hold (
	hold_id		bigserial PRIMARY KEY,
	ext_hold_id	bigint,
	account		text NOT NULL,
	amount		numeric NOT NULL,
	seq			int NOT NULL,	-- the hold entry
	status		text NOT NULL DEFAULT 'open'
);
CREATE TABLE model.rule (
	service		text NOT NULL,
	variant		text,
	credits		numeric NOT NULL,
	mode		text NOT NULL,
	expires_after interval,
	ext_rule_id	bigint,
	UNIQUE NULLS NOT DISTINCT (service, variant)
);
CREATE TABLE model.issue (
	reference	text PRIMARY KEY,
	account		text NOT NULL,
	service		text NOT NULL,
	variant		text,
	quantity	int NOT NULL,
	credits		numeric NOT NULL,	-- what it issued
	lot_id		bigint NOT NULL,
	ext_lot_id	bigint,
	clawed		boolean NOT NULL DEFAULT false,
	deducted	numeric,
	shortfall	numeric,
	outstanding	numeric NOT NULL DEFAULT 0,	-- shortfall not settled yet
	claw_seq	int				-- the clawback entry
);

-- The model's clock: now(), or the start of the other session's
-- transaction whose operation the model is applying.
CREATE FUNCTION model.now() RETURNS timestamptz LANGUAGE sql STABLE AS $$
	SELECT coalesce(nullif(current_setting('model.now', true), '')::timestamptz, now())
$$;

-- The limit of credit_amount: 2^63 - 1 millionths.
CREATE FUNCTION model.max_amount() RETURNS numeric LANGUAGE sql IMMUTABLE
AS $$ SELECT 9223372036854.775807 $$;

CREATE FUNCTION model.fail(state text, msg text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'model: %', msg USING ERRCODE = state;
END
$$;

-- An amount argument: > 0, whole credits (CRD has scale 0), in range.
CREATE FUNCTION model.check_amount(a numeric) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF abs(a) > model.max_amount() THEN
		PERFORM model.fail('22003', 'out of range');
	ELSIF a <= 0 THEN
		PERFORM model.fail('22023', 'amount must be positive');
	ELSIF a <> trunc(a) THEN
		PERFORM model.fail('22023', 'finer than the scale');
	END IF;
END
$$;

-- Available balance now: what is left in lots that have not expired
-- (held credits have left their lots).
CREATE FUNCTION model.balance(acct text) RETURNS numeric LANGUAGE sql AS $$
	SELECT coalesce(sum(remaining), 0) FROM model.lot
	WHERE account = acct AND (expires_at IS NULL OR expires_at > model.now())
$$;

CREATE FUNCTION model.last_balance(acct text) RETURNS numeric LANGUAGE sql AS $$
	SELECT coalesce((SELECT running_balance FROM model.entry
					 WHERE account = acct ORDER BY seq DESC LIMIT 1), 0)
$$;

-- Append an entry: its running balance is the previous one plus "in" or
-- minus "out".  Returns its seq.
CREATE FUNCTION model.append(acct text, k text, amt numeric, lot bigint DEFAULT NULL,
							 ref text DEFAULT NULL)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	s int;
	dir text := CASE WHEN k IN ('grant', 'reversal', 'release') THEN 'in' ELSE 'out' END;
	rb numeric := model.last_balance(acct) + CASE WHEN dir = 'in' THEN amt ELSE -amt END;
BEGIN
	IF rb > model.max_amount() THEN
		PERFORM model.fail('22003', 'balance out of range');
	END IF;
	SELECT coalesce(max(seq), 0) + 1 INTO s FROM model.entry WHERE account = acct;
	INSERT INTO model.entry (account, seq, at, kind, direction, amount, running_balance, lot_id, reference)
	VALUES (acct, s, model.now(), k, dir, amt, rb, lot, ref);
	RETURN s;
END
$$;

-- Due expirations, recorded first by every call that changes an account:
-- an "expire" entry per lot with credits left whose expiry has come, in
-- spend order.
CREATE FUNCTION model.record_due(acct text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	l record;
BEGIN
	FOR l IN SELECT * FROM model.lot
			 WHERE account = acct AND remaining > 0 AND expires_at <= model.now()
			 ORDER BY expires_at, granted_at, ext_lot_id
	LOOP
		PERFORM model.append(acct, 'expire', l.remaining, l.lot_id);
		UPDATE model.lot SET remaining = 0 WHERE lot_id = l.lot_id;
	END LOOP;
END
$$;

-- Take amt from one lot as an allocation of entry s.
CREATE FUNCTION model.take_lot(acct text, s int, id bigint, amt numeric) RETURNS void LANGUAGE sql AS $$
	UPDATE model.lot SET remaining = remaining - amt WHERE lot_id = id;
	INSERT INTO model.alloc VALUES (acct, s, id, amt);
$$;

-- Take amt from the account's lots, soonest-expiring first, never-expiring
-- last, then oldest grant, then lot id; allocations of entry seq.
CREATE FUNCTION model.take(acct text, s int, amt numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	l record;
	left_ numeric := amt;
	t numeric;
BEGIN
	FOR l IN SELECT * FROM model.lot WHERE account = acct AND remaining > 0
			 ORDER BY expires_at NULLS LAST, granted_at, ext_lot_id
	LOOP
		EXIT WHEN left_ = 0;
		t := least(left_, l.remaining);
		PERFORM model.take_lot(acct, s, l.lot_id, t);
		left_ := left_ - t;
	END LOOP;
	IF left_ <> 0 THEN
		RAISE EXCEPTION 'model: lots do not cover the balance';
	END IF;
END
$$;

-- The allocations of an entry, in spend order of their lots.
CREATE FUNCTION model.parts(acct text, s int)
RETURNS TABLE(lot_id bigint, amount numeric) LANGUAGE sql AS $$
	SELECT a.lot_id, a.amount FROM model.alloc a JOIN model.lot l USING (lot_id)
	WHERE a.account = acct AND a.seq = s
	ORDER BY l.expires_at NULLS LAST, l.granted_at, l.ext_lot_id
$$;

-- Give an entry's credits back to its very lots: one "in" entry.
CREATE FUNCTION model.give_back(acct text, k text, from_seq int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	s int;
	p record;
BEGIN
	s := model.append(acct, k, (SELECT sum(amount) FROM model.parts(acct, from_seq)));
	FOR p IN SELECT * FROM model.parts(acct, from_seq) LOOP
		UPDATE model.lot SET remaining = remaining + p.amount WHERE lot_id = p.lot_id;
		INSERT INTO model.alloc VALUES (acct, s, p.lot_id, p.amount);
	END LOOP;
	RETURN s;
END
$$;

-- A lot still counts: not voided, not forfeited by a reset, not expired.
CREATE FUNCTION model.live(l model.lot) RETURNS boolean LANGUAGE sql AS $$
	SELECT NOT l.voided AND l.forfeited_at IS NULL
		   AND (l.expires_at IS NULL OR l.expires_at > model.now())
$$;

-- Credits that came back to a lot that no longer counts leave again at
-- once: "void" (voided lot), "expire" (expired, and not forfeited before it
-- expired) or "reset" (forfeited by a reset; an entry with one allocation).
-- "Forfeited before it expired": with model_reset_kind 'first', by the
-- reset that forfeited the lot (whichever came first names the entry); with
-- 'latest' (what 1.1 does), by the account's latest reset, so a later reset
-- turns "reset" into "expire".
CREATE FUNCTION model.settle(acct text, from_seq int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p record;
	l model.lot;
	k text;
	s int;
BEGIN
	FOR p IN SELECT * FROM model.parts(acct, from_seq) LOOP
		SELECT * INTO l FROM model.lot WHERE lot_id = p.lot_id;
		CONTINUE WHEN l.remaining = 0 OR model.live(l);
		k := CASE WHEN l.voided THEN 'void'
				  WHEN l.expires_at <= model.now()
					   AND (l.forfeited_at IS NULL
							OR l.expires_at <= CASE (SELECT reset_kind FROM model.config)
											   WHEN 'first' THEN l.forfeited_at
											   ELSE (SELECT reset_at FROM model.account_reset
													 WHERE account = acct) END) THEN 'expire'
				  ELSE 'reset' END;
		IF k = 'reset' THEN
			s := model.append(acct, 'reset', l.remaining);
			INSERT INTO model.alloc VALUES (acct, s, l.lot_id, l.remaining);
		ELSE
			PERFORM model.append(acct, k, l.remaining, l.lot_id);
		END IF;
		UPDATE model.lot SET remaining = 0 WHERE lot_id = l.lot_id;
	END LOOP;
END
$$;

-- A clawback's recorded shortfall is settled first by credits that come
-- back to the account later (a released hold, the rest of a partly
-- captured hold, a reversed spend or capture): after the entry that gives
-- them back (and the capture, and what leaves again at once), one
-- "clawback" entry (out) per clawback with a shortfall outstanding, oldest
-- clawback first, each at most its outstanding shortfall, taking from the
-- lots the credits came back to (those that still count) in spend order,
-- never more than came back to each.  in_seq: the entry that gave them
-- back; cap_seq: the capture that took part of them again.
CREATE TABLE model.chances (n int NOT NULL);
INSERT INTO model.chances VALUES (0);
CREATE FUNCTION model.settle_shortfall(acct text, in_seq int, cap_seq int DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	lots bigint[];
	amts numeric[];
	c model.issue;
	take numeric;
	left_ numeric;
	t numeric;
	s int;
BEGIN
	SELECT array_agg(b.lot_id ORDER BY l.expires_at NULLS LAST, l.granted_at, l.ext_lot_id),
		   array_agg(least(b.amount, l.remaining) ORDER BY l.expires_at NULLS LAST, l.granted_at, l.ext_lot_id)
	INTO lots, amts
	FROM (SELECT p.lot_id, p.amount - coalesce((SELECT sum(a.amount) FROM model.alloc a
												WHERE a.account = acct AND a.seq = cap_seq
												AND a.lot_id = p.lot_id), 0) AS amount
		  FROM model.parts(acct, in_seq) p) b
	JOIN model.lot l USING (lot_id)
	WHERE b.amount > 0 AND l.remaining > 0 AND model.live(l);
	IF lots IS NULL OR NOT EXISTS (SELECT 1 FROM model.issue WHERE account = acct AND outstanding > 0) THEN
		RETURN;
	END IF;
	UPDATE model.chances SET n = n + 1;		-- the rule had something to do
	IF NOT (SELECT settle FROM model.config) THEN
		RETURN;
	END IF;
	FOR c IN SELECT * FROM model.issue WHERE account = acct AND outstanding > 0 ORDER BY claw_seq LOOP
		take := least(c.outstanding, (SELECT sum(x) FROM unnest(amts) x));
		EXIT WHEN take = 0;
		s := model.append(acct, 'clawback', take, NULL, c.reference);
		left_ := take;
		FOR j IN 1 .. cardinality(lots) LOOP
			t := least(left_, amts[j]);
			CONTINUE WHEN t = 0;
			PERFORM model.take_lot(acct, s, lots[j], t);
			amts[j] := amts[j] - t;
			left_ := left_ - t;
		END LOOP;
		UPDATE model.issue SET outstanding = outstanding - take WHERE reference = c.reference;
	END LOOP;
END
$$;

-- The API, modelled.
CREATE FUNCTION model.add_lot(acct text, amt numeric, expires timestamptz, ext_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	INSERT INTO model.lot (ext_lot_id, account, amount, remaining, granted_at, expires_at)
	VALUES (ext_id, acct, amt, amt, model.now(), expires) RETURNING lot_id INTO id;
	PERFORM model.append(acct, 'grant', amt, id);
	RETURN id;
END
$$;

CREATE FUNCTION model.grant_(acct text, amt numeric, expires timestamptz, ext_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	PERFORM model.check_amount(amt);
	IF expires <= model.now() THEN
		PERFORM model.fail('22023', 'expires_at must be in the future');
	END IF;
	PERFORM model.record_due(acct);
	RETURN model.add_lot(acct, amt, expires, ext_id);
END
$$;

CREATE FUNCTION model.take_out(acct text, k text, amt numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	s int;
BEGIN
	PERFORM model.check_amount(amt);
	PERFORM model.record_due(acct);
	IF model.balance(acct) < amt THEN
		PERFORM model.fail('CR001', 'insufficient credits');
	END IF;
	s := model.append(acct, k, amt);
	PERFORM model.take(acct, s, amt);
	RETURN s;
END
$$;

CREATE FUNCTION model.spend(acct text, amt numeric) RETURNS int LANGUAGE sql
AS $$ SELECT model.take_out(acct, 'spend', amt) $$;

CREATE FUNCTION model.hold_(acct text, amt numeric, ext_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	INSERT INTO model.hold (ext_hold_id, account, amount, seq)
	VALUES (ext_id, acct, amt, model.take_out(acct, 'hold', amt))
	RETURNING hold_id INTO id;
	RETURN id;
END
$$;

CREATE FUNCTION model.open_hold(id bigint) RETURNS model.hold LANGUAGE plpgsql AS $$
DECLARE
	h model.hold;
BEGIN
	SELECT * INTO h FROM model.hold WHERE hold_id = id;
	IF NOT FOUND THEN
		PERFORM model.fail('42704', 'no such hold');
	ELSIF h.status <> 'open' THEN
		PERFORM model.fail('CR005', 'hold not open');
	END IF;
	RETURN h;
END
$$;

-- Capture: the release of the whole hold, then the capture of amt (all
-- when NULL) from the hold's lots in spend order; what came back to an
-- expired, voided or forfeited lot and was not captured leaves again; the
-- rest settles a clawback's shortfall.
CREATE FUNCTION model.capture(id bigint, amt numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	h model.hold;
	r int;
	s int;
	p record;
	left_ numeric;
	t numeric;
BEGIN
	IF amt IS NOT NULL AND amt <= 0 THEN
		PERFORM model.fail('22023', 'amount must be positive');
	END IF;
	h := model.open_hold(id);
	IF amt IS NOT NULL THEN
		PERFORM model.check_amount(amt);
		IF amt > h.amount THEN
			PERFORM model.fail('22023', 'more than held');
		END IF;
	END IF;
	left_ := coalesce(amt, h.amount);
	PERFORM model.record_due(h.account);
	r := model.give_back(h.account, 'release', h.seq);
	s := model.append(h.account, 'capture', left_);
	FOR p IN SELECT * FROM model.parts(h.account, h.seq) LOOP
		EXIT WHEN left_ = 0;
		t := least(left_, p.amount);
		PERFORM model.take_lot(h.account, s, p.lot_id, t);
		left_ := left_ - t;
	END LOOP;
	PERFORM model.settle(h.account, h.seq);
	PERFORM model.settle_shortfall(h.account, r, s);
	UPDATE model.hold SET status = 'captured' WHERE hold_id = id;
	RETURN s;
END
$$;

CREATE FUNCTION model.release(id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h model.hold := model.open_hold(id);
	r int;
BEGIN
	PERFORM model.record_due(h.account);
	r := model.give_back(h.account, 'release', h.seq);
	PERFORM model.settle(h.account, h.seq);
	PERFORM model.settle_shortfall(h.account, r);
	UPDATE model.hold SET status = 'released' WHERE hold_id = id;
END
$$;

CREATE FUNCTION model.reverse(acct text, s int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	e model.entry;
	r int;
BEGIN
	SELECT * INTO e FROM model.entry WHERE account = acct AND seq = s;
	IF NOT FOUND THEN
		PERFORM model.fail('42704', 'no such entry');
	ELSIF e.kind NOT IN ('spend', 'capture') THEN
		PERFORM model.fail('22023', 'only spends and captures are reversed');
	ELSIF e.reversed THEN
		PERFORM model.fail('CR005', 'already reversed');
	END IF;
	PERFORM model.record_due(acct);
	r := model.give_back(acct, 'reversal', s);
	PERFORM model.settle(acct, s);
	PERFORM model.settle_shortfall(acct, r);
	UPDATE model.entry SET reversed = true WHERE account = acct AND seq = s;
	RETURN r;
END
$$;

CREATE FUNCTION model.void(id bigint) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	l model.lot;
BEGIN
	SELECT * INTO l FROM model.lot WHERE lot_id = id;
	IF NOT FOUND THEN
		PERFORM model.fail('42704', 'no such lot');
	ELSIF l.voided THEN
		PERFORM model.fail('CR005', 'already voided');
	END IF;
	PERFORM model.record_due(l.account);
	SELECT * INTO l FROM model.lot WHERE lot_id = id;
	PERFORM model.append(l.account, 'void', l.remaining, l.lot_id);
	UPDATE model.lot SET remaining = 0, voided = true WHERE lot_id = id;
	RETURN l.remaining;
END
$$;

CREATE FUNCTION model.expire_all() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	a text;
BEGIN
	SELECT count(*) INTO n FROM model.lot WHERE remaining > 0 AND expires_at <= model.now();
	FOR a IN SELECT DISTINCT account FROM model.lot ORDER BY 1 LOOP
		PERFORM model.record_due(a);
	END LOOP;
	RETURN n;
END
$$;

-- A rule: credits_define_rule's checks, in its order; defining the same
-- (service, variant) again replaces it and keeps its id.
CREATE FUNCTION model.define_rule(svc text, amt numeric, m text, var text, after interval,
								  ext_id bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	IF abs(amt) > model.max_amount() THEN
		PERFORM model.fail('22003', 'out of range');
	ELSIF btrim(svc) = '' OR btrim(var) = '' THEN
		PERFORM model.fail('22023', 'empty service or variant');
	ELSIF amt <= 0 THEN
		PERFORM model.fail('22023', 'credits must be positive');
	ELSIF m NOT IN ('add', 'reset') THEN
		PERFORM model.fail('22023', 'bad mode');
	ELSIF amt <> trunc(amt) THEN
		PERFORM model.fail('22023', 'finer than the scale');
	ELSIF after <= interval '0' THEN
		PERFORM model.fail('22023', 'expires_after must be positive');
	END IF;
	INSERT INTO model.rule AS r VALUES (svc, var, amt, m, after, ext_id)
	ON CONFLICT (service, variant) DO UPDATE
		SET credits = excluded.credits, mode = excluded.mode, expires_after = excluded.expires_after
	RETURNING r.ext_rule_id INTO id;
	RETURN id;
END
$$;

-- A reset: the available balance is forfeited as ONE "reset" entry of the
-- whole amount (an allocation per lot, in spend order; none when it is 0),
-- and every lot granted so far is forfeited: credits that come back to it
-- later (a released hold, a reversed spend) are forfeited then.
CREATE FUNCTION model.reset_(acct text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	bal numeric := model.balance(acct);
	s int;
BEGIN
	UPDATE model.lot SET forfeited_at = model.now() WHERE account = acct AND forfeited_at IS NULL;
	INSERT INTO model.account_reset VALUES (acct, model.now())
	ON CONFLICT (account) DO UPDATE SET reset_at = excluded.reset_at;
	IF bal > 0 THEN
		s := model.append(acct, 'reset', bal);
		PERFORM model.take(acct, s, bal);
	END IF;
END
$$;

-- Issue for a paid invoice: the rule of (service, variant), else of the
-- service; once per reference: the same reference again returns the first
-- lot and changes nothing, with other arguments it is CR003.
CREATE FUNCTION model.issue_(acct text, svc text, ref text, var text, qty int, ext_lot bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	ru model.rule;
	iss model.issue;
	amt numeric;
	lot bigint;
BEGIN
	IF acct IS NULL OR svc IS NULL OR ref IS NULL OR qty IS NULL THEN
		PERFORM model.fail('22004', 'null argument');
	ELSIF acct = '' OR ref = '' THEN
		PERFORM model.fail('22023', 'empty account or reference');
	ELSIF qty <= 0 THEN
		PERFORM model.fail('22023', 'quantity must be positive');
	END IF;
	SELECT * INTO ru FROM model.rule WHERE service = svc AND (variant = var OR variant IS NULL)
	ORDER BY variant IS NULL LIMIT 1;
	IF NOT FOUND THEN
		PERFORM model.fail('42704', 'no rule');
	END IF;
	amt := ru.credits * qty;
	IF amt > model.max_amount() THEN
		PERFORM model.fail('22003', 'out of range');
	END IF;
	SELECT * INTO iss FROM model.issue WHERE reference = ref;
	IF FOUND THEN
		IF iss.account <> acct OR iss.service <> svc OR iss.variant IS DISTINCT FROM var
		   OR iss.quantity <> qty THEN
			PERFORM model.fail('CR003', 'reference issued with other arguments');
		END IF;
		RETURN iss.ext_lot_id;
	END IF;
	PERFORM model.record_due(acct);
	IF ru.mode = 'reset' THEN
		PERFORM model.reset_(acct);
	END IF;
	lot := model.add_lot(acct, amt, model.now() + ru.expires_after, ext_lot);
	INSERT INTO model.issue (reference, account, service, variant, quantity, credits, lot_id, ext_lot_id)
	VALUES (ref, acct, svc, var, qty, amt, lot, ext_lot);
	RETURN ext_lot;
END
$$;

-- Clawback of a refunded invoice: deduct what it issued, first from what
-- is left of its lot, then soonest-expiring first, never below zero; the
-- shortfall is recorded on the entry.  Once: again, (0, 0).  Returns
-- 'deducted/shortfall'.
CREATE FUNCTION model.clawback(ref text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	iss model.issue;
	own model.lot;
	d numeric;
	sf numeric;
	t numeric;
	s int;
BEGIN
	IF ref IS NULL THEN
		PERFORM model.fail('22004', 'null reference');
	END IF;
	SELECT * INTO iss FROM model.issue WHERE reference = ref;
	IF NOT FOUND THEN
		PERFORM model.fail('42704', 'no such invoice');
	ELSIF iss.clawed THEN
		RETURN '0/0';
	END IF;
	PERFORM model.record_due(iss.account);
	d := least(iss.credits, greatest(model.balance(iss.account), 0));
	sf := iss.credits - d;
	s := model.append(iss.account, 'clawback', d, NULL, ref);
	UPDATE model.entry SET shortfall = sf WHERE account = iss.account AND seq = s;
	SELECT * INTO own FROM model.lot WHERE lot_id = iss.lot_id;
	t := least(d, own.remaining);
	IF t > 0 THEN
		PERFORM model.take_lot(iss.account, s, own.lot_id, t);
	END IF;
	PERFORM model.take(iss.account, s, d - t);
	UPDATE model.issue SET clawed = true, deducted = d, shortfall = sf, outstanding = sf, claw_seq = s
	WHERE reference = ref;
	RETURN format('%s/%s', trim_scale(d), trim_scale(sf));
END
$$;

-- The balance at past (and future) instants, from the model's history
-- (with the extension's entry times).  model.delta: what each lot gained
-- or lost, and when (its grant, the allocations of entries, its expire and
-- void entries).  The balance at t is what the lots granted by t held at t,
-- counting only lots not expired at t (model.balance_at, the definition).
-- model.balances_at computes the same for many instants in one pass: the
-- sum of every delta up to t, minus the deltas of lots expired by t, i.e.
-- those whose max(delta time, expiry) is up to t.
CREATE TABLE model.delta (account text, lot_id bigint, at timestamptz, delta numeric);
CREATE INDEX ON model.delta (account, at);
CREATE FUNCTION model.make_deltas() RETURNS void LANGUAGE sql AS $$
	TRUNCATE model.delta;
	INSERT INTO model.delta
		SELECT e.account, e.lot_id, e.at, e.amount FROM model.entry e WHERE e.kind = 'grant'
		UNION ALL
		SELECT a.account, a.lot_id, e.at, CASE e.direction WHEN 'in' THEN a.amount ELSE -a.amount END
		FROM model.alloc a JOIN model.entry e USING (account, seq)
		UNION ALL
		SELECT e.account, e.lot_id, e.at, -e.amount FROM model.entry e WHERE e.kind IN ('expire', 'void');
	ANALYZE model.delta;
$$;

CREATE FUNCTION model.balance_at(acct text, t timestamptz) RETURNS numeric LANGUAGE sql AS $$
	SELECT coalesce(sum(d.delta), 0) FROM model.delta d JOIN model.lot l USING (lot_id)
	WHERE d.account = acct AND d.at <= t AND (l.expires_at IS NULL OR l.expires_at > t)
$$;

CREATE FUNCTION model.balances_at(acct text, ts timestamptz[])
RETURNS TABLE(t timestamptz, balance numeric) LANGUAGE sql AS $$
	SELECT x.t, x.balance FROM (
		SELECT p.t, p.is_instant,
			   coalesce(sum(p.delta) OVER (ORDER BY p.t RANGE UNBOUNDED PRECEDING), 0) AS balance
		FROM (SELECT d.at AS t, d.delta, false AS is_instant FROM model.delta d WHERE d.account = acct
			  UNION ALL
			  SELECT greatest(d.at, l.expires_at), -d.delta, false
			  FROM model.delta d JOIN model.lot l USING (lot_id)
			  WHERE d.account = acct AND l.expires_at IS NOT NULL
			  UNION ALL
			  SELECT u, 0, true FROM unnest(ts) u) p) x
	WHERE x.is_instant
$$;

-- The driver.  An operation: what it is, the model's ids of what it names,
-- and the extension call (one value as text) with the extension's ids.
CREATE TYPE model.op AS (
	kind		text,
	account		text,		-- the account it changes (NULL: none, or unknown id)
	amount		numeric,
	expires		timestamptz,
	hold_id		bigint,		-- model ids
	seq			int,
	lot_id		bigint,
	ext_id		bigint,		-- the extension's id of that hold, entry or lot
	service		text,
	variant		text,
	quantity	int,
	reference	text,
	mode		text,
	expires_after interval,
	sql			text,
	args		text
);
CREATE TABLE model.outcome (op text, state text, n int NOT NULL DEFAULT 0, PRIMARY KEY (op, state));
CREATE TABLE model.happened (what text PRIMARY KEY, n int NOT NULL DEFAULT 0);
CREATE TABLE model.mismatch (step int, what text, detail text);
CREATE TABLE model.log (step int, n serial, what text);
CREATE TABLE model.progress (steps int NOT NULL);
INSERT INTO model.progress VALUES (0);
CREATE TABLE model.session (name text PRIMARY KEY, pid int NOT NULL);
CREATE TABLE model.accounts (account text PRIMARY KEY);
INSERT INTO model.accounts VALUES ('m-1'), ('m-2'), ($$m'3 "big"$$), ('m-never-granted');

-- Rules at the start: add and reset, with and without variants and
-- lifetimes (some of a fraction of a second); a service with only a
-- variant's rule.  The rule operation redefines them.
CREATE TABLE model.rule_key (service text, variant text);
INSERT INTO model.rule_key VALUES ('svc-add', NULL), ('svc-add', 'big'), ('svc-reset', NULL),
	('svc-reset', 'short'), ('svc-short', NULL), ('svc-variant-only', 'v1');
SELECT count(model.define_rule(service, credits, mode, variant, expires_after,
							   credits_define_rule(service, credits::text::credit_amount, mode, variant,
												   expires_after => expires_after))) AS rules
FROM (VALUES ('svc-add', NULL, 40, 'add', NULL::interval), ('svc-add', 'big', 150, 'add', '3 days'),
			 ('svc-reset', NULL, 60, 'reset', '2 days'), ('svc-reset', 'short', 25, 'reset', '250 milliseconds'),
			 ('svc-short', NULL, 20, 'add', '300 milliseconds'), ('svc-variant-only', 'v1', 30, 'add', NULL))
	 AS r(service, variant, credits, mode, expires_after);

CREATE FUNCTION model.pick_account(grantable boolean DEFAULT false, only_ text DEFAULT NULL,
								   not_ text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(only_, (SELECT account FROM model.accounts
							WHERE (NOT grantable OR account <> 'm-never-granted')
							AND account IS DISTINCT FROM not_
							ORDER BY random() LIMIT 1))
$$;

-- A random amount: mostly small whole credits; sometimes 0, negative,
-- finer than the scale, huge, or out of range.
CREATE FUNCTION model.pick_amount(typical int) RETURNS numeric LANGUAGE sql AS $$
	SELECT CASE WHEN r < 0.90 THEN 1 + floor(random() * typical)
				WHEN r < 0.92 THEN 0
				WHEN r < 0.93 THEN -1 - floor(random() * 5)
				WHEN r < 0.95 THEN floor(random() * 10) + 0.5
				WHEN r < 0.98 THEN 1000000000
				ELSE 10000000000000 END
	FROM (SELECT random() AS r) x
$$;

CREATE FUNCTION model.note(op text, state text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO model.outcome AS o VALUES (op, state, 1)
	ON CONFLICT (op, state) DO UPDATE SET n = o.n + 1
$$;

CREATE FUNCTION model.happen(what text) RETURNS void LANGUAGE sql AS $$
	INSERT INTO model.happened AS h VALUES (what, 1)
	ON CONFLICT (what) DO UPDATE SET n = h.n + 1
$$;

-- The extension call of an operation.
CREATE FUNCTION model.op_sql(o model.op) RETURNS text LANGUAGE sql AS $$
	SELECT CASE o.kind
		WHEN 'grant' THEN format('SELECT credits_grant(%L, %L::credit_amount, expires_at => %L::timestamptz)::text',
								 o.account, o.amount, o.expires)
		WHEN 'spend' THEN format('SELECT credits_spend(%L, %L::credit_amount, %L)::text', o.account, o.amount, 'model')
		WHEN 'hold' THEN format('SELECT credits_hold(%L, %L::credit_amount, %L)::text', o.account, o.amount, 'model')
		WHEN 'capture' THEN format('SELECT credits_capture(%s, %L::credit_amount)::text', o.ext_id, o.amount)
		WHEN 'release' THEN format('SELECT credits_release(%s)::text', o.ext_id)
		WHEN 'reverse' THEN format('SELECT credits_reverse(%s, %L)::text', o.ext_id, 'model')
		WHEN 'void' THEN format('SELECT credits_void(%s, %L)::text', o.ext_id, 'model')
		WHEN 'expire' THEN 'SELECT credits_expire()::text'
		WHEN 'issue' THEN format('SELECT credits_issue(%L, %L, %L, %L, %s)::text',
								 o.account, o.service, o.reference, o.variant, o.quantity)
		WHEN 'clawback' THEN format('SELECT format(''%%s/%%s'', deducted, shortfall) FROM credits_clawback(%L)',
									o.reference)
		WHEN 'rule' THEN format('SELECT credits_define_rule(%L, %L::credit_amount, %L, variant => %L, expires_after => %L::interval)::text',
								o.service, o.amount, o.mode, o.variant, o.expires_after)
		END
$$;

-- The operations that change one account (those other sessions run);
-- races favour those that name a hold, entry, lot or invoice.
CREATE FUNCTION model.pick_account_kind(race boolean DEFAULT false) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN NOT race THEN
					CASE WHEN r < 0.18 THEN 'grant' WHEN r < 0.36 THEN 'spend' WHEN r < 0.50 THEN 'hold'
						 WHEN r < 0.58 THEN 'capture' WHEN r < 0.64 THEN 'release' WHEN r < 0.74 THEN 'reverse'
						 WHEN r < 0.79 THEN 'void' WHEN r < 0.91 THEN 'issue' ELSE 'clawback' END
				ELSE
					CASE WHEN r < 0.10 THEN 'grant' WHEN r < 0.22 THEN 'spend' WHEN r < 0.32 THEN 'hold'
						 WHEN r < 0.44 THEN 'capture' WHEN r < 0.52 THEN 'release' WHEN r < 0.64 THEN 'reverse'
						 WHEN r < 0.71 THEN 'void' WHEN r < 0.90 THEN 'issue' ELSE 'clawback' END
				END
	FROM (SELECT random() AS r) x
$$;

-- A random operation of a kind; only_: on that account; not_: on any
-- other account, and never touching invoice not_ref.  tag makes fresh
-- invoice references unique.
CREATE FUNCTION model.make_op(kind text, i int, tag text, only_ text DEFAULT NULL,
							  not_ text DEFAULT NULL, not_ref text DEFAULT NULL)
RETURNS model.op LANGUAGE plpgsql AS $$
DECLARE
	o model.op;
	r float8;
	h model.hold;
	l model.lot;
	iss model.issue;
BEGIN
	o.kind := kind;
	IF kind = 'grant' THEN
		o.account := model.pick_account(true, only_, not_);
		o.amount := model.pick_amount(50);
		IF o.account = $q$m'3 "big"$q$ AND random() < 0.03 THEN
			o.amount := 3000000000000;	-- three of these overflow the balance
		END IF;
		r := random();
		o.expires := CASE WHEN r < 0.40 THEN NULL
						  -- few distinct instants: equal expiries, decided by grant time
						  WHEN r < 0.85 THEN date_trunc('day', now()) + (2 + floor(random() * 4)) * interval '1 day'
						  WHEN r < 0.98 THEN clock_timestamp() + (20 + random() * 400) * interval '1 millisecond'
						  ELSE now() - interval '1 hour' END;
		o.args := format('%s %s %s', o.account, o.amount, o.expires);
	ELSIF kind IN ('spend', 'hold') THEN
		o.account := model.pick_account(false, only_, not_);
		o.amount := model.pick_amount(CASE kind WHEN 'spend' THEN 60 ELSE 30 END);
		o.args := format('%s %s', o.account, o.amount);
	ELSIF kind IN ('capture', 'release') THEN
		-- mostly open holds; sometimes any hold (closed ones: CR005); sometimes none
		SELECT * INTO h FROM model.hold
		WHERE (status = 'open' OR random() < 0.15)
		AND (only_ IS NULL OR account = only_) AND account IS DISTINCT FROM not_
		ORDER BY random() LIMIT 1;
		o.account := h.account;
		o.hold_id := h.hold_id;
		o.ext_id := h.ext_hold_id;
		IF h.hold_id IS NULL OR random() < 0.05 THEN
			o.hold_id := NULL;
			o.ext_id := -i;
		END IF;
		IF kind = 'capture' THEN
			o.amount := CASE WHEN random() < 0.4 THEN NULL
							 WHEN random() < 0.9 THEN 1 + floor(random() * coalesce(h.amount, 5))
							 ELSE coalesce(h.amount, 5) + 1 END;
		END IF;
		o.args := format('hold %s (ext %s) amount %s', o.hold_id, o.ext_id, coalesce(o.amount::text, 'all'));
	ELSIF kind = 'reverse' THEN
		-- mostly spends and captures (some already reversed), sometimes any
		-- entry (22023), sometimes none (42704)
		SELECT e.account, e.seq INTO o.account, o.seq FROM model.entry e
		WHERE (e.kind IN ('spend', 'capture') OR random() < 0.1)
		AND (only_ IS NULL OR e.account = only_) AND e.account IS DISTINCT FROM not_
		ORDER BY random() LIMIT 1;
		IF o.account IS NULL OR random() < 0.03 THEN
			o.ext_id := -i;
			o.seq := -1;
			o.account := NULL;
		ELSE
			SELECT x.entry_id INTO o.ext_id FROM credits.entry x
			WHERE x.account = o.account AND x.credit_type = 'CRD' AND x.seq = o.seq;
		END IF;
		o.args := format('%s #%s (ext %s)', o.account, o.seq, o.ext_id);
	ELSIF kind = 'void' THEN
		SELECT * INTO l FROM model.lot
		WHERE (only_ IS NULL OR account = only_) AND account IS DISTINCT FROM not_
		ORDER BY random() LIMIT 1;
		o.account := l.account;
		o.lot_id := l.lot_id;
		o.ext_id := l.ext_lot_id;
		IF l.lot_id IS NULL OR random() < 0.05 THEN
			o.lot_id := NULL;
			o.ext_id := -i;
			o.account := NULL;
		END IF;
		o.args := format('lot %s (ext %s)', o.lot_id, o.ext_id);
	ELSIF kind = 'issue' THEN
		r := random();
		SELECT k.service, k.variant INTO o.service, o.variant
		FROM (VALUES (0.22, 'svc-add', NULL), (0.32, 'svc-add', 'big'), (0.36, 'svc-add', 'nope'),
					 (0.56, 'svc-reset', NULL), (0.66, 'svc-reset', 'short'), (0.80, 'svc-short', NULL),
					 (0.90, 'svc-variant-only', 'v1'), (0.95, 'svc-variant-only', NULL),
					 (1.01, 'svc-none', NULL)) k(upto, service, variant)
		WHERE r < k.upto ORDER BY k.upto LIMIT 1;
		o.quantity := CASE WHEN random() < 0.04 THEN -floor(random() * 2)::int ELSE 1 + floor(random() * 3)::int END;
		o.account := model.pick_account(true, only_, not_);
		o.reference := 'inv-' || tag;
		r := random();
		IF r < 0.72 THEN
			NULL;		-- a new invoice
		ELSIF r < 0.94 THEN
			SELECT * INTO iss FROM model.issue
			WHERE reference IS DISTINCT FROM not_ref
			AND (r >= 0.82 OR ((only_ IS NULL OR account = only_) AND account IS DISTINCT FROM not_))
			ORDER BY random() LIMIT 1;
			IF FOUND AND r < 0.82 THEN
				-- the same invoice again: issues nothing
				o.account := iss.account;
				o.service := iss.service;
				o.variant := iss.variant;
				o.quantity := iss.quantity;
				o.reference := iss.reference;
			ELSIF FOUND THEN
				-- an invoice that issued to another account, or with other
				-- arguments: CR003
				o.reference := iss.reference;
				IF o.account = iss.account THEN
					o.service := iss.service;
					o.variant := iss.variant;
					o.quantity := iss.quantity + 1;
				END IF;
			END IF;
		ELSE
			o.reference := '';
		END IF;
		o.args := format('%s %s/%s x%s %s', o.account, o.service, o.variant, o.quantity, o.reference);
	ELSIF kind = 'clawback' THEN
		r := random();
		IF r < 0.82 THEN
			-- mostly invoices not clawed back yet; sometimes again: (0, 0)
			SELECT i2.reference, i2.account INTO o.reference, o.account FROM model.issue i2
			WHERE (NOT i2.clawed OR random() < 0.25) AND i2.reference IS DISTINCT FROM not_ref
			AND (only_ IS NULL OR i2.account = only_) AND i2.account IS DISTINCT FROM not_
			ORDER BY random() LIMIT 1;
		END IF;
		IF o.reference IS NULL AND r < 0.96 THEN
			o.reference := 'inv-unknown-' || tag;	-- 42704
		END IF;							-- else NULL: 22004
		o.args := format('%s (%s)', coalesce(o.reference, 'NULL'), o.account);
	ELSIF kind = 'rule' THEN
		SELECT * INTO o.service, o.variant FROM model.rule_key ORDER BY random() LIMIT 1;
		o.amount := 1 + floor(random() * 150);
		o.mode := CASE WHEN o.service = 'svc-reset' THEN 'reset' WHEN o.service = 'svc-add' THEN 'add'
					   WHEN random() < 0.5 THEN 'add' ELSE 'reset' END;
		o.expires_after := (ARRAY[NULL, '300 milliseconds', '2 days', '5 days']::interval[])[1 + floor(random() * 4)::int];
		r := random();
		IF r < 0.05 THEN
			o.amount := 0;
		ELSIF r < 0.09 THEN
			o.mode := 'bogus';
		ELSIF r < 0.12 THEN
			o.amount := 2.5;
		ELSIF r < 0.15 THEN
			o.expires_after := '-1 day';
		ELSIF r < 0.17 THEN
			o.service := ' ';
		END IF;
		o.args := format('%s/%s %s %s %s', o.service, o.variant, o.amount, o.mode, o.expires_after);
	END IF;
	o.sql := model.op_sql(o);
	RETURN o;
END
$$;

-- An operation on the same thing as o (for two sessions racing): the same
-- hold (captured or released), entry, lot or invoice (issued again with
-- the same arguments or to another account, or clawed back), or one more
-- of the same kind on the same account.
CREATE FUNCTION model.same_target(o model.op, i int, tag text) RETURNS model.op LANGUAGE plpgsql AS $$
DECLARE
	x model.op := o;
	r float8;
	held numeric := (SELECT amount FROM model.hold WHERE hold_id = o.hold_id);
BEGIN
	IF o.kind IN ('capture', 'release') THEN
		x.kind := CASE WHEN random() < 0.5 THEN 'capture' ELSE 'release' END;
		x.amount := CASE WHEN x.kind = 'release' OR random() < 0.4 THEN NULL
						 ELSE 1 + floor(random() * coalesce(held, 5)) END;
		x.args := format('hold %s (ext %s) amount %s', x.hold_id, x.ext_id, coalesce(x.amount::text, 'all'));
	ELSIF o.kind = 'issue' THEN
		r := random();
		IF r < 0.35 THEN
			x.account := model.pick_account(true, NULL, o.account);
			x.args := format('%s %s/%s x%s %s', x.account, x.service, x.variant, x.quantity, x.reference);
		ELSIF r < 0.7 THEN
			-- refunded while it is being issued: a new invoice is not found
			-- (42704) without waiting
			x.kind := 'clawback';
			x.args := format('%s (%s)', x.reference, x.account);
		END IF;
	ELSIF o.kind IN ('grant', 'spend', 'hold') THEN
		x := model.make_op(o.kind, i, tag, o.account);
	END IF;
	x.sql := model.op_sql(x);
	RETURN x;
END
$$;

-- Run an extension call, here or in another session: its result, SQLSTATE
-- and the start of its transaction.
CREATE FUNCTION model.try(q text, OUT r text, OUT st text, OUT t timestamptz) LANGUAGE plpgsql AS $$
BEGIN
	t := now();
	st := '00000';
	IF q IS NOT NULL THEN
		BEGIN
			EXECUTE q INTO r;
		EXCEPTION WHEN OTHERS THEN
			st := SQLSTATE;
			r := NULL;
		END;
	END IF;
END
$$;
CREATE FUNCTION model.try_sql(q text) RETURNS text LANGUAGE sql
AS $$ SELECT format('SELECT r, st, t FROM model.try(%L)', q) $$;

-- Apply an operation to the model, given the extension's result (its ids),
-- at the model clock "clock" (NULL: now()).  Returns the SQLSTATE and the
-- result where it says something.
CREATE FUNCTION model.apply(o model.op, ext_r text, clock timestamptz, OUT st text, OUT res text)
LANGUAGE plpgsql AS $$
BEGIN
	st := '00000';
	PERFORM set_config('model.now', coalesce(clock::text, ''), true);
	BEGIN
		CASE o.kind
		WHEN 'grant' THEN
			PERFORM model.grant_(o.account, o.amount, o.expires, ext_r::bigint);
		WHEN 'spend' THEN
			PERFORM model.spend(o.account, o.amount);
		WHEN 'hold' THEN
			PERFORM model.hold_(o.account, o.amount, ext_r::bigint);
		WHEN 'capture' THEN
			PERFORM model.capture(o.hold_id, o.amount);
		WHEN 'release' THEN
			PERFORM model.release(o.hold_id);
		WHEN 'reverse' THEN
			PERFORM model.reverse(o.account, o.seq);
		WHEN 'void' THEN
			res := trim_scale(model.void(o.lot_id))::text;
		WHEN 'expire' THEN
			res := model.expire_all()::text;
		WHEN 'issue' THEN
			res := model.issue_(o.account, o.service, o.reference, o.variant, o.quantity, ext_r::bigint)::text;
		WHEN 'clawback' THEN
			res := model.clawback(o.reference);
		WHEN 'rule' THEN
			res := model.define_rule(o.service, o.amount, o.mode, o.variant, o.expires_after, ext_r::bigint)::text;
		ELSE
			NULL;
		END CASE;
	EXCEPTION WHEN OTHERS THEN
		st := SQLSTATE;
		res := NULL;
	END;
	PERFORM set_config('model.now', '', true);
END
$$;

-- Both sides agree on an operation: the same SQLSTATE, and the same result
-- where it says something.
CREATE FUNCTION model.check(i int, label text, o model.op, ext_st text, ext_r text, mod_st text, mod_r text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM model.note(o.kind, ext_st);
	INSERT INTO model.log (step, what) VALUES (i, format('%s%s %s: %s %s', label, o.kind, o.args, ext_st, ext_r));
	IF ext_st <> mod_st THEN
		INSERT INTO model.mismatch VALUES (i, label || o.kind || ' ' || coalesce(o.args, ''),
			format('extension %s, model %s', ext_st, mod_st));
	ELSIF ext_st = '00000' AND o.kind IN ('void', 'expire', 'issue', 'clawback', 'rule')
		  AND ext_r IS DISTINCT FROM mod_r THEN
		INSERT INTO model.mismatch VALUES (i, label || o.kind || ' result ' || coalesce(o.args, ''),
			format('extension %s, model %s', ext_r, mod_r));
	END IF;
END
$$;

-- An operation in this session.  Returns the accounts it touched.
CREATE FUNCTION model.run_local(i int, o model.op) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	x record;
	m record;
BEGIN
	IF o.kind = 'sleep' THEN
		PERFORM pg_sleep(0.02 + random() * 0.15);	-- let short expiries lapse
	END IF;
	SELECT * INTO x FROM model.try(o.sql);
	SELECT * INTO m FROM model.apply(o, x.r, NULL);
	PERFORM model.check(i, '', o, x.st, x.r, m.st, m.res);
	RETURN CASE WHEN o.kind = 'expire' THEN ARRAY(SELECT account FROM model.accounts)
				ELSE ARRAY[o.account] END;
END
$$;

-- The operation of another session, applied to the model at that
-- session's clock: kept if that session committed, rolled back (compared
-- only) if it rolled back.
CREATE FUNCTION model.apply_other(i int, label text, o model.op, ext_r text, ext_st text,
								  clock timestamptz, committed boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	m record;
BEGIN
	IF committed THEN
		SELECT * INTO m FROM model.apply(o, ext_r, clock);
	ELSE
		BEGIN
			SELECT * INTO m FROM model.apply(o, ext_r, clock);
			RAISE EXCEPTION 'roll back' USING ERRCODE = 'MR001';
		EXCEPTION WHEN SQLSTATE 'MR001' THEN
			NULL;
		END;
	END IF;
	PERFORM model.check(i, label, o, ext_st, ext_r, m.st, m.res);
END
$$;

-- Another session opens a transaction and runs an operation on one
-- account; meanwhile this session runs one to three operations on other
-- accounts (never waiting for that session's locks); then that session
-- commits or rolls back.
CREATE FUNCTION model.run_open(i int) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	a text := model.pick_account(true);
	o model.op := model.make_op(model.pick_account_kind(), i, i || 'o', a);
	o2 model.op;
	x record;
	committed boolean;
	touched text[] := ARRAY[a];
BEGIN
	PERFORM dblink_exec('m2', 'BEGIN');
	SELECT * INTO x FROM dblink('m2', model.try_sql(o.sql)) AS t(r text, st text, t timestamptz);
	FOR k IN 1 .. 1 + floor(random() * 3)::int LOOP
		o2 := model.make_op(model.pick_account_kind(), i, i || '.' || k, NULL, a, o.reference);
		touched := touched || model.run_local(i, o2);
	END LOOP;
	committed := random() < 0.7;
	PERFORM dblink_exec('m2', CASE WHEN committed THEN 'COMMIT' ELSE 'ROLLBACK' END);
	PERFORM model.happen(CASE WHEN committed THEN 'other session committed' ELSE 'other session rolled back' END);
	PERFORM model.apply_other(i, 'other session: ', o, x.r, x.st, x.t, committed);
	RETURN touched;
END
$$;

-- Wait until session conn's query is done (false) or waits for a lock
-- (true).
CREATE FUNCTION model.waits(conn text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	p int := (SELECT pid FROM model.session WHERE name = conn);
BEGIN
	FOR k IN 1 .. 10000 LOOP
		IF dblink_is_busy(conn) = 0 THEN
			RETURN false;
		ELSIF cardinality(pg_blocking_pids(p)) > 0 THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.001);
	END LOOP;
	RAISE EXCEPTION 'model: session % neither finished nor waited', conn;
END
$$;

-- Two sessions race on one account (or invoice): the first runs an
-- operation and keeps its transaction open; the second, started after it,
-- sends one (often on the same hold, entry, lot or invoice) without
-- waiting for it; then the first commits or rolls back, the second gets
-- its result and commits or rolls back.  The model applies them in the
-- order they took effect: the second first if it neither waited for the
-- first's lock nor saw what the first did (the first succeeded, so it held
-- the lock, and the second ran without it).
CREATE FUNCTION model.run_race(i int) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
	a text := model.pick_account(true);
	oy model.op := model.make_op(model.pick_account_kind(true), i, i || 'y', a);
	ox model.op;
	y record;
	x record;
	waited boolean;
	y_committed boolean;
	x_committed boolean;
BEGIN
	IF random() < 0.6 THEN
		ox := model.same_target(oy, i, i || 'x');
	ELSE
		ox := model.make_op(model.pick_account_kind(true), i, i || 'x', a);
	END IF;
	PERFORM dblink_exec('m2', 'BEGIN');
	SELECT * INTO y FROM dblink('m2', model.try_sql(oy.sql)) AS t(r text, st text, t timestamptz);
	PERFORM dblink_exec('m3', 'BEGIN');
	PERFORM dblink_send_query('m3', model.try_sql(ox.sql));
	waited := model.waits('m3');
	y_committed := random() < 0.75;
	PERFORM dblink_exec('m2', CASE WHEN y_committed THEN 'COMMIT' ELSE 'ROLLBACK' END);
	SELECT * INTO x FROM dblink_get_result('m3') AS t(r text, st text, t timestamptz);
	PERFORM * FROM dblink_get_result('m3') AS t(r text, st text, t timestamptz);
	x_committed := random() < 0.75;
	PERFORM dblink_exec('m3', CASE WHEN x_committed THEN 'COMMIT' ELSE 'ROLLBACK' END);

	PERFORM model.happen(CASE WHEN waited THEN 'race: second waited' ELSE 'race: second did not wait' END);
	IF waited AND y_committed AND x.st IN ('CR003', 'CR005') THEN
		PERFORM model.happen('race: second refused after waiting');
	END IF;
	IF NOT waited AND y.st = '00000' THEN
		PERFORM model.apply_other(i, 'race, second: ', ox, x.r, x.st, x.t, x_committed);
		PERFORM model.apply_other(i, 'race, first: ', oy, y.r, y.st, y.t, y_committed);
	ELSE
		PERFORM model.apply_other(i, 'race, first: ', oy, y.r, y.st, y.t, y_committed);
		PERFORM model.apply_other(i, 'race, second: ', ox, x.r, x.st, x.t, x_committed);
	END IF;
	RETURN ARRAY[a, ox.account];
END
$$;

-- One random step on both sides; then compare.
CREATE FUNCTION model.step(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r float8 := random();
	touched text[];
	acct text;
	eb numeric;
	mb numeric;
BEGIN
	IF r < 0.93 THEN
		touched := model.run_local(i, model.make_op(
			CASE WHEN r < 0.21 THEN 'grant' WHEN r < 0.38 THEN 'spend' WHEN r < 0.47 THEN 'hold'
				 WHEN r < 0.55 THEN (CASE WHEN random() < 0.55 THEN 'capture' ELSE 'release' END)
				 WHEN r < 0.64 THEN 'reverse' WHEN r < 0.69 THEN 'void'
				 WHEN r < 0.77 THEN 'issue' WHEN r < 0.82 THEN 'clawback' WHEN r < 0.835 THEN 'rule'
				 WHEN r < 0.88 THEN 'balance'	-- reads only: the comparison below
				 WHEN r < 0.91 THEN 'expire' ELSE 'sleep' END,
			i, i::text));
	ELSIF r < 0.965 THEN
		touched := model.run_open(i);
	ELSE
		touched := model.run_race(i);
	END IF;

	-- The balance and held amount of the accounts the step touched, after
	-- every step; of every account every tenth step.
	FOR acct IN SELECT a.account FROM model.accounts a
				WHERE i % 10 = 0 OR a.account = ANY (touched) ORDER BY 1 LOOP
		eb := credits_balance(acct)::numeric;
		mb := model.balance(acct);
		IF eb <> mb THEN
			INSERT INTO model.mismatch VALUES (i, 'balance of ' || acct, format('extension %s, model %s', eb, mb));
		END IF;
		eb := (SELECT coalesce(sum(amount::numeric), 0) FROM credits_holds(acct, 'open'));
		mb := (SELECT coalesce(sum(amount), 0) FROM model.hold WHERE account = acct AND status = 'open');
		IF eb <> mb THEN
			INSERT INTO model.mismatch VALUES (i, 'held by ' || acct, format('extension %s, model %s', eb, mb));
		END IF;
	END LOOP;
END
$$;

-- Two more sessions (dblink), with this session's date and time settings
-- so that times read back exactly; a lock wait never lasts forever.
CREATE FUNCTION model.connect(conn text, connstr text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM dblink_connect(conn, connstr);
	PERFORM dblink_exec(conn, format('SET DateStyle = %L; SET TimeZone = %L; SET IntervalStyle = %L; SET lock_timeout = %L',
									 current_setting('DateStyle'), current_setting('TimeZone'),
									 current_setting('IntervalStyle'), '30s'));
	INSERT INTO model.session
	SELECT conn, pid FROM dblink(conn, 'SELECT pg_backend_pid()') AS t(pid int);
END
$$;

CREATE PROCEDURE model.run(n int, seed float8, connstr text) LANGUAGE plpgsql AS $$
BEGIN
	-- never wait forever for a lock: a wait that should not happen fails
	PERFORM set_config('lock_timeout', '30s', false);
	PERFORM model.connect('m2', connstr);
	PERFORM model.connect('m3', connstr);
	PERFORM setseed(seed);
	FOR i IN 1..n LOOP
		PERFORM model.step(i);
		UPDATE model.progress SET steps = i;
		COMMIT;
		-- the first difference is what matters: stop there
		EXIT WHEN EXISTS (SELECT 1 FROM model.mismatch);
	END LOOP;
	PERFORM dblink_disconnect('m2');
	PERFORM dblink_disconnect('m3');
END
$$;

-- The other sessions connect to this database through its socket.
CREATE FUNCTION model.conninfo_value(v text) RETURNS text LANGUAGE sql
AS $$ SELECT '''' || replace(replace(v, '\', '\\'), '''', '\''') || '''' $$;
SELECT format('dbname=%s user=%s port=%s host=%s', model.conninfo_value(current_database()),
			  model.conninfo_value(current_user), current_setting('port'),
			  model.conninfo_value(coalesce(nullif(btrim(split_part(current_setting('unix_socket_directories'), ',', 1)), ''),
											'localhost'))) AS model_connstr \gset
CALL model.run(:model_ops, :model_seed, :'model_connstr');
-- (sessions left open by a failed run would hold locks: close them)
SELECT count(dblink_disconnect(c)) AS left_open FROM unnest(dblink_get_connections()) c;

-- The end: histories, the lots of every entry, lots, clawbacks, invoices,
-- balances in the past and the future.
CREATE FUNCTION model.compare_end() RETURNS SETOF model.mismatch LANGUAGE plpgsql AS $$
DECLARE
	acct text;
BEGIN
	FOR acct IN SELECT account FROM model.accounts ORDER BY 1 LOOP
		RETURN QUERY
		SELECT -1, 'history of ' || acct || ' #' || coalesce(x.seq, m.seq),
			   format('extension %s, model %s', x.row, m.row)
		FROM (SELECT row_number() OVER () AS seq,
					 format('%s %s %s %s', h.kind, h.direction, trim_scale(h.amount::numeric),
							trim_scale(h.running_balance::numeric)) AS row
			  FROM credits_history(acct) h) x
		FULL JOIN (SELECT e.seq, format('%s %s %s %s', e.kind, e.direction, trim_scale(e.amount),
								 trim_scale(e.running_balance)) AS row
				   FROM model.entry e WHERE e.account = acct) m ON m.seq = x.seq
		WHERE x.row IS DISTINCT FROM m.row;

		-- an entry's time never decreases along the history
		RETURN QUERY
		SELECT -1, 'time of ' || acct || ' #' || h.n, format('%s after %s', h.at, h.prev)
		FROM (SELECT row_number() OVER () AS n, h.at, lag(h.at) OVER () AS prev
			  FROM credits_history(acct) h) h
		WHERE h.at < h.prev;

		-- which lots each entry touched, and by how much
		RETURN QUERY
		SELECT -1, 'lots of ' || acct || ' #' || coalesce(x.seq, m.seq),
			   format('extension %s, model %s', x.lots, m.lots)
		FROM (SELECT e.seq, concat_ws(' ', e.lot_id::text, string_agg(a.lot_id || ':' || a.amount, ' ' ORDER BY a.lot_id)) AS lots
			  FROM credits.entry e
			  LEFT JOIN credits.allocation a ON a.account = e.account AND a.entry_id = e.entry_id
			  WHERE e.account = acct GROUP BY e.seq, e.lot_id) x
		FULL JOIN (SELECT e.seq, concat_ws(' ', le.ext_lot_id::text,
										   string_agg(l.ext_lot_id || ':' || a.amount, ' ' ORDER BY l.ext_lot_id)) AS lots
				   FROM model.entry e
				   LEFT JOIN model.lot le ON le.lot_id = e.lot_id
				   LEFT JOIN model.alloc a ON a.account = e.account AND a.seq = e.seq
				   LEFT JOIN model.lot l ON l.lot_id = a.lot_id
				   WHERE e.account = acct GROUP BY e.seq, le.ext_lot_id) m ON m.seq = x.seq
		WHERE x.lots IS DISTINCT FROM m.lots;

		-- the shortfall recorded on each clawback of an invoice
		RETURN QUERY
		SELECT -1, 'shortfall of ' || acct || ' #' || m.seq,
			   format('extension %s, model %s', x.shortfall, m.shortfall)
		FROM model.entry m LEFT JOIN credits.entry x ON x.account = m.account AND x.seq = m.seq
		WHERE m.account = acct AND m.shortfall IS NOT NULL
		AND x.shortfall::numeric IS DISTINCT FROM m.shortfall;

		-- the balance at every instant the extension's history names, just
		-- before each lot's expiry and at it, and in the future
		RETURN QUERY
		SELECT -1, 'balance of ' || acct || ' at ' || y.t, format('extension %s, model %s', y.b, y.mb)
		FROM (SELECT m.t, credits_balance(acct, 'CRD', m.t)::numeric AS b, m.balance AS mb
			  FROM model.balances_at(acct, ARRAY(
				SELECT DISTINCT at FROM model.entry WHERE account = acct
				UNION SELECT expires_at FROM model.lot WHERE account = acct AND expires_at < now()
				UNION SELECT expires_at - interval '1 microsecond' FROM model.lot
					  WHERE account = acct AND expires_at < now()
				UNION SELECT now() + k * interval '1 day' FROM generate_series(1, 7) k)) m) y
		WHERE y.b <> y.mb;
		-- (the one-pass replay agrees with the definition)
		RETURN QUERY
		SELECT -1, 'model.balances_at of ' || acct || ' at ' || m.t,
			   format('one pass %s, definition %s', m.balance, model.balance_at(acct, m.t))
		FROM model.balances_at(acct, ARRAY(SELECT at FROM model.entry WHERE account = acct
										   ORDER BY random() LIMIT 40)) m
		WHERE m.balance <> model.balance_at(acct, m.t);
	END LOOP;
	RETURN QUERY
	SELECT -1, 'lot ' || l.ext_lot_id, format('extension remaining %s, model %s', x.remaining, l.remaining)
	FROM model.lot l LEFT JOIN credits.lot x ON x.lot_id = l.ext_lot_id
	WHERE x.remaining::numeric IS DISTINCT FROM l.remaining;
	RETURN QUERY
	SELECT -1, 'lot count', format('extension %s, model %s',
								   (SELECT count(*) FROM credits.lot), (SELECT count(*) FROM model.lot))
	WHERE (SELECT count(*) FROM credits.lot) <> (SELECT count(*) FROM model.lot);
	-- every invoice: who it issued to, what, which lot, and its clawback
	RETURN QUERY
	SELECT -1, 'invoice ' || coalesce(x.reference, m.reference), format('extension %s, model %s', x.row, m.row)
	FROM (SELECT i.reference, format('%s %s/%s x%s: %s lot %s; clawed back %s: %s/%s', i.account, i.service,
									 i.variant, i.quantity, i.credits, i.lot_id, i.clawback_entry_id IS NOT NULL,
									 i.deducted, i.shortfall) AS row
		  FROM credits.issue i) x
	FULL JOIN (SELECT i.reference, format('%s %s/%s x%s: %s lot %s; clawed back %s: %s/%s', i.account, i.service,
										  i.variant, i.quantity, trim_scale(i.credits), i.ext_lot_id, i.clawed,
										  trim_scale(i.deducted), trim_scale(i.shortfall)) AS row
			   FROM model.issue i) m ON m.reference = x.reference
	WHERE x.row IS DISTINCT FROM m.row;
END
$$;
-- The balances in the past are asked at the extension's entry times (the
-- histories agree, or compare_end says where they do not).
UPDATE model.entry m SET at = x.at FROM credits.entry x
WHERE x.account = m.account AND x.credit_type = 'CRD' AND x.seq = m.seq;
SELECT model.make_deltas();
INSERT INTO model.mismatch SELECT * FROM model.compare_end();

-- Every kind of operation succeeded and every refusal the API names
-- happened (the run exercised what it claims to).
SELECT op, bool_or(state = '00000') AS succeeded,
	   string_agg(DISTINCT state, ' ' ORDER BY state) FILTER (WHERE state <> '00000') AS refusals
FROM model.outcome GROUP BY op ORDER BY op;
SELECT (SELECT count(*) FROM model.entry) > :model_ops / 2 AS long_history,
	   (SELECT count(*) FROM model.entry WHERE kind = 'expire') > 10 AS expiries,
	   (SELECT count(*) FROM model.entry WHERE kind = 'void' AND amount > 0) > 10 AS voids,
	   (SELECT count(*) FROM model.alloc GROUP BY account, seq ORDER BY 1 DESC LIMIT 1) > 2 AS multi_lot_entries;
-- Resets that forfeited credits (and held or spent credits forfeited when
-- they came back), clawbacks short of credits, and credits coming back to
-- an account whose clawback shortfall was outstanding.
SELECT (SELECT count(*) FROM model.entry WHERE kind = 'reset' AND amount > 0) > 10 AS resets,
	   (SELECT count(*) FROM model.entry e WHERE kind = 'reset' AND EXISTS (
			SELECT 1 FROM model.entry p WHERE p.account = e.account AND p.seq < e.seq
			AND p.kind IN ('release', 'reversal') AND p.seq >= e.seq - 2)) > 2 AS forfeited_on_return,
	   (SELECT count(*) FROM model.issue WHERE shortfall > 0) > 5 AS clawback_shortfalls,
	   (SELECT n FROM model.chances) > 5 AS shortfalls_met_returns;
-- Other sessions: committed and rolled back while this one worked on
-- other accounts; races where the second waited for the first's lock (and
-- then found the hold, entry, lot or invoice already taken), or did not.
SELECT coalesce(sum(n) FILTER (WHERE what = 'other session committed'), 0) > 10 AS others_committed,
	   coalesce(sum(n) FILTER (WHERE what = 'other session rolled back'), 0) > 5 AS others_rolled_back,
	   coalesce(sum(n) FILTER (WHERE what = 'race: second waited'), 0) > 10 AS races_waited,
	   coalesce(sum(n) FILTER (WHERE what = 'race: second did not wait'), 0) > 3 AS races_not_waited,
	   coalesce(sum(n) FILTER (WHERE what = 'race: second refused after waiting'), 0) > 3 AS races_lost
FROM model.happened;
-- The verdict: the steps run and the differences found (none).
SELECT format('model: %s operations, %s mismatches', steps, (SELECT count(*) FROM model.mismatch)) AS summary
FROM model.progress;
SELECT CASE WHEN step > 0 THEN 'after an operation'
			WHEN what LIKE 'balance of % at %' THEN 'balance at another instant'
			ELSE split_part(what, ' ', 1) END AS mismatch,
	   count(*), min(step) FILTER (WHERE step > 0) AS first_step
FROM model.mismatch GROUP BY 1 ORDER BY 1;
SELECT step, what, detail FROM model.mismatch ORDER BY step DESC, what LIMIT 20;
-- (the operations of the step after which the first difference showed)
SELECT step, what FROM model.log
WHERE step = (SELECT min(step) FROM model.mismatch WHERE step > 0) ORDER BY n;

SELECT * FROM credits_verify();
SET client_min_messages = warning;
DROP SCHEMA model CASCADE;
RESET client_min_messages;
DROP EXTENSION credits;
DROP EXTENSION dblink;
