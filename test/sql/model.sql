-- Model-based test: a reference model of the ledger, written the most
-- obvious way in plain SQL and PL/pgSQL from the rules of API.md (schema
-- "model": its own lots, history, allocations and holds), and a driver that
-- applies one random, seeded sequence of operations to both the extension
-- and the model: grants (some expiring within a fraction of a second),
-- spends, holds, captures, releases, voids, reversals and expiry runs, on a
-- few accounts, with amounts that are sometimes zero, negative, finer than
-- the scale, larger than the balance or out of range, and ids that are
-- sometimes unknown or already used.
--
-- After every operation: both sides succeeded, or both failed with the same
-- SQLSTATE; the balance and held amount of the account it touched agree
-- (of every account, every tenth operation).  At the end:
-- every account's history (kind, direction, amount, running balance, in
-- order), the lots of every entry (allocations, lot of a grant/expire/void),
-- every lot's remainder, and the balance at every past instant the history
-- names (and at future ones) agree, and credits_verify() is clean.
--
-- Each operation runs in its own transaction (a procedure that commits), so
-- that now() moves and short expiries lapse between operations.
-- psql variables: model_ops (default 3000), model_seed (default 0.4242).
-- make soak runs many more (MODEL_OPS, MODEL_SEED).
CREATE EXTENSION credits;
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

CREATE SCHEMA model;

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
	voided		boolean NOT NULL DEFAULT false
);
CREATE TABLE model.entry (
	account		text NOT NULL,
	seq			int NOT NULL,
	at			timestamptz NOT NULL,
	kind		text NOT NULL,
	direction	text NOT NULL,
	amount		numeric NOT NULL,
	running_balance numeric NOT NULL,
	lot_id		bigint,			-- grant, expire, void
	reversed	boolean NOT NULL DEFAULT false,
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
	WHERE account = acct AND (expires_at IS NULL OR expires_at > now())
$$;

CREATE FUNCTION model.last_balance(acct text) RETURNS numeric LANGUAGE sql AS $$
	SELECT coalesce((SELECT running_balance FROM model.entry
					 WHERE account = acct ORDER BY seq DESC LIMIT 1), 0)
$$;

-- Append an entry: its running balance is the previous one plus "in" or
-- minus "out".  Returns its seq.
CREATE FUNCTION model.append(acct text, k text, amt numeric, lot bigint DEFAULT NULL)
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
	INSERT INTO model.entry (account, seq, at, kind, direction, amount, running_balance, lot_id)
	VALUES (acct, s, now(), k, dir, amt, rb, lot);
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
			 WHERE account = acct AND remaining > 0 AND expires_at <= now()
			 ORDER BY expires_at, granted_at, ext_lot_id
	LOOP
		PERFORM model.append(acct, 'expire', l.remaining, l.lot_id);
		UPDATE model.lot SET remaining = 0 WHERE lot_id = l.lot_id;
	END LOOP;
END
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
		UPDATE model.lot SET remaining = remaining - t WHERE lot_id = l.lot_id;
		INSERT INTO model.alloc VALUES (acct, s, l.lot_id, t);
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

-- Credits that came back to a voided or expired lot leave again at once.
CREATE FUNCTION model.settle(acct text, from_seq int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	p record;
	l model.lot;
BEGIN
	FOR p IN SELECT * FROM model.parts(acct, from_seq) LOOP
		SELECT * INTO l FROM model.lot WHERE lot_id = p.lot_id;
		IF l.remaining > 0 AND (l.voided OR l.expires_at <= now()) THEN
			PERFORM model.append(acct, CASE WHEN l.voided THEN 'void' ELSE 'expire' END,
								 l.remaining, l.lot_id);
			UPDATE model.lot SET remaining = 0 WHERE lot_id = l.lot_id;
		END IF;
	END LOOP;
END
$$;

-- The API, modelled.
CREATE FUNCTION model.grant_(acct text, amt numeric, expires timestamptz, ext_id bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	id bigint;
BEGIN
	PERFORM model.check_amount(amt);
	IF expires <= now() THEN
		PERFORM model.fail('22023', 'expires_at must be in the future');
	END IF;
	PERFORM model.record_due(acct);
	INSERT INTO model.lot (ext_lot_id, account, amount, remaining, granted_at, expires_at)
	VALUES (ext_id, acct, amt, amt, now(), expires) RETURNING lot_id INTO id;
	PERFORM model.append(acct, 'grant', amt, id);
	RETURN id;
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
-- expired or voided lot and was not captured leaves again.
CREATE FUNCTION model.capture(id bigint, amt numeric) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
	h model.hold;
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
	PERFORM model.give_back(h.account, 'release', h.seq);
	s := model.append(h.account, 'capture', left_);
	FOR p IN SELECT * FROM model.parts(h.account, h.seq) LOOP
		EXIT WHEN left_ = 0;
		t := least(left_, p.amount);
		UPDATE model.lot SET remaining = remaining - t WHERE lot_id = p.lot_id;
		INSERT INTO model.alloc VALUES (h.account, s, p.lot_id, t);
		left_ := left_ - t;
	END LOOP;
	PERFORM model.settle(h.account, h.seq);
	UPDATE model.hold SET status = 'captured' WHERE hold_id = id;
	RETURN s;
END
$$;

CREATE FUNCTION model.release(id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	h model.hold := model.open_hold(id);
BEGIN
	PERFORM model.record_due(h.account);
	PERFORM model.give_back(h.account, 'release', h.seq);
	PERFORM model.settle(h.account, h.seq);
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
	SELECT count(*) INTO n FROM model.lot WHERE remaining > 0 AND expires_at <= now();
	FOR a IN SELECT DISTINCT account FROM model.lot ORDER BY 1 LOOP
		PERFORM model.record_due(a);
	END LOOP;
	RETURN n;
END
$$;

-- The balance at past (and future) instants, from the model's history.
-- model.delta: what each lot gained or lost, and when (its grant, the
-- allocations of entries, its expire and void entries).  The balance at t
-- is what the lots granted by t held at t, counting only lots not expired
-- at t (model.balance_at, the definition).  model.balances_at computes the
-- same for many instants in one pass: the sum of every delta up to t, minus
-- the deltas of lots expired by t, i.e. those whose max(delta time, expiry)
-- is up to t.
CREATE TABLE model.delta (account text, lot_id bigint, at timestamptz, delta numeric);
CREATE INDEX ON model.delta (account, at);
CREATE FUNCTION model.make_deltas() RETURNS void LANGUAGE sql AS $$
	TRUNCATE model.delta;
	INSERT INTO model.delta
		SELECT l.account, l.lot_id, l.granted_at, l.amount FROM model.lot l
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

-- The driver.
CREATE TABLE model.outcome (op text, state text, n int NOT NULL DEFAULT 0, PRIMARY KEY (op, state));
CREATE TABLE model.mismatch (step int, what text, detail text);
CREATE TABLE model.accounts (account text PRIMARY KEY);
INSERT INTO model.accounts VALUES ('m-1'), ('m-2'), ($$m'3 "big"$$), ('m-never-granted');

CREATE FUNCTION model.pick_account(grantable boolean DEFAULT false) RETURNS text LANGUAGE sql AS $$
	SELECT account FROM model.accounts
	WHERE NOT grantable OR account <> 'm-never-granted'
	ORDER BY random() LIMIT 1
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

-- One random operation on both sides; then compare.
CREATE FUNCTION model.step(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r float8 := random();
	op text;
	acct text;
	amt numeric;
	expires timestamptz;
	ext_id bigint;
	mod_id bigint;
	s int;
	ext_state text := '00000';
	mod_state text := '00000';
	args text;
	h model.hold;
	l model.lot;
	eb numeric;
	mb numeric;
BEGIN
	IF r < 0.27 THEN
		op := 'grant';
		acct := model.pick_account(true);
		amt := model.pick_amount(50);
		IF acct = $q$m'3 "big"$q$ AND random() < 0.03 THEN
			amt := 3000000000000;	-- three of these overflow the balance
		END IF;
		r := random();
		expires := CASE WHEN r < 0.40 THEN NULL
						-- few distinct instants: equal expiries, decided by grant time
						WHEN r < 0.85 THEN date_trunc('day', now()) + (2 + floor(random() * 4)) * interval '1 day'
						WHEN r < 0.98 THEN clock_timestamp() + (20 + random() * 400) * interval '1 millisecond'
						ELSE now() - interval '1 hour' END;
		args := format('%s %s %s', acct, amt, expires);
		BEGIN
			ext_id := credits_grant(acct, amt::text::credit_amount, expires_at => expires);
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			PERFORM model.grant_(acct, amt, expires, ext_id);
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
	ELSIF r < 0.50 THEN
		op := 'spend';
		acct := model.pick_account();
		amt := model.pick_amount(60);
		args := format('%s %s', acct, amt);
		BEGIN
			PERFORM credits_spend(acct, amt::text::credit_amount, 'model');
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			PERFORM model.spend(acct, amt);
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
	ELSIF r < 0.62 THEN
		op := 'hold';
		acct := model.pick_account();
		amt := model.pick_amount(30);
		args := format('%s %s', acct, amt);
		BEGIN
			ext_id := credits_hold(acct, amt::text::credit_amount, 'model');
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			PERFORM model.hold_(acct, amt, ext_id);
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
	ELSIF r < 0.71 THEN
		op := CASE WHEN random() < 0.55 THEN 'capture' ELSE 'release' END;
		-- mostly open holds; sometimes any hold (closed ones: CR005); sometimes none
		SELECT * INTO h FROM model.hold
		WHERE status = 'open' OR random() < 0.15 ORDER BY random() LIMIT 1;
		acct := h.account;
		IF h.hold_id IS NULL OR random() < 0.03 THEN
			h.hold_id := NULL;
			h.ext_hold_id := -i;
		END IF;
		amt := CASE WHEN random() < 0.4 THEN NULL
					WHEN random() < 0.9 THEN 1 + floor(random() * coalesce(h.amount, 5))
					ELSE coalesce(h.amount, 5) + 1 END;
		args := format('hold %s (ext %s) amount %s', h.hold_id, h.ext_hold_id, coalesce(amt::text, 'all'));
		IF op = 'capture' THEN
			BEGIN
				PERFORM credits_capture(h.ext_hold_id, amt::text::credit_amount);
			EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
			END;
			BEGIN
				PERFORM model.capture(h.hold_id, amt);
			EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
			END;
		ELSE
			BEGIN
				PERFORM credits_release(h.ext_hold_id);
			EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
			END;
			BEGIN
				PERFORM model.release(h.hold_id);
			EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
			END;
		END IF;
	ELSIF r < 0.83 THEN
		op := 'reverse';
		-- mostly spends and captures (some already reversed), sometimes any
		-- entry (22023), sometimes none (42704)
		SELECT e.account, e.seq INTO acct, s FROM model.entry e
		WHERE e.kind IN ('spend', 'capture') OR random() < 0.1
		ORDER BY random() LIMIT 1;
		IF acct IS NULL OR random() < 0.03 THEN
			ext_id := -i;
			acct := 'm-1';
			s := -1;
		ELSE
			SELECT h2.entry_id INTO ext_id FROM credits_history(acct) h2 OFFSET s - 1 LIMIT 1;
		END IF;
		args := format('%s #%s (ext %s)', acct, s, ext_id);
		BEGIN
			PERFORM credits_reverse(ext_id, 'model');
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			PERFORM model.reverse(acct, s);
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
	ELSIF r < 0.89 THEN
		op := 'void';
		SELECT * INTO l FROM model.lot ORDER BY random() LIMIT 1;
		acct := l.account;
		IF l.lot_id IS NULL OR random() < 0.03 THEN
			l.lot_id := NULL;
			l.ext_lot_id := -i;
		END IF;
		args := format('lot %s (ext %s)', l.lot_id, l.ext_lot_id);
		BEGIN
			PERFORM credits_void(l.ext_lot_id, 'model');
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			PERFORM model.void(l.lot_id);
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
	ELSIF r < 0.95 THEN
		op := 'balance';	-- reads only: the comparison below
	ELSIF r < 0.98 THEN
		op := 'expire';
		BEGIN
			ext_id := credits_expire();
		EXCEPTION WHEN OTHERS THEN ext_state := SQLSTATE;
		END;
		BEGIN
			mod_id := model.expire_all();
		EXCEPTION WHEN OTHERS THEN mod_state := SQLSTATE;
		END;
		IF ext_id IS DISTINCT FROM mod_id THEN
			INSERT INTO model.mismatch VALUES (i, 'credits_expire() count',
				format('extension %s, model %s', ext_id, mod_id));
		END IF;
	ELSE
		op := 'sleep';		-- let short expiries lapse
		PERFORM pg_sleep(0.02 + random() * 0.2);
	END IF;

	PERFORM model.note(op, ext_state);
	IF ext_state <> mod_state THEN
		INSERT INTO model.mismatch VALUES (i, op || ' ' || args,
			format('extension %s, model %s', ext_state, mod_state));
	END IF;
	-- The balance and held amount of the account the operation touched,
	-- after every operation; of every account every tenth operation.
	FOR acct IN SELECT a.account FROM model.accounts a
				WHERE i % 10 = 0 OR op = 'expire' OR a.account = acct ORDER BY 1 LOOP
		eb := credits_balance(acct)::numeric;
		mb := model.balance(acct);
		IF eb <> mb THEN
			INSERT INTO model.mismatch VALUES (i, 'balance of ' || acct || ' after ' || op || ' ' || coalesce(args, ''),
				format('extension %s, model %s', eb, mb));
		END IF;
		eb := (SELECT coalesce(sum(amount::numeric), 0) FROM credits_holds(acct, 'open'));
		mb := (SELECT coalesce(sum(amount), 0) FROM model.hold WHERE account = acct AND status = 'open');
		IF eb <> mb THEN
			INSERT INTO model.mismatch VALUES (i, 'held by ' || acct || ' after ' || op,
				format('extension %s, model %s', eb, mb));
		END IF;
	END LOOP;
END
$$;

CREATE PROCEDURE model.run(n int, seed float8) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM setseed(seed);
	FOR i IN 1..n LOOP
		PERFORM model.step(i);
		COMMIT;
		-- the first difference is what matters: stop there
		EXIT WHEN EXISTS (SELECT 1 FROM model.mismatch);
	END LOOP;
END
$$;

CALL model.run(:model_ops, :model_seed);

-- The end: histories, the lots of every entry, lots, balances in the past
-- and the future.
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

		-- the balance at every instant the history names, just before each
		-- lot's expiry and at it, and in the future
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
END
$$;
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
-- The verdict: the operations run and the differences found (none).
SELECT format('model: %s operations, %s mismatches', sum(n), (SELECT count(*) FROM model.mismatch)) AS summary
FROM model.outcome;
SELECT CASE WHEN step > 0 THEN 'after an operation'
			WHEN what LIKE 'balance of % at %' THEN 'balance at another instant'
			ELSE split_part(what, ' ', 1) END AS mismatch,
	   count(*), min(step) FILTER (WHERE step > 0) AS first_step
FROM model.mismatch GROUP BY 1 ORDER BY 1;
SELECT step, what, detail FROM model.mismatch ORDER BY step DESC, what LIMIT 20;

SELECT * FROM credits_verify();
SET client_min_messages = warning;
DROP SCHEMA model CASCADE;
RESET client_min_messages;
DROP EXTENSION credits;
