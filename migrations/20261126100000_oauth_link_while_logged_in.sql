-- Linking a provider to the logged-in account from the profile page (docs/ACCOUNTS.md, "Login
-- methods on the profile page").
--
-- Expand only: one nullable column. A provider login started by the profile page's "Link" button
-- names the account it is for; its callback links the identity to that account, only while the same
-- session is still logged in to it, and never signs anyone in. NULL: an ordinary login.
-- A shop built before this migration ignores the column: a link started on a new instance and
-- finished on an old one during a rolling deploy would be treated as a login. Only a new shop shows
-- the buttons, so that window lasts one deploy.
ALTER TABLE shop.oauth_logins
    ADD COLUMN link_account_id bigint REFERENCES shop.accounts ON DELETE CASCADE;
