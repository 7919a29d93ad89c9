-- Users. The id is a bigint identity: keyset pagination walks the primary key index in order.
CREATE TABLE users (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    name       text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Emails are unique regardless of case; the address is stored as the user typed it.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
