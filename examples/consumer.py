#!/usr/bin/python3
"""An outbox consumer that delivers every credits event exactly once.

It pages credits_events_since() from its saved cursor and, for each page,
writes its side effect (a client message) and the new cursor in ONE
transaction.  A consumer killed at any instant restarts from the last
committed cursor: a page whose transaction did not commit is delivered
again, one that committed is not, so each event has exactly one message.

It wakes up on NOTIFY credits_events and also on a timer, never on the
notification alone: a notification can arrive while an older transaction
still hides an event from credits_events_since() (the outbox shows an event
only once no transaction that could commit a lower id is running), and no
second notification comes for it.  With credits.notify off, the timer is
all there is.

    python3 consumer.py DBNAME [--name NAME] [--batch N] [--poll SECONDS]
                        [--until-idle SECONDS] [--slow SECONDS]

--until-idle stops after that many seconds without a new event (for tests
and batch use); --slow sleeps inside each page's transaction (to let a test
kill the consumer mid-page).
"""
import argparse
import select
import sys
import time

import psycopg


def body_of(event_type, account, payload):
    """The side effect's content: what the client would be told."""
    amount = payload.get("amount")
    balance = payload.get("balance")
    return f"{event_type}: account {account}, amount {amount}, balance {balance}"


def deliver_page(conn, name, batch, slow):
    """Handle one page of events in one transaction; returns how many."""
    with conn.transaction():
        # FOR UPDATE: two copies of the same consumer never deliver one page twice.
        cursor = conn.execute(
            "SELECT last_event_id FROM event_cursor WHERE consumer = %s FOR UPDATE",
            (name,),
        ).fetchone()[0]
        events = conn.execute(
            "SELECT event_id, type, account, payload "
            "FROM credits_events_since(after_id => %s, max_rows => %s)",
            (cursor, batch),
        ).fetchall()
        for event_id, event_type, account, payload in events:
            conn.execute(
                "INSERT INTO client_message (event_id, account, body) VALUES (%s, %s, %s)",
                (event_id, account, body_of(event_type, account, payload)),
            )
        if slow:
            time.sleep(slow)
        if events:
            conn.execute(
                "UPDATE event_cursor SET last_event_id = %s, updated_at = now() "
                "WHERE consumer = %s",
                (events[-1][0], name),
            )
    return len(events)


def wait_for_wakeup(listener, seconds):
    """Sleep until a notification arrives or the timer runs out."""
    ready, _, _ = select.select([listener.fileno()], [], [], seconds)
    if ready:
        pgconn = listener.pgconn
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            pass


def run(dbname, name, batch, poll, until_idle, slow):
    with psycopg.connect(dbname=dbname, autocommit=True) as listener, \
            psycopg.connect(dbname=dbname) as conn:
        listener.execute("LISTEN credits_events")
        with conn.transaction():
            conn.execute(
                "INSERT INTO event_cursor (consumer) VALUES (%s) ON CONFLICT DO NOTHING",
                (name,),
            )
        idle_since = time.monotonic()
        while True:
            # Listen first, then read: a notification sent after this read
            # wakes the next wait.
            n = deliver_page(conn, name, batch, slow)
            if n > 0:
                idle_since = time.monotonic()
                if n == batch:
                    continue
            elif until_idle is not None and time.monotonic() - idle_since >= until_idle:
                return 0
            wait_for_wakeup(listener, poll)


def main():
    p = argparse.ArgumentParser(description="credits outbox consumer (reference)")
    p.add_argument("dbname")
    p.add_argument("--name", default="client-messages")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--poll", type=float, default=1.0, help="timer between reads without NOTIFY")
    p.add_argument("--until-idle", type=float, default=None)
    p.add_argument("--slow", type=float, default=0.0)
    a = p.parse_args()
    return run(a.dbname, a.name, a.batch, a.poll, a.until_idle, a.slow)


if __name__ == "__main__":
    sys.exit(main())
