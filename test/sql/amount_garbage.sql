--
-- credit_amount text input against garbage: every string that is not an
-- optional sign, digits and optionally a point and digits (with ASCII spaces
-- around) is 22P02; a well-formed number out of range is 22003; nothing is
-- ever rounded, truncated or read in part.
--
CREATE EXTENSION credits;
\set VERBOSITY default
\set SHOW_CONTEXT never

-- amount_input(s): what the input function makes of s: the amount, or the
-- SQLSTATE and message of its error.  (PostgreSQL 15 has no
-- pg_input_is_valid().)
CREATE FUNCTION pg_temp.amount_input(s text,
	OUT state text, OUT result text, OUT message text)
LANGUAGE plpgsql AS $$
BEGIN
	result := s::credit_amount::text;
	state := 'ok';
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
END
$$;
CREATE FUNCTION pg_temp.amount_is_valid(s text) RETURNS boolean
LANGUAGE sql AS $$
	SELECT (pg_temp.amount_input(s)).state = 'ok'
$$;
-- show(s): s as a JSON string, cut after 24 characters, with every
-- character beyond ASCII written \uXXXX (psql versions measure the width of
-- zero-width characters differently, which would shift the table).
CREATE FUNCTION pg_temp.ascii_only(s text) RETURNS text
LANGUAGE sql AS $$
	SELECT string_agg(CASE WHEN ascii(c) > 126 THEN '\u' || lpad(to_hex(ascii(c)), 4, '0') ELSE c END,
					  '' ORDER BY i)
	FROM unnest(string_to_array(s, NULL)) WITH ORDINALITY AS x(c, i)
$$;
CREATE FUNCTION pg_temp.show(s text) RETURNS text
LANGUAGE sql AS $$
	SELECT pg_temp.ascii_only(CASE WHEN length(s) <= 24 THEN to_json(s)::text
		ELSE to_json(left(s, 12))::text || '... (' || length(s) || ' chars)' END)
$$;

-- The usual garbage: all 22P02, with a message that quotes the input
SELECT pg_temp.show(s) AS input, t.state, t.result,
	t.message = format('invalid input syntax for type credit_amount: "%s"', s)
		AS message_quotes_input
FROM unnest(ARRAY['', ' ', '   ', E'\t\n', 'NaN', 'nan', 'NAN', 'Infinity',
	'-Infinity', '+Infinity', 'inf', '-inf', 'infinity', '1.2.3', '0x10', '0X1f',
	'0b1', '0o7', '1e3', '1E3', '1e-3', '1.5e2', '--1', '++1', '+-1', '-+1',
	'1 000', '1,5', '1,000.5', '1_000', '1''000', '.5', '-.5', '5.', '-5.',
	'abc', '12abc', 'abc12', '١٢', '١٢.٥', '１２', '１.５', E'1\t2', '+', '-',
	'.', '..', '1..2', '½', '1½', '²', '①', '٫5', '1٫5', '1·5', '− 1', '−1',
	'１', E'1\u00a0', E'\u00a01', E'\u20071', E'\u30001', E'\ufeff1', E'1\u200b',
	'$1', '1$', '1%', '(1)', '1-', '1+', '- 1', '+ 1', '1 .5', '1. 5', '1 5',
	'null', 'NULL', 'true', '0.1.', '.1.', '0..', '1e', 'e1', 'x', '#1', E'1\\n',
	'1/2', '1:2', '0,', '１２３４５６７８９０', E'\u0661']) WITH ORDINALITY AS i(s, n),
	pg_temp.amount_input(s) AS t
ORDER BY n;

-- Long strings: leading zeros and trailing zeros past the 6th decimal are
-- harmless, however many; a long number is out of range (22003) only when
-- it is otherwise well-formed: a syntax error or a nonzero 7th decimal
-- (22P02) is reported first, whatever the digits amount to.
SELECT pg_temp.show(s) AS input, t.state, t.result,
	left(t.message, 60) AS message_start, length(t.message) AS message_length
FROM unnest(ARRAY[
	repeat('9', 10000), '-' || repeat('9', 10000), repeat('9', 10000) || '.5',
	repeat('9', 14), repeat('9', 13), '0.' || repeat('9', 10000),
	repeat('9', 10000) || '.0000001', repeat('9', 10000) || 'x',
	repeat('9', 10000) || '.', repeat('9', 10000) || '.5.',
	repeat('0', 100000) || '1', '-' || repeat('0', 100000) || '1.5',
	'1.' || repeat('0', 100000), repeat('0', 100000) || '.' || repeat('0', 100000),
	repeat('0', 1000000),
	repeat('0', 100000) || '9223372036854.775807' || repeat('0', 100000),
	'-' || repeat('0', 100000) || '9223372036854.775808',
	repeat('0', 100000) || '9223372036854.775808',
	'0.' || repeat('0', 10000) || '1', '0.000001' || repeat('0', 10000) || '1',
	repeat(' ', 10000) || '5' || repeat(' ', 10000),
	repeat(' ', 10000) || '5' || repeat(' ', 10000) || 'x',
	repeat('-', 10000) || '1', repeat('.', 10000), repeat('1.', 5000)
]) WITH ORDINALITY AS i(s, n),
	pg_temp.amount_input(s) AS t
ORDER BY n;
-- numeric takes 10,000 nines; the cast then says out of range, as the text
-- input does
SELECT length(repeat('9', 10000)::numeric::text) AS numeric_digits;
SELECT pg_temp.show(repeat('9', 10000)) AS input,
	(SELECT state FROM pg_temp.amount_input(repeat('9', 10000))) AS text_state;
\set VERBOSITY sqlstate
SELECT repeat('9', 10000)::numeric::credit_amount;
\set VERBOSITY default

-- Every ASCII character and some Unicode look-alikes (digits of other
-- scripts, fullwidth forms, other spaces and minus signs), alone, before,
-- after and inside a number: only digits, '+' and '-' in front, '.'
-- between digits and the six ASCII spaces around are ever accepted.
CREATE TEMP TABLE probe AS
SELECT c, p.pattern, replace(p.pattern, 'C', c) AS s
FROM (SELECT chr(i) AS c FROM generate_series(1, 127) AS i
	UNION ALL
	SELECT chr(i) FROM unnest(ARRAY[
		x'a0', x'ad', x'b2', x'b7', x'bd', x'660', x'661', x'669', x'66b', x'66c',
		x'6f1', x'967', x'1680', x'2007', x'2009', x'200b', x'2010', x'2011',
		x'2012', x'2024', x'2028', x'2212', x'2460', x'3000', x'fe63', x'feff',
		x'ff0b', x'ff0d', x'ff0e', x'ff10', x'ff11', x'ff19', x'1d7ce',
		x'1d7cf']::int[]) AS u(i)) ch,
	unnest(ARRAY['C', 'C1', '1C', '1C2', '1.C', 'C.5', '-C1', '1.5C']) AS p(pattern);
SELECT count(*) AS probes, count(DISTINCT c) AS characters,
	count(*) FILTER (WHERE pg_temp.amount_is_valid(s)) AS accepted
FROM probe;
-- the accepted characters in each pattern (C), the invisible ones as U+XXXX
SELECT p.pattern, string_agg(CASE WHEN c BETWEEN '!' AND '~' THEN c
		ELSE 'U+' || lpad(upper(to_hex(ascii(c))), 4, '0') END, ' '
		ORDER BY ascii(c)) AS accepted_characters
FROM probe p
WHERE pg_temp.amount_is_valid(s)
GROUP BY p.pattern ORDER BY p.pattern;
-- whatever is accepted means what it says: the digits, never a part of them
SELECT count(*) FILTER (WHERE (pg_temp.amount_input(s)).result
		<> trim_scale(btrim(s, E' \t\n\r\x0b\f')::numeric)::text) AS misread
FROM probe WHERE pg_temp.amount_is_valid(s);
-- the rejected ones, by SQLSTATE
SELECT (pg_temp.amount_input(s)).state, count(*)
FROM probe WHERE NOT pg_temp.amount_is_valid(s)
GROUP BY 1 ORDER BY 1;
DROP TABLE probe;

SELECT * FROM credits_verify();
DROP EXTENSION credits;
