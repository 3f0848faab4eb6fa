package ring

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt from the current code")

// goldenMembership mixes zones, weights and one node clamped at P, so a
// change anywhere in the draw, the candidate order or the balancer shows.
const goldenMembership = `# golden membership: do not edit without -update
alpha   10.0.0.1:7000 zone=east weight=1
bravo   10.0.0.2:7000 zone=east weight=2
charlie 10.0.0.3:7000 zone=west weight=1
delta   10.0.0.4:7000 zone=west weight=0.5
echo    10.0.0.5:7000 zone=north weight=1.5
foxtrot 10.0.0.6:7000 zone=north
golf    10.0.0.7:7000 zone=south weight=3
hotel   10.0.0.8:7000
`

// TestGolden compares partitions and owner IDs of fixed keys with the
// vectors in testdata, so every build and platform computes the same table.
func TestGolden(t *testing.T) {
	nodes, err := ParseMembership(goldenMembership)
	if err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, Config{Partitions: 256, Replicas: 3}, nodes)
	var b strings.Builder
	fmt.Fprintf(&b, "# key partition owners (P=256 N=3, membership in golden_test.go); hash %016x\n", r.Hash())
	for i := range 200 {
		key := fmt.Sprintf("key-%d", i)
		p, owners := r.Lookup([]byte(key))
		fmt.Fprintf(&b, "%s %d %s\n", key, p, strings.Join(r.ids(owners), ","))
	}
	path := filepath.Join("testdata", "golden.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ring -run TestGolden -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Fatalf("placement differs from %s:\n%s", path, firstDiff(got, string(want)))
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, g[i], w[i])
		}
	}
	return "lengths differ"
}

// TestRuleProportionalIsThePreviousRelease pins RuleProportional to the
// table of releases before 2026-11-26: the golden membership's ring hash
// from testdata/golden.txt at commit 099dabc. A daemon can then rebuild the
// ring such a release committed (its fingerprint must match) and move the
// data to the latest rule.
func TestRuleProportionalIsThePreviousRelease(t *testing.T) {
	nodes, err := ParseMembership(goldenMembership)
	if err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, Config{Partitions: 256, Replicas: 3, Rule: RuleProportional}, nodes)
	if r.Hash() != 0x01d456cdc8eda866 {
		t.Fatalf("RuleProportional hash %016x, want 01d456cdc8eda866 (099dabc's golden.txt)", r.Hash())
	}
	if latest := mustNew(t, Config{Partitions: 256, Replicas: 3}, nodes); latest.Hash() == r.Hash() {
		t.Fatal("the golden membership no longer tells the rules apart")
	}
	if err := (Config{Rule: 7}).Validate(); !errors.Is(err, ErrRule) {
		t.Fatalf("rule 7: %v, want ErrRule", err)
	}
}
