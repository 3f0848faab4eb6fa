package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

func TestRoundTripEveryOp(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{ServerID: 7})
	c := dial(t, srv, client.DefaultOptions())
	ctx := testCtx(t)

	if info := c.ServerInfo(); info.ServerID != 7 || info.Limits.MaxKeySize != protocol.DefaultMaxKeySize {
		t.Fatalf("ServerInfo = %+v", info)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	v1, err := c.Put(ctx, []byte("k"), []byte("v1"))
	if err != nil || v1.Origin != 7 || v1.IsZero() {
		t.Fatalf("Put = %v, %v", v1, err)
	}
	got, v, err := c.Get(ctx, []byte("k"))
	if err != nil || string(got) != "v1" || v != v1 {
		t.Fatalf("Get = %q, %v, %v; want v1, %v", got, v, err, v1)
	}
	dv, err := c.Del(ctx, []byte("k"))
	if err != nil || !dv.Newer(v1) {
		t.Fatalf("Del = %v, %v", dv, err)
	}
	got, v, err = c.Get(ctx, []byte("k"))
	if !errors.Is(err, client.ErrNotFound) || got != nil || v != dv {
		t.Fatalf("Get after Del = %q, %v, %v; want ErrNotFound with the tombstone %v", got, v, err, dv)
	}
	if errors.Is(err, client.ErrFailed) || errors.Is(err, client.ErrUnknownOutcome) {
		t.Fatalf("NOT_FOUND is in the ok class, got %v", err)
	}

	items, err := c.MPut(ctx, []protocol.KV{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}})
	if err != nil || len(items) != 2 || items[0].Status != protocol.StatusOK || items[1].Version.IsZero() {
		t.Fatalf("MPut = %+v, %v", items, err)
	}
	items, err = c.MGet(ctx, [][]byte{[]byte("a"), []byte("nope"), []byte("b")})
	if err != nil || len(items) != 3 {
		t.Fatalf("MGet = %+v, %v", items, err)
	}
	if string(items[0].Value) != "1" || string(items[2].Value) != "2" || items[1].Status != protocol.StatusNotFound {
		t.Fatalf("MGet items = %+v", items)
	}
	if err := client.Check(protocol.OpMGet, items[1].Status); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Check(NOT_FOUND) = %v", err)
	}
	stats, err := c.Stats(ctx)
	if err != nil || !strings.Contains(stats, "requests ") {
		t.Fatalf("Stats = %q, %v", stats, err)
	}
}

func TestLargeValuesAreSealedBothWays(t *testing.T) {
	srv := clienttest.NewFakeServer(t)
	c := dial(t, srv, client.DefaultOptions())
	ctx := testCtx(t)
	for _, size := range []int{0, 4<<10 - 1, 4 << 10, 100 << 10, 3 << 20} {
		val := bytes.Repeat([]byte(fmt.Sprintf("%08d", size)), size/8+1)[:size]
		key := []byte(fmt.Sprint("big", size))
		if _, err := c.Put(ctx, key, val); err != nil {
			t.Fatalf("Put %d bytes: %v", size, err)
		}
		if stored, _ := srv.Value(string(key)); !bytes.Equal(stored, val) {
			t.Fatalf("server stored %d bytes, want %d", len(stored), size)
		}
		got, _, err := c.Get(ctx, key)
		if err != nil || !bytes.Equal(got, val) {
			t.Fatalf("Get %d bytes: %d bytes, %v", size, len(got), err)
		}
	}
	// Sealing is what let 3 MiB of repetitive bytes cross as a few KiB.
	if cnt := c.Counters(); cnt.Bytes > 1<<20 {
		t.Fatalf("%d request bytes written: large values were not compressed", cnt.Bytes)
	}
}

func TestRequestsOverServerLimitsAreRefusedLocally(t *testing.T) {
	lim := protocol.DefaultLimits()
	lim.MaxValueSize, lim.MaxKeySize, lim.MaxBatchKeys = 1000, 10, 4
	srv := clienttest.Start(t, clienttest.Options{Limits: lim})
	c := dial(t, srv, client.DefaultOptions())
	ctx := testCtx(t)

	cases := []struct {
		name   string
		call   func() error
		status protocol.Status
		cause  error
	}{
		{"value over MaxValueSize", func() error { _, err := c.Put(ctx, []byte("k"), make([]byte, 1001)); return err },
			protocol.StatusTooLarge, protocol.ErrValueTooLarge},
		{"key over MaxKeySize", func() error { _, _, err := c.Get(ctx, make([]byte, 11)); return err },
			protocol.StatusTooLarge, protocol.ErrKeyTooLarge},
		{"empty key", func() error { _, err := c.Del(ctx, nil); return err },
			protocol.StatusBadRequest, protocol.ErrEmptyKey},
		{"batch over MaxBatchKeys", func() error { _, err := c.MGet(ctx, make([][]byte, 5)); return err },
			protocol.StatusTooLarge, protocol.ErrBatchTooLarge},
		{"empty batch", func() error { _, err := c.MPut(ctx, nil); return err },
			protocol.StatusBadRequest, protocol.ErrMalformed},
		{"quorum over 255", func() error {
			_, err := c.Put(ctx, []byte("k"), nil, client.WithQuorum(256))
			return err
		}, protocol.StatusBadRequest, protocol.ErrBadQuorum},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var se *client.StatusError
			if !errors.As(err, &se) || se.Status != tc.status || !se.Local {
				t.Fatalf("err = %v, want a local %v StatusError", err, tc.status)
			}
			if !errors.Is(err, client.ErrFailed) || !errors.Is(err, tc.cause) {
				t.Fatalf("err = %v, want ErrFailed and %v", err, tc.cause)
			}
		})
	}
	if n := srv.Stats().Requests; n != 0 {
		t.Fatalf("server saw %d requests, want none", n)
	}
	var asyncErr error
	c.PutAsync(ctx, []byte("k"), make([]byte, 1001), func(_ protocol.Version, err error) { asyncErr = err })
	if !errors.Is(asyncErr, protocol.ErrValueTooLarge) {
		t.Fatalf("PutAsync over the limit: cb got %v before returning, want ErrValueTooLarge", asyncErr)
	}
}

func TestServerStatusesMapToOutcomeClasses(t *testing.T) {
	fail := map[string]protocol.Status{
		"timeout": protocol.StatusTimeout, "partial": protocol.StatusPartial, "busy": protocol.StatusBusy,
		"unavail": protocol.StatusUnavailable, "internal": protocol.StatusInternal, "future": protocol.Status(200),
	}
	srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
		return clienttest.Action{Fail: fail[r.Key]}
	}})
	c := dial(t, srv, client.DefaultOptions())
	ctx := testCtx(t)
	for key, st := range fail {
		_, err := c.Put(ctx, []byte(key), []byte("v"))
		var se *client.StatusError
		if !errors.As(err, &se) || se.Status != st || se.Local {
			t.Fatalf("%s: err = %v, want server status %v", key, err, st)
		}
		unknown := st.Outcome() == protocol.OutcomeUnknown
		if errors.Is(err, client.ErrUnknownOutcome) != unknown || errors.Is(err, client.ErrFailed) == unknown {
			t.Fatalf("%s: err = %v, class wrong for outcome %v", key, err, st.Outcome())
		}
	}
	_, err := c.MPut(ctx, []protocol.KV{{Key: []byte("busy"), Value: []byte("v")}})
	if !errors.Is(err, client.ErrFailed) {
		t.Fatalf("MPUT refused whole with BUSY: %v, want ErrFailed", err)
	}
}

func TestHandshake(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Token: "s3cret"})
	ctx := testCtx(t)
	for _, tok := range []string{"", "wrong"} {
		_, err := client.Dial(ctx, srv.Addr(), client.Options{Token: tok})
		var se *client.StatusError
		if !errors.Is(err, client.ErrHandshake) || !errors.As(err, &se) || se.Status != protocol.StatusUnauthorized || !errors.Is(err, client.ErrFailed) {
			t.Fatalf("token %q: Dial err = %v, want an UNAUTHORIZED handshake failure", tok, err)
		}
	}
	c, err := client.Dial(ctx, srv.Addr(), client.Options{Token: "s3cret"})
	if err != nil {
		t.Fatalf("Dial with the token: %v", err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := client.Dial(ctx, "127.0.0.1:1", client.Options{}); !errors.Is(err, client.ErrFailed) {
		t.Fatalf("Dial to a closed port: %v, want ErrFailed", err)
	}
	if _, err := client.Dial(ctx, srv.Addr(), client.Options{MaxInFlight: -1}); !errors.Is(err, client.ErrBadOptions) {
		t.Fatalf("Dial with MaxInFlight -1: %v, want ErrBadOptions", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*client.Options)
		ok   bool
	}{
		{"defaults", func(*client.Options) {}, true},
		{"zero fields take defaults", func(o *client.Options) { *o = client.Options{} }, true},
		{"negative window", func(o *client.Options) { o.MaxInFlight = -1 }, false},
		{"huge window", func(o *client.Options) { o.MaxInFlight = 1 << 20 }, false},
		{"negative queue", func(o *client.Options) { o.MaxQueuedBytes = -1 }, false},
		{"negative timeout", func(o *client.Options) { o.Timeout = -1 }, false},
		{"negative dial timeout", func(o *client.Options) { o.DialTimeout = -1 }, false},
		{"long token", func(o *client.Options) { o.Token = strings.Repeat("x", protocol.MaxTokenSize+1) }, false},
		{"negative seal", func(o *client.Options) { o.Seal.CompressAbove = -1 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := client.DefaultOptions()
			tc.edit(&o)
			if err := o.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, client.ErrBadOptions)) {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestQuorumAndDeadlineGoOnTheWire(t *testing.T) {
	seen := make(chan protocol.Options, 8)
	srv := clienttest.Start(t, clienttest.Options{Hook: func(r clienttest.Request) clienttest.Action {
		seen <- r.Options
		return clienttest.Action{}
	}})
	opts := client.DefaultOptions()
	c := dial(t, srv, opts)
	ctx := testCtx(t)

	if _, err := c.Put(context.Background(), []byte("k"), nil, client.WithQuorum(3), client.WithDeadline(250e6)); err != nil {
		t.Fatal(err)
	}
	if o := <-seen; o.Quorum != 3 || o.DeadlineMs != 250 {
		t.Fatalf("wire options = %+v, want quorum 3, 250 ms", o)
	}
	if _, _, err := c.Get(context.Background(), []byte("k")); err != nil {
		t.Fatal(err)
	}
	if o := <-seen; o.Quorum != 0 || o.DeadlineMs < 4900 || o.DeadlineMs > 5000 {
		t.Fatalf("wire options = %+v, want quorum 0 and Options.Timeout (5000 ms)", o)
	}
	// ctx's deadline (20 s in testCtx) is sent when there is no other.
	if _, err := c.Del(ctx, []byte("k"), client.WithQuorum(1)); err != nil {
		t.Fatal(err)
	}
	if o := <-seen; o.Quorum != 1 || o.DeadlineMs < 19000 || o.DeadlineMs > 20000 {
		t.Fatalf("wire options = %+v, want quorum 1 and ~20000 ms", o)
	}
}
