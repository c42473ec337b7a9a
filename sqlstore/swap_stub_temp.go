package sqlstore

import (
	"context"
	"errors"
)

// SwapPasswordHash implements httpauth.AccountStore.
//
// TEMP stub so that this branch compiles against the core: another branch
// adds the real compare-and-set. Drop this file at merge.
func (s *Store[U]) SwapPasswordHash(ctx context.Context, id, oldHash, newHash string) (bool, error) {
	return false, errors.ErrUnsupported
}
