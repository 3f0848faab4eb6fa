package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/client/clienttest"
	"github.com/distridata/distridata/protocol"
)

func TestPoolRoundRobin(t *testing.T) {
	srv := clienttest.Start(t, clienttest.Options{Hook: jitter})
	ctx := testCtx(t)
	p, err := client.NewPool(ctx, srv.Addr(), 4, client.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			key := fmt.Appendf(nil, "k%d", i)
			if _, err := p.Put(ctx, key, key); err != nil {
				t.Error(err)
				return
			}
			if got, _, err := p.Get(ctx, key); err != nil || string(got) != string(key) {
				t.Errorf("Get %s = %q, %v", key, got, err)
			}
		})
	}
	wg.Wait()
	for i, c := range p.Conns() {
		if f := c.Counters().Frames; f < 100 {
			t.Errorf("conn %d carried %d frames of 800: not round-robin", i, f)
		}
	}
	if _, err := p.MPut(ctx, []protocol.KV{{Key: []byte("m"), Value: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if items, err := p.MGet(ctx, [][]byte{[]byte("m")}); err != nil || string(items[0].Value) != "1" {
		t.Fatalf("MGet = %v, %v", items, err)
	}
	if _, err := p.Del(ctx, []byte("m")); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	putDone, getDone := make(chan error, 1), make(chan error, 1)
	p.PutAsync(ctx, []byte("a"), []byte("1"), func(_ protocol.Version, err error) { putDone <- err })
	p.GetAsync(ctx, []byte("m"), func(_ []byte, _ protocol.Version, err error) { getDone <- err })
	if err := <-putDone; err != nil {
		t.Fatal(err)
	}
	if err := <-getDone; !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GetAsync of a deleted key: %v", err)
	}
}

func TestPoolRedialsBrokenConns(t *testing.T) {
	srv := clienttest.NewFakeServer(t)
	ctx := testCtx(t)
	p, err := client.NewPool(ctx, srv.Addr(), 2, client.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.DropConns()
	for _, c := range p.Conns() {
		<-c.Done()
	}
	for i := range 4 {
		if err := p.Ping(ctx); err != nil {
			t.Fatalf("Ping %d after the server dropped every conn: %v", i, err)
		}
	}
	if n := srv.Stats().Conns; n != 4 {
		t.Fatalf("%d conns dialled, want 2 + 2 redials", n)
	}
	p.Close()
	if err := p.Ping(ctx); !errors.Is(err, client.ErrClosed) || !errors.Is(err, client.ErrFailed) {
		t.Fatalf("Ping after Close: %v", err)
	}
	if n := srv.Stats().Conns; n != 4 {
		t.Fatalf("a closed Pool redialled: %d conns", n)
	}
}

func TestNewPoolFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := client.NewPool(ctx, "127.0.0.1:1", 2, client.DefaultOptions()); !errors.Is(err, client.ErrFailed) {
		t.Fatalf("NewPool to a closed port: %v", err)
	}
	if _, err := client.NewPool(ctx, "127.0.0.1:1", 0, client.DefaultOptions()); !errors.Is(err, client.ErrBadOptions) {
		t.Fatalf("NewPool of size 0: %v", err)
	}
}
