-- Sessions, password accounts and baskets (schema `shop`, owned by the shop). See docs/ARCHITECTURE.md
-- ("Sessions, CSRF and the basket").
--
-- Expand only: new tables. Default privileges (first migration) give role `shop` SELECT, INSERT,
-- UPDATE, DELETE on new tables in schema `shop` and USAGE, SELECT, UPDATE on its sequences.

-- A customer's account. The username is unique case-insensitively; the password is an argon2id PHC
-- string. (Registration and login come in a later slice; the table is here so that baskets can
-- belong to an account from the start.)
CREATE TABLE shop.accounts (
    account_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL CHECK (username ~ '^[a-z0-9_.-]{3,32}$'),
    email         text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_username_lower ON shop.accounts (lower(username));

-- A basket: anonymous (no account; found through its session) or an account's (at most one).
-- `updated_at` moves on every change; anonymous baskets untouched for 30 days are deleted by the
-- shop's cleanup job.
CREATE TABLE shop.baskets (
    basket_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint UNIQUE REFERENCES shop.accounts ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX baskets_anonymous_by_age ON shop.baskets (updated_at) WHERE account_id IS NULL;

-- One line per hat in a basket. No foreign key to stock.items: a hat may be tombstoned or vanish
-- from the replica and the line stays, shown as unavailable. The price is the one shown when the
-- line was added (or last changed), so the basket can say when it has changed since.
CREATE TABLE shop.basket_lines (
    basket_id         bigint NOT NULL REFERENCES shop.baskets ON DELETE CASCADE,
    item_key          text NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    price_minor_added bigint,
    currency_added    text,
    added_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (basket_id, item_key)
);

-- A server-side session, created lazily (the first action that needs one, never a page view). Only
-- the SHA-256 of the cookie's 256-bit random id is stored, so a copy of this table yields no cookie
-- that works. `csrf_token` is the synchronizer token every POST form of the session carries.
CREATE TABLE shop.sessions (
    id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    csrf_token   text NOT NULL,
    account_id   bigint REFERENCES shop.accounts ON DELETE CASCADE,
    basket_id    bigint REFERENCES shop.baskets ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_by_last_seen ON shop.sessions (last_seen_at);
CREATE INDEX sessions_by_basket ON shop.sessions (basket_id);
