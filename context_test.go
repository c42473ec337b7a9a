package httpauth

import (
	"testing"
	"unsafe"
)

// TestTokenContextSize guards what authDetails is apart for: the context a
// token check allocates on every request fits the 64-byte size class.
func TestTokenContextSize(t *testing.T) {
	t.Parallel()
	if n := unsafe.Sizeof(authContext[struct{ Name string }]{}); n > 64 {
		t.Errorf("authContext is %d bytes; a token check allocates it on every request, keep it within 64", n)
	}
}
