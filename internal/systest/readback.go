package systest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/protocol"
)

// Read-back bounds: a checker read retries failed or unknown answers (a
// replica may still be rejoining), but never for long.
const (
	readAttempts = 10
	readPause    = 100 * time.Millisecond
	readTimeout  = 10 * time.Second // a 4 MiB value among 16 parallel reads
	readParallel = 16
)

// readResult is one key's read-back.
type readResult struct {
	value   string
	version protocol.Version
	found   bool
	err     error
}

// ReadAll reads every key through the daemon with quorum R (0 =
// default) and returns a Reader over the answers for CheckSet. Each of
// readParallel readers has its own connection with one read in flight
// (redialled if the daemon closes it), so that large values never pile
// up in one connection's output.
func (c *Cluster) ReadAll(keys []string, quorum int) Reader {
	c.t.Helper()
	return ReadAllAt(c.Addr(), keys, quorum)
}

// ReadAllAt is ReadAll against the daemon at addr, for clusters that
// systest did not start (an in-process clustertest cluster).
func ReadAllAt(addr string, keys []string, quorum int) Reader {
	res := make(map[string]readResult, len(keys))
	var mu sync.Mutex
	ch := make(chan string)
	var wg sync.WaitGroup
	for range readParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn *client.Conn
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for k := range ch {
				var r readResult
				conn, r = readKey(addr, conn, k, quorum)
				mu.Lock()
				res[k] = r
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	return func(k string) (string, bool, error) {
		r, ok := res[k]
		if !ok {
			return "", false, errors.New("systest: key not read back")
		}
		return r.value, r.found, r.err
	}
}

// live returns conn if it is open, else a new connection to addr.
func live(addr string, conn *client.Conn) (*client.Conn, error) {
	if conn != nil {
		select {
		case <-conn.Done():
			conn.Close()
		default:
			return conn, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return client.Dial(ctx, addr, client.DefaultOptions())
}

// readKey reads k until it gets an answer (a value or NOT_FOUND) or runs
// out of attempts.
func readKey(addr string, conn *client.Conn, k string, quorum int) (*client.Conn, readResult) {
	opts := []client.CallOption{client.WithDeadline(readTimeout)}
	if quorum > 0 {
		opts = append(opts, client.WithQuorum(quorum))
	}
	var r readResult
	for range readAttempts {
		var err error
		if conn, err = live(addr, conn); err != nil {
			r = readResult{err: err}
			time.Sleep(readPause)
			continue
		}
		b, v, err := conn.Get(context.Background(), []byte(k), opts...)
		r = readResult{value: string(b), version: v, found: err == nil, err: err}
		if err == nil || errors.Is(err, client.ErrNotFound) {
			r.err = nil
			return conn, r
		}
		time.Sleep(readPause)
	}
	return conn, r
}

// Divergent reads key at each of its owners directly and reports whether
// they disagree on the stored version (replicas have not converged). It
// returns the versions seen, owner order.
func (c *Cluster) Divergent(key string) (bool, []protocol.Version, error) {
	var vs []protocol.Version
	for _, n := range c.Owners([]byte(key)) {
		res, err := c.NodeGet(n, []byte(key))
		if err != nil {
			return false, nil, err
		}
		vs = append(vs, res.Version)
	}
	for _, v := range vs[1:] {
		if v != vs[0] {
			return true, vs, nil
		}
	}
	return false, vs, nil
}
