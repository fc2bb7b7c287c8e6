/*
 * payload.c
 *	  Outbox payloads and entry ids, built in C for the hot paths: a jsonb
 *	  built here costs a fraction of jsonb_build_object() in the statement,
 *	  and the entry id must be known before the statement to go into it.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "credits.h"

static Oid	entry_seq = InvalidOid;

static void
credits_payload_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == entry_seq)
		entry_seq = InvalidOid;
}

void
credits_payload_init(void)
{
	CacheRegisterRelcacheCallback(credits_payload_inval, (Datum) 0);
}

/*
 * The next entry id, from the sequence the entry table's default uses (the
 * same nextval() the default would call).
 */
int64
credits_next_entry_id(void)
{
	if (!OidIsValid(entry_seq))
		entry_seq = get_relname_relid("entry_id_seq",
									  get_namespace_oid("credits", false));
	if (!OidIsValid(entry_seq))
		elog(ERROR, "credits: sequence credits.entry_id_seq is missing");
	return nextval_internal(entry_seq, false);
}

static void
put_key(JsonbParseState **st, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
}

static void
put_text(JsonbParseState **st, const char *key, Datum value, bool isnull)
{
	JsonbValue	v;

	put_key(st, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		text	   *t = DatumGetTextPP(value);

		v.type = jbvString;
		v.val.string.val = VARDATA_ANY(t);
		v.val.string.len = VARSIZE_ANY_EXHDR(t);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/* A JSON number with no trailing zeros, as credit_amount::numeric gives. */
static void
put_amount(JsonbParseState **st, const char *key, CreditAmount value)
{
	JsonbValue	v;

	put_key(st, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(numeric_trim_scale,
		NumericGetDatum(int64_div_fast_to_numeric(value, CREDIT_AMOUNT_DECIMALS))));
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
put_int(JsonbParseState **st, const char *key, int64 value, bool isnull)
{
	JsonbValue	v;

	put_key(st, key);
	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(value);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

/*
 * The payload of an entry's event: account, credit type, entry id, kind,
 * amount, balance after, reference, reason, lot id, for a clawback its
 * shortfall, and for a transfer its direction (kind "transfer", as the
 * history shows it).
 */
Datum
credits_entry_payload(const EntryPayload *p)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	JsonbValue	kind;
	const char *label = credits_kind_label(p->kind);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	put_text(&st, "account", p->account, false);
	put_text(&st, "credit_type", p->credit_type, false);
	put_int(&st, "entry_id", p->entry_id, false);
	put_key(&st, "kind");
	kind.type = jbvString;
	kind.val.string.val = (char *) label;
	kind.val.string.len = strlen(label);
	pushJsonbValue(&st, WJB_VALUE, &kind);
	if (label != p->kind)
	{
		/* transfer_out, transfer_in */
		put_key(&st, "direction");
		kind.val.string.val = (char *) (strcmp(p->kind, "transfer_in") == 0 ? "in" : "out");
		kind.val.string.len = strlen(kind.val.string.val);
		pushJsonbValue(&st, WJB_VALUE, &kind);
	}
	put_amount(&st, "amount", p->amount);
	put_amount(&st, "balance", p->balance);
	put_text(&st, "reference", p->reference, p->reference_null);
	put_text(&st, "reason", p->reason, p->reason_null);
	put_int(&st, "lot_id", p->lot_id, p->lot_id == 0);
	if (p->has_shortfall)
		put_amount(&st, "shortfall", p->shortfall);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}
