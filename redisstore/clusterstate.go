package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// reloadIfStale asks a cluster client to reload its slot map (lazily: at
// most one reload at a time, in the background) after an error that may
// mean the map is stale: the node did not answer, or answered that it no
// longer serves the slot or the cluster is down. go-redis reloads its map
// by itself only on MOVED or READONLY through its own routing, or when the
// map is older than redis.ClusterOptions.ClusterStateReloadInterval (a minute
// by default); after a master dies, its commands go on dialling the dead
// node, and the writes of ReplicaAcks, which go to the master's own
// connection, never see a MOVED. So without this, the slots of a failed
// master stayed unusable for up to a minute after its replica had taken
// over (TestClusterFailoverUnderLoad). A no-op for other clients and for
// other errors (a script's own, such as WRONGTYPE or OOM).
func reloadIfStale(client redis.UniversalClient, err error) {
	c, ok := client.(*redis.ClusterClient)
	if !ok || err == nil || !staleSlotMap(err) {
		return
	}
	c.ReloadState(context.Background())
}

func staleSlotMap(err error) bool {
	if errors.Is(err, errReplicas) {
		// A master with fewer replicas than expected may be one that
		// has been replaced and not told yet.
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller went away: says nothing about the cluster
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return true // network errors and timeouts: the node may be gone
	}
	for _, p := range []string{"MOVED", "ASK", "CLUSTERDOWN", "READONLY", "TRYAGAIN", "LOADING", "MASTERDOWN"} {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}
