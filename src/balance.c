/*
 * balance.c
 *	  Balances: credits_balance() answers the available balance at any time,
 *	  never counting credits whose expiry has passed, recorded or not; for a
 *	  service, only what a spend for it could take (lots restricted to other
 *	  services left out).  (credits_expire() records due expirations across
 *	  accounts: bulk.c.)
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "credits.h"

/*
 * The balance at an instant no earlier than the account's latest entry
 * (last_at): the account's lots as they are, minus those expired by then.
 * Also returns last_at, which says whether that is the case.
 */
static CreditsStmt stmt_balance_now = {"ttT",
		"SELECT CASE WHEN a.next_expiry IS NULL OR a.next_expiry > $3 "
		"THEN a.balance ELSE a.balance - coalesce((SELECT sum(l.remaining) "
		"FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"AND l.is_open AND l.expires_at <= $3), 0) END, "
		"{{a.last_at|now()}} "
		"FROM credits.account a WHERE a.account = $1 AND a.credit_type = $2"};

/*
 * The same for a spend for the service $4 (only on the tables of 1.2): less
 * what the account's open lots restricted to other services hold, when it
 * has any, unless they are expired by $3 (and so already left out).
 */
static CreditsStmt stmt_balance_now_service = {"ttTt",
		"SELECT a.balance - CASE WHEN a.next_expiry IS NULL OR a.next_expiry > $3 "
		"  THEN 0 ELSE coalesce((SELECT sum(l.remaining) "
		"  FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"  AND l.is_open AND l.expires_at <= $3), 0) END "
		"- CASE WHEN NOT a.scoped THEN 0 ELSE coalesce((SELECT sum(l.remaining) "
		"  FROM credits.lot l WHERE l.account = $1 AND l.credit_type = $2 "
		"  AND l.is_open AND l.applies_to IS NOT NULL "
		"  AND NOT $4 = ANY (l.applies_to) "
		"  AND (l.expires_at IS NULL OR l.expires_at > $3)), 0) END, "
		"a.last_at "
		"FROM credits.account a WHERE a.account = $1 AND a.credit_type = $2"};

/*
 * The balance at an instant before the account's latest entry: the running
 * balance of the last entry at or before it, minus what the lots expired by then still held at that entry
 * (their expiry may have been recorded only later, or never).  A lot's
 * remainder at that entry is its grant plus every movement into or out of
 * it up to that entry: credits that came back to it later and left again
 * were not available then.  One sum of grants and movements together: the
 * grants of the lots expired by then may add up to more than a
 * credit_amount holds (a lot granted, expired, granted again, ...), what
 * those lots held at that entry never does (the sum's state is exact).  A
 * lot that a transfer brought in starts at 0 here: its allocation to the
 * transfer_in entry is its first movement in.  For a spend for a service
 * (stmt_balance_past_service: $4), the lots restricted to other services
 * are left out the same way, expired or not.
 */
#define BALANCE_PAST_REST \
		"mv AS (SELECT CASE credits.direction(e.kind) WHEN 'in' THEN al.amount " \
		"    ELSE -al.amount END AS signed " \
		"  FROM credits.allocation al JOIN credits.entry e " \
		"    ON e.account = al.account AND e.entry_id = al.entry_id " \
		"  WHERE al.account = $1 AND al.lot_id IN (SELECT lot_id FROM lots) " \
		"  AND e.seq <= (SELECT seq FROM last) " \
		"  UNION ALL " \
		"  SELECT -e.amount FROM credits.entry e " \
		"  WHERE e.account = $1 AND e.credit_type = $2 " \
		"  AND e.lot_id IN (SELECT lot_id FROM lots) " \
		"  AND e.kind IN ('expire', 'void') AND e.seq <= (SELECT seq FROM last) " \
		"  UNION ALL SELECT amount FROM lots) " \
		"SELECT last.running_balance - coalesce((SELECT sum(signed) FROM mv), 0) " \
		"FROM last"

#define BALANCE_PAST(left_out) \
		"WITH last AS (SELECT seq, running_balance FROM credits.entry " \
		"  WHERE account = $1 AND credit_type = $2 AND at <= $3 " \
		"  ORDER BY seq DESC LIMIT 1), " \
		"lots AS (SELECT l.lot_id, CASE WHEN g.kind = 'grant' THEN g.amount " \
		"    ELSE 0 END AS amount FROM credits.entry g " \
		"  LEFT JOIN credits.allocation t ON g.kind = 'transfer_in' " \
		"    AND t.account = g.account AND t.entry_id = g.entry_id " \
		"  JOIN credits.lot l ON l.lot_id = coalesce(g.lot_id, t.lot_id) " \
		"    AND l.account = g.account " \
		"  WHERE g.account = $1 AND g.credit_type = $2 " \
		"  AND g.kind IN ('grant', 'transfer_in') " \
		"  AND g.seq <= (SELECT seq FROM last) AND " left_out "), " \
		BALANCE_PAST_REST

static CreditsStmt stmt_balance_past = {"ttT",
		BALANCE_PAST("l.expires_at <= $3")};
static CreditsStmt stmt_balance_past_service = {"ttTt",
		BALANCE_PAST("(l.expires_at <= $3 OR (l.applies_to IS NOT NULL "
					 "AND NOT $4 = ANY (l.applies_to)))")};

PG_FUNCTION_INFO_V1(credits_balance);

/*
 * credits_balance(account, credit_type, at, service): the running balance
 * of the account's last entry at or before at, less what expired by at.  At
 * or after the latest entry that is the account's lots as they are, minus
 * those expired by at; before it, history answers -- unless at is now or
 * later for the caller (at or after its transaction's start): then every
 * entry it can see counts, also those of transactions that started later
 * and committed meanwhile.  Entries never go back
 * in time along their seq, so "the last entry at or before at" is a prefix
 * of the history.  With a service, what the lots restricted to other
 * services held is left out too: what a spend for it could take.  (Databases
 * still on the scripts of 1.0 and 1.1 call with 3 arguments.)
 */
Datum
credits_balance(PG_FUNCTION_ARGS)
{
	Datum		values[4];
	CreditTypeInfo info;
	TimestampTz at;
	CreditAmount balance = 0;
	bool		has_service = PG_NARGS() > 3 && !PG_ARGISNULL(3);

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	at = PG_GETARG_TIMESTAMPTZ(2);
	credits_check_finite(at, "at");
	values[0] = PG_GETARG_DATUM(0);
	values[1] = PG_GETARG_DATUM(1);
	values[2] = TimestampTzGetDatum(at);
	if (has_service)
	{
		values[3] = PG_GETARG_DATUM(3);
		credits_check_service(values[3]);
	}

	SPI_connect();
	credits_check_access(values[0], CREDITS_ACCESS_CLIENT);
	credits_type_info(values[1], &info);
	credits_run(has_service ? &stmt_balance_now_service : &stmt_balance_now,
				values, NULL, true, 1);
	if (SPI_processed > 0)
	{
		bool		isnull;
		Datum		last_at = credits_col(0, 2, &isnull);

		if (!isnull && at < DatumGetTimestampTz(last_at) &&
			at < GetCurrentTransactionStartTimestamp())
			credits_run(has_service ? &stmt_balance_past_service
						: &stmt_balance_past, values, NULL, true, 1);
		if (SPI_processed > 0)
			balance = credits_col_amount(0, 1);
	}
	SPI_finish();
	PG_RETURN_CREDIT_AMOUNT(balance);
}
