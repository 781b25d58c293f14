-- "Login with Google" and "Login with Facebook" (schema `shop`). See docs/ACCOUNTS.md.
--
-- Expand only: three new tables, a column made nullable and a new column with a default.
-- Default privileges (first migration) give role `shop` SELECT, INSERT, UPDATE, DELETE on new tables in
-- schema `shop` and USAGE, SELECT, UPDATE on its sequences; the grants are stated again below so they
-- are visible where the tables are made.

-- An account made by a provider login has no password: its hash is NULL, and a password login for
-- it is "wrong username or password" (the dummy hash is verified, so it takes the same time). A shop
-- built before this migration reads the column as non-null text: deploy the shop that knows this
-- migration before configuring a provider (no provider settings, no provider logins, no NULLs).
ALTER TABLE shop.accounts ALTER COLUMN password_hash DROP NOT NULL;

-- Whether the account's email address is known to belong to its owner. Only a provider that says
-- so (Google's `email_verified`) sets it today; the shop's own email verification will later.
-- An identity is linked to an existing account by email only when both sides are verified.
ALTER TABLE shop.accounts ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
CREATE INDEX accounts_email_lower ON shop.accounts (lower(email));

-- A provider's account linked to one of ours. `subject` is the provider's stable id for the person
-- (OpenID Connect `sub`, Facebook's app-scoped user id), never their email, which can change.
-- `email_at_link` is what the provider said when the link was made, for support staff.
CREATE TABLE shop.oauth_identities (
    provider      text NOT NULL CHECK (provider IN ('google', 'facebook')),
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    account_id    bigint NOT NULL REFERENCES shop.accounts ON DELETE CASCADE,
    email_at_link text,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_by_account ON shop.oauth_identities (account_id);

-- A provider login in progress, kept server-side in the visitor's session: the `state` sent to the
-- provider, the OpenID Connect nonce and the PKCE verifier, and where to go afterwards. Taken (deleted)
-- by the callback whatever happens next, so a state works once, only in the session that started it,
-- and only until `expires_at`. Gone with its session.
CREATE TABLE shop.oauth_logins (
    state         text PRIMARY KEY,
    session_hash  bytea NOT NULL REFERENCES shop.sessions (id_hash) ON DELETE CASCADE,
    provider      text NOT NULL CHECK (provider IN ('google', 'facebook')),
    nonce         text NOT NULL,
    pkce_verifier text NOT NULL,
    next          text NOT NULL,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oauth_logins_by_session ON shop.oauth_logins (session_hash);

-- A provider identity proven by a callback but not yet tied to an account, because the customer must
-- first prove the password of the local account with the same email, or give an email address the
-- provider did not. One per session; gone with its session, and useless after `expires_at`.
CREATE TABLE shop.oauth_pending (
    session_hash   bytea PRIMARY KEY REFERENCES shop.sessions (id_hash) ON DELETE CASCADE,
    provider       text NOT NULL CHECK (provider IN ('google', 'facebook')),
    subject        text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    email          text,
    email_verified boolean NOT NULL,
    display_name   text NOT NULL,
    next           text NOT NULL,
    expires_at     timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON shop.oauth_identities, shop.oauth_logins, shop.oauth_pending
    TO shop;
