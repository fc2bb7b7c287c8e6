--
-- credit_amount: exact fixed-point millionths in an int8
--
CREATE EXTENSION credits;
\set SHOW_CONTEXT never

-- try_amount(text) tells how the input function takes a string: the value
-- it makes (and its millionths, from the binary form), or the error.
CREATE FUNCTION pg_temp.try_amount(input text,
	OUT result text, OUT millionths int8,
	OUT state text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
	a credit_amount;
BEGIN
	a := input::credit_amount;
	result := a::text;
	millionths := ('x' || encode(credit_amount_send(a), 'hex'))::bit(64)::int8;
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE,
		message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
END
$$;

-- try(sql) runs an expression and tells its result or its error.
CREATE FUNCTION pg_temp.try(expr text,
	OUT result text, OUT state text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE 'SELECT (' || expr || ')::text' INTO result;
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;

--
-- Text input and output
--
SELECT to_json(input) AS input, t.*
FROM unnest(ARRAY[
	'0', '-0', '+0', '0.0', '36', '36.0', '35.1', '35.100000', '35.10',
	'-0.000001', '0.000001', '-0.5', '+5', '  12.50  ', E'\t7\n', E'\f-8\r', '12.50',
	'0000000000000000000001', '1.000000000000', '1.0000000', '-00.000100',
	'999999.999999', '123456789.123456',
	'9223372036854.775807', '-9223372036854.775808',
	'9223372036854', '-9223372036854', '00009223372036854.7758070000'
]) WITH ORDINALITY AS i(input, n),
	pg_temp.try_amount(input) AS t
ORDER BY n;

-- bad input: syntax (22P02), too many decimals (22P02), out of range (22003)
SELECT to_json(input) AS input, t.state, t.message, t.detail
FROM unnest(ARRAY[
	'', ' ', '-', '+', '.', '.5', '5.', '-.5', '1.2.3', '--1', '+-1', '-+1',
	'1 000', '1,5', '1e3', '1E3', '0x10', 'NaN', 'nan', 'Infinity', '-Infinity',
	'inf', 'abc', '12abc', '1.5x', 'x1', '- 1', '1 .5', '1.-5', '1. 5', E'\t', '١٢',
	'１２', '1.0000001', '0.0000001', '-1.0000001', '1.1234567',
	'1.0000000001', '9223372036854.775808', '-9223372036854.775809',
	'99999999999999', '-99999999999999', '10000000000000',
	'99999999999999999999999999999999999999', '9223372036855',
	'1.2.0000001', '99999999999999.0000001'
]) WITH ORDINALITY AS i(input, n),
	pg_temp.try_amount(input) AS t
ORDER BY n;

-- the same errors as a client sees them
SELECT '1.2.3'::credit_amount;
SELECT ''::credit_amount;
SELECT '1.0000001'::credit_amount;
SELECT '99999999999999'::credit_amount;
SELECT '-9223372036854.775809'::credit_amount;
\set VERBOSITY sqlstate
SELECT '1.2.3'::credit_amount;
SELECT '1.0000001'::credit_amount;
SELECT '99999999999999'::credit_amount;
\set VERBOSITY default

-- NULL in, NULL out
SELECT NULL::credit_amount IS NULL AS is_null;

-- binary output is the int8 count of millionths
SELECT credit_amount_send('35.1') AS a, credit_amount_send('-0.000001') AS b,
	credit_amount_send('9223372036854.775807') AS max,
	credit_amount_send('-9223372036854.775808') AS min;

-- binary COPY round trip
CREATE TABLE amount_bin (a credit_amount);
INSERT INTO amount_bin VALUES ('35.1'), ('-0.000001'), ('0'), (NULL),
	('9223372036854.775807'), ('-9223372036854.775808');
COPY amount_bin TO '/tmp/credits_amount_test.bin' (FORMAT binary);
-- header (19 bytes), then per row: 2-byte field count, 4-byte length, 8 bytes
SELECT encode(substr(f, 20, 14), 'hex') AS first_row,
	length(f) AS file_length
FROM pg_read_binary_file('/tmp/credits_amount_test.bin') AS f;
CREATE TABLE amount_bin2 (a credit_amount);
COPY amount_bin2 FROM '/tmp/credits_amount_test.bin' (FORMAT binary);
SELECT a FROM amount_bin2;
SELECT count(*) AS mismatches
FROM ((SELECT a FROM amount_bin EXCEPT ALL SELECT a FROM amount_bin2)
	UNION ALL (SELECT a FROM amount_bin2 EXCEPT ALL SELECT a FROM amount_bin)) s;
DROP TABLE amount_bin, amount_bin2;

--
-- Casts
--
-- from integers: implicit and exact
SELECT 36::credit_amount AS int4, (-5)::int8::credit_amount AS int8,
	2147483647::credit_amount AS int4_max, (-2147483648)::credit_amount AS int4_min,
	9223372036854::int8::credit_amount AS int8_max_ok,
	(-9223372036854)::int8::credit_amount AS int8_min_ok;
SELECT 9223372036855::int8::credit_amount;
SELECT (-9223372036855)::int8::credit_amount;
SELECT 9223372036854775807::credit_amount;
\set VERBOSITY sqlstate
SELECT 9223372036855::int8::credit_amount;
\set VERBOSITY default
CREATE TABLE amount_cast (a credit_amount);
INSERT INTO amount_cast VALUES (7), (7::int8);	-- implicit
SELECT a FROM amount_cast;
DROP TABLE amount_cast;
-- no cast to integers (it would lose the decimals)
SELECT '1.5'::credit_amount::int8;
SELECT '1.5'::credit_amount::int4;

-- from numeric: on assignment or explicitly, exact or an error
SELECT 35.1::credit_amount AS a, 35.100000::credit_amount AS b,
	(-0.000001)::numeric::credit_amount AS c, 1.0000000000::credit_amount AS d,
	0::numeric::credit_amount AS e, (-0.0)::numeric::credit_amount AS f,
	9223372036854.775807::credit_amount AS max,
	(-9223372036854.775808)::credit_amount AS min;
SELECT x AS input, t.*
FROM unnest(ARRAY[
	'1.0000001', '-0.0000001', '0.00000000000000000001', '9223372036854.775808',
	'-9223372036854.775809', '99999999999999', '1e20', '-1e25',
	'NaN', 'Infinity', '-Infinity'
]) WITH ORDINALITY AS i(x, n),
	pg_temp.try(format('%L::numeric::credit_amount', x)) AS t
ORDER BY n;
SELECT 1.0000001::credit_amount;
SELECT 'NaN'::numeric::credit_amount;
SELECT 99999999999999::numeric::credit_amount;
\set VERBOSITY sqlstate
SELECT 1.0000001::credit_amount;
SELECT 'NaN'::numeric::credit_amount;
SELECT 'Infinity'::numeric::credit_amount;
SELECT 99999999999999::numeric::credit_amount;
\set VERBOSITY default
CREATE TABLE amount_cast (a credit_amount);
INSERT INTO amount_cast VALUES (2.5), (0.000001);	-- assignment
INSERT INTO amount_cast VALUES (2.5000001);
SELECT a FROM amount_cast;
-- numeric does not convert implicitly: an amount does not meet a fraction
SELECT a FROM amount_cast WHERE a = 2.5;
SELECT a * 1.5 FROM amount_cast;
DROP TABLE amount_cast;

-- to numeric: on assignment or explicitly, with the natural scale
SELECT '35.1'::credit_amount::numeric AS a, '36'::credit_amount::numeric AS b,
	'-0.000001'::credit_amount::numeric AS c, '0'::credit_amount::numeric AS d,
	'9223372036854.775807'::credit_amount::numeric AS max,
	'-9223372036854.775808'::credit_amount::numeric AS min,
	'35.1'::credit_amount::numeric * 3 AS times_three;
SELECT scale('35.1'::credit_amount::numeric) AS s1, scale('36'::credit_amount::numeric) AS s2;
CREATE TABLE amount_num (n numeric);
INSERT INTO amount_num VALUES ('12.5'::credit_amount);	-- assignment
SELECT n FROM amount_num;
DROP TABLE amount_num;

-- text: the automatic I/O conversion casts
SELECT '1.5'::text::credit_amount AS from_text, '35.100'::credit_amount::text AS to_text,
	'7'::varchar::credit_amount AS from_varchar,
	pg_typeof('1.5'::credit_amount::text) AS type;
SELECT 'x'::text::credit_amount;

--
-- Arithmetic
--
SELECT '1.5'::credit_amount + '2.25' AS plus, '1.5'::credit_amount - '2.25' AS minus,
	- '1.5'::credit_amount AS neg, - '-1.5'::credit_amount AS neg_neg,
	- '0'::credit_amount AS neg_zero,
	'1.5'::credit_amount * 3 AS times, 3 * '1.5'::credit_amount AS times_comm,
	'1.5'::credit_amount * (-3)::int8 AS times8, (-3)::int8 * '1.5'::credit_amount AS times8_comm,
	'0.000001'::credit_amount * 0 AS times_zero;
-- integers mix in through the implicit casts, unambiguously
SELECT '1.5'::credit_amount + 1 AS a, 1 + '1.5'::credit_amount AS b,
	'1.5'::credit_amount - 1::int8 AS c, 2 - '1.5'::credit_amount AS d,
	'1.5'::credit_amount + '2' AS e, pg_typeof('1.5'::credit_amount + 1) AS type,
	pg_typeof('1.5'::credit_amount * 2) AS type_mul,
	pg_typeof(2::int8 * '1.5'::credit_amount) AS type_mul8;
-- integer arithmetic is not affected by the implicit casts
SELECT 1 + 1 AS a, pg_typeof(1 + 1) AS ta, 7 / 2 AS b, pg_typeof(7 / 2) AS tb,
	pg_typeof(1 + 2::int8) AS tc, 3 * 4 AS d;
-- amounts are not multiplied by amounts
SELECT '1.5'::credit_amount * '1.5'::credit_amount;
-- known limit: with both int4 and int8 operators, a smallint or an untyped
-- literal factor matches both, so it needs a cast
SELECT '1.5'::credit_amount * 2::int2;
SELECT '1.5'::credit_amount * '2';
SELECT '1.5'::credit_amount * 2::int2::int4 AS a, '1.5'::credit_amount * '2'::int8 AS b;

-- division truncates toward zero
SELECT '10'::credit_amount / 3 AS a, '-10'::credit_amount / 3 AS b,
	'10'::credit_amount / (-3) AS c, '-10'::credit_amount / (-3)::int8 AS d,
	'0.000001'::credit_amount / 2 AS e, '-0.000001'::credit_amount / 2 AS f,
	'0.000005'::credit_amount / 3 AS g, '7'::credit_amount / 1 AS h,
	'7'::credit_amount / (-1) AS i, '9223372036854.775807'::credit_amount / (-1) AS j,
	'-9223372036854.775808'::credit_amount / 2 AS k,
	'-9223372036854.775808'::credit_amount / 9223372036854775807 AS l;
SELECT '1'::credit_amount / 0;
SELECT '1'::credit_amount / 0::int8;
SELECT '0'::credit_amount / 0;

-- every overflow is an error, never a wrap-around
SELECT expr, t.*
FROM unnest(ARRAY[
	$$'9223372036854.775807'::credit_amount + '0.000001'$$,
	$$'-9223372036854.775808'::credit_amount - '0.000001'$$,
	$$'-9223372036854.775808'::credit_amount + '-0.000001'$$,
	$$'9223372036854.775807'::credit_amount - '-0.000001'$$,
	$$'9223372036854.775807'::credit_amount + '-0.000001'$$,
	$$'-9223372036854.775808'::credit_amount - '-0.000001'$$,
	$$- '-9223372036854.775808'::credit_amount$$,
	$$- '9223372036854.775807'::credit_amount$$,
	$$'-9223372036854.775808'::credit_amount / (-1)$$,
	$$'-9223372036854.775808'::credit_amount / (-1)::int8$$,
	$$'-9223372036854.775808'::credit_amount * (-1)$$,
	$$(-1) * '-9223372036854.775808'::credit_amount$$,
	$$'-9223372036854.775808'::credit_amount * (-1)::int8$$,
	$$'4611686018427.387904'::credit_amount * 2$$,
	$$'4611686018427.387903'::credit_amount * 2$$,
	$$'-4611686018427.387904'::credit_amount * 2$$,
	$$'-4611686018427.387905'::credit_amount * 2$$,
	$$2::int8 * '4611686018427.387904'::credit_amount$$,
	$$'0.000002'::credit_amount * 9223372036854775807$$,
	$$'0.000001'::credit_amount * 9223372036854775807$$,
	$$'1'::credit_amount * 2147483647 * 2147483647$$,
	$$'1'::credit_amount / 0$$
]) WITH ORDINALITY AS i(expr, n),
	pg_temp.try(expr) AS t
ORDER BY n;
SELECT '9223372036854.775807'::credit_amount + '0.000001';
SELECT - '-9223372036854.775808'::credit_amount;
\set VERBOSITY sqlstate
SELECT '9223372036854.775807'::credit_amount + '0.000001';
SELECT '-9223372036854.775808'::credit_amount - '0.000001';
SELECT '-9223372036854.775808'::credit_amount / (-1);
SELECT '4611686018427.387904'::credit_amount * 2;
SELECT '1'::credit_amount / 0;
\set VERBOSITY default

--
-- Comparison
--
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le,
	a > b AS gt, a >= b AS ge
FROM (VALUES ('1.5'::credit_amount, '1.5'::credit_amount),
	('1.5', '1.500001'), ('-1', '-0.999999'), ('0', '-0'),
	('9223372036854.775807', '-9223372036854.775808'),
	('-9223372036854.775808', '9223372036854.775807')) AS v(a, b);
SELECT '1.5'::credit_amount = 1.5::credit_amount AS a, '2'::credit_amount = 2 AS b,
	'2'::credit_amount > 1 AS c, 3::int8 >= '2.999999'::credit_amount AS d,
	'1.5'::credit_amount IN (1, '1.5', 2) AS e,
	'1.5'::credit_amount BETWEEN 1 AND 2 AS f;

-- COALESCE, CASE and UNION resolve to credit_amount with integers
SELECT coalesce(NULL::credit_amount, 0) AS a,
	pg_typeof(coalesce(NULL::credit_amount, 0)) AS ta,
	pg_typeof(CASE WHEN true THEN 1 ELSE '2.5'::credit_amount END) AS tb;
SELECT 1 AS u UNION ALL SELECT '2.5'::credit_amount ORDER BY 1;

-- the operators know their commutators and negators
SELECT o.oprname, o.oprleft::regtype, o.oprright::regtype,
	c.oprname AS commutator, n.oprname AS negator,
	o.oprrest, o.oprjoin, o.oprcanhash, o.oprcanmerge
FROM pg_operator o
	LEFT JOIN pg_operator c ON c.oid = o.oprcom
	LEFT JOIN pg_operator n ON n.oid = o.oprnegate
WHERE o.oprcode::text LIKE '%credit\_amount%' AND o.oprnamespace <> 'credits'::regnamespace
ORDER BY o.oprname, o.oprleft::regtype::text, o.oprright::regtype::text;

-- every function, aggregate and operator of the type carries a comment
SELECT count(*) AS functions,
	count(*) FILTER (WHERE obj_description(p.oid, 'pg_proc') IS NULL) AS undocumented
FROM pg_proc p
WHERE p.proname LIKE 'credit\_amount\_%'
	OR p.proname IN ('int4_mul_credit_amount', 'int8_mul_credit_amount')
	OR (p.proname IN ('sum', 'min', 'max')
		AND p.proargtypes[0] = 'credit_amount'::regtype
		AND p.pronamespace <> 'credits'::regnamespace);
SELECT count(*) AS operators,
	count(*) FILTER (WHERE obj_description(o.oid, 'pg_operator') IS NULL) AS undocumented
FROM pg_operator o
WHERE o.oprcode::text LIKE '%credit\_amount%' AND o.oprnamespace <> 'credits'::regnamespace;
SELECT obj_description('credit_amount'::regtype, 'pg_type') IS NOT NULL AS type_documented;
-- same physical layout as int8
SELECT typlen, typbyval, typalign, typstorage, typcategory
FROM pg_type WHERE oid = 'credit_amount'::regtype;
SELECT castsource::regtype, casttarget::regtype, castcontext
FROM pg_cast
WHERE castfunc::regproc::text LIKE 'credit\_amount%'
ORDER BY 1::text, 2::text;

--
-- Sorting, grouping, indexes, joins
--
CREATE TABLE amount_t (id int, a credit_amount);
INSERT INTO amount_t
SELECT i, (((i * 7919) % 1000) - 500)::numeric / 1000
FROM generate_series(1, 2000) AS i;
INSERT INTO amount_t VALUES (-1, '9223372036854.775807'),
	(-2, '-9223372036854.775808'), (-3, NULL), (-4, '-0.000001'), (-5, '0.000001');
ANALYZE amount_t;

SELECT a FROM amount_t WHERE id < 0 ORDER BY a;
SELECT a FROM amount_t WHERE id < 0 ORDER BY a DESC NULLS LAST;
SELECT a FROM amount_t WHERE id < 0 OR id BETWEEN 1 AND 5 ORDER BY a USING >;
-- sorting agrees with numeric order
SELECT count(*) AS misordered
FROM (SELECT a, lag(a) OVER (ORDER BY a) AS prev FROM amount_t) s
WHERE prev::numeric > a::numeric;

-- DISTINCT and GROUP BY, by sorting and by hashing, agree with numeric
SET enable_hashagg = off;
EXPLAIN (COSTS OFF) SELECT a, count(*) FROM amount_t GROUP BY a;
SELECT count(*) AS groups, sum(n) AS rows
FROM (SELECT a, count(*) AS n FROM amount_t GROUP BY a) s;
SELECT count(DISTINCT a) FROM amount_t;
SET enable_hashagg = on;
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT a, count(*) FROM amount_t GROUP BY a;
SELECT count(*) AS groups, sum(n) AS rows
FROM (SELECT a, count(*) AS n FROM amount_t GROUP BY a) s;
EXPLAIN (COSTS OFF) SELECT DISTINCT a FROM amount_t;
SELECT count(*) FROM (SELECT DISTINCT a FROM amount_t) s;
RESET enable_sort;
SELECT count(*) AS groups FROM (SELECT DISTINCT a::numeric FROM amount_t) s;
SELECT a, count(*) FROM amount_t WHERE a BETWEEN '-0.002' AND '0.002'
GROUP BY a ORDER BY a;

-- a btree index
CREATE INDEX amount_t_btree ON amount_t (a);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM amount_t WHERE a = '0.001';
SELECT id FROM amount_t WHERE a = '0.001' ORDER BY id;
EXPLAIN (COSTS OFF) SELECT a FROM amount_t WHERE a > '0.497' ORDER BY a;
SELECT a FROM amount_t WHERE a > '0.497' ORDER BY a;
SELECT a FROM amount_t WHERE a >= '-0.5' AND a < '-0.498' ORDER BY a;
SELECT a FROM amount_t WHERE a < 0 ORDER BY a LIMIT 2;
DROP INDEX amount_t_btree;
-- a unique btree index
CREATE UNIQUE INDEX amount_t_unique ON amount_t (a) WHERE id < 0;
INSERT INTO amount_t VALUES (-6, '0.000001');
DROP INDEX amount_t_unique;
-- a hash index
CREATE INDEX amount_t_hash ON amount_t USING hash (a);
EXPLAIN (COSTS OFF) SELECT id FROM amount_t WHERE a = '0.001';
SELECT id FROM amount_t WHERE a = '0.001' ORDER BY id;
SELECT id FROM amount_t WHERE a = '-9223372036854.775808';
SELECT id FROM amount_t WHERE a = 0 ORDER BY id;
DROP INDEX amount_t_hash;
RESET enable_seqscan;
RESET enable_bitmapscan;

-- merge and hash joins
SET enable_nestloop = off;
SET enable_hashjoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM amount_t x JOIN amount_t y ON x.a = y.a;
SELECT count(*) FROM amount_t x JOIN amount_t y ON x.a = y.a;
SET enable_hashjoin = on;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM amount_t x JOIN amount_t y ON x.a = y.a;
SELECT count(*) FROM amount_t x JOIN amount_t y ON x.a = y.a;
RESET enable_nestloop;
RESET enable_hashjoin;
RESET enable_mergejoin;
SELECT count(*) FROM amount_t x JOIN amount_t y ON x.a::numeric = y.a::numeric;

--
-- Aggregates
--
SELECT sum(a) AS sum, min(a) AS min, max(a) AS max, count(a) AS count
FROM (VALUES ('1.5'::credit_amount), ('-0.25'), (NULL), ('3')) AS v(a);
-- no rows, or only NULLs: NULL, like SQL's sum
SELECT sum(a) IS NULL AS sum_null, min(a) IS NULL AS min_null, max(a) IS NULL AS max_null
FROM amount_t WHERE false;
SELECT sum(a) IS NULL AS sum_null, min(a) IS NULL AS min_null
FROM (VALUES (NULL::credit_amount), (NULL)) AS v(a);
SELECT min(a), max(a) FROM amount_t;
-- partial sums out of range, total in range: fine
SELECT sum(a) FROM (VALUES ('9000000000000'::credit_amount),
	('9000000000000'), ('-9000000000000')) AS v(a);
SELECT sum(a) FROM (VALUES ('9223372036854.775807'::credit_amount),
	('9223372036854.775807'), ('-9223372036854.775808'),
	('-9223372036854.775808'), ('9223372036854.775807')) AS v(a);
SELECT sum(a) FROM (VALUES ('-9223372036854.775808'::credit_amount),
	('-9223372036854.775808'), ('9223372036854.775807'), ('0.000001')) AS v(a);
-- total out of range: an error
SELECT sum(a) FROM (VALUES ('9000000000000'::credit_amount),
	('9000000000000'), ('-1')) AS v(a);
SELECT sum(a) FROM (VALUES ('-9223372036854.775808'::credit_amount),
	('-0.000001')) AS v(a);
SELECT sum(a) FROM (VALUES ('9223372036854.775807'::credit_amount),
	('0.000001')) AS v(a);
\set VERBOSITY sqlstate
SELECT sum(a) FROM (VALUES ('9000000000000'::credit_amount),
	('9000000000000'), ('-1')) AS v(a);
\set VERBOSITY default
-- sum agrees with numeric; as a window aggregate too
SELECT sum(a)::numeric = sum(a::numeric) AS sum_ok, sum(a) FROM amount_t WHERE id > 0;
SELECT id, a, sum(a) OVER (ORDER BY id) AS running,
	min(a) OVER w AS min, max(a) OVER w AS max
FROM amount_t WHERE id BETWEEN 1 AND 6
WINDOW w AS (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
ORDER BY id;
SELECT a, sum(a) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
FROM (VALUES (1, '9223372036854.775807'::credit_amount), (2, '-1'),
	(3, '-2')) AS v(id, a) ORDER BY id;
SELECT a, sum(a) OVER (ORDER BY id ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
FROM (VALUES (1, '9223372036854.775807'::credit_amount), (2, '1'),
	(3, '-2')) AS v(id, a) ORDER BY id;
-- a grouped sum, with hash and sort aggregation
SELECT id % 3 AS g, sum(a), sum(a::numeric) FROM amount_t WHERE id > 0
GROUP BY 1 ORDER BY 1;
SET enable_hashagg = off;
SELECT id % 3 AS g, sum(a) FROM amount_t WHERE id > 0 GROUP BY 1 ORDER BY 1;
RESET enable_hashagg;
-- min and max use the btree index
CREATE INDEX amount_t_btree ON amount_t (a);
-- (PostgreSQL 15 labels an InitPlan "(returns $0)", 17 does not: strip it.)
DO $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT min(a), max(a) FROM amount_t' LOOP
		RAISE NOTICE '%', regexp_replace(line, ' \(returns \$\d+\)', '');
	END LOOP;
END
$$;
SELECT min(a), max(a) FROM amount_t;
DROP TABLE amount_t;

-- parallel aggregation: partial states are serialised and combined
CREATE TABLE amount_par (id int, a credit_amount);
INSERT INTO amount_par
SELECT i, CASE WHEN i <= 5000 THEN '9000000000000.000001'::credit_amount
	ELSE '-9000000000000'::credit_amount END
FROM generate_series(1, 10000) AS i;
INSERT INTO amount_par
SELECT i, (i::int8 * 1000003 % 2000001 - 1000000)::credit_amount / 7
FROM generate_series(10001, 20000) AS i;
ANALYZE amount_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
-- the workers, not the leader, scan the table: their states are serialised
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT sum(a), min(a), max(a) FROM amount_par;
SELECT sum(a), min(a), max(a) FROM amount_par;
SELECT sum(a)::numeric = (SELECT sum(a::numeric) FROM amount_par) AS sum_ok,
	min(a)::numeric = (SELECT min(a::numeric) FROM amount_par) AS min_ok,
	max(a)::numeric = (SELECT max(a::numeric) FROM amount_par) AS max_ok
FROM amount_par;
-- partial sums far out of range, exact total
SELECT sum(a) FROM amount_par WHERE id <= 10000;
SELECT sum(a) FROM amount_par WHERE id > 10000;
SELECT sum(a::numeric) FROM amount_par WHERE id > 10000;
-- total out of range, detected after combining
SELECT sum(a) FROM amount_par WHERE id <= 5000;
SELECT id % 4 AS g, sum(a), sum(a::numeric) FROM amount_par WHERE id > 10000
GROUP BY 1 ORDER BY 1;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
DROP TABLE amount_par;

DROP EXTENSION credits;
