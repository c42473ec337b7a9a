package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
)

//go:embed schema/postgres.sql schema/sqlite.sql
var schemaFS embed.FS

// Schema returns the CREATE TABLE script of dialect, the contents of
// schema/postgres.sql or schema/sqlite.sql, which create DefaultTable and
// DefaultKeyTable (and on PostgreSQL the users' change-notification
// trigger).
func Schema(dialect Dialect) (string, error) {
	var name string
	switch dialect {
	case Postgres:
		name = "schema/postgres.sql"
	case SQLite:
		name = "schema/sqlite.sql"
	default:
		return "", fmt.Errorf("sqlstore: unknown dialect %q", dialect)
	}
	b, err := schemaFS.ReadFile(name)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Migrate creates DefaultTable and DefaultKeyTable in db if they do not
// exist, from Schema.
// It is safe to run at every start, from several instances at once. On
// PostgreSQL the table goes to the first schema of the connection's
// search_path, and Migrate also (re)installs the triggers that notify
// DefaultNotifyChannel of every change to a row of httpauth_users or
// httpauth_second_factor, which the account cache (Config.CacheSize)
// relies on.
func Migrate(ctx context.Context, db *sql.DB, dialect Dialect) error {
	script, err := Schema(dialect)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, script); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}
