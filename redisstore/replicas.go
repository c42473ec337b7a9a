package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultReplicaTimeout is the default of ReplicaTimeout in
// RevocationOptions and LimiterOptions.
const DefaultReplicaTimeout = time.Second

// replicas makes a write durable across a failover: after the script, on
// the same connection, Redis's WAIT until acks replicas have it.
type replicas struct {
	acks    int
	timeout time.Duration
}

func checkReplicas(client redis.UniversalClient, acks int, timeout time.Duration) (replicas, error) {
	switch {
	case acks < 0:
		return replicas{}, fmt.Errorf("redisstore: ReplicaAcks %d is negative", acks)
	case timeout < 0:
		return replicas{}, fmt.Errorf("redisstore: ReplicaTimeout %v is negative", timeout)
	case timeout == 0:
		timeout = DefaultReplicaTimeout
	}
	if acks > 0 {
		switch client.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			return replicas{}, fmt.Errorf("redisstore: ReplicaAcks needs a *redis.Client (standalone or failover) or *redis.ClusterClient, not %T", client)
		}
	}
	return replicas{acks: acks, timeout: timeout}, nil
}

// errReplicas reports a write that fewer replicas than asked acknowledged
// in time. The write was made on the master and may or may not survive a
// failover, so the caller fails closed.
var errReplicas = errors.New("fewer replicas acknowledged the write than ReplicaAcks")

// run runs script on the master of keys[0] over one connection; then, if
// durable(reply) and acks > 0, it waits for the replicas.
//
// On a cluster, an error that may come from a stale slot map (the node
// gone or no longer the slot's master) makes the client reload it, so
// that the next call finds the slot's new master.
func (r replicas) run(ctx context.Context, client redis.UniversalClient, script *redis.Script, keys []string, durable func(any) bool, args ...any) (any, error) {
	res, err := r.runOnce(ctx, client, script, keys, durable, args...)
	reloadIfStale(client, err)
	return res, err
}

func (r replicas) runOnce(ctx context.Context, client redis.UniversalClient, script *redis.Script, keys []string, durable func(any) bool, args ...any) (any, error) {
	if r.acks == 0 {
		return script.Run(ctx, client, keys, args...).Result()
	}
	var node *redis.Client
	switch c := client.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, keys[0]); err != nil {
			return nil, err
		}
	}
	conn := node.Conn()
	defer func() { _ = conn.Close() }()
	res, err := script.Run(ctx, conn, keys, args...).Result()
	if err != nil || !durable(res) {
		return res, err
	}
	n, err := conn.Wait(ctx, r.acks, r.timeout).Result()
	if err != nil {
		return nil, err
	}
	if n < int64(r.acks) {
		return nil, fmt.Errorf("%w (%d of %d within %v)", errReplicas, n, r.acks, r.timeout)
	}
	return res, nil
}
