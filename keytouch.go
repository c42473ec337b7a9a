package httpauth

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// keyTouchInterval is how often last-used times are written.
const keyTouchInterval = 30 * time.Second

// keyTouchBuffer bounds the uses waiting for the writer. When it is full
// (the store is slow), further uses are dropped: a last-used time is a
// hint, and a request never waits for it.
const keyTouchBuffer = 1024

type keyUse struct {
	id string
	at time.Time
}

// keyToucher writes last-used times behind the requests, in batches.
type keyToucher struct {
	store  KeyStore
	logger *slog.Logger
	uses   chan keyUse
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newKeyToucher(store KeyStore, logger *slog.Logger) *keyToucher {
	t := &keyToucher{
		store:  store,
		logger: logger,
		uses:   make(chan keyUse, keyTouchBuffer),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go t.run()
	return t
}

// note records a use without ever blocking.
func (t *keyToucher) note(id string, at time.Time) {
	if t == nil {
		return
	}
	select {
	case t.uses <- keyUse{id, at}:
	default: // full: drop it
	}
}

func (t *keyToucher) close() {
	if t == nil {
		return
	}
	t.once.Do(func() { close(t.stop) })
	<-t.done
}

func (t *keyToucher) run() {
	defer close(t.done)
	tick := time.NewTicker(keyTouchInterval)
	defer tick.Stop()
	pending := map[string]time.Time{}
	add := func(u keyUse) {
		if u.at.After(pending[u.id]) {
			pending[u.id] = u.at
		}
	}
	for {
		select {
		case u := <-t.uses:
			add(u)
		case <-tick.C:
			t.flush(pending)
			pending = map[string]time.Time{}
		case <-t.stop:
			for {
				select {
				case u := <-t.uses:
					add(u)
				default:
					t.flush(pending)
					return
				}
			}
		}
	}
}

func (t *keyToucher) flush(used map[string]time.Time) {
	if len(used) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			t.logger.LogAttrs(ctx, levelError, "httpauth: KeyStore.TouchKeys panicked", slog.String("panic", fmt.Sprint(p)))
		}
	}()
	if err := t.store.TouchKeys(ctx, used); err != nil {
		t.logger.LogAttrs(ctx, levelError, "httpauth: writing API key last-used times failed", errAttr(err))
	}
}
