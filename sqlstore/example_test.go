package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "users.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(wal)")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, sqlstore.SQLite); err != nil {
		log.Fatal(err)
	}
	store, err := sqlstore.New(ctx, db, sqlstore.Config{Dialect: sqlstore.SQLite})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	id, err := store.CreateUser(ctx, sqlstore.NewUser{
		ID:       "u1",
		Login:    "Alice@Example.com",
		Password: "correct horse battery staple",
		Roles:    []string{"admin"},
	})
	if err != nil {
		log.Fatal(err)
	}

	acct, err := store.UserByLogin(ctx, "alice@example.COM")
	if err != nil {
		log.Fatal(err)
	}
	ok, _ := httpauth.DefaultHasher().Verify(ctx, acct.PasswordHash, "correct horse battery staple")
	fmt.Println(id, acct.User.Login, acct.Roles, ok)

	if err := store.SetDisabled(ctx, id, true); err != nil {
		log.Fatal(err)
	}
	acct, _ = store.UserByID(ctx, id)
	fmt.Println("disabled:", acct.Disabled, "tokens revoked:", !acct.TokensValidAfter.IsZero())

	_, err = store.UserByLogin(ctx, "bob@example.com")
	fmt.Println(errors.Is(err, httpauth.ErrUserNotFound))
	// Output:
	// u1 alice@example.com [admin] true
	// disabled: true tokens revoked: true
	// true
}

// A host that keeps users in its own table names the table and columns.
func ExampleNew_customTable() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TABLE accounts (
		account_id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, pw_hash TEXT NOT NULL,
		email_verified INTEGER NOT NULL DEFAULT 0, role_list TEXT NOT NULL DEFAULT '[]',
		locked INTEGER NOT NULL DEFAULT 0, revoked_before INTEGER NOT NULL DEFAULT 0)`)
	if err != nil {
		log.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO accounts (account_id, email, pw_hash, email_verified) VALUES ('a-7', 'carol@example.com', '', 1)`)
	if err != nil {
		log.Fatal(err)
	}

	store, err := sqlstore.New(ctx, db, sqlstore.Config{
		Dialect: sqlstore.SQLite,
		Table:   "accounts",
		Columns: sqlstore.Columns{
			ID: "account_id", Login: "email", PasswordHash: "pw_hash", Confirmed: "email_verified",
			Roles: "role_list", Disabled: "locked", TokensValidAfter: "revoked_before",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	acct, err := store.UserByLogin(ctx, "Carol@Example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", acct.User)
	// Output:
	// {ID:a-7 Login:carol@example.com Confirmed:true}
}
