package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/distridata/distridata/daemon"
)

// kebab turns "MaxFrameSize" into "max-frame-size".
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 && !unicode.IsUpper(rune(s[i-1])) {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Every field of daemon.Config (and its sub-configs) has a knob in the
// config file, or an exemption that says which knob covers it.
func TestConfigKnobsCoverDaemonConfig(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range knobs {
		keys[k.key] = true
	}
	var walk func(reflect.Type, string, string)
	walk = func(typ reflect.Type, field, key string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, k := field+f.Name, key+kebab(f.Name)
			if _, ok := knobExempt[name]; ok {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				sub := k + "."
				if f.Name == "Seal" {
					sub = key // Seal's fields sit in [link]
				}
				walk(f.Type, name+".", sub)
				continue
			}
			if !keys[k] {
				t.Errorf("daemon.Config field %s has no knob %q", name, k)
			}
		}
	}
	walk(reflect.TypeOf(daemon.Config{}), "", "")
}

// The printed defaults are a valid config that reproduces the defaults.
func TestConfigDefaultRoundTrip(t *testing.T) {
	code, out, errs := cli(t, "config", "default")
	if code != exitOK {
		t.Fatalf("config default: %d %s", code, errs)
	}
	if n := strings.Count(out, "\n# "); n < len(knobs) {
		t.Errorf("%d comments for %d knobs", n, len(knobs))
	}
	file := filepath.Join(t.TempDir(), "d.toml")
	os.WriteFile(file, []byte(strings.Replace(out, `nodes = ""`, `nodes = "1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3"`, 1)), 0o600)
	o, err := parseServe([]string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultServeOptions()
	want.Config, want.Nodes = file, o.Nodes
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("defaults did not round-trip:\n got %+v\nwant %+v", o, want)
	}
	if code, out, errs := cli(t, "config", "check", file); code != exitOK {
		t.Fatalf("check defaults: %d %s %s", code, out, errs)
	}
}

func TestConfigFileTablesAndCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte(`
listen = "127.0.0.1:0"
idle-timeout = "1m"
memory-budget = 1048576
[limits]
max-value-size = 1000
[link]
dial-timeout = "250ms"
compress-above = 4096
[repair]
partitions-per-sec = 0
[[node]]
id = "a"
addr = "127.0.0.1:1"
zone = "z1"
[[node]]
id = "b"
addr = "127.0.0.1:2"
zone = "z2"
weight = 2.5
[[node]]
id = "c"
addr = "127.0.0.1:3"
zone = "z3"
`), 0o600)
	o, err := parseServe([]string{"--config", good}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.daemonConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IdleTimeout != time.Minute || cfg.MemoryBudget != 1<<20 || cfg.Limits.MaxValueSize != 1000 ||
		cfg.Link.DialTimeout != 250*time.Millisecond || cfg.Link.Seal.CompressAbove != 4096 ||
		cfg.Repair.PartitionsPerSec != 0 || len(cfg.Nodes) != 3 || cfg.Nodes[1].Weight != 2.5 || cfg.Nodes[2].Zone != "z3" {
		t.Fatalf("config not applied: %+v", cfg)
	}
	if code, _, errs := cli(t, "config", "check", good); code != exitOK {
		t.Fatalf("check good: %d %s", code, errs)
	}
	for name, text := range map[string]string{
		"unknown":  "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 1\nr = 1\n[link]\nbogus = 1\n",
		"type":     "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 1\nr = 1\nmax-conns = \"many\"\n",
		"duration": "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 1\nr = 1\ntimeout = \"soon\"\n",
		"quorum":   "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 2\nr = 1\n",
		"link":     "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 1\nr = 1\n[link]\neject-after = 0\n",
		"public":   "nodes = \"1=127.0.0.1:1\"\nn = 1\nw = 1\nr = 1\nadmin = \"0.0.0.0:7380\"\n",
		"syntax":   "nodes = \n",
	} {
		file := filepath.Join(dir, name+".toml")
		os.WriteFile(file, []byte(text), 0o600)
		code, _, errs := cli(t, "config", "check", file)
		if code != exitUsage || !strings.Contains(errs, file) {
			t.Errorf("%s: exit %d, stderr %q", name, code, errs)
		}
	}
}

// The keys `config default` marks [live] are exactly those of the fields
// a daemon reload applies (daemon.LiveFields).
func TestConfigLiveKnobsMatchDaemon(t *testing.T) {
	want := map[string]bool{}
	for _, f := range daemon.LiveFields() {
		if ex, ok := knobExempt[f]; ok { // "timeout", "nodes / [[node]]", "tls.cert, tls.key, ..."
			for _, k := range strings.Split(ex, ", ") {
				want[strings.Fields(k)[0]] = true
			}
			continue
		}
		sec, name, nested := strings.Cut(f, ".")
		key := kebab(sec)
		if nested {
			key += "." + kebab(name)
		}
		found := false
		for _, k := range knobs { // a whole struct (Limits) is live with all its keys
			if k.key == key || strings.HasPrefix(k.key, key+".") {
				want[k.key], found = true, true
			}
		}
		if !found {
			t.Errorf("live field %s has no knob %q", f, key)
		}
	}
	for k := range liveKnobs {
		if !want[k] {
			t.Errorf("knob %q is marked live but daemon.LiveFields does not reload it", k)
		}
	}
	for k := range want {
		if !liveKnobs[k] {
			t.Errorf("knob %q is reloaded live but not marked so", k)
		}
	}
	_, out, _ := cli(t, "config", "default")
	if !strings.Contains(out, "# [live] bytes per frame") || !strings.Contains(out, "# [restart] gnet event loops") {
		t.Errorf("config default does not mark live and restart keys:\n%s", out)
	}
}

// config check passes a ring it can build but prints the ring's advice:
// here 40 nodes on a 4096-row table, too few partitions per node.
func TestConfigCheckPrintsRingAdvice(t *testing.T) {
	var nodes []string
	for i := range 40 {
		nodes = append(nodes, fmt.Sprintf("n%d=127.0.0.1:%d", i, 7001+i))
	}
	file := filepath.Join(t.TempDir(), "big.toml")
	os.WriteFile(file, []byte(fmt.Sprintf("nodes = %q\n[ring]\npartitions = 4096\n", strings.Join(nodes, ","))), 0o600)
	code, out, errs := cli(t, "config", "check", file)
	if code != exitOK || !strings.Contains(out, "warning: ring: 4096 partitions for 40 nodes") || !strings.HasSuffix(out, ": ok\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
