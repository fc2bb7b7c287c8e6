-- The reference application's own tables, beside the credits extension in
-- the application's database.  credits keeps the ledger; these are what an
-- application keeps itself.

-- Orders, paid with credits in the same transaction that inserts them.
CREATE TABLE shop_order (
	order_id	bigserial PRIMARY KEY,
	order_ref	text NOT NULL UNIQUE,		-- the client's key: a retried checkout finds its order
	account		text NOT NULL,
	credits		numeric NOT NULL CHECK (credits > 0),
	description	text NOT NULL,
	spend_entry_id bigint,					-- the credits_spend() entry that paid it
	created_at	timestamptz NOT NULL DEFAULT now()
);

-- Where each outbox consumer got to.  A consumer saves its cursor in the
-- same transaction as the side effects of the events it handled.
CREATE TABLE event_cursor (
	consumer	text PRIMARY KEY,
	last_event_id bigint NOT NULL DEFAULT 0,
	updated_at	timestamptz NOT NULL DEFAULT now()
);

-- The consumer's side effect: one message per event for the client (what an
-- application would e-mail, push or post to a webhook).  No unique key on
-- event_id on purpose, so that the test can see a duplicate if one slipped
-- through; an application would add UNIQUE (event_id) as a second guard.
CREATE TABLE client_message (
	message_id	bigserial PRIMARY KEY,
	event_id	bigint NOT NULL,
	account		text NOT NULL,
	body		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now()
);
