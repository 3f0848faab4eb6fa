package ring

import (
	"testing"

	"go.uber.org/goleak"
)

// Builds fan rows out to worker goroutines (rows.go); none may outlive
// the build that started it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
