#!/usr/bin/python3
"""A checkout that pays an order with credits in the order's own transaction.

The order row and the credit spend commit together or not at all: if the
spend fails (not enough credits, credits switched off), the order row is
rolled back with it, and the client sees a message instead of a SQLSTATE.
A retried checkout (double click, network retry) with the same order
reference returns the first result and spends nothing more.

    python3 shop.py DBNAME ACCOUNT ORDER_REF CREDITS [DESCRIPTION]

Connection settings come from the usual libpq variables (PGHOST, PGPORT,
PGUSER).  The role needs credits_operator (GRANT credits_operator TO ...).
"""
import sys
from dataclasses import dataclass
from decimal import Decimal

import psycopg

# What a client reads for each SQLSTATE the checkout can meet.  Everything
# else is a bug or an outage: log it and show a generic error.
MESSAGES = {
    "CR001": "Your balance does not cover this order.",
    "CR002": "Paying with credits is paused right now; please try again later.",
    "CR003": "This order reference was already used for a different order.",
    "22023": "This order is not valid.",
    "42501": "You may not pay from this account.",
}


class CheckoutRefused(Exception):
    """The checkout was refused; `message` is meant for the client."""

    def __init__(self, sqlstate, message, detail=None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail


@dataclass
class Order:
    order_id: int
    spend_entry_id: int
    credits: Decimal
    retried: bool


def checkout(conn, account, order_ref, credits, description):
    """Insert the order and spend its credits in one transaction."""
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO shop_order (order_ref, account, credits, description) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (order_ref) DO NOTHING "
                "RETURNING order_id",
                (order_ref, account, Decimal(credits), description),
            ).fetchone()
            if row is None:
                # A retry of an order that committed: answer as the first time.
                prev = conn.execute(
                    "SELECT order_id, spend_entry_id, credits, account "
                    "FROM shop_order WHERE order_ref = %s",
                    (order_ref,),
                ).fetchone()
                if prev[3] != account or prev[2] != Decimal(credits):
                    raise CheckoutRefused("CR003", MESSAGES["CR003"])
                return Order(prev[0], prev[1], prev[2], True)
            order_id = row[0]
            # Named notation, as the contract fixes parameter names.  The
            # order reference doubles as the idempotency key of the spend.
            entry_id = conn.execute(
                "SELECT credits_spend(account => %s, amount => %s::credit_amount, "
                "reference => %s, idempotency_key => %s)",
                (account, str(credits), order_ref, "order:" + order_ref),
            ).fetchone()[0]
            conn.execute(
                "UPDATE shop_order SET spend_entry_id = %s WHERE order_id = %s",
                (entry_id, order_id),
            )
            return Order(order_id, entry_id, Decimal(credits), False)
    except psycopg.Error as e:
        state = e.sqlstate
        if state in MESSAGES:
            raise CheckoutRefused(state, MESSAGES[state], e.diag.message_detail) from e
        raise


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[-6], file=sys.stderr)
        return 2
    dbname, account, order_ref, credits = argv[1:5]
    description = argv[5] if len(argv) > 5 else "order " + order_ref
    with psycopg.connect(dbname=dbname) as conn:
        try:
            order = checkout(conn, account, order_ref, credits, description)
        except CheckoutRefused as r:
            print(f"refused {r.sqlstate}: {r.message}" + (f" ({r.detail})" if r.detail else ""))
            return 1
        balance = conn.execute("SELECT credits_balance(account => %s)", (account,)).fetchone()[0]
        conn.commit()
    print(f"order {order.order_id} paid by entry {order.spend_entry_id}"
          f"{' (retry)' if order.retried else ''}; balance now {balance}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
