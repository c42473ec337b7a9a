-- httpauth sqlstore schema for SQLite 3.37 or later (STRICT tables).
-- Applied by sqlstore.Migrate; idempotent. See ../README.md for what each
-- column holds. A host may add columns of its own to httpauth_users
-- (ALTER TABLE ... ADD COLUMN, with a default: CreateUser writes only the
-- columns below) and read them through sqlstore.Columns.Extra; running
-- this script again keeps them.
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

-- API keys (the store's httpauth.KeyStore). Only the SHA-256 of a key is
-- stored; keys are random, so a fast hash is right. Deleting a user
-- deletes its keys: by the foreign key when the connection enables
-- foreign keys (_pragma=foreign_keys(1)), and by the trigger below when it
-- does not.
CREATE TABLE IF NOT EXISTS httpauth_api_keys (
    id        TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    user_id   TEXT    NOT NULL REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    name      TEXT    NOT NULL,
    -- JSON array of role names: the most the key may do.
    roles     TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
    -- SHA-256 of the key; the unique index serves every authentication.
    hash      BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    -- Unix nanoseconds, UTC; 0 means never (expires, last_used).
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL DEFAULT 0,
    last_used INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS httpauth_api_keys_user_id ON httpauth_api_keys (user_id, created);

CREATE TRIGGER IF NOT EXISTS httpauth_users_delete_keys
    AFTER DELETE ON httpauth_users
    FOR EACH ROW BEGIN
        DELETE FROM httpauth_api_keys WHERE user_id = OLD.id;
    END;
