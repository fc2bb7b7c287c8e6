/*
 * credits.h
 *	  Declarations shared by the ledger's C files: the kept-plan registry,
 *	  credit-type lookups, account locking and the entry/allocation writers.
 */
#ifndef CREDITS_H
#define CREDITS_H

#include "postgres.h"
#include "fmgr.h"
#include "executor/spi.h"
#include "utils/timestamp.h"

#include "amount.h"

/* SQLSTATEs of the contract */
#define ERRCODE_CREDITS_INSUFFICIENT	MAKE_SQLSTATE('C','R','0','0','1')
#define ERRCODE_CREDITS_DISABLED		MAKE_SQLSTATE('C','R','0','0','2')
#define ERRCODE_CREDITS_IDEMPOTENCY		MAKE_SQLSTATE('C','R','0','0','3')
#define ERRCODE_CREDITS_NO_RATE			MAKE_SQLSTATE('C','R','0','0','4')
#define ERRCODE_CREDITS_INVALID_STATE	MAKE_SQLSTATE('C','R','0','0','5')

/*
 * A statement the C code runs, declared static next to its use and prepared
 * once per backend (SPI_keepplan) on first use.  argtypes spells one letter
 * per parameter: t text, a credit_amount, T timestamptz, i int8, I int4,
 * b bool, n numeric, j jsonb, A int8[], M credit_amount[], S text[].
 */
typedef struct CreditsStmt
{
	const char *argtypes;
	const char *sql;			/* may spell {{1.1 text|1.0 text}} and
								 * {{12:1.2 text|older text}} */
	SPIPlanPtr	plan;
	uint32		generation;
	bool		has_variants;	/* sql has {{...|...}} (known once planned) */
	int			planned_level;	/* plan is of the text for these tables */
} CreditsStmt;

/* plans.c */
extern void credits_plans_init(void);
extern int	credits_run(CreditsStmt *stmt, Datum *values, const char *nulls,
						bool read_only, long tcount);
extern int	credits_run_find(CreditsStmt *by_id, CreditsStmt *in_account,
							 int64 id, FunctionCallInfo fcinfo, int argno);
extern void credits_not_found(const char *what, int64 id, FunctionCallInfo fcinfo,
							  int argno);
extern int	credits_run_latest(CreditsStmt *stmt, Datum *values,
							   const char *nulls, long tcount);
extern Oid	credits_amount_typid(void);
extern bool credits_catalog_10(void);
extern int	credits_catalog_level(void);
extern bool credits_distributed(void);
extern int32 credits_node_group(void);
extern Portal credits_cursor_open(CreditsStmt *stmt, Datum *values,
								  const char *nulls);
extern ErrorData *credits_try(void (*fn) (void *arg), void *arg);

/* ledger_lots.c: 22023 for 'infinity' and '-infinity' */
extern void credits_check_finite(TimestampTz value, const char *what);

/* Column helpers for SPI_tuptable rows (1-based column numbers). */
extern Datum credits_col(int row, int col, bool *isnull);
extern int64 credits_col_int64(int row, int col);
extern CreditAmount credits_col_amount(int row, int col);

/*
 * A credit type as the ledger needs it: scale (decimal places of its
 * smallest unit) and optional currency.
 */
typedef struct CreditTypeInfo
{
	int			scale;
	bool		has_currency;
	char		currency[8];
} CreditTypeInfo;

/*
 * The lock row of one (account, credit type) and the figures it carries.
 * balance is the sum of the remainders of the account's lots, which may
 * still include lots whose expiry is due but not yet recorded.  now is the
 * ledger instant of the call: every entry, event and lot it writes is dated
 * now, and expirations due by now are recorded first (see
 * credits_ledger_instant).
 */
typedef struct AccountState
{
	Datum		account;		/* text */
	Datum		credit_type;	/* text */
	bool		exists;
	CreditAmount balance;
	CreditAmount held;
	int64		last_seq;
	bool		has_last_at;
	TimestampTz last_at;		/* at of the latest entry */
	TimestampTz now;			/* the instant of the entries this call writes */
	bool		has_next_expiry;
	TimestampTz next_expiry;	/* lower bound of open lots' expires_at */
	bool		has_low_threshold;
	CreditAmount low_threshold; /* low_balance event below this */
	bool		scoped;			/* some lot is (or was) restricted to services */
	/* the row as last read or written, so that saving can skip no-ops */
	CreditAmount saved_balance;
	CreditAmount saved_held;
	int64		saved_last_seq;
	bool		saved_has_last_at;
	TimestampTz saved_last_at;
	bool		saved_has_next_expiry;
	TimestampTz saved_next_expiry;
	/* auto top-up (topup.c): configured, none pending, not yet decided */
	bool		has_topup;
	CreditAmount topup_below;	/* request a top-up below this */
	int64		topup_entry;	/* the entry that left the balance below */
} AccountState;

/*
 * Which of an account's lots a movement may take credits from (1.2).  A
 * lot restricted to services (applies_to) pays only for those: a movement
 * that uses credits without naming a service (a spend without one, a hold,
 * a payment, a transfer) takes only lots that any service may use; a spend
 * for a service also takes those restricted to it; resets and clawbacks,
 * which remove credits rather than use them, take from every lot, as the
 * balance counts every lot.  On an account that never had a restricted lot
 * (not scoped) the three are the same lots.
 */
typedef enum LotScope
{
	LOTS_UNRESTRICTED,
	LOTS_FOR_SERVICE,
	LOTS_ALL
} LotScope;

/* One lot's share of an entry: an allocation. */
typedef struct LotPart
{
	int64		lot_id;
	CreditAmount amount;
} LotPart;

/* ledger.c */
extern void credits_require_arg(FunctionCallInfo fcinfo, int argno,
								const char *name);
extern void credits_require_account(text *account);
extern void credits_type_info(Datum credit_type, CreditTypeInfo *info);
extern void credits_check_scale(CreditAmount amount, const CreditTypeInfo *info,
								Datum credit_type, const char *what);
extern void credits_check_positive(CreditAmount amount, const char *what);
extern void credits_check_future_expiry(TimestampTz expires_at);
extern TimestampTz credits_ledger_instant(bool has_last_at, TimestampTz last_at);
extern void credits_require_enabled(const char *action);
extern bool credits_enabled_now(void);
pg_noreturn extern void credits_disabled_error(const char *action);
extern void credits_lock_account(AccountState *acct, Datum account,
								 Datum credit_type, bool create);
extern void credits_save_account(AccountState *acct);
extern int64 credits_append_entry(AccountState *acct, const char *kind,
								  CreditAmount amount, bool out,
								  int64 lot_id, int64 related_id,
								  Datum reference, bool reference_null,
								  Datum reason, bool reason_null);
extern void credits_balance_events(AccountState *acct, CreditAmount before,
								   int64 entry_id);
extern int64 credits_append_entry_ex(AccountState *acct, const char *kind,
									 CreditAmount amount, bool out,
									 int64 lot_id, int64 related_id,
									 Datum reference, bool reference_null,
									 Datum reason, bool reason_null,
									 bool has_shortfall, CreditAmount shortfall);
extern int64 credits_append_entry_extra(AccountState *acct, const char *kind,
										CreditAmount amount, bool out,
										int64 lot_id, int64 related_id,
										Datum reference, bool reference_null,
										Datum reason, bool reason_null,
										Datum extra);
extern void credits_take_lot(AccountState *acct, int64 entry_id, int64 lot_id,
							 CreditAmount take);
extern CreditAmount credits_take_parts(AccountState *acct, int64 entry_id,
									   const LotPart *parts, int n,
									   CreditAmount amount);
extern void credits_take_spend_order(AccountState *acct, int64 entry_id,
									 CreditAmount amount);
extern void credits_take_spend_order_in(AccountState *acct, LotScope scope,
										Datum service, int64 entry_id,
										CreditAmount amount);
extern void credits_append_allocation(AccountState *acct, int64 entry_id,
									  int64 lot_id, CreditAmount amount);
extern int64 credits_record_due(AccountState *acct, TimestampTz as_of);
extern void credits_record_due_now(AccountState *acct);
extern int64 credits_insert_lot(AccountState *acct, CreditAmount amount,
								bool has_expiry, TimestampTz expires_at,
								Datum reason, bool reason_null,
								Datum reference, bool reference_null,
								const char *source, Datum cost,
								Datum cost_currency, int32 priority,
								Datum applies_to);
extern int64 credits_add_lot(AccountState *acct, CreditAmount amount,
							 bool has_expiry, TimestampTz expires_at,
							 Datum reason, bool reason_null,
							 Datum reference, bool reference_null,
							 const char *source, Datum cost,
							 Datum cost_currency, int32 priority,
							 Datum applies_to);
extern int64 credits_take_from_lots(AccountState *acct, const char *kind,
									CreditAmount amount, int64 related_id,
									Datum reference, bool reference_null,
									Datum reason, bool reason_null);
extern int64 credits_take_from_lots_in(AccountState *acct, LotScope scope,
									   Datum service, const char *kind,
									   CreditAmount amount, int64 related_id,
									   Datum reference, bool reference_null,
									   Datum reason, bool reason_null);
extern int64 credits_spend_rest_dist(AccountState *acct, CreditAmount amount,
									 Datum reference, bool reference_null);
pg_noreturn extern void credits_insufficient(AccountState *acct,
											 CreditAmount available,
											 CreditAmount required);
pg_noreturn extern void credits_insufficient_in(AccountState *acct,
												LotScope scope, Datum service,
												CreditAmount available,
												CreditAmount required);

/* scope.c: priorities and service-scoped lots */
extern Datum credits_check_applies_to(Datum applies_to);
extern void credits_check_service(Datum service);
extern CreditAmount credits_available(AccountState *acct, LotScope scope,
									  Datum service);
extern void credits_mark_scoped(AccountState *acct);

/*
 * The kind of an entry as the reports show it: the two sides of a transfer
 * are stored as kinds of their own (transfer_out, transfer_in), so that an
 * entry's direction follows from its kind (credits.direction), and show as
 * "transfer" with their direction.  (Inline, and one byte for any other
 * kind: every spend's payload asks.)
 */
static inline const char *
credits_kind_label(const char *kind)
{
	if (kind[0] == 't' && strncmp(kind, "transfer_", 9) == 0)
		return "transfer";
	return kind;
}

/* credit_types.c */
extern void credits_lock_type(Datum credit_type, CreditTypeInfo *info);

/*
 * config.c: a backend cache of the configuration table credits.<table>,
 * valid while no invalidation of the table has arrived since its last
 * complete load began (the counts).
 */
typedef struct CreditsCache
{
	const char *table;
	Oid			relid;			/* the table's OID, as of the last load */
	uint64		invals;			/* invalidations received */
	uint64		loaded;			/* invals when the last complete load began */
} CreditsCache;
extern void credits_cache_register(CreditsCache *cache);
extern bool credits_cache_valid(CreditsCache *cache);
extern uint64 credits_cache_begin(CreditsCache *cache);
extern void credits_cache_loaded(CreditsCache *cache, uint64 start);
extern void credits_cache_trigger(FunctionCallInfo fcinfo, const char *fname);
extern void credits_config_init(void);
extern bool credits_lookup_type(const char *code, CreditTypeInfo *info);
struct NumericData;
extern bool credits_lookup_rate(const char *currency, const char *credit_type,
								TimestampTz at, struct NumericData **rate);

/* access.c: what a client-portal caller may do */
typedef enum CreditsAccess
{
	CREDITS_ACCESS_CLIENT,		/* read or spend one's own account */
	CREDITS_ACCESS_AGENCY		/* everything else */
} CreditsAccess;
extern void credits_access_init(void);
extern void credits_check_access(Datum account, CreditsAccess level);
extern const char *credits_portal_scope(void);
extern void credits_check_access_id(Datum account, const char *object,
									int64 id);

/* delegation.c */
extern void credits_delegation_init(void);

/* events.c */
#define CREDITS_EVENT_SEQ_BITS 22
/* distributed: group (7 bits) | xid (34 bits) | SEQ_BITS */
#define CREDITS_EVENT_XID_BITS 34
#define CREDITS_EVENT_MAX_GROUPS 128
extern bool credits_notify;
extern void credits_events_init(void);
extern int64 credits_next_event_id(void);
extern void credits_bulk_init(void);
extern int64 credits_expire_accounts(Datum accounts, Datum credit_types,
									 TimestampTz as_of, TimestampTz *latest);
extern void credits_report_left(const char *what, uint64 busy, uint64 failed);
extern void credits_notify_event(int64 event_id, const char *type);
extern int64 credits_emit_event(Datum account, const char *type,
								const char *aggregatetype, Datum aggregateid,
								Datum payload, int64 entry_id);

/* payload.c */
typedef struct EntryPayload
{
	Datum		account;		/* text */
	Datum		credit_type;	/* text */
	int64		entry_id;
	const char *kind;
	CreditAmount amount;
	CreditAmount balance;		/* after the entry */
	Datum		reference;
	bool		reference_null;
	Datum		reason;
	bool		reason_null;
	int64		lot_id;			/* 0: none */
	bool		has_shortfall;
	CreditAmount shortfall;
} EntryPayload;
extern void credits_payload_init(void);
extern int64 credits_next_entry_id(void);
extern Datum credits_entry_payload(const EntryPayload *p);
extern Datum credits_reset_payload(bool has_rollover, CreditAmount rollover,
								   const char *reset_scope, CreditAmount kept);

/* idempotency.c */
#include "lib/stringinfo.h"
extern void credits_idem_field(StringInfo buf, const char *value);
extern void credits_idem_timestamptz(StringInfo buf, bool isnull,
									 TimestampTz value);
extern void credits_idem_numeric(StringInfo buf, bool isnull,
								 struct NumericData *value);
extern void credits_idem_interval(StringInfo buf, bool isnull, Datum value);
extern bool credits_idem_lookup(Datum account, Datum key, const char *request,
								int64 *result);
extern void credits_idem_store(Datum account, Datum key, const char *operation,
							   const char *request, int64 result);
extern bool credits_idem_claim(Datum account, Datum key, const char *operation,
							   const char *request, int64 *result,
							   bool *result_null, Datum *result_row,
							   bool *result_row_null);
extern void credits_idem_finish(Datum account, Datum key, int64 result,
								bool result_null, Datum result_row);
extern char *credits_idem_row_field(Datum result_row, const char *name);

/*
 * topup.c: auto top-up.  The account's threshold comes with its row (the
 * column topup_due of the statements that lock or update it), so that a
 * movement that leaves the balance above it, or any movement of an account
 * without auto top-up, costs a comparison.  An entry that takes credits and
 * leaves the balance below it is noted; the call decides when it saves the
 * account (credits_save_account, or the spend's fast path), by the balance
 * it leaves: a reset followed by its new credits, or due expirations
 * followed by a grant, ask for nothing.  Only then does SQL run, once.
 */
#define CREDITS_TOPUP_COLUMN \
	"{{12:CASE WHEN a.topup_request IS NULL THEN a.topup_below END|NULL}} " \
	"AS topup_due"
extern void credits_topup_read(AccountState *acct);
extern void credits_topup_decide(AccountState *acct);
extern void credits_topup_accounts(Datum accounts, Datum credit_types);

/* After an entry that took credits from the account: the first below. */
static inline void
credits_topup_after(AccountState *acct, int64 entry_id)
{
	if (acct->has_topup && acct->balance < acct->topup_below &&
		acct->topup_entry == 0)
		acct->topup_entry = entry_id;
}

/* When the call saves the account: request the top-up if still below. */
static inline void
credits_topup_flush(AccountState *acct)
{
	if (acct->topup_entry != 0)
		credits_topup_decide(acct);
}

#endif							/* CREDITS_H */
