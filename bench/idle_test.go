package bench

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/distridata/distridata/protocol"
)

func TestHoldIdleOpensAndCloses(t *testing.T) {
	srv := &fakeServer{t: t}
	addr := srv.start()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: addr, Conns: 40, Hold: 50 * time.Millisecond})
	if err != nil || res.Opened != 40 || res.Refused != 0 {
		t.Fatalf("opened %d refused %d err %v, want 40/0/nil", res.Opened, res.Refused, err)
	}
}

func TestHoldIdleCountsRefusedHello(t *testing.T) {
	srv := &fakeServer{t: t, helloStatus: protocol.StatusBusy}
	addr := srv.start()
	res, err := HoldIdle(context.Background(), IdleConfig{Addr: addr, Conns: 5, Hold: time.Millisecond})
	if err != nil || res.Opened != 0 || res.Refused != 5 || !errors.Is(res.FirstErr, ErrHandshake) {
		t.Fatalf("opened %d refused %d first %v err %v", res.Opened, res.Refused, res.FirstErr, err)
	}
}

func TestHoldIdleValidates(t *testing.T) {
	if _, err := HoldIdle(context.Background(), IdleConfig{Addr: "127.0.0.1:1"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v, want ErrInvalidConfig", err)
	}
}
