package storage

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// goroutine the server starts must be stopped and waited for by Shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
