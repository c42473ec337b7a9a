package redisstore

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gohttpauth/httpauth/redisstore/internal/localstate"
)

// DefaultMaxSilence is how long local state stays trusted without hearing
// from the subscription (a message or a reply to its ping).
const DefaultMaxSilence = time.Second

// DefaultClusterRecheck is how often, on a Redis Cluster, local state is
// checked against Redis even though the subscription is live (see
// RevocationOptions.ClusterRecheck).
const DefaultClusterRecheck = 10 * time.Second

// clusterRecheck returns how often local state over client is checked
// against Redis: 0 (never) unless client is a cluster's. There, a
// notification that a master publishes reaches the subscription's node
// over the cluster bus, which drops what it carries when a link between two
// masters resets, and nothing on the subscription's own connection tells.
// Elsewhere that connection carries every notification, and its loss is
// seen.
func clusterRecheck(client redis.UniversalClient, d time.Duration) time.Duration {
	if _, ok := client.(*redis.ClusterClient); !ok || d < 0 {
		return 0
	}
	if d == 0 {
		return DefaultClusterRecheck
	}
	return d
}

// subscriber keeps one pub/sub subscription and a localstate.Feed that is
// live while the subscription is. It starts on first use, so that the
// constructors never contact Redis, and stops at Close.
type subscriber struct {
	client    redis.UniversalClient
	channel   string
	feed      *localstate.Feed
	onUp      func(ctx context.Context) // after each (re)subscription, before the feed goes live
	onDown    func()
	onMessage func(payload string)
	onPong    func(ctx context.Context) // each heartbeat reply
	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	testLost  atomic.Pointer[func()] // tests: runs when a loss is noticed, before resubscribing
}

func newSubscriber(client redis.UniversalClient, channel string, maxSilence time.Duration) *subscriber {
	return &subscriber{client: client, channel: channel, feed: localstate.NewFeed(maxSilence, nil), done: make(chan struct{})}
}

// start runs the receive loop once, on first use.
func (s *subscriber) start() {
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go s.run(ctx)
	})
}

// close stops the loop and waits for it.
func (s *subscriber) close() {
	s.stopOnce.Do(func() {
		started := false
		s.startOnce.Do(func() {}) // never start after close
		if s.cancel != nil {
			started = true
			s.cancel()
		}
		s.feed.Down()
		if started {
			<-s.done
		}
	})
}

func (s *subscriber) down() {
	s.feed.Down()
	if s.onDown != nil {
		s.onDown()
	}
}

func (s *subscriber) lostHook() {
	if f := s.testLost.Load(); f != nil {
		(*f)()
	}
}

func (s *subscriber) run(ctx context.Context) {
	defer close(s.done)
	ps := s.client.Subscribe(ctx, s.channel)
	defer func() { _ = ps.Close() }()
	defer s.down()

	// Pings make a stalled connection visible: without a pong (or a
	// message) within MaxSilence the feed stops being live.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		t := time.NewTicker(max(s.feed.MaxSilence()/4, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = ps.Ping(ctx)
			}
		}
	})

	backoff := 10 * time.Millisecond
	// heard is when the subscription was last heard from, zero before it
	// is up.
	var heard time.Time
	for {
		msg, err := ps.ReceiveTimeout(ctx, s.feed.MaxSilence())
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // Live() lapses by itself; the pings go on
			}
			s.down()
			heard = time.Time{}
			if errors.Is(err, redis.ErrClosed) {
				return
			}
			reloadIfStale(s.client, err) // the resubscription goes to the channel slot's master of the reloaded map
			s.lostHook()
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		restart := func() {
			s.down()
			s.lostHook()
			if s.onUp != nil {
				s.onUp(ctx)
			}
			s.feed.Up()
			heard = time.Now()
		}
		// Heard again after a silence longer than MaxSilence: the
		// connection survived, but on Redis Cluster what the other masters
		// published meanwhile reaches this node over the cluster bus,
		// which drops what it cannot deliver to a node that stops
		// answering (stalled, or cut off). Start over, as after a
		// resubscription (TestClusterSubscriptionNodeStall).
		silent := !heard.IsZero() && time.Since(heard) > s.feed.MaxSilence()
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Anything published while unsubscribed is lost: start over.
				restart()
			}
		case *redis.Message:
			if silent {
				restart()
			}
			heard = time.Now()
			s.feed.Beat()
			if s.onMessage != nil {
				s.onMessage(m.Payload)
			}
		case *redis.Pong:
			if silent {
				restart()
			}
			heard = time.Now()
			s.feed.Beat()
			if s.onPong != nil {
				s.onPong(ctx)
			}
		}
	}
}
