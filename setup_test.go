package httpauth

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// testSetup is what a test builds an Authenticator from: the public Config
// and the internal options (cache sizes, limits, …) that New leaves at their
// defaults.
type testSetup[U any] struct {
	Config[U]
	options[U]
}

// build is New with the options.
func (s *testSetup[U]) build(t testing.TB) *Authenticator[U] {
	t.Helper()
	a, err := build(s.Config, s.options)
	require.NoError(t, err)
	return a
}

// mustSigner returns the default signer for keys. It panics on bad keys,
// so tables can call it.
func mustSigner(keys ...SigningKey) *HMACSigner {
	s, err := newHMACSigner(hmacSignerConfig{Keys: keys, Purpose: defaultPurpose})
	if err != nil {
		panic(err)
	}
	return s
}

// errorLog is a slog.Handler that keeps the "error" attribute of every
// record, the causes the Authenticator reports, and passes records on.
type errorLog struct {
	next slog.Handler
	mu   *sync.Mutex
	errs *[]error
}

func newErrorLog(next slog.Handler) *errorLog {
	return &errorLog{next: next, mu: &sync.Mutex{}, errs: new([]error)}
}

func (h *errorLog) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *errorLog) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "error" {
			h.mu.Lock()
			*h.errs = append(*h.errs, err)
			h.mu.Unlock()
		}
		return true
	})
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *errorLog) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *errorLog) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// list returns the errors reported so far.
func (h *errorLog) list() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), *h.errs...)
}

// testSecret returns a 32-byte secret of 32 distinct bytes, so that the
// key checks accept it; seed tells secrets apart.
func testSecret(seed byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = seed + byte(i)*37 // 37 is odd: 32 distinct values
	}
	return b
}
