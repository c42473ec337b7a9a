package httpauth

// NewMemoryRevocationStoreForTest lets the external conformance test reach
// the unexported default store. It exists only in test builds.
func NewMemoryRevocationStoreForTest() RevocationStore { return newMemoryRevocationStore() }
