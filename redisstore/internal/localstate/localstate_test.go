package localstate

import (
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(max int) (*clock, *Feed, *Cache[string, int]) {
	clk := &clock{t: time.Unix(1_000_000, 0)}
	f := NewFeed(time.Second, clk.now)
	return clk, f, NewCache[string, int](f, max)
}

func TestCache(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool // reports whether "k" is served
		want bool
	}{
		{"a down feed serves nothing", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			c.Put("k", 1, c.Ticket())
			return hit(c)
		}, false},
		{"a live feed serves what was put", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			return hit(c)
		}, true},
		{"an invalidation during the read voids the put", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			tk := c.Ticket()
			c.Invalidate("other")
			c.Put("k", 1, tk)
			return hit(c)
		}, false},
		{"invalidate drops the entry", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			c.Invalidate("k")
			return hit(c)
		}, false},
		{"invalidateFunc drops matching entries", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			c.InvalidateFunc(func(_ string, v int) bool { return v == 1 })
			return hit(c)
		}, false},
		{"going down empties the cache", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			f.Down()
			return hit(c)
		}, false},
		{"coming back up starts empty", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			f.Down()
			f.Up()
			return hit(c)
		}, false},
		{"a ticket from before a reconnect is void", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			tk := c.Ticket()
			f.Down()
			f.Up()
			c.Put("k", 1, tk)
			return hit(c)
		}, false},
		{"silence past MaxSilence stops serving", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			clk.add(time.Second)
			return hit(c)
		}, false},
		{"a beat keeps it live", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			clk.add(900 * time.Millisecond)
			f.Beat()
			clk.add(900 * time.Millisecond)
			return hit(c)
		}, true},
		{"a value past the max age is missing", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			c.SetMaxAge(500 * time.Millisecond)
			f.Up()
			c.Put("k", 1, c.Ticket())
			clk.add(501 * time.Millisecond)
			f.Beat() // the feed is live: only the age stops it
			return hit(c)
		}, false},
		{"a value within the max age is served", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			c.SetMaxAge(500 * time.Millisecond)
			f.Up()
			clk.add(time.Hour) // the age runs from the put, not from the cache's start
			f.Beat()
			c.Put("k", 1, c.Ticket())
			clk.add(500 * time.Millisecond)
			return hit(c)
		}, true},
		{"without a max age a beaten feed serves an old value", func(t *testing.T, clk *clock, f *Feed, c *Cache[string, int]) bool {
			f.Up()
			c.Put("k", 1, c.Ticket())
			for range 10 {
				clk.add(900 * time.Millisecond)
				f.Beat()
			}
			return hit(c)
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk, f, c := newTest(8)
			if got := tc.run(t, clk, f, c); got != tc.want {
				t.Fatalf("served = %v, want %v", got, tc.want)
			}
		})
	}
}

func hit(c *Cache[string, int]) bool {
	v, ok := c.Get("k")
	return ok && v == 1
}

func TestCacheIsBounded(t *testing.T) {
	t.Parallel()
	_, f, c := newTest(4)
	f.Up()
	for i := range 100 {
		c.Put(string(rune('a'+i%26))+string(rune('a'+i/26)), i, c.Ticket())
	}
	if n := c.Len(); n > 4 {
		t.Fatalf("Len = %d, want at most 4", n)
	}
	f.Down()
	f.Up()
	for i := range 10 {
		c.Put(string(rune('A'+i)), i, c.Ticket())
	}
	if n := c.Len(); n > 4 {
		t.Fatalf("after reconnect Len = %d, want at most 4", n)
	}
}
