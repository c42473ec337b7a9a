package httpauthtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gohttpauth/httpauth"
)

// hostStore is a host application's own user store, written as hosts
// write them: a map under a mutex, an Admin flag instead of a role list,
// and no context checks, since a map lookup does no I/O.
type hostStore struct {
	mu      sync.RWMutex
	byID    map[string]*hostRecord
	byLogin map[string]string // lower-cased login to ID
}

type hostRecord struct {
	ID, Login, Hash string
	Admin, Disabled bool
	Cutoff          time.Time
}

func newHostStore() *hostStore {
	return &hostStore{byID: map[string]*hostRecord{}, byLogin: map[string]string{}}
}

// account turns a record into what the authenticator needs; the roles
// are derived from Admin.
func (rec *hostRecord) account() *httpauth.Account[hostUser] {
	var roles []string
	if rec.Admin {
		roles = []string{"admin"}
	}
	return &httpauth.Account[hostUser]{
		ID: rec.ID, PasswordHash: rec.Hash, Roles: roles, Disabled: rec.Disabled,
		TokensValidAfter: rec.Cutoff, User: hostUser{Name: rec.Login},
	}
}

func (s *hostStore) UserByLogin(_ context.Context, login string) (*httpauth.Account[hostUser], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.byLogin[strings.ToLower(login)]
	if !ok {
		return nil, httpauth.ErrUserNotFound
	}
	return s.byID[id].account(), nil
}

func (s *hostStore) UserByID(_ context.Context, id string) (*httpauth.Account[hostUser], error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec, ok := s.byID[id]
	if !ok {
		return nil, httpauth.ErrUserNotFound
	}
	return rec.account(), nil
}

// create stores a new record, refusing a taken login or ID; a zero cutoff
// becomes the creation time.
func (s *hostStore) create(rec hostRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(rec.Login)
	if _, ok := s.byLogin[key]; ok {
		return fmt.Errorf("login %q: %w", rec.Login, httpauth.ErrAccountExists)
	}
	if _, ok := s.byID[rec.ID]; ok {
		return fmt.Errorf("ID %q: %w", rec.ID, httpauth.ErrAccountExists)
	}
	if rec.Cutoff.IsZero() {
		rec.Cutoff = time.Now()
	}
	s.byID[rec.ID] = &rec
	s.byLogin[key] = rec.ID
	return nil
}

func (s *hostStore) update(id string, fn func(*hostRecord)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.byID[id]
	if !ok {
		return httpauth.ErrUserNotFound
	}
	cp := *rec
	fn(&cp)
	s.byID[id] = &cp // readers' earlier copies stay as they were
	return nil
}

func (s *hostStore) delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.byID[id]
	if !ok {
		return httpauth.ErrUserNotFound
	}
	delete(s.byID, id)
	delete(s.byLogin, strings.ToLower(rec.Login))
	return nil
}

// hostAdd and hostUpdate are the harness's side of the Admin flag: a
// role list with "admin" in it sets it.
func (s *hostStore) hostAdd(_ context.Context, login string, acct httpauth.Account[hostUser]) error {
	return s.create(hostRecord{
		ID: acct.ID, Login: login, Hash: acct.PasswordHash, Admin: slices.Contains(acct.Roles, "admin"),
		Disabled: acct.Disabled, Cutoff: acct.TokensValidAfter,
	})
}

func (s *hostStore) hostUpdate(_ context.Context, id string, fn func(*httpauth.Account[hostUser])) error {
	var err error
	if uerr := s.update(id, func(rec *hostRecord) {
		a := rec.account()
		fn(a)
		if a.ID != rec.ID {
			err = errors.New("hostUpdate: the ID cannot change")
			return
		}
		if a.Disabled && !rec.Disabled {
			a.TokensValidAfter = time.Now() // a disable ends every credential
		}
		rec.Hash, rec.Admin, rec.Disabled, rec.Cutoff = a.PasswordHash, slices.Contains(a.Roles, "admin"), a.Disabled, a.TokensValidAfter
	}); uerr != nil {
		return uerr
	}
	return err
}

// adminRole is the role derivation of hostStore, for DerivedRoles.
func adminRole(given []string) []string {
	if slices.Contains(given, "admin") {
		return []string{"admin"}
	}
	return nil
}
