package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distridata/distridata/bench"
	"go.uber.org/goleak"
)

func TestBenchFlagsToConfig(t *testing.T) {
	cfg := bench.DefaultConfig()
	fs, bf := benchFlagSet(&cfg, &bytes.Buffer{})
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--target", "redis", "--addr", "127.0.0.1:7000", "--conns", "8", "--pipeline", "16",
		"--keys", "500", "--dist", "zipf", "--value-size", "1024", "--ratio", "1:3", "--requests", "99",
		"--rate", "5000", "--warmup", "2s", "--token-file", token, "--seed", "9"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := bf.apply(&cfg, fs); err != nil {
		t.Fatal(err)
	}
	want := bench.DefaultConfig()
	want.Target, want.Addr, want.Conns, want.Pipeline, want.Keys, want.Dist = bench.TargetRedis, "127.0.0.1:7000", 8, 16, 500, bench.DistZipf
	want.ValueSize, want.SetWeight, want.GetWeight, want.Requests, want.Rate = 1024, 1, 3, 99, 5000
	want.Warmup, want.Token, want.Seed, want.Duration = 2*time.Second, []byte("s3cret"), 9, requestsOnlyBound
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config\n got %+v\nwant %+v", cfg, want)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--ratio", "1"}, {"--target", "memcached"}, {"--conns", "0"}, {"--bogus"}, {"extra"}, {"--w", "300"},
	} {
		var out, errb bytes.Buffer
		if code := runBench(context.Background(), args, &out, &errb); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
	}
}

func TestBenchUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	if code := runBench(context.Background(), []string{"--addr", addr, "--duration", "1s"}, &out, &errb); code != exitUnavailable {
		t.Errorf("exit %d, want %d; stderr %q", code, exitUnavailable, errb.String())
	}
}

// TestBenchJSONAgainstRESP runs the whole command against a tiny RESP
// server that answers +OK to each SET. Every SET has the same length
// (16-byte keys, fixed value size), so it counts them by bytes.
func TestBenchJSONAgainstRESP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // other tests' servers are not ours to judge
	const valueSize = 10
	setLen := len("*3\r\n$3\r\nSET\r\n$16\r\n") + 16 + len("\r\n$10\r\n") + valueSize + 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				answerSETs(c, setLen)
			}()
		}
	}()
	var out, errb bytes.Buffer
	args := []string{"--target", "redis", "--addr", ln.Addr().String(), "--conns", "2", "--pipeline", "4",
		"--value-size", "10", "--requests", "300", "--json"}
	if code := runBench(context.Background(), args, &out, &errb); code != exitOK {
		t.Fatalf("exit %d; stderr %q", code, errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("stdout is not one JSON object: %v: %q", err, out.String())
	}
	if m["ops"] != 300.0 || m["target"] != "redis" || m["value_size"] != 10.0 {
		t.Errorf("JSON %s", out.String())
	}
	if strings.Contains(errb.String(), "ops/s") {
		t.Errorf("progress line printed to a non-terminal: %q", errb.String())
	}
}

func answerSETs(c net.Conn, setLen int) {
	buf := make([]byte, 4096)
	pending := 0
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		pending += n
		k := pending / setLen
		pending -= k * setLen
		if _, err := c.Write(bytes.Repeat([]byte("+OK\r\n"), k)); err != nil {
			return
		}
	}
}
