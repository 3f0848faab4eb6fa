package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/distridata/distridata/client"
	"github.com/distridata/distridata/client/clienttest"
)

// exampleServer starts a fake daemon for the examples, which have no
// *testing.T of their own; stop closes it.
func exampleServer() (addr string, stop func()) {
	tb := &exampleTB{}
	srv := clienttest.NewFakeServer(tb)
	return srv.Addr(), tb.cleanup
}

// exampleTB is just enough of testing.TB for clienttest.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (tb *exampleTB) Helper()                   {}
func (tb *exampleTB) Cleanup(f func())          { tb.cleanups = append(tb.cleanups, f) }
func (tb *exampleTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (tb *exampleTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}

func Example() {
	addr, stop := exampleServer() // a real daemon listens on 127.0.0.1:7379
	defer stop()
	ctx := context.Background()

	c, err := client.Dial(ctx, addr, client.DefaultOptions())
	if err != nil {
		fmt.Println("dial:", err)
		return
	}
	defer c.Close()

	if _, err := c.Put(ctx, []byte("greeting"), []byte("hello"), client.WithQuorum(2)); err != nil {
		// Branch on the outcome class: retry a failed write as is, but
		// read back before retrying one whose outcome is unknown.
		fmt.Println("put failed:", errors.Is(err, client.ErrFailed))
		return
	}
	val, _, err := c.Get(ctx, []byte("greeting"))
	fmt.Printf("%s %v\n", val, err)

	_, _, err = c.Get(ctx, []byte("missing"))
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// hello <nil>
	// true
}
