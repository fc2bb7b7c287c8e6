--
-- credit_amount against numeric: properties checked on tens of thousands of
-- generated values.  Numeric is the oracle: every result of credit_amount
-- must be numeric's exact result when that is in range, and a 22003 error
-- exactly when it is not.  The values come from a fixed seed, so the output
-- (counts and booleans only) is the same on every run.
--
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- in_range(x): numeric x fits credit_amount (if it has at most 6 decimals)
CREATE FUNCTION pg_temp.in_range(x numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT x BETWEEN -9223372036854.775808 AND 9223372036854.775807
$$;

-- The operations under test, each returning its result as numeric, or NULL
-- when it raised 22003.  Any other error is not caught and fails the test.
CREATE FUNCTION pg_temp.add(a credit_amount, b credit_amount) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (a + b)::numeric;
EXCEPTION WHEN numeric_value_out_of_range THEN
	RETURN NULL;
END
$$;
CREATE FUNCTION pg_temp.sub(a credit_amount, b credit_amount) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (a - b)::numeric;
EXCEPTION WHEN numeric_value_out_of_range THEN
	RETURN NULL;
END
$$;
CREATE FUNCTION pg_temp.neg(a credit_amount) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (- a)::numeric;
EXCEPTION WHEN numeric_value_out_of_range THEN
	RETURN NULL;
END
$$;
-- the four multiplication operators (amount * int4, int4 * amount, int8 ...)
CREATE FUNCTION pg_temp.mul(a credit_amount, k int8,
	OUT by_int8 numeric, OUT int8_by numeric,
	OUT by_int4 numeric, OUT int4_by numeric)
LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		by_int8 := (a * k)::numeric;
	EXCEPTION WHEN numeric_value_out_of_range THEN
		by_int8 := NULL;
	END;
	BEGIN
		int8_by := (k * a)::numeric;
	EXCEPTION WHEN numeric_value_out_of_range THEN
		int8_by := NULL;
	END;
	IF k BETWEEN -2147483648 AND 2147483647 THEN
		BEGIN
			by_int4 := (a * k::int4)::numeric;
		EXCEPTION WHEN numeric_value_out_of_range THEN
			by_int4 := NULL;
		END;
		BEGIN
			int4_by := (k::int4 * a)::numeric;
		EXCEPTION WHEN numeric_value_out_of_range THEN
			int4_by := NULL;
		END;
	END IF;
END
$$;
CREATE FUNCTION pg_temp.div(a credit_amount, n int8,
	OUT by_int8 numeric, OUT by_int4 numeric)
LANGUAGE plpgsql AS $$
BEGIN
	BEGIN
		by_int8 := (a / n)::numeric;
	EXCEPTION WHEN numeric_value_out_of_range THEN
		by_int8 := NULL;
	END;
	IF n BETWEEN -2147483648 AND 2147483647 THEN
		BEGIN
			by_int4 := (a / n::int4)::numeric;
		EXCEPTION WHEN numeric_value_out_of_range THEN
			by_int4 := NULL;
		END;
	END IF;
END
$$;
-- sum of the elements, in array order (the order of the partial sums)
CREATE FUNCTION pg_temp.sum_of(amounts credit_amount[]) RETURNS numeric
LANGUAGE plpgsql AS $$
BEGIN
	RETURN (SELECT sum(a ORDER BY i) FROM unnest(amounts) WITH ORDINALITY AS u(a, i))::numeric;
EXCEPTION WHEN numeric_value_out_of_range THEN
	RETURN NULL;
END
$$;
-- how an input string is taken: 'ok' or the SQLSTATE of the error
CREATE FUNCTION pg_temp.text_state(s text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	a credit_amount;
BEGIN
	a := s::credit_amount;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE;
END
$$;
CREATE FUNCTION pg_temp.numeric_state(x numeric) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	a credit_amount;
BEGIN
	a := x::credit_amount;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE;
END
$$;

--
-- The values: 40,000 random ones, a fifth in each magnitude class, with a
-- random sign and 0 to 6 decimals, plus the edge values.
--   class 0: below 1            class 1: from 0 to 3
--   class 2: log-uniform from 1 to 10^12.9 (every number of digits)
--   class 3: within 10^-6 .. 10^8 of the limits (mostly within 1)
--   class 4: uniform over the whole range
--
SELECT setseed(0.42);
CREATE TEMP TABLE rnd AS
SELECT i AS id, random() AS r_sign, random() AS r_dec, random() AS r_class,
	random() AS r1, random() AS r2, random() AS r3, random() AS r4
FROM generate_series(1, 40000) AS i;

CREATE TEMP TABLE val (id int PRIMARY KEY, class int, x numeric NOT NULL,
	a credit_amount);
INSERT INTO val (id, class, x)
SELECT id, class, trunc(sgn * mag, d)
FROM (SELECT id, class, d, sgn,
		CASE class
		WHEN 0 THEN floor(r1 * 1000000)::numeric / 1000000
		WHEN 1 THEN floor(r1 * 3)::numeric + floor(r2 * 1000000)::numeric / 1000000
		WHEN 2 THEN floor(10 ^ (r1 * 12.9))::numeric + floor(r2 * 1000000)::numeric / 1000000
		WHEN 3 THEN CASE WHEN sgn > 0 THEN 9223372036854.775807 ELSE 9223372036854.775808 END
			- floor(10 ^ (r1 * 14))::numeric / 1000000
		ELSE floor(r1 * 9223372036854)::numeric + floor(r2 * 1000000)::numeric / 1000000
		END AS mag
	FROM (SELECT id, floor(r_class * 5)::int AS class, floor(r_dec * 7)::int AS d,
			CASE WHEN r_sign < 0.5 THEN -1 ELSE 1 END AS sgn, r1, r2
		FROM rnd) s) m;
INSERT INTO val (id, class, x)
SELECT 40000 + n, -1, e
FROM unnest(ARRAY[0, 0.000001, -0.000001, 1, -1, 0.5, -0.5, 0.999999, -0.999999,
	9223372036854.775807, -9223372036854.775808, 9223372036854.775806,
	-9223372036854.775807, 9223372036854, -9223372036854, 9223372036854.775,
	4611686018427.387903, 4611686018427.387904, -4611686018427.387904,
	-4611686018427.387905, 3074457345618.258602, -3074457345618.258602,
	3074457345618.258603, 2147483647, -2147483648, 1000000, 0.1, 123456789.123456]::numeric[])
	WITH ORDINALITY AS e(e, n);
-- the amounts under test, through the text input function
UPDATE val SET a = x::text::credit_amount;
ANALYZE val;

SELECT count(*) AS values, count(*) FILTER (WHERE class = -1) AS edge_values,
	count(DISTINCT x) AS distinct_values,
	count(*) FILTER (WHERE abs(x) < 1) AS below_1,
	count(*) FILTER (WHERE abs(x) >= 1000000000000) AS above_10_12,
	count(*) FILTER (WHERE abs(x) >= 9223372036000) AS within_1000_of_limits,
	count(*) FILTER (WHERE x < 0) AS negative,
	count(*) FILTER (WHERE scale(x) = 0) AS no_decimals,
	count(*) FILTER (WHERE scale(x) = 6) AS six_decimals,
	bool_and(pg_temp.in_range(x) AND scale(x) <= 6) AS all_valid
FROM val;

--
-- Text and binary I/O, casts
--
-- x::text input, output, numeric cast, send; a decorated spelling of x
-- (spaces, sign, leading zeros, trailing zeros past the 6th decimal) is
-- the same amount
SELECT 'text in/out and casts' AS property, count(*) AS cases,
	count(*) FILTER (WHERE a::numeric <> x) AS to_numeric_differs,
	count(*) FILTER (WHERE a::text <> trim_scale(x)::text) AS output_differs,
	count(*) FILTER (WHERE scale(a::numeric) <> scale(trim_scale(x))) AS scale_differs,
	count(*) FILTER (WHERE x::credit_amount <> a) AS numeric_cast_differs,
	count(*) FILTER (WHERE credit_amount_send(a) <> int8send((x * 1000000)::int8))
		AS send_differs,
	count(*) FILTER (WHERE a::text::credit_amount <> a) AS reparse_differs,
	count(*) FILTER (WHERE decorated::credit_amount <> a) AS decorated_differs
FROM (SELECT a, x,
		(ARRAY[' ', E'\t', '', E'\n  '])[id % 4 + 1]
		|| CASE WHEN x < 0 THEN '-' WHEN id % 3 = 0 THEN '+' ELSE '' END
		|| repeat('0', id % 7 * (id % 5))
		|| abs(x)::text
		|| CASE WHEN id % 6 = 0 THEN ''
			ELSE CASE WHEN scale(x) = 0 THEN '.' ELSE '' END || repeat('0', id % 6 * 3)
			END
		|| (ARRAY['', ' ', E'\r\n', E'\f'])[id / 4 % 4 + 1] AS decorated
	FROM val) v;
-- the binary form survives a binary COPY (recv) for every value; the file
-- goes in the cluster's own directory
SELECT current_setting('data_directory') || '/credits_amount_properties.bin'
	AS copy_file \gset
CREATE TEMP TABLE val_copy (id int, a credit_amount);
COPY (SELECT id, a FROM val ORDER BY id) TO :'copy_file' (FORMAT binary);
COPY val_copy FROM :'copy_file' (FORMAT binary);
SELECT 'binary copy round trip' AS property, count(*) AS cases,
	count(*) FILTER (WHERE c.a IS DISTINCT FROM v.a) AS mismatches
FROM val v FULL JOIN val_copy c USING (id);
DROP TABLE val_copy;

-- Each value with a nonzero 7th decimal is 22P02 as text and 22023 as
-- numeric; each value pushed out of range is 22003 both ways.
SELECT property, count(*) AS cases, state_text, state_numeric
FROM (SELECT 'nonzero 7th decimal' AS property,
			pg_temp.text_state(y::text) AS state_text,
			pg_temp.numeric_state(y) AS state_numeric
		FROM (SELECT x + CASE WHEN x < 0 THEN -1 ELSE 1 END * (id % 9 + 1) * 0.0000001 AS y
			FROM val) s
	UNION ALL
	SELECT 'out of range', pg_temp.text_state(y::text), pg_temp.numeric_state(y)
		FROM (SELECT CASE WHEN x >= 0 THEN x + 9223372036854.775808
				ELSE x - 9223372036854.775809 END AS y
			FROM val) s) t
GROUP BY 1, 3, 4
ORDER BY 1, 3, 4;

--
-- Pairs: the values in order against the values in a random order, each
-- value against itself, its negation and its neighbour one millionth up.
--
CREATE TEMP TABLE pair AS
SELECT x, a, y, y::credit_amount AS b
FROM (SELECT v.x, v.a, w.x AS y
		FROM (SELECT x, a, row_number() OVER (ORDER BY id) AS n FROM val) v
		JOIN (SELECT x, row_number() OVER (ORDER BY r3, id) AS n
			FROM val JOIN rnd USING (id)) w USING (n)
	UNION ALL SELECT x, a, x FROM val
	UNION ALL SELECT x, a, -x FROM val WHERE pg_temp.in_range(-x)
	UNION ALL SELECT x, a, x + 0.000001 FROM val WHERE pg_temp.in_range(x + 0.000001)
	) p;

SELECT 'x + y, x - y' AS property, count(*) AS cases,
	count(*) FILTER (WHERE NOT pg_temp.in_range(x + y)) AS sum_out_of_range,
	count(*) FILTER (WHERE NOT pg_temp.in_range(x - y)) AS difference_out_of_range,
	count(*) FILTER (WHERE pg_temp.add(a, b) IS DISTINCT FROM
		CASE WHEN pg_temp.in_range(x + y) THEN x + y END) AS add_mismatches,
	count(*) FILTER (WHERE pg_temp.sub(a, b) IS DISTINCT FROM
		CASE WHEN pg_temp.in_range(x - y) THEN x - y END) AS sub_mismatches
FROM pair;

SELECT 'comparisons' AS property, count(*) AS cases,
	count(*) FILTER (WHERE x = y) AS equal, count(*) FILTER (WHERE x < y) AS less,
	count(*) FILTER (WHERE (a = b) <> (x = y) OR (a <> b) <> (x <> y)
		OR (a < b) <> (x < y) OR (a <= b) <> (x <= y)
		OR (a > b) <> (x > y) OR (a >= b) <> (x >= y)
		OR credit_amount_cmp(a, b) <> sign(x - y)
		OR (credit_amount_hash(a) = credit_amount_hash(b)) < (x = y))
		AS mismatches
FROM pair;

SELECT 'unary minus' AS property, count(*) AS cases,
	count(*) FILTER (WHERE NOT pg_temp.in_range(-x)) AS out_of_range,
	count(*) FILTER (WHERE pg_temp.neg(a) IS DISTINCT FROM
		CASE WHEN pg_temp.in_range(-x) THEN -x END) AS mismatches
FROM val;

-- sorting (int8 sort support) and distinctness agree with numeric
SELECT 'sort order' AS property, count(*) AS cases,
	count(*) FILTER (WHERE rank_a <> rank_x) AS mismatches
FROM (SELECT rank() OVER (ORDER BY a) AS rank_a, rank() OVER (ORDER BY x) AS rank_x
	FROM val) s;
SELECT (SELECT count(DISTINCT a) FROM val) = (SELECT count(DISTINCT x) FROM val)
	AS distinct_agrees;

--
-- Multiplication by an integer: factors that are small, any int4, any int8,
-- and factors chosen so that the product lands next to a limit.
--
CREATE TEMP TABLE factor AS
SELECT id, CASE floor(r3 * 4)
	WHEN 0 THEN floor(r4 * 7)::int8 - 3
	WHEN 1 THEN floor(r4 * 4294967296)::int8 - 2147483648
	WHEN 2 THEN ((r4 * 2 - 1) * 9.2e18)::int8
	ELSE CASE WHEN x = 0 THEN floor(r4 * 1000)::int8
		ELSE (CASE WHEN r1 < 0.5 THEN -1 ELSE 1 END
			* least(trunc(9223372036854.775807 / abs(x)) + floor(r4 * 3) - 1,
				9223372036854775807))::int8
		END
	END AS k
FROM val JOIN rnd USING (id)
UNION ALL
SELECT id, k FROM val, unnest(ARRAY[0, 1, -1, 2, -2, 3, 1000000,
	9223372036854775807, -9223372036854775808]::int8[]) AS k
WHERE class = -1;
SELECT 'x * k' AS property, count(*) AS cases,
	count(*) FILTER (WHERE k BETWEEN -2147483648 AND 2147483647) AS int4_factors,
	count(*) FILTER (WHERE NOT pg_temp.in_range(x * k)) AS out_of_range,
	count(*) FILTER (WHERE abs(x * k) BETWEEN 9223372036854 AND 9223372036855)
		AS near_limit,
	count(*) FILTER (WHERE m.by_int8 IS DISTINCT FROM e OR m.int8_by IS DISTINCT FROM e)
		AS int8_mismatches,
	count(*) FILTER (WHERE k BETWEEN -2147483648 AND 2147483647
		AND (m.by_int4 IS DISTINCT FROM e OR m.int4_by IS DISTINCT FROM e))
		AS int4_mismatches
FROM val JOIN factor USING (id),
	LATERAL (SELECT CASE WHEN pg_temp.in_range(x * k) THEN x * k END AS e) ex,
	LATERAL pg_temp.mul(a, k) AS m;

--
-- Division by a nonzero integer truncates toward zero: the exact quotient
-- cut after the 6th decimal.  (trunc(x / n, 6) would be wrong here: numeric
-- division rounds a large quotient to 16 significant digits, fewer than 6
-- decimals, before trunc sees it; div() and multiplication are exact.)
--
CREATE TEMP TABLE divisor AS
SELECT id, CASE floor(r3 * 4)
	WHEN 0 THEN (ARRAY[-1, 1, 2, 3, -3, 7, -10, 1000000])[floor(r4 * 8)::int + 1]::int8
	WHEN 1 THEN nullif(floor(r4 * 4294967296)::int8 - 2147483648, 0)
	WHEN 2 THEN nullif(((r4 * 2 - 1) * 9.2e18)::int8, 0)
	ELSE nullif(floor(r4 * 10 ^ (r1 * 18))::int8, 0)
	END AS n
FROM val JOIN rnd USING (id)
UNION ALL
SELECT id, n FROM val, unnest(ARRAY[1, -1, 2, -2, 3, 7, 1000000,
	9223372036854775807, -9223372036854775808]::int8[]) AS n
WHERE class = -1;
SELECT 'x / n' AS property, count(*) AS cases,
	count(*) FILTER (WHERE n BETWEEN -2147483648 AND 2147483647) AS int4_divisors,
	count(*) FILTER (WHERE e IS NULL) AS out_of_range,
	count(*) FILTER (WHERE e <> x / n) AS truncated_quotients,
	count(*) FILTER (WHERE e <> trunc(x / n, 6)) AS trunc_x_div_n_is_wrong,
	count(*) FILTER (WHERE d.by_int8 IS DISTINCT FROM e) AS int8_mismatches,
	count(*) FILTER (WHERE n BETWEEN -2147483648 AND 2147483647
		AND d.by_int4 IS DISTINCT FROM e) AS int4_mismatches
FROM val JOIN divisor USING (id),
	LATERAL (SELECT CASE WHEN pg_temp.in_range(x / n)
		THEN div(x * 1000000, n) * 0.000001 END AS e) ex,
	LATERAL pg_temp.div(a, n) AS d
WHERE n IS NOT NULL;

--
-- Aggregates.  Groups of 10 values (mixed magnitudes: many totals are out of
-- range), summed in three orders: by id, largest first and smallest first.
-- Largest first, the partial sums exceed the range whenever the positive
-- values alone do; smallest first, whenever the negative ones do.
--
CREATE TEMP TABLE grp AS
SELECT (id - 1) / 10 AS g, id, x, a FROM val WHERE id <= 40000;
SELECT 'sum' AS property, count(*) AS groups,
	count(*) FILTER (WHERE NOT pg_temp.in_range(total)) AS total_out_of_range,
	count(*) FILTER (WHERE pg_temp.in_range(total)
		AND NOT (pg_temp.in_range(peak) AND pg_temp.in_range(trough)))
		AS partial_sums_out_of_range,
	count(*) FILTER (WHERE pg_temp.sum_of(by_id) IS DISTINCT FROM e
		OR pg_temp.sum_of(largest_first) IS DISTINCT FROM e
		OR pg_temp.sum_of(smallest_first) IS DISTINCT FROM e) AS mismatches
FROM (SELECT total, by_id, largest_first, smallest_first,
		CASE WHEN pg_temp.in_range(total) THEN total END AS e,
		(SELECT max(s) FROM (SELECT sum(y) OVER (ORDER BY y DESC
				ROWS UNBOUNDED PRECEDING) AS s
			FROM unnest(xs) AS u(y)) p) AS peak,
		(SELECT min(s) FROM (SELECT sum(y) OVER (ORDER BY y
				ROWS UNBOUNDED PRECEDING) AS s
			FROM unnest(xs) AS u(y)) p) AS trough
	FROM (SELECT g, sum(x) AS total, array_agg(x) AS xs,
			array_agg(a ORDER BY id) AS by_id,
			array_agg(a ORDER BY x DESC) AS largest_first,
			array_agg(a ORDER BY x) AS smallest_first
		FROM grp GROUP BY g) s1) s;
-- sum, min, max of every group whose total is in range, in one grouped
-- query, by sorting and by hashing
CREATE TEMP TABLE grp_ok AS
SELECT g FROM grp GROUP BY g HAVING pg_temp.in_range(sum(x));
SET enable_hashagg = off;
SELECT 'grouped sum/min/max, sorted' AS property, count(*) AS groups,
	count(*) FILTER (WHERE s <> sx OR mn <> mnx OR mx <> mxx) AS mismatches
FROM (SELECT g, sum(a)::numeric AS s, sum(x) AS sx, min(a)::numeric AS mn,
		min(x) AS mnx, max(a)::numeric AS mx, max(x) AS mxx
	FROM grp JOIN grp_ok USING (g) GROUP BY g) s;
SET enable_hashagg = on;
SET enable_sort = off;
SELECT 'grouped sum/min/max, hashed' AS property, count(*) AS groups,
	count(*) FILTER (WHERE s <> sx OR mn <> mnx OR mx <> mxx) AS mismatches
FROM (SELECT g, sum(a)::numeric AS s, sum(x) AS sx, min(a)::numeric AS mn,
		min(x) AS mnx, max(a)::numeric AS mx, max(x) AS mxx
	FROM grp JOIN grp_ok USING (g) GROUP BY g) s;
RESET enable_sort;
-- the whole table, and the whole table less its out-of-range groups
SELECT pg_temp.sum_of(array_agg(a ORDER BY id)) IS NOT DISTINCT FROM
		CASE WHEN pg_temp.in_range(sum(x)) THEN sum(x) END AS sum_all_agrees,
	pg_temp.in_range(sum(x)) AS sum_all_in_range,
	min(a)::numeric = min(x) AS min_agrees, max(a)::numeric = max(x) AS max_agrees
FROM val;
SELECT pg_temp.sum_of(array_agg(a ORDER BY id)) IS NOT DISTINCT FROM
		CASE WHEN pg_temp.in_range(sum(x)) THEN sum(x) END AS sum_agrees,
	count(*) AS values
FROM grp JOIN grp_ok USING (g);

DROP TABLE rnd, val, pair, factor, divisor, grp, grp_ok;
DROP FUNCTION pg_temp.add(credit_amount, credit_amount),
	pg_temp.sub(credit_amount, credit_amount), pg_temp.neg(credit_amount),
	pg_temp.mul(credit_amount, int8), pg_temp.div(credit_amount, int8),
	pg_temp.sum_of(credit_amount[]);

SELECT * FROM credits_verify();
DROP EXTENSION credits;
