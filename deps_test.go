package distridata_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import table (DESIGN.md §2, STYLE.md "Imports flow one way"):
// protocol and ring sit at the bottom, the replication core and its
// neighbours in the middle, daemon and bench at the top, cmd/... above all.
// Checking it with `go list` keeps the layering true as the tree grows;
// packages that do not exist yet are skipped.

const module = "github.com/distridata/distridata"

// allowedModuleDeps lists, for each constrained package, the only module
// packages it may depend on, directly or transitively. Packages not listed
// (daemon, bench, ...) may use anything below them.
var allowedModuleDeps = map[string][]string{
	"protocol": {},
	"ring":     {},
	"storage":  {"protocol"},
	"client":   {"protocol"},
	// link implements replica.Backend, so it names replica.Reply; replica
	// does no I/O and brings only ring along.
	"link":    {"protocol", "replica", "ring"},
	"replica": {"protocol", "ring"},
}

// gnetPrefix: only daemon talks to the event loop library. Its event
// model must not leak into the core, which is tested without sockets.
const gnetPrefix = "github.com/panjf2000/gnet"

// goPackage is the part of `go list -json` output the rules need.
type goPackage struct {
	ImportPath string
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
}

// rel strips the module prefix: "github.com/.../ring" → "ring"; "" for
// packages outside the module.
func rel(path string) string {
	if path == module {
		return "."
	}
	if after, ok := strings.CutPrefix(path, module+"/"); ok {
		return after
	}
	return ""
}

// isHarness reports a test-helper package (named like net/http/httptest,
// e.g. internal/clustertest): it may import testing, and only tests may
// import it.
func isHarness(p string) bool {
	last := p[strings.LastIndex(p, "/")+1:]
	return strings.HasSuffix(last, "test") && last != "test"
}

func isCmd(p string) bool { return p == "cmd" || strings.HasPrefix(p, "cmd/") }

// checkRules returns one line per broken rule.
func checkRules(pkgs []goPackage) []string {
	var bad []string
	for _, pkg := range pkgs {
		p := rel(pkg.ImportPath)
		if p == "" {
			continue
		}
		if allowed, ok := allowedModuleDeps[p]; ok {
			for _, d := range pkg.Deps {
				if dp := rel(d); dp != "" && !slices.Contains(allowed, dp) {
					bad = append(bad, fmt.Sprintf("%s depends on %s; it may use only %v from the module", p, dp, allowed))
				}
			}
		}
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, gnetPrefix) && p != "daemon" && !strings.HasPrefix(p, "daemon/") && !isCmd(p) {
				bad = append(bad, fmt.Sprintf("%s imports %s; only daemon may", p, imp))
			}
		}
		bad = append(bad, testingRule(p, pkg)...)
	}
	return bad
}

// testingRule: no non-test package links the testing package (it registers
// test flags in the binary and signals test code in production paths),
// except harness packages, which only tests may depend on.
func testingRule(p string, pkg goPackage) []string {
	if isHarness(p) {
		return nil
	}
	var bad []string
	if slices.Contains(pkg.Deps, "testing") {
		bad = append(bad, fmt.Sprintf("%s (non-test code) links the testing package", p))
	}
	for _, d := range pkg.Deps {
		if dp := rel(d); dp != "" && isHarness(dp) {
			bad = append(bad, fmt.Sprintf("%s (non-test code) depends on test harness %s", p, dp))
		}
	}
	return bad
}

// listPackages runs go list over the whole module. -e keeps going when
// someone's package does not compile yet: imports are still reported.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("cannot parse go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	pkgs := listPackages(t)
	present := map[string]bool{}
	for _, p := range pkgs {
		present[rel(p.ImportPath)] = true
	}
	if !present["protocol"] {
		t.Fatalf("go list found no protocol package among %d: wrong directory?", len(pkgs))
	}
	for name := range allowedModuleDeps {
		if !present[name] {
			t.Logf("%s does not exist yet: skipped", name)
		}
	}
	for _, line := range checkRules(pkgs) {
		t.Error(line)
	}
}

// TestImportRulesCatchViolations feeds checkRules made-up graphs, one per
// rule, so the rules are known to fail when broken, not only to pass.
func TestImportRulesCatchViolations(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	tests := []struct {
		name string
		pkg  goPackage
		want string // substring of the single expected complaint; "" = clean
	}{
		{"protocol on ring", goPackage{m("protocol"), nil, []string{m("ring")}}, "protocol depends on ring"},
		{"ring on protocol", goPackage{m("ring"), nil, []string{"fmt", m("protocol")}}, "ring depends on protocol"},
		{"storage on ring", goPackage{m("storage"), nil, []string{m("protocol"), m("ring")}}, "storage depends on ring"},
		{"client on replica", goPackage{m("client"), nil, []string{m("replica")}}, "client depends on replica"},
		{"link on storage", goPackage{m("link"), nil, []string{m("protocol"), m("storage")}}, "link depends on storage"},
		{"replica on storage", goPackage{m("replica"), nil, []string{m("storage")}}, "replica depends on storage"},
		{"replica on daemon", goPackage{m("replica"), nil, []string{m("daemon")}}, "replica depends on daemon"},
		{"replica on protocol and ring", goPackage{m("replica"), nil, []string{m("protocol"), m("ring"), "context"}}, ""},
		{"bench imports gnet", goPackage{m("bench"), []string{gnetPrefix + "/v2"}, nil}, "bench imports github.com/panjf2000/gnet/v2"},
		{"daemon imports gnet", goPackage{m("daemon"), []string{gnetPrefix + "/v2"}, []string{gnetPrefix + "/v2"}}, ""},
		{"cmd imports gnet", goPackage{m("cmd/distridata"), []string{gnetPrefix + "/v2"}, nil}, ""},
		{"storage links testing", goPackage{m("storage"), nil, []string{m("protocol"), "testing"}}, "storage (non-test code) links the testing package"},
		{"cmd links testing", goPackage{m("cmd/distridata"), []string{"testing"}, []string{"testing"}}, "cmd/distridata (non-test code) links"},
		{"daemon on harness", goPackage{m("daemon"), nil, []string{m("internal/clustertest")}}, "depends on test harness internal/clustertest"},
		{"harness links testing", goPackage{m("internal/clustertest"), []string{"testing"}, []string{"testing"}}, ""},
		{"outside module ignored", goPackage{"example.com/x", []string{gnetPrefix}, []string{"testing"}}, ""},
	}
	for _, tc := range tests {
		got := checkRules([]goPackage{tc.pkg})
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: unexpected complaints %q", tc.name, got)
		case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
			t.Errorf("%s: complaints %q, want one containing %q", tc.name, got, tc.want)
		}
	}
}
