package systest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// binary is built once per test process: every cluster of every test
// shares it, so the build cost is paid once (and mostly cached by go).
var binary struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a distridata binary built from the module
// this test runs in. The first call builds it; a build failure fails t.
func Binary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() { binary.path, binary.err = build() })
	if binary.err != nil {
		t.Fatalf("systest: %v", binary.err)
	}
	return binary.path
}

// build compiles ./cmd/distridata from the module root (found with go env
// GOMOD, so the test may run from any package directory) into a private
// temporary directory that lives as long as the process. It builds with
// the faultclock tag, which adds one test hook to serve: the skew file
// named by DISTRIDATA_FAULT_CLOCK_FILE (see Cluster.SkewDaemonClock). A
// daemon not given that variable runs exactly as a production build.
func build() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cannot find module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find module root: not in a module")
	}
	dir, err := os.MkdirTemp("", "systest-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "distridata")
	cmd := exec.Command("go", "build", "-tags", "faultclock", "-o", path, "./cmd/distridata")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cannot build distridata: %w\n%s", err, out)
	}
	return path, nil
}

// RemoveBinary deletes the built binary; TestMain calls it after m.Run so
// that test runs do not accumulate binaries in the temporary directory.
func RemoveBinary() {
	if binary.path != "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
}
