package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
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
	store, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
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

	store, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{
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

// Member is a host's own user type, with columns of its own.
type Member struct {
	ID          string `json:"id"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	Admin       bool   `json:"admin"`
}

// A host with its own user type names its extra columns and builds the
// type from each row; here the admin column also grants a role.
func ExampleNew_hostType() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "users.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := sqlstore.Migrate(ctx, db, sqlstore.SQLite); err != nil {
		log.Fatal(err)
	}
	for _, q := range []string{
		`ALTER TABLE httpauth_users ADD COLUMN display_name TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE httpauth_users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			log.Fatal(err)
		}
	}

	store, err := sqlstore.New(ctx, db, sqlstore.Config[Member]{
		Dialect: sqlstore.SQLite,
		Columns: sqlstore.Columns{Extra: []string{"display_name", "admin"}},
		User: func(row *sqlstore.Row) (Member, error) {
			var m Member
			if err := row.Scan(&m.DisplayName, &m.Admin); err != nil {
				return Member{}, err
			}
			m.ID, m.Email = row.ID, row.Login
			if m.Admin {
				row.Roles = append(row.Roles, "admin")
			}
			return m, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// CreateUser writes the standard columns; the host writes its own.
	id, err := store.CreateUser(ctx, sqlstore.NewUser{ID: "m1", Login: "Dana@Example.com", Roles: []string{"staff"}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE httpauth_users SET display_name = 'Dana', admin = 1 WHERE id = ?`, id); err != nil {
		log.Fatal(err)
	}

	acct, err := store.UserByLogin(ctx, "dana@example.com")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := json.Marshal(acct.User)
	fmt.Println(string(b), acct.Roles)
	// Output:
	// {"id":"m1","email":"dana@example.com","display_name":"Dana","admin":true} [staff admin]
}
