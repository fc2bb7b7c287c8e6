/*
 * amount_fuzz.c
 *	  libFuzzer harnesses for the credit_amount text parser (amount_in) and
 *	  binary receive function (amount_recv).  They link the real src/amount.c;
 *	  the few server functions its parse, format, recv and send paths call are
 *	  stood in for here (palloc is malloc, ereport longjmps back to the
 *	  harness).  Built and run by scripts/fuzz.sh; compile with
 *	  -DCREDITS_FUZZ_TARGET=1 for amount_in, 2 for amount_recv.
 *
 * Besides "no crash, no undefined behaviour", every input is checked against
 * properties: the parser agrees with an independent reference parser (value,
 * or which error), raise_error=false agrees with raise_error=true, every
 * value formats canonically and the text re-parses to the same value; recv
 * reads the wire's big-endian int8 (and nothing short of eight bytes), send
 * writes it back, and the checked arithmetic agrees with 128-bit arithmetic.
 */
#include "postgres.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amount.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/elog.h"

/* the harness prints with the C library, not with the server's pg_printf */
#undef vsnprintf
#undef snprintf
#undef fprintf

#ifndef CREDITS_FUZZ_TARGET
#error "compile with -DCREDITS_FUZZ_TARGET=1 (amount_in) or 2 (amount_recv)"
#endif

/* the fmgr entry points of src/amount.c that the harnesses call */
extern Datum credit_amount_in(PG_FUNCTION_ARGS);
extern Datum credit_amount_out(PG_FUNCTION_ARGS);
extern Datum credit_amount_recv(PG_FUNCTION_ARGS);
extern Datum credit_amount_send(PG_FUNCTION_ARGS);
extern Datum credit_amount_div_int8(PG_FUNCTION_ARGS);

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---------- stand-ins for the server: memory ---------- */

/*
 * Every palloc'd chunk is linked into one list, freed after each input:
 * a one-context memory manager, so that nothing leaks between inputs.
 */
typedef struct Chunk
{
	struct Chunk *prev;
	struct Chunk *next;
	max_align_t align[];
} Chunk;

static Chunk *chunks = NULL;

void *
palloc(Size size)
{
	Chunk	   *c = malloc(offsetof(Chunk, align) + size);

	if (c == NULL)
		abort();
	c->prev = NULL;
	c->next = chunks;
	if (chunks)
		chunks->prev = c;
	chunks = c;
	return c->align;
}

void
pfree(void *pointer)
{
	Chunk	   *c = (Chunk *) ((char *) pointer - offsetof(Chunk, align));

	if (c->prev)
		c->prev->next = c->next;
	else
		chunks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = palloc(len + 1);

	memcpy(out, in, len + 1);
	return out;
}

static void
free_all_chunks(void)
{
	while (chunks)
	{
		Chunk	   *next = chunks->next;

		free(chunks);
		chunks = next;
	}
}

/* ---------- stand-ins for the server: errors ---------- */

static sigjmp_buf *error_jump = NULL;
static int	error_level;
static int	error_code;
static char error_message[256];

bool
errstart_cold(int elevel, const char *domain)
{
	error_level = elevel;
	error_code = ERRCODE_INTERNAL_ERROR;
	error_message[0] = '\0';
	return true;
}

bool
errstart(int elevel, const char *domain)
{
	return errstart_cold(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	error_code = sqlerrcode;
	return 0;
}

int
errmsg(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(error_message, sizeof(error_message), fmt, args);
	va_end(args);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	va_list		args;

	va_start(args, fmt);
	vsnprintf(error_message, sizeof(error_message), fmt, args);
	va_end(args);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	char		detail[256];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (error_level < ERROR)
		return;
	if (error_jump == NULL)
	{
		fprintf(stderr, "ERROR outside a PG_TRY-like block: %s (%s:%d)\n",
				error_message, filename, lineno);
		abort();
	}
	siglongjmp(*error_jump, 1);
}

/* ---------- stand-ins for the server: StringInfo and pqformat ---------- */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 1024;
	str->data = palloc(str->maxlen);
	str->len = 0;
	str->cursor = 0;
	str->data[0] = '\0';
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;
	char	   *data;

	if (needed < 0 || needed >= 0x3fffffff - str->len)
		abort();
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen *= 2;
	data = palloc(newlen);
	memcpy(data, str->data, str->len + 1);
	pfree(str->data);
	str->data = data;
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
pq_begintypsend(StringInfo buf)
{
	initStringInfo(buf);
	/* room for the bytea length word */
	appendBinaryStringInfo(buf, "\0\0\0\0", 4);
}

bytea *
pq_endtypsend(StringInfo buf)
{
	bytea	   *result = (bytea *) buf->data;

	SET_VARSIZE(result, buf->len);
	return result;
}

/* As the server's: eight bytes, network order, or "insufficient data". */
int64
pq_getmsgint64(StringInfo msg)
{
	uint64		n64;

	if (msg->cursor < 0 || 8 > (msg->len - msg->cursor))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("insufficient data left in message")));
	memcpy(&n64, &msg->data[msg->cursor], 8);
	msg->cursor += 8;
	return (int64) pg_ntoh64(n64);
}

/* ---------- checking ---------- */

/* an error code as its five-character SQLSTATE */
static const char *
sqlstate(int code)
{
	static char buf[6];
	int			i;

	for (i = 0; i < 5; i++)
	{
		buf[i] = PGUNSIXBIT(code);
		code >>= 6;
	}
	buf[5] = '\0';
	return buf;
}

#define FAIL(...) \
	do { \
		fprintf(stderr, "property violated: " __VA_ARGS__); \
		fputc('\n', stderr); \
		abort(); \
	} while (0)

/*
 * The PostgreSQL error jump is a sigsetjmp; everything a protected call
 * changes and the caller reads afterwards is volatile.
 */
#define TRY(ok) \
	for (sigjmp_buf jb_, *volatile once_ = &jb_; once_; once_ = NULL, error_jump = NULL) \
		if ((error_jump = &jb_, sigsetjmp(jb_, 0) != 0)) \
			(ok) = false; \
		else

static Datum
call1(PGFunction fn, Datum arg)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	return fn(fcinfo);
}

typedef enum
{
	REF_OK,
	REF_SYNTAX,					/* 22P02 */
	REF_DECIMALS,				/* 22P02: a nonzero digit past the 6th decimal */
	REF_RANGE					/* 22003 */
} RefStatus;

static bool
ref_space(char c)
{
	return c != '\0' && strchr(" \t\n\r\v\f", c) != NULL;
}

static bool
ref_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * An independent reading of the contract: trim ASCII spaces at both ends,
 * then the rest must be exactly [+-]digits[.digits]; the value is computed
 * in 128 bits (saturating), the range checked last.
 */
static RefStatus
ref_parse(const char *s, int64 *value)
{
	size_t		i = 0;
	size_t		end = strlen(s);
	size_t		k;
	bool		negative = false;
	bool		huge = false;
	int128		v = 0;
	int			decimals = 0;
	size_t		frac_start;

	while (i < end && ref_space(s[i]))
		i++;
	while (end > i && ref_space(s[end - 1]))
		end--;
	if (i < end && (s[i] == '+' || s[i] == '-'))
		negative = (s[i++] == '-');
	for (k = i; k < end && ref_digit(s[k]); k++)
		;
	if (k == i)
		return REF_SYNTAX;
	for (; i < k; i++)
	{
		v = v * 10 + (s[i] - '0');
		if (v > (int128) 1 << 100)
		{
			huge = true;
			v = 0;
		}
	}
	if (i < end)
	{
		if (s[i] != '.')
			return REF_SYNTAX;
		frac_start = ++i;
		while (i < end && ref_digit(s[i]))
			i++;
		if (i == frac_start || i != end)
			return REF_SYNTAX;
		for (k = frac_start; k < end; k++)
		{
			if (k - frac_start >= 6)
			{
				if (s[k] != '0')
					return REF_DECIMALS;
				continue;
			}
			v = v * 10 + (s[k] - '0');
			decimals++;
		}
	}
	for (; decimals < 6; decimals++)
		v *= 10;
	if (negative)
		v = -v;
	if (huge || v < (int128) PG_INT64_MIN || v > (int128) PG_INT64_MAX)
		return REF_RANGE;
	*value = (int64) v;
	return REF_OK;
}

/* The expected text of a value, printed by the C library. */
static void
ref_format(int64 value, char *buf, size_t buflen)
{
	int128		m = value;
	bool		negative = m < 0;
	size_t		len;

	if (negative)
		m = -m;
	snprintf(buf, buflen, "%s%lld.%06lld", negative ? "-" : "",
			 (long long) (m / 1000000), (long long) (m % 1000000));
	len = strlen(buf);
	while (buf[len - 1] == '0')
		buf[--len] = '\0';
	if (buf[len - 1] == '.')
		buf[--len] = '\0';
}

/* format(v) is canonical, is what the contract says, and re-parses to v */
static void
check_value(int64 value)
{
	char		expected[64];
	char	   *text = credit_amount_format(value);
	char	   *out = DatumGetCString(call1(credit_amount_out, Int64GetDatum(value)));
	CreditAmount again = 0;
	int64		ref = 0;

	ref_format(value, expected, sizeof(expected));
	if (strcmp(text, expected) != 0)
		FAIL("format(%lld) = \"%s\", expected \"%s\"", (long long) value, text, expected);
	if (strcmp(out, text) != 0)
		FAIL("credit_amount_out(%lld) = \"%s\" differs from format", (long long) value, out);
	if (!credit_amount_parse(text, &again, false) || again != value)
		FAIL("\"%s\" does not parse back to %lld", text, (long long) value);
	if (ref_parse(text, &ref) != REF_OK || ref != value)
		FAIL("reference parser disagrees on \"%s\"", text);
}

#if CREDITS_FUZZ_TARGET == 1

/* ---------- amount_in: the text input ---------- */

static void
fuzz_amount_in(const uint8_t *data, size_t size)
{
	char	   *str = palloc(size + 1);
	CreditAmount quiet = 0;
	volatile CreditAmount loud = 0;
	volatile bool loud_ok = true;
	bool		quiet_ok;
	int64		ref = 0;
	RefStatus	status;

	/* a cstring ends at its first NUL, as the server would pass it */
	memcpy(str, data, size);
	str[size] = '\0';

	quiet_ok = credit_amount_parse(str, &quiet, false);
	TRY(loud_ok)
	{
		loud = DatumGetInt64(call1(credit_amount_in, CStringGetDatum(str)));
	}
	status = ref_parse(str, &ref);

	if (quiet_ok != loud_ok)
		FAIL("raise_error=false says %d, the input function says %d", quiet_ok, loud_ok);
	if (quiet_ok && quiet != loud)
		FAIL("raise_error=false gives %lld, the input function %lld",
			 (long long) quiet, (long long) loud);
	if (quiet_ok != (status == REF_OK))
		FAIL("parser says %s, reference parser says status %d",
			 quiet_ok ? "valid" : "invalid", (int) status);
	if (quiet_ok)
	{
		if (quiet != ref)
			FAIL("parser gives %lld, reference parser %lld",
				 (long long) quiet, (long long) ref);
		check_value(quiet);
	}
	else
	{
		int			expected = status == REF_RANGE ?
			ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE : ERRCODE_INVALID_TEXT_REPRESENTATION;

		if (error_level != ERROR || error_code != expected)
			FAIL("error level %d, SQLSTATE %s, expected %s (%s)", error_level,
				 sqlstate(error_code), expected == ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE ? "22003" : "22P02",
				 error_message);
	}
}

#else

/* ---------- amount_recv: the binary input, send and arithmetic ---------- */

static int64
wire_int64(const uint8_t *p)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64) v;
}

static Datum
call2(PGFunction fn, Datum arg0, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 2);

	InitFunctionCallInfoData(*fcinfo, NULL, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg0;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg1;
	fcinfo->args[1].isnull = false;
	return fn(fcinfo);
}

/* a + b, a - b, a * b, a / b: the exact result or 22003, never a wrap */
static void
check_arithmetic(int64 a, int64 b)
{
	int128		exact[3] = {(int128) a + b, (int128) a - b, (int128) a * b};
	int			op;

	for (op = 0; op < 4; op++)
	{
		volatile bool ok = true;
		volatile int64 got = 0;
		int128		want;
		bool		want_ok;

		error_code = 0;
		TRY(ok)
		{
			if (op == 0)
				got = credit_amount_add(a, b);
			else if (op == 1)
				got = credit_amount_sub(a, b);
			else if (op == 2)
				got = credit_amount_mul_int(a, b);
			else
				got = DatumGetInt64(call2(credit_amount_div_int8,
										  Int64GetDatum(a), Int64GetDatum(b)));
		}
		if (op == 3)
		{
			if (b == 0)
			{
				if (ok || error_code != ERRCODE_DIVISION_BY_ZERO)
					FAIL("%lld / 0 did not fail with 22012", (long long) a);
				continue;
			}
			/* C division truncates toward zero, as the contract wants */
			want = (int128) a / b;
		}
		else
			want = exact[op];
		want_ok = want >= PG_INT64_MIN && want <= PG_INT64_MAX;
		if (ok != want_ok || (ok && got != (int64) want))
			FAIL("operation %d on %lld, %lld: got %s%lld", op, (long long) a,
				 (long long) b, ok ? "" : "an error, ", (long long) got);
		if (!ok && error_code != ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE)
			FAIL("operation %d on %lld, %lld: SQLSTATE %s", op, (long long) a,
				 (long long) b, sqlstate(error_code));
	}
}

/*
 * The input is a binary message: up to three int8 fields are received from
 * it one after another, exactly as COPY BINARY or a Bind message would.
 */
static void
fuzz_amount_recv(const uint8_t *data, size_t size)
{
	StringInfoData buf;
	int64		values[3];
	int			nvalues = 0;

	buf.data = palloc(size + 1);
	memcpy(buf.data, data, size);
	buf.data[size] = '\0';
	buf.len = (int) size;
	buf.maxlen = (int) size + 1;
	buf.cursor = 0;

	while (nvalues < 3)
	{
		volatile bool ok = true;
		volatile int64 value = 0;
		int			before = buf.cursor;

		TRY(ok)
		{
			value = DatumGetInt64(call1(credit_amount_recv, PointerGetDatum(&buf)));
		}
		if (size - before < 8)
		{
			if (ok || error_code != ERRCODE_PROTOCOL_VIOLATION)
				FAIL("recv of %d bytes did not fail as insufficient data",
					 (int) (size - before));
			break;
		}
		if (!ok)
			FAIL("recv failed on eight bytes: %s", error_message);
		if (buf.cursor != before + 8)
			FAIL("recv consumed %d bytes", buf.cursor - before);
		if (value != wire_int64(data + before))
			FAIL("recv read %lld", (long long) value);
		{
			bytea	   *sent = (bytea *) DatumGetPointer(call1(credit_amount_send,
															  Int64GetDatum(value)));

			if (VARSIZE(sent) != VARHDRSZ + 8 ||
				memcmp(VARDATA(sent), data + before, 8) != 0)
				FAIL("send(recv(x)) differs from x for %lld", (long long) value);
		}
		check_value(value);
		values[nvalues++] = value;
		if (size - buf.cursor == 0)
			break;
	}
	if (nvalues >= 2)
		check_arithmetic(values[0], values[1]);
	if (nvalues >= 3)
		check_arithmetic(values[2], values[1]);
}

#endif

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
#if CREDITS_FUZZ_TARGET == 1
	fuzz_amount_in(data, size);
#else
	fuzz_amount_recv(data, size);
#endif
	free_all_chunks();
	return 0;
}
