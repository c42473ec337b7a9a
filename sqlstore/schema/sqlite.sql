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

-- Disabling a user ends its tokens however it is disabled (the store,
-- httpauth-users, or a plain UPDATE ... SET disabled = 1): when disabled
-- becomes 1 and the same UPDATE did not move tokens_valid_after later
-- itself (as the store does, to the nanosecond), tokens_valid_after moves
-- to the time of the write, rounded up to the end of its millisecond
-- (SQLite's clock has millisecond precision). So enabling the user again
-- never revives an earlier token.
DROP TRIGGER IF EXISTS httpauth_users_disable_cutoff;
CREATE TRIGGER httpauth_users_disable_cutoff
    AFTER UPDATE ON httpauth_users
    FOR EACH ROW WHEN NEW.disabled = 1 AND OLD.disabled IS NOT 1
        AND NEW.tokens_valid_after <= OLD.tokens_valid_after
    BEGIN
        UPDATE httpauth_users
           SET tokens_valid_after = max(tokens_valid_after,
               CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER) * 1000000 + 999999)
         WHERE id = NEW.id;
    END;

-- The second factor (the store's httpauth.SecondFactorStore), added by
-- issue 20; Migrate creates these tables in an existing database too.
-- secret and pending are sealed by the authenticator (XChaCha20-Poly1305
-- under a key derived from its signing keys, bound to the account): the
-- store never sees a secret in the clear. '' means none. last_step is
-- the last TOTP step accepted, so that a code works once. Deleting a user
-- deletes its rows, by the foreign keys or by the trigger below.
CREATE TABLE IF NOT EXISTS httpauth_second_factor (
    user_id   TEXT    NOT NULL PRIMARY KEY REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    secret    TEXT    NOT NULL DEFAULT '',
    pending   TEXT    NOT NULL DEFAULT '',
    last_step INTEGER NOT NULL DEFAULT 0
) STRICT;
-- Recovery codes: the SHA-256 (hex) of each unused code; using one
-- deletes its row.
CREATE TABLE IF NOT EXISTS httpauth_recovery_codes (
    user_id TEXT NOT NULL REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    hash    TEXT NOT NULL CHECK (length(hash) = 64),
    PRIMARY KEY (user_id, hash)
) STRICT;

CREATE TRIGGER IF NOT EXISTS httpauth_users_delete_second_factor
    AFTER DELETE ON httpauth_users
    FOR EACH ROW BEGIN
        DELETE FROM httpauth_second_factor WHERE user_id = OLD.id;
        DELETE FROM httpauth_recovery_codes WHERE user_id = OLD.id;
    END;
