-- httpauth sqlstore schema for PostgreSQL. Applied by sqlstore.Migrate;
-- idempotent. See ../README.md for what each column holds.
CREATE TABLE IF NOT EXISTS httpauth_users (
    -- Stable user ID, the subject of tokens: 1 to 255 bytes.
    id                 TEXT    PRIMARY KEY CHECK (id <> '' AND octet_length(id) <= 255),
    -- Email or username, stored lower-cased by the store (strings.ToLower),
    -- so this plain unique index makes logins unique case-insensitively
    -- and serves UserByLogin.
    login              TEXT    NOT NULL UNIQUE CHECK (login <> ''),
    -- PHC argon2id or bcrypt hash; '' never matches any password.
    password_hash      TEXT    NOT NULL DEFAULT '',
    confirmed          BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON array of role names, such as ["admin","ops"].
    roles              TEXT    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(roles::jsonb) = 'array'),
    disabled           BOOLEAN NOT NULL DEFAULT FALSE,
    -- Tokens issued before this instant are rejected: Unix nanoseconds,
    -- UTC; 0 means no cutoff.
    tokens_valid_after BIGINT  NOT NULL DEFAULT 0
);
