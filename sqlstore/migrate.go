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
// schema/postgres.sql or schema/sqlite.sql, which create DefaultTable.
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

// Migrate creates DefaultTable in db if it does not exist, from Schema.
// It is safe to run at every start. On PostgreSQL the table goes to the
// first schema of the connection's search_path.
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
