-- Delivery addresses on a customer's profile (schema `shop`). See docs/ARCHITECTURE.md.
--
-- Expand only: a new table. Default privileges give role `shop` DML on it.

CREATE TABLE shop.addresses (
    address_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES shop.accounts ON DELETE CASCADE,
    full_name  text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 100),
    line1      text NOT NULL CHECK (length(line1) BETWEEN 1 AND 100),
    line2      text NOT NULL DEFAULT '' CHECK (length(line2) <= 100),
    city       text NOT NULL CHECK (length(city) BETWEEN 1 AND 60),
    postcode   text NOT NULL CHECK (length(postcode) BETWEEN 1 AND 16),
    country    text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX addresses_by_account ON shop.addresses (account_id, address_id);
