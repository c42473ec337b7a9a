-- schema/postgres.sql as it was before the second factor's change triggers
-- (the cached "second factor off"), for TestSecondFactorCacheUpgrade.
-- httpauth sqlstore schema for PostgreSQL. Applied by sqlstore.Migrate;
-- idempotent, and safe for several instances to run at once (the advisory
-- lock serialises them). See ../README.md for what each column holds.
-- A host may add columns of its own to httpauth_users (ALTER TABLE ...
-- ADD COLUMN, with a default: CreateUser writes only the columns below)
-- and read them through sqlstore.Columns.Extra; running this script again
-- keeps them, and the change trigger covers them.
SELECT pg_advisory_xact_lock(7461237301);

CREATE TABLE IF NOT EXISTS httpauth_users (
    -- Stable user ID, the subject of tokens: 1 to 255 bytes. Never reuse
    -- the ID of a deleted user.
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

-- Change notification for caching stores (Config.CacheSize): every change
-- to a row, by the store or by any other client (psql included), sends the
-- row's ID with pg_notify on a channel, at commit. Arguments: the channel
-- (default httpauth_users) and the ID column (default id). An UPDATE that
-- changes the ID notifies both IDs; TRUNCATE sends an empty payload, which
-- means "everything changed".
--
-- The same function makes the cache's heartbeat, so that the proof that
-- the cache may be trusted travels the path that changes travel: every
-- quarter of CacheMaxSilence the store's LISTEN connection runs a
-- zero-row UPDATE of the table with the setting httpauth.heartbeat naming
-- its own heartbeat channel. The statement-level UPDATE trigger answers on
-- that channel (payload: the change channel) only while the table's
-- row-level trigger on INSERT, UPDATE and DELETE and its TRUNCATE trigger,
-- calling this function for the same channel, are installed and enabled.
-- A dropped or disabled trigger, or a table recreated without them, stops
-- the heartbeats, and the cache stops being trusted within
-- CacheMaxSilence.
CREATE OR REPLACE FUNCTION httpauth_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    channel text := COALESCE(TG_ARGV[0], 'httpauth_users');
    col     text := COALESCE(TG_ARGV[1], 'id');
    old_id  text;
    new_id  text;
    beat    text;
    covered boolean;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        IF TG_OP = 'TRUNCATE' THEN
            PERFORM pg_notify(channel, '');
            RETURN NULL;
        END IF;
        beat := current_setting('httpauth.heartbeat', true);
        IF TG_OP = 'UPDATE' AND beat IS NOT NULL AND beat <> '' THEN
            SELECT COALESCE(bit_or(t.tgtype::int & 28) FILTER (WHERE t.tgtype::int & 1 = 1), 0) = 28 -- row: INSERT, DELETE, UPDATE
               AND COALESCE(bit_or(t.tgtype::int & 32), 0) = 32                                       -- TRUNCATE
              INTO covered
              FROM pg_trigger t
             WHERE t.tgrelid = TG_RELID
               AND t.tgfoid = (SELECT h.tgfoid FROM pg_trigger h WHERE h.tgrelid = TG_RELID AND h.tgname = TG_NAME)
               AND t.tgenabled IN ('O', 'A')
               AND position(convert_to(channel, 'UTF8') || '\x00'::bytea IN t.tgargs) = 1;
            IF covered THEN
                PERFORM pg_notify(beat, channel);
            END IF;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        old_id := to_jsonb(OLD) ->> col;
        PERFORM pg_notify(channel, COALESCE(old_id, ''));
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        new_id := to_jsonb(NEW) ->> col;
        IF TG_OP = 'INSERT' OR new_id IS DISTINCT FROM old_id THEN
            PERFORM pg_notify(channel, COALESCE(new_id, ''));
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS httpauth_users_notify ON httpauth_users;
CREATE TRIGGER httpauth_users_notify
    AFTER INSERT OR UPDATE OR DELETE ON httpauth_users
    FOR EACH ROW EXECUTE FUNCTION httpauth_notify_change('httpauth_users', 'id');

DROP TRIGGER IF EXISTS httpauth_users_notify_truncate ON httpauth_users;
CREATE TRIGGER httpauth_users_notify_truncate
    AFTER TRUNCATE ON httpauth_users
    FOR EACH STATEMENT EXECUTE FUNCTION httpauth_notify_change('httpauth_users', 'id');

DROP TRIGGER IF EXISTS httpauth_users_heartbeat ON httpauth_users;
CREATE TRIGGER httpauth_users_heartbeat
    AFTER UPDATE ON httpauth_users
    FOR EACH STATEMENT EXECUTE FUNCTION httpauth_notify_change('httpauth_users', 'id');

-- Disabling a user ends its tokens however it is disabled (the store,
-- httpauth-users, or a plain UPDATE ... SET disabled = true in psql): when
-- disabled becomes true, tokens_valid_after moves to the time of the write
-- (clock_timestamp(), the database's clock), unless the same UPDATE set a
-- later one. So enabling the user again never revives an earlier token.
-- (Writes under session_replication_role = replica skip triggers.)
CREATE OR REPLACE FUNCTION httpauth_disable_cutoff() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.tokens_valid_after := GREATEST(COALESCE(NEW.tokens_valid_after, 0),
        (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint);
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS httpauth_users_disable_cutoff ON httpauth_users;
CREATE TRIGGER httpauth_users_disable_cutoff
    BEFORE UPDATE ON httpauth_users
    FOR EACH ROW WHEN (NEW.disabled IS TRUE AND OLD.disabled IS NOT TRUE)
    EXECUTE FUNCTION httpauth_disable_cutoff();

-- API keys (the store's httpauth.KeyStore). Only the SHA-256 of a key is
-- stored; keys are random, so a fast hash is right. Deleting a user
-- deletes its keys.
CREATE TABLE IF NOT EXISTS httpauth_api_keys (
    id        TEXT   PRIMARY KEY CHECK (id <> ''),
    user_id   TEXT   NOT NULL REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    name      TEXT   NOT NULL,
    -- JSON array of role names: the most the key may do.
    roles     TEXT   NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(roles::jsonb) = 'array'),
    -- SHA-256 of the key; the unique index serves every authentication.
    hash      BYTEA  NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    -- Unix nanoseconds, UTC; 0 means never (expires, last_used).
    created   BIGINT NOT NULL,
    expires   BIGINT NOT NULL DEFAULT 0,
    last_used BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS httpauth_api_keys_user_id ON httpauth_api_keys (user_id, created);

-- The second factor (the store's httpauth.SecondFactorStore), added by
-- issue 20; Migrate creates these tables in an existing database too.
-- secret and pending are sealed by the authenticator (XChaCha20-Poly1305
-- under a key derived from its signing keys, bound to the account): the
-- store never sees a secret in the clear. '' means none. last_step is
-- the last TOTP step accepted, so that a code works once.
CREATE TABLE IF NOT EXISTS httpauth_second_factor (
    user_id   TEXT   PRIMARY KEY REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    secret    TEXT   NOT NULL DEFAULT '',
    pending   TEXT   NOT NULL DEFAULT '',
    last_step BIGINT NOT NULL DEFAULT 0
);
-- Recovery codes: the SHA-256 (hex) of each unused code; using one
-- deletes its row.
CREATE TABLE IF NOT EXISTS httpauth_recovery_codes (
    user_id TEXT NOT NULL REFERENCES httpauth_users (id) ON DELETE CASCADE ON UPDATE CASCADE,
    hash    TEXT NOT NULL CHECK (length(hash) = 64),
    PRIMARY KEY (user_id, hash)
);
