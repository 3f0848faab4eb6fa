package daemon

import (
	"testing"

	"github.com/distridata/distridata/protocol"
)

func TestLinkLimitsFollowLargerClientLimits(t *testing.T) {
	def := protocol.DefaultLimits()
	client := def
	client.MaxFrameSize *= 2
	client.MaxValueSize *= 2
	client.MaxBatchKeys = def.MaxBatchKeys / 2
	got := linkLimits(def, client)
	want := def
	want.MaxFrameSize, want.MaxValueSize = client.MaxFrameSize, client.MaxValueSize
	if got != want {
		t.Fatalf("linkLimits = %+v, want %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("widened limits invalid: %v", err)
	}
}
