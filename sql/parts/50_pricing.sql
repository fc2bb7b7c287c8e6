/*
 * Pricing and purchasing: conversion rates, packages, volume price tiers,
 * purchases and credit requests, and paying invoices with credits.
 * Configuration tables (rate, package, product, price_tier) are small and
 * shared; credit requests are per account.
 */

-- Conversion rates.  Each (currency, credit type) has one chain of rates
-- keyed by effective_from; the rate in force at t is the one with the latest
-- effective_from <= t, so a new rate ends the previous one where it starts
-- and two rates can never be in force at the same instant.  Rates are kept
-- for audit: never updated, and deleted only while still in the future.
CREATE SEQUENCE credits.rate_id_seq;
CREATE TABLE credits.rate (
	rate_id		bigint NOT NULL DEFAULT nextval('credits.rate_id_seq') PRIMARY KEY,
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	credit_type	text NOT NULL,
	-- NaN sorts above Infinity, so this also refuses NaN.
	credits_per_unit numeric NOT NULL
		CHECK (credits_per_unit > 0 AND credits_per_unit < 'Infinity'),
	effective_from timestamptz NOT NULL CHECK (isfinite(effective_from)),
	created_at	timestamptz NOT NULL DEFAULT now(),
	created_by	text NOT NULL DEFAULT session_user,
	UNIQUE (currency, credit_type, effective_from)
);
ALTER SEQUENCE credits.rate_id_seq OWNED BY credits.rate.rate_id;

CREATE FUNCTION credits.refuse_rate_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF TG_OP = 'DELETE' AND OLD.effective_from > now() THEN
		RETURN OLD;		-- a scheduled rate that never took effect
	END IF;
	RAISE EXCEPTION '% on "rate" is not allowed: conversion rates are kept for audit', TG_OP
		USING ERRCODE = 'insufficient_privilege',
			  HINT = 'A new rate ends the previous one: call credits_set_rate() with a later effective_from.';
END
$$;
CREATE TRIGGER rate_append_only BEFORE UPDATE OR DELETE ON credits.rate
	FOR EACH ROW EXECUTE FUNCTION credits.refuse_rate_change();
CREATE TRIGGER rate_no_truncate BEFORE TRUNCATE ON credits.rate
	FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_rate_change();
ALTER TABLE credits.rate ENABLE ALWAYS TRIGGER rate_append_only;
ALTER TABLE credits.rate ENABLE ALWAYS TRIGGER rate_no_truncate;
-- Backends cache the rate chains (src/config.c); a change makes every
-- backend drop its copy.
CREATE TRIGGER rate_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON credits.rate
	FOR EACH STATEMENT EXECUTE FUNCTION credits.config_changed('rate');

-- Packages clients buy.  Redefining a name updates it in place; purchases
-- and requests keep the figures they were made with.
CREATE SEQUENCE credits.package_id_seq;
CREATE TABLE credits.package (
	package_id	bigint NOT NULL DEFAULT nextval('credits.package_id_seq') PRIMARY KEY,
	name		text NOT NULL UNIQUE CHECK (btrim(name) <> ''),
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	price		numeric NOT NULL CHECK (price > 0 AND price < 'Infinity'),
	expires_after interval CHECK (expires_after > interval '0'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE credits.package_id_seq OWNED BY credits.package.package_id;

-- Volume pricing: a product is priced in one currency; its tiers start at
-- min_quantity and run up to the next tier's.
CREATE TABLE credits.product (
	product		text NOT NULL PRIMARY KEY CHECK (btrim(product) <> ''),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	created_at	timestamptz NOT NULL DEFAULT now(),
	UNIQUE (product, currency)
);
CREATE TABLE credits.price_tier (
	product		text NOT NULL,
	min_quantity int NOT NULL CHECK (min_quantity >= 1),
	unit_price	numeric NOT NULL CHECK (unit_price > 0 AND unit_price < 'Infinity'),
	currency	text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (product, min_quantity),
	FOREIGN KEY (product, currency) REFERENCES credits.product (product, currency)
);

-- Credit requests: purchases paid outside the card processors (bank
-- transfer, crypto) that the agency accepts once the money has arrived.
-- A request records the figures of what was bought when it was made: a
-- package (package_id, package), or credits of a product by quantity at its
-- volume price (product; credits is the quantity, amount the price).  An
-- auto top-up (89_topup.sql) is a request for a package by any method,
-- which the application charges, then accepts or rejects.
CREATE SEQUENCE credits.request_id_seq;
CREATE TABLE credits.request (
	account		text NOT NULL,
	request_id	bigint NOT NULL DEFAULT nextval('credits.request_id_seq'),
	package_id	bigint REFERENCES credits.package,
	package		text,				-- the package's name when requested
	credit_type	text NOT NULL,
	credits		@extschema@.credit_amount NOT NULL CHECK (credits > 0),
	amount		numeric NOT NULL CHECK (amount > 0 AND amount < 'Infinity'),
	currency	text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
	expires_after interval,			-- counted from acceptance
	method		text NOT NULL CHECK (method IN ('stripe', 'paypal', 'bank_transfer', 'crypto')),
	reference	text,
	status		text NOT NULL DEFAULT 'pending'
				CHECK (status IN ('pending', 'accepted', 'rejected')),
	created_at	timestamptz NOT NULL DEFAULT now(),
	created_by	text NOT NULL DEFAULT session_user,
	decided_at	timestamptz,
	decided_by	text,
	reason		text,				-- why it was rejected
	lot_id		bigint,				-- the lot an accepted request granted
	product		text REFERENCES credits.product,	-- bought by quantity
	auto_topup	boolean NOT NULL DEFAULT false,	-- requested by an auto top-up
	PRIMARY KEY (account, request_id),
	FOREIGN KEY (account, lot_id) REFERENCES credits.lot (account, lot_id),
	CONSTRAINT request_decided_at CHECK ((status = 'pending') = (decided_at IS NULL)),
	CONSTRAINT request_decided_by CHECK ((status = 'pending') = (decided_by IS NULL)),
	CONSTRAINT request_accepted_lot CHECK ((status = 'accepted') = (lot_id IS NOT NULL)),
	CONSTRAINT request_rejected_reason CHECK (status = 'rejected' OR reason IS NULL),
	CONSTRAINT request_package_or_product CHECK ((package_id IS NULL) <> (product IS NULL)),
	CONSTRAINT request_package_named CHECK ((package_id IS NULL) = (package IS NULL)),
	-- a card or PayPal purchase is granted at once, never requested
	CONSTRAINT request_card_is_topup CHECK (auto_topup OR method IN ('bank_transfer', 'crypto'))
);
ALTER SEQUENCE credits.request_id_seq OWNED BY credits.request.request_id;
CREATE INDEX request_by_id ON credits.request (request_id);
CREATE INDEX request_pending ON credits.request (request_id) WHERE status = 'pending';
-- At most one pending auto top-up per account and type.
CREATE UNIQUE INDEX request_topup_pending ON credits.request (account, credit_type)
	WHERE status = 'pending' AND auto_topup;

SELECT pg_catalog.pg_extension_config_dump('credits.rate', '');
SELECT pg_catalog.pg_extension_config_dump('credits.rate_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.package', '');
SELECT pg_catalog.pg_extension_config_dump('credits.package_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('credits.product', '');
SELECT pg_catalog.pg_extension_config_dump('credits.price_tier', '');
SELECT pg_catalog.pg_extension_config_dump('credits.request', '');
SELECT pg_catalog.pg_extension_config_dump('credits.request_id_seq', '');

REVOKE ALL ON credits.rate, credits.package, credits.product,
	credits.price_tier, credits.request FROM PUBLIC;
REVOKE ALL ON SEQUENCE credits.rate_id_seq, credits.package_id_seq,
	credits.request_id_seq FROM PUBLIC;

/*
 * Internal helpers in C (src/convert.c, src/purchase.c), so that SQL and C
 * share one list of currencies and one wording of every check.
 */
CREATE FUNCTION credits.currency_minor_unit(currency text) RETURNS int
AS 'MODULE_PATHNAME', 'credits_pricing_minor_unit'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits.check_money(value numeric, what text,
									allow_zero boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_check_money'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION credits.check_credits(amount @extschema@.credit_amount, credit_type text,
									  what text)
RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_check_credits'
LANGUAGE C STABLE
SET search_path = pg_catalog, credits, pg_temp;

CREATE FUNCTION credits.pricing_require_enabled(action text) RETURNS void
AS 'MODULE_PATHNAME', 'credits_pricing_require_enabled'
LANGUAGE C STABLE;

CREATE FUNCTION credits.grant_purchased_lot(account text, amount @extschema@.credit_amount,
											credit_type text,
											expires_at timestamptz,
											reason text, reference text,
											cost numeric, cost_currency text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_pricing_grant_lot'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;

REVOKE ALL ON FUNCTION credits.currency_minor_unit(text),
	credits.check_money(numeric, text, boolean),
	credits.check_credits(@extschema@.credit_amount, text, text),
	credits.pricing_require_enabled(text),
	credits.grant_purchased_lot(text, @extschema@.credit_amount, text, timestamptz, text,
								text, numeric, text),
	credits.refuse_rate_change() FROM PUBLIC;

/*
 * Rates
 */
CREATE FUNCTION credits_set_rate(currency text, credits_per_unit numeric,
								 credit_type text DEFAULT 'CRD',
								 effective_from timestamptz DEFAULT now())
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	id bigint;
	old_rate numeric;
BEGIN
	IF currency IS NULL OR credits_per_unit IS NULL OR credit_type IS NULL
	   OR effective_from IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN currency IS NULL THEN 'currency'
				 WHEN credits_per_unit IS NULL THEN 'credits_per_unit'
				 WHEN credit_type IS NULL THEN 'credit_type'
				 ELSE 'effective_from' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	PERFORM credits.currency_minor_unit(currency);
	PERFORM credits.check_money(credits_per_unit, 'credits_per_unit');
	IF NOT isfinite(effective_from) THEN
		RAISE EXCEPTION 'effective_from must be finite'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.type_scale(credit_type);
	IF EXISTS (SELECT 1 FROM credits.credit_types t
			   WHERE t.code = credits_set_rate.credit_type
				 AND t.currency = credits_set_rate.currency) THEN
		RAISE EXCEPTION 'credit type "%" is monetary in %', credit_type, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('One credit of type %s is one %s: it converts 1:1 without a rate.',
								  credit_type, currency);
	END IF;

	INSERT INTO credits.rate (currency, credit_type, credits_per_unit, effective_from)
	VALUES (credits_set_rate.currency, credits_set_rate.credit_type,
			credits_set_rate.credits_per_unit, credits_set_rate.effective_from)
	ON CONFLICT (currency, credit_type, effective_from) DO NOTHING
	RETURNING rate_id INTO id;
	IF id IS NOT NULL THEN
		RETURN id;
	END IF;

	-- A rate already starts at that instant.  Setting the same rate again
	-- is a harmless retry; a different one would rewrite what was in force.
	SELECT r.rate_id, r.credits_per_unit INTO id, old_rate
	FROM credits.rate r
	WHERE r.currency = credits_set_rate.currency
	  AND r.credit_type = credits_set_rate.credit_type
	  AND r.effective_from = credits_set_rate.effective_from;
	IF old_rate = credits_per_unit THEN
		RETURN id;
	END IF;
	RAISE EXCEPTION 'a rate from % to credit type "%" already takes effect at that time',
		currency, credit_type
		USING ERRCODE = 'invalid_parameter_value',
			  DETAIL = format('Rate %s (%s credits per %s) takes effect at %s.',
							  id, old_rate, currency, effective_from),
			  HINT = 'Rates are kept for audit: set the new rate with a later effective_from.';
EXCEPTION WHEN integrity_constraint_violation THEN
	-- distributed, the error names the shard: name the table
	DECLARE
		d text;
	BEGIN
		GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
		PERFORM credits.raise_unsharded(SQLSTATE, SQLERRM, d);
	END;
END
$$;
COMMENT ON FUNCTION credits_set_rate(text, numeric, text, timestamptz) IS
	'sets how many credits one unit of a currency buys from effective_from on, ending the previous rate there; returns the rate id';

CREATE FUNCTION credits_rate(currency text, credit_type text DEFAULT 'CRD',
							 at timestamptz DEFAULT now())
RETURNS numeric
AS 'MODULE_PATHNAME', 'credits_rate'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_rate(text, text, timestamptz) IS
	'credits one unit of currency buys at a time (1 for a monetary type in its own currency); CR004 if no rate is in force';

CREATE FUNCTION credits_rates(currency text DEFAULT NULL,
							  credit_type text DEFAULT NULL)
RETURNS TABLE(rate_id bigint, currency text, credit_type text,
			  credits_per_unit numeric, effective_from timestamptz,
			  effective_to timestamptz, created_at timestamptz,
			  created_by text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT r.rate_id, r.currency, r.credit_type, r.credits_per_unit,
		   r.effective_from,
		   lead(r.effective_from) OVER (PARTITION BY r.currency, r.credit_type
										ORDER BY r.effective_from),
		   r.created_at, r.created_by
	FROM credits.rate r
	WHERE ($1 IS NULL OR r.currency = $1) AND ($2 IS NULL OR r.credit_type = $2)
	ORDER BY r.currency, r.credit_type, r.effective_from
$$;
COMMENT ON FUNCTION credits_rates(text, text) IS
	'the rate schedule: each rate with the instant it took effect and the instant the next one ended it (NULL: still in force)';

CREATE FUNCTION credits_convert(price numeric, currency text,
								credit_type text DEFAULT 'CRD',
								at timestamptz DEFAULT now())
RETURNS @extschema@.credit_amount
AS 'MODULE_PATHNAME', 'credits_convert'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_convert(numeric, text, text, timestamptz) IS
	'credits a price buys: price times the rate in force, computed exactly and rounded up to the credit type''s scale';

/*
 * Packages and volume tiers
 */
CREATE FUNCTION credits_define_package(name text, credits @extschema@.credit_amount,
									   currency text, price numeric,
									   credit_type text DEFAULT 'CRD',
									   expires_after interval DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	id bigint;
BEGIN
	IF name IS NULL OR credits IS NULL OR currency IS NULL OR price IS NULL
	   OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN name IS NULL THEN 'name'
				 WHEN credits IS NULL THEN 'credits'
				 WHEN currency IS NULL THEN 'currency'
				 WHEN price IS NULL THEN 'price'
				 ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF btrim(name) = '' THEN
		RAISE EXCEPTION 'package name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- Lock the type first: its scale holds until this transaction ends.
	PERFORM credits.lock_type(credit_type);
	PERFORM credits.check_credits(credits, credit_type, 'credits');
	PERFORM credits.check_money(price, 'price');
	IF trunc(price, credits.currency_minor_unit(currency)) <> price THEN
		RAISE EXCEPTION 'price % is finer than the minor unit of %', price, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s counts in units of %s.', currency,
								  1::numeric / 10 ^ credits.currency_minor_unit(currency));
	END IF;
	-- No negative part: '1 month -29 days' would expire purchases made on
	-- January 31 before they are made.
	PERFORM credits.check_interval(expires_after, 'expires_after');

	-- now() as a value, not in DO UPDATE SET: Citus accepts only immutable
	-- functions there (package is a reference table once distributed).
	INSERT INTO credits.package AS p (name, credit_type, credits, currency, price,
									  expires_after, updated_at)
	VALUES (credits_define_package.name, credits_define_package.credit_type,
			credits_define_package.credits, credits_define_package.currency,
			credits_define_package.price, credits_define_package.expires_after, now())
	ON CONFLICT (name) DO UPDATE
		SET credit_type = excluded.credit_type, credits = excluded.credits,
			currency = excluded.currency, price = excluded.price,
			expires_after = excluded.expires_after, updated_at = excluded.updated_at
	RETURNING p.package_id INTO id;
	RETURN id;
EXCEPTION WHEN integrity_constraint_violation THEN
	-- distributed, the error names the shard: name the table
	DECLARE
		d text;
	BEGIN
		GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
		PERFORM credits.raise_unsharded(SQLSTATE, SQLERRM, d);
	END;
END
$$;
COMMENT ON FUNCTION credits_define_package(text, @extschema@.credit_amount, text, numeric, text, interval) IS
	'defines a package clients buy (or updates the package of that name); returns the package id';

CREATE FUNCTION credits_packages()
RETURNS TABLE(package_id bigint, name text, credits @extschema@.credit_amount,
			  credit_type text, currency text, price numeric,
			  expires_after interval)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT p.package_id, p.name, p.credits, p.credit_type, p.currency, p.price,
		   p.expires_after
	FROM credits.package p ORDER BY p.name
$$;
COMMENT ON FUNCTION credits_packages() IS 'the packages clients can buy';

CREATE FUNCTION credits_define_price_tier(product text, min_quantity int,
										  unit_price numeric, currency text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	product_currency text;
BEGIN
	IF product IS NULL OR min_quantity IS NULL OR unit_price IS NULL
	   OR currency IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN product IS NULL THEN 'product'
				 WHEN min_quantity IS NULL THEN 'min_quantity'
				 WHEN unit_price IS NULL THEN 'unit_price'
				 ELSE 'currency' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF btrim(product) = '' THEN
		RAISE EXCEPTION 'product must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF min_quantity < 1 THEN
		RAISE EXCEPTION 'min_quantity must be at least 1'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', min_quantity);
	END IF;
	PERFORM credits.check_money(unit_price, 'unit_price');
	PERFORM credits.currency_minor_unit(currency);

	INSERT INTO credits.product (product, currency)
	VALUES (credits_define_price_tier.product, credits_define_price_tier.currency)
	ON CONFLICT (product) DO NOTHING;
	-- Serializes definitions of one product's tiers.
	SELECT p.currency INTO product_currency FROM credits.product p
	WHERE p.product = credits_define_price_tier.product FOR UPDATE;
	IF product_currency <> currency THEN
		RAISE EXCEPTION 'product "%" is priced in %, not %', product,
			product_currency, currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'All tiers of a product share one currency.';
	END IF;

	-- now() as a value, not in DO UPDATE SET (see credits_define_package).
	INSERT INTO credits.price_tier AS t (product, min_quantity, unit_price, currency, updated_at)
	VALUES (credits_define_price_tier.product, credits_define_price_tier.min_quantity,
			credits_define_price_tier.unit_price, credits_define_price_tier.currency, now())
	ON CONFLICT (product, min_quantity) DO UPDATE
		SET unit_price = excluded.unit_price, updated_at = excluded.updated_at;
EXCEPTION WHEN integrity_constraint_violation THEN
	-- distributed, the error names the shard: name the table
	DECLARE
		d text;
	BEGIN
		GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
		PERFORM credits.raise_unsharded(SQLSTATE, SQLERRM, d);
	END;
END
$$;
COMMENT ON FUNCTION credits_define_price_tier(text, int, numeric, text) IS
	'sets the unit price of a product from min_quantity up to the next tier (or changes that tier''s price)';

-- quantity (> 0) times the unit price of the highest tier whose
-- min_quantity <= quantity, and the product's currency; 42704 for an
-- unknown product or a quantity below its lowest tier.  Shared by
-- credits_price and credits_purchase_quantity (which a portal may call, so
-- this checks no access).
CREATE FUNCTION credits.tier_price(product text, quantity int,
								   OUT price numeric, OUT currency text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	lowest int;
BEGIN
	SELECT tier_price.quantity * t.unit_price, t.currency INTO price, currency
	FROM credits.price_tier t
	WHERE t.product = tier_price.product AND t.min_quantity <= tier_price.quantity
	ORDER BY t.min_quantity DESC LIMIT 1;
	IF FOUND THEN
		RETURN;
	END IF;
	SELECT min(t.min_quantity) INTO lowest FROM credits.price_tier t
	WHERE t.product = tier_price.product;
	IF lowest IS NULL THEN
		RAISE EXCEPTION 'product "%" does not exist', product
			USING ERRCODE = 'undefined_object',
				  HINT = 'Define its prices with credits_define_price_tier().';
	END IF;
	RAISE EXCEPTION 'no price tier of product "%" covers quantity %', product, quantity
		USING ERRCODE = 'undefined_object',
			  DETAIL = format('The lowest tier starts at %s.', lowest);
END
$$;
REVOKE ALL ON FUNCTION credits.tier_price(text, int) FROM PUBLIC;

CREATE FUNCTION credits_price(product text, quantity int)
RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF product IS NULL OR quantity IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN product IS NULL THEN 'product' ELSE 'quantity' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF quantity <= 0 THEN
		RAISE EXCEPTION 'quantity must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', quantity);
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	RETURN (credits.tier_price(product, quantity)).price;
END
$$;
COMMENT ON FUNCTION credits_price(text, int) IS
	'quantity times the unit price of the highest tier whose min_quantity is at most quantity';

CREATE FUNCTION credits_price_tiers(product text DEFAULT NULL)
RETURNS TABLE(product text, min_quantity int, max_quantity int,
			  unit_price numeric, currency text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT t.product, t.min_quantity,
		   lead(t.min_quantity) OVER (PARTITION BY t.product ORDER BY t.min_quantity) - 1,
		   t.unit_price, t.currency
	FROM credits.price_tier t
	WHERE $1 IS NULL OR t.product = $1
	ORDER BY t.product, t.min_quantity
$$;
COMMENT ON FUNCTION credits_price_tiers(text) IS
	'the volume price list: each tier with the quantities it covers (max_quantity NULL: no upper bound)';

/*
 * Purchases and credit requests.
 *
 * Lock order: a function that locks a credit request row and an account row
 * locks the request first, then the account (inside
 * credits.grant_purchased_lot), everywhere.
 */
-- The outbox event of a credit request's creation or decision.
CREATE FUNCTION credits.request_event(r credits.request, type text)
RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.emit_event(r.account, type, 'credit_request', r.request_id::text,
		jsonb_build_object('request_id', r.request_id, 'account', r.account,
						   'package', r.package, 'credit_type', r.credit_type,
						   'credits', r.credits::numeric, 'amount', r.amount,
						   'currency', r.currency, 'method', r.method,
						   'reference', r.reference, 'status', r.status,
						   'lot_id', r.lot_id, 'decided_by', r.decided_by,
						   'reason', r.reason, 'product', r.product))
$$;
REVOKE ALL ON FUNCTION credits.request_event(credits.request, text) FROM PUBLIC;

-- What both purchase functions check first: the caller's access (a client
-- portal may ask for credits, a request the agency decides, but only the
-- agency's backend, once the processor has taken the payment, may record a
-- card or PayPal purchase), the account, the method.
-- A package by name, or 42704: what a purchase, an auto top-up's setting
-- and the top-up itself buy.
CREATE FUNCTION credits.package_named(name text) RETURNS credits.package
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	p credits.package%ROWTYPE;
BEGIN
	SELECT * INTO p FROM credits.package x WHERE x.name = package_named.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'package "%" does not exist', name
			USING ERRCODE = 'undefined_object',
				  HINT = 'Define it with credits_define_package().';
	END IF;
	RETURN p;
END
$$;

-- A payment method is one of four, or 22023 with the caller's detail (what
-- a method does where it is given).
CREATE FUNCTION credits.check_method(method text, detail text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF method NOT IN ('stripe', 'paypal', 'bank_transfer', 'crypto') THEN
		RAISE EXCEPTION 'invalid payment method "%"', method
			USING ERRCODE = 'invalid_parameter_value', DETAIL = detail;
	END IF;
END
$$;
REVOKE ALL ON FUNCTION credits.package_named(text), credits.check_method(text, text) FROM PUBLIC;

CREATE FUNCTION credits.check_purchase(account text, method text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	PERFORM credits.check_access(account,
		CASE WHEN method IN ('bank_transfer', 'crypto') THEN 'client' ELSE 'agency' END);
	IF account = '' THEN
		RAISE EXCEPTION 'account must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_method(method, 'A method is stripe or paypal (credits granted at once), or bank_transfer or crypto (a credit request the agency accepts).');
END
$$;

-- A purchase's result row: the lot granted at once ('accepted') or the
-- pending request; recorded under the idempotency key when there is one.
CREATE FUNCTION credits.purchase_result(account text, key text,
										new_request_id bigint, new_lot_id bigint)
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	st text := CASE WHEN $4 IS NOT NULL THEN 'accepted' ELSE 'pending' END;
BEGIN
	IF $2 IS NOT NULL THEN
		PERFORM credits.idempotency_finish($1, $2, coalesce($3, $4),
			jsonb_build_object('request_id', $3, 'lot_id', $4, 'status', st));
	END IF;
	RETURN QUERY SELECT $3, $4, st;
END
$$;
REVOKE ALL ON FUNCTION credits.check_purchase(text, text),
	credits.purchase_result(text, text, bigint, bigint) FROM PUBLIC;

CREATE FUNCTION credits_purchase(account text, package text, method text,
								 reference text DEFAULT NULL,
								 idempotency_key text DEFAULT NULL)
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	p credits.package%ROWTYPE;
	r credits.request%ROWTYPE;
	id bigint;
	earlier jsonb;
BEGIN
	IF account IS NULL OR package IS NULL OR method IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN account IS NULL THEN 'account'
				 WHEN package IS NULL THEN 'package' ELSE 'method' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_purchase(account, method);
	-- A key is claimed before anything is bought: a second call with it
	-- waits for the first and returns the first's result row (see
	-- credits.idempotency_claim).
	IF idempotency_key IS NOT NULL THEN
		earlier := credits.idempotency_claim(account, idempotency_key, 'purchase',
			credits.idempotency_request(ARRAY['purchase', package, method, reference]));
		IF earlier IS NOT NULL THEN
			RETURN QUERY SELECT (earlier->>'request_id')::bigint, (earlier->>'lot_id')::bigint,
								earlier->>'status';
			RETURN;
		END IF;
	END IF;
	p := credits.package_named(package);
	PERFORM credits.pricing_require_enabled('purchasing');

	IF method IN ('stripe', 'paypal') THEN
		id := credits.grant_purchased_lot(account, p.credits, p.credit_type,
										  now() + p.expires_after,
										  format('package "%s" bought with %s', p.name, method),
										  reference, p.price, p.currency);
		RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, NULL, id);
		RETURN;
	END IF;

	INSERT INTO credits.request (account, package_id, package, credit_type, credits,
								 amount, currency, expires_after, method, reference)
	VALUES (credits_purchase.account, p.package_id, p.name, p.credit_type, p.credits,
			p.price, p.currency, p.expires_after, credits_purchase.method,
			credits_purchase.reference)
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.created');
	RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, r.request_id, NULL);
END
$$;
COMMENT ON FUNCTION credits_purchase(text, text, text, text, text) IS
	'buys a package: stripe/paypal grant the credits at once; bank_transfer/crypto create a pending credit request';

CREATE FUNCTION credits_purchase_quantity(account text, product text, quantity int,
										  method text, reference text DEFAULT NULL,
										  idempotency_key text DEFAULT NULL,
										  credit_type text DEFAULT 'CRD')
RETURNS TABLE(request_id bigint, lot_id bigint, status text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	cost numeric;			-- what the client pays: the volume price
	cost_currency text;
	r credits.request%ROWTYPE;
	id bigint;
	earlier jsonb;
BEGIN
	IF account IS NULL OR product IS NULL OR quantity IS NULL OR method IS NULL
	   OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN account IS NULL THEN 'account'
				 WHEN product IS NULL THEN 'product'
				 WHEN quantity IS NULL THEN 'quantity'
				 WHEN method IS NULL THEN 'method' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_purchase(account, method);
	IF quantity <= 0 THEN
		RAISE EXCEPTION 'quantity must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The value given was %s.', quantity);
	END IF;
	IF idempotency_key IS NOT NULL THEN
		earlier := credits.idempotency_claim(account, idempotency_key, 'purchase_quantity',
			credits.idempotency_request(ARRAY['purchase_quantity', product, quantity::text,
											  method, reference, credit_type]));
		IF earlier IS NOT NULL THEN
			RETURN QUERY SELECT (earlier->>'request_id')::bigint, (earlier->>'lot_id')::bigint,
								earlier->>'status';
			RETURN;
		END IF;
	END IF;
	SELECT t.price, t.currency INTO cost, cost_currency
	FROM credits.tier_price(product, quantity) t;
	-- What the client is charged: whole minor units of the currency.
	IF trunc(cost, credits.currency_minor_unit(cost_currency)) <> cost THEN
		RAISE EXCEPTION 'price % of % credits of product "%" is finer than the minor unit of %',
			cost, quantity, product, cost_currency
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('%s counts in units of %s.', cost_currency,
								  1::numeric / 10 ^ credits.currency_minor_unit(cost_currency)),
				  HINT = 'Buy another quantity, or give the product''s tiers unit prices that make whole amounts.';
	END IF;
	-- 42704 for an unknown type; the type's lock holds its scale until
	-- this transaction ends (a pending request of the type keeps it fixed).
	PERFORM credits.lock_type(credit_type);
	PERFORM credits.pricing_require_enabled('purchasing');

	IF method IN ('stripe', 'paypal') THEN
		id := credits.grant_purchased_lot(account, quantity::@extschema@.credit_amount,
										  credit_type, NULL,
										  format('product "%s" x %s bought with %s',
												 product, quantity, method),
										  reference, cost, cost_currency);
		RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, NULL, id);
		RETURN;
	END IF;

	INSERT INTO credits.request (account, product, credit_type, credits, amount,
								 currency, method, reference)
	VALUES (credits_purchase_quantity.account, credits_purchase_quantity.product,
			credits_purchase_quantity.credit_type,
			credits_purchase_quantity.quantity::@extschema@.credit_amount, cost,
			cost_currency, credits_purchase_quantity.method,
			credits_purchase_quantity.reference)
	RETURNING * INTO r;
	PERFORM credits.request_event(r, 'credit_request.created');
	RETURN QUERY SELECT * FROM credits.purchase_result(account, idempotency_key, r.request_id, NULL);
END
$$;
COMMENT ON FUNCTION credits_purchase_quantity(text, text, int, text, text, text, text) IS
	'buys quantity credits of a product at its volume price (credits_price): stripe/paypal grant them at once with that price as cost basis; bank_transfer/crypto create a pending credit request';

-- The request row, locked (the first lock of the request-then-account
-- order), or 42704; CR005 unless it is pending.  Given in_account, the
-- request is looked up within that account only (a call that names its
-- account is delegated to the account's worker, which reads only its
-- shard).
CREATE FUNCTION credits.lock_pending_request(request_id bigint, in_account text DEFAULT NULL)
RETURNS credits.request
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
	acct text;
BEGIN
	IF request_id IS NULL THEN
		RAISE EXCEPTION 'request_id must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	-- The account first, then the row by account and id: distributed, the
	-- lock goes to the one shard that holds it (Citus refuses FOR UPDATE
	-- across shards).
	IF in_account IS NULL THEN
		SELECT x.account INTO acct FROM credits.request x
		WHERE x.request_id = lock_pending_request.request_id;
	ELSIF in_account = '' THEN
		RAISE EXCEPTION 'account must not be empty' USING ERRCODE = 'invalid_parameter_value';
	ELSE
		acct := in_account;
	END IF;
	SELECT * INTO r FROM credits.request x
	WHERE x.account = acct AND x.request_id = lock_pending_request.request_id FOR UPDATE;
	IF NOT FOUND AND in_account IS NOT NULL THEN
		RAISE EXCEPTION 'credit request % of account "%" does not exist', request_id, in_account
			USING ERRCODE = 'undefined_object';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'credit request % does not exist', request_id
			USING ERRCODE = 'undefined_object';
	END IF;
	IF r.status <> 'pending' THEN
		RAISE EXCEPTION 'credit request % is not pending', request_id
			USING ERRCODE = 'CR005',
				  DETAIL = format('It was already %s.', r.status);
	END IF;
	RETURN r;
END
$$;
REVOKE ALL ON FUNCTION credits.lock_pending_request(bigint, text) FROM PUBLIC;

CREATE FUNCTION credits_accept_request(request_id bigint,
									   decided_by text DEFAULT current_user,
									   account text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
	lot bigint;
BEGIN
	IF decided_by IS NULL THEN
		RAISE EXCEPTION 'decided_by must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	r := credits.lock_pending_request(request_id, credits_accept_request.account);
	lot := credits.grant_purchased_lot(r.account, r.credits, r.credit_type,
									   now() + r.expires_after,
									   CASE WHEN r.product IS NULL
											THEN format('credit request %s: package "%s" paid by %s',
														r.request_id, r.package, r.method)
											ELSE format('credit request %s: product "%s" x %s paid by %s',
														r.request_id, r.product, r.credits, r.method) END,
									   r.reference, r.amount, r.currency);
	UPDATE credits.request x
	SET status = 'accepted', decided_at = now(),
		decided_by = credits_accept_request.decided_by, lot_id = lot
	WHERE x.account = r.account AND x.request_id = r.request_id
	RETURNING * INTO r;
	IF r.auto_topup THEN
		-- The account's top-up is decided (the request row, then the
		-- account row, as everywhere): the next movement that leaves the
		-- balance below the threshold requests another.
		UPDATE credits.account x SET topup_request = NULL
		WHERE x.account = r.account AND x.credit_type = r.credit_type
		  AND x.topup_request = r.request_id;
	END IF;
	PERFORM credits.request_event(r, 'credit_request.accepted');
	RETURN lot;
END
$$;
COMMENT ON FUNCTION credits_accept_request(bigint, text, text) IS
	'accepts a pending credit request (of account, when given: the call then runs where the account lives): grants its credits with their cost basis; returns the lot id';

CREATE FUNCTION credits_reject_request(request_id bigint, reason text DEFAULT NULL,
									   decided_by text DEFAULT current_user,
									   account text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	r credits.request%ROWTYPE;
BEGIN
	IF decided_by IS NULL THEN
		RAISE EXCEPTION 'decided_by must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	r := credits.lock_pending_request(request_id, credits_reject_request.account);
	UPDATE credits.request x
	SET status = 'rejected', decided_at = now(),
		decided_by = credits_reject_request.decided_by,
		reason = credits_reject_request.reason
	WHERE x.account = r.account AND x.request_id = r.request_id
	RETURNING * INTO r;
	IF r.auto_topup THEN
		-- The account's top-up is decided (the request row, then the
		-- account row, as everywhere): the next movement that leaves the
		-- balance below the threshold requests another.
		UPDATE credits.account x SET topup_request = NULL
		WHERE x.account = r.account AND x.credit_type = r.credit_type
		  AND x.topup_request = r.request_id;
	END IF;
	PERFORM credits.request_event(r, 'credit_request.rejected');
END
$$;
COMMENT ON FUNCTION credits_reject_request(bigint, text, text, text) IS
	'declines a pending credit request (of account, when given), recording why; no credits';

-- PL/pgSQL cannot name a parameter and a result column alike, as
-- credits_requests() does; it wraps this.
CREATE FUNCTION credits.list_requests(for_account text, for_status text)
RETURNS TABLE(request_id bigint, account text, package text, credits @extschema@.credit_amount,
			  amount numeric, currency text, method text, status text,
			  created_at timestamptz, decided_at timestamptz,
			  reference text, decided_by text, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- A portal caller may list its own account's requests, and without an
	-- account sees only those.
	for_account := coalesce(for_account, credits.portal_scope());
	PERFORM credits.check_access(for_account, 'client');
	IF for_status NOT IN ('pending', 'accepted', 'rejected') THEN
		RAISE EXCEPTION 'invalid request status "%"', for_status
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A status is pending, accepted or rejected.';
	END IF;
	RETURN QUERY
		SELECT r.request_id, r.account, coalesce(r.package, r.product), r.credits,
			   r.amount, r.currency,
			   r.method, r.status, r.created_at, r.decided_at,
			   r.reference, r.decided_by, r.reason
		FROM credits.request r
		WHERE (for_account IS NULL OR r.account = for_account)
		  AND (for_status IS NULL OR r.status = for_status)
		ORDER BY r.request_id;
END
$$;
REVOKE ALL ON FUNCTION credits.list_requests(text, text) FROM PUBLIC;

-- credits_requests() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.requests_rows(text, text)
RETURNS TABLE(request_id bigint, account text, package text, credits @extschema@.credit_amount,
			  amount numeric, currency text, method text, status text,
			  created_at timestamptz, decided_at timestamptz,
			  reference text, decided_by text, reason text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	RETURN QUERY
	SELECT * FROM credits.list_requests($1, $2);
END
$$;
REVOKE ALL ON FUNCTION credits.requests_rows(text, text) FROM PUBLIC;

CREATE FUNCTION credits_requests(account text DEFAULT NULL, status text DEFAULT NULL)
RETURNS TABLE(request_id bigint, account text, package text, credits @extschema@.credit_amount,
			  amount numeric, currency text, method text, status text,
			  created_at timestamptz, decided_at timestamptz,
			  reference text, decided_by text, reason text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.requests_rows($1, $2)
$$;
COMMENT ON FUNCTION credits_requests(text, text) IS
	'credit requests to review, oldest first (package: the package bought, or the product of a purchase by quantity), with the payment reference, who decided and why a request was rejected; NULL filters match every account (a client portal''s own) or status';

/*
 * Paying invoices
 */
CREATE FUNCTION credits_pay(account text, amount numeric, currency text,
							reference text, partial boolean DEFAULT false,
							credit_type text DEFAULT 'CRD',
							idempotency_key text DEFAULT NULL)
RETURNS TABLE(credits_applied @extschema@.credit_amount, amount_covered numeric,
			  amount_due numeric, entry_id bigint)
AS 'MODULE_PATHNAME', 'credits_pay'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_pay(text, numeric, text, text, boolean, text, text) IS
	'pays an invoice with credits, all or nothing (CR001) or partially; returns the credits applied, the money they cover, what is still due and the spend entry (NULL when nothing was applied)';

/*
 * Invariants of purchases, run by credits_verify().
 */
CREATE FUNCTION credits.verify_pricing()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
	-- An accepted request granted exactly one lot: its own credits, of its
	-- type, with its price as cost basis.
	SELECT 'request_lot_matches', r.account,
		   format('request %s (%s %s for %s %s): lot %s is %s',
				  r.request_id, r.credits, r.credit_type, r.amount, r.currency,
				  r.lot_id,
				  CASE WHEN l.lot_id IS NULL THEN 'missing'
					   ELSE format('%s %s for %s %s, source %s', l.amount,
								   l.credit_type, l.cost, l.cost_currency, l.source) END)
	FROM credits.request r
	LEFT JOIN credits.lot l ON l.account = r.account AND l.lot_id = r.lot_id
	WHERE r.status = 'accepted'
	  AND (l.lot_id IS NULL OR l.amount <> r.credits OR l.credit_type <> r.credit_type
		   OR l.cost IS DISTINCT FROM r.amount
		   OR l.cost_currency IS DISTINCT FROM r.currency
		   OR l.source <> 'purchase')
	UNION ALL
	-- Pending and rejected requests granted nothing.
	SELECT 'request_undecided_has_no_lot', r.account,
		   format('request %s is %s but has lot %s', r.request_id, r.status, r.lot_id)
	FROM credits.request r
	WHERE r.status <> 'accepted' AND r.lot_id IS NOT NULL
	UNION ALL
	-- No lot was granted for two requests.
	SELECT 'request_lot_unique', r.account,
		   format('lot %s was granted for %s requests', r.lot_id, count(*))
	FROM credits.request r
	WHERE r.lot_id IS NOT NULL
	GROUP BY r.account, r.lot_id
	HAVING count(*) > 1
	UNION ALL
	-- A purchased lot records what it cost.
	SELECT 'purchase_has_cost', l.account,
		   format('lot %s (source purchase) has cost %s %s', l.lot_id, l.cost,
				  l.cost_currency)
	FROM credits.lot l
	WHERE l.source = 'purchase'
	  AND (l.cost IS NULL OR l.cost_currency IS NULL OR l.cost < 0)
$$;
REVOKE ALL ON FUNCTION credits.verify_pricing() FROM PUBLIC;
