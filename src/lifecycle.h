/*
 * lifecycle.h
 *	  Ledger helpers shared by the lifecycle features (holds, reversals,
 *	  voids, rules, clawbacks, subscriptions): moving credits back into the
 *	  very lots they came from, taking from a given set of lots, forfeiting a
 *	  balance, and granting by mode.  All of them run inside SPI, under the
 *	  account lock, after due expirations have been recorded.
 */
#ifndef CREDITS_LIFECYCLE_H
#define CREDITS_LIFECYCLE_H

#include "postgres.h"

#include "credits.h"

/* How credits of a grant are added: on top of the balance, or replacing it. */
typedef enum GrantMode
{
	GRANT_MODE_ADD,
	GRANT_MODE_RESET
} GrantMode;

/* Which credits a reset counts (1.2): the whole type's, or its issuer's. */
typedef enum ResetScope
{
	RESET_SCOPE_TYPE,
	RESET_SCOPE_OWN
} ResetScope;

/*
 * What a reset keeps: at most rollover (none: nothing) of the available
 * credits of its scope; for RESET_SCOPE_OWN, issuer names the rule or
 * subscription whose credits those are ("rule:<id>", "subscription:<id>",
 * the scope of its mark in credits.account_reset).
 */
typedef struct ResetTerms
{
	bool		has_rollover;
	CreditAmount rollover;
	ResetScope	scope;
	char		issuer[48];
} ResetTerms;

/* ledger_lots.c */
extern GrantMode credits_parse_mode(Datum mode);
extern const char *credits_mode_name(GrantMode mode);
extern ResetScope credits_check_reset_terms(GrantMode mode, bool has_rollover,
											CreditAmount rollover,
											const char *reset_scope);
extern bool credits_resets_12(void);

extern LotPart *credits_entry_parts(AccountState *acct, int64 entry_id,
									int *n);
extern int64 credits_return_to_lots(AccountState *acct, const char *kind,
									int64 related_id,
									const LotPart *parts, int n,
									Datum reference, bool reference_null,
									Datum reason, bool reason_null);
extern void credits_settle_lots(AccountState *acct, LotPart *parts, int n);
extern int64 credits_reset_balance(AccountState *acct, int64 related_id,
								   Datum reference, bool reference_null,
								   Datum reason, bool reason_null,
								   const ResetTerms *terms);
extern int64 credits_grant_by_mode(AccountState *acct, GrantMode mode,
								   CreditAmount amount,
								   bool has_expiry, TimestampTz expires_at,
								   Datum reason, bool reason_null,
								   Datum reference, bool reference_null,
								   const char *source, int64 related_id,
								   const ResetTerms *terms,
								   int64 *reset_entry_id);
extern void credits_check_interval(Datum interval, const char *what);

/* rules.c */
extern void credits_settle_shortfalls(AccountState *acct, LotPart *back,
									  int n);
extern Datum credits_interval_text(Datum interval);

#endif							/* CREDITS_LIFECYCLE_H */
