-- httpauth sqlstore schema for SQLite 3.37 or later (STRICT tables).
-- Applied by sqlstore.Migrate; idempotent. See ../README.md for what each
-- column holds.
CREATE TABLE IF NOT EXISTS httpauth_users (
    -- Stable user ID, the subject of tokens: 1 to 255 bytes.
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (id <> '' AND length(CAST(id AS BLOB)) <= 255),
    -- Email or username, stored lower-cased by the store (strings.ToLower),
    -- so this plain unique index makes logins unique case-insensitively
    -- and serves UserByLogin.
    login              TEXT    NOT NULL UNIQUE CHECK (login <> ''),
    -- PHC argon2id or bcrypt hash; '' never matches any password.
    password_hash      TEXT    NOT NULL DEFAULT '',
    confirmed          INTEGER NOT NULL DEFAULT 0 CHECK (confirmed IN (0, 1)),
    -- JSON array of role names, such as ["admin","ops"].
    roles              TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    disabled           INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- Tokens issued before this instant are rejected: Unix nanoseconds,
    -- UTC; 0 means no cutoff.
    tokens_valid_after INTEGER NOT NULL DEFAULT 0
) STRICT;
