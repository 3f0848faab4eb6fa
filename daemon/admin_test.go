package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/distridata/distridata/daemon"
	"github.com/distridata/distridata/internal/clustertest"
)

func startWithAdmin(t *testing.T, opts clustertest.Options) *clustertest.Cluster {
	t.Helper()
	opts.Daemon = func(c *daemon.Config) { c.Admin = "127.0.0.1:0" }
	return clustertest.Start(t, opts)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestAdminMetricsHealthReady(t *testing.T) {
	cl := startWithAdmin(t, clustertest.Options{})
	base := "http://" + cl.Daemon.AdminAddr()
	ctx := ctxT(t)
	c := cl.Client()
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if code, body := httpGet(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := httpGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("metrics %d", code)
	}
	for _, want := range []string{
		`distridata_request_results_total{op="put",status="ok"} 1`,
		`distridata_request_duration_seconds_count{op="get"} 1`,
		`distridata_requests_total{op="hello"} 1`,
		`distridata_link_up{node="1"} 1`,
		`distridata_ring_epoch 1`,
		`distridata_connections 1`,
		`distridata_reload_failures_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, _ := httpGet(t, base+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof %d", code)
	}
	// Two of three owners down: no partition can meet W=R=2.
	cl.Kill(cl.Nodes()[0])
	cl.Kill(cl.Nodes()[1])
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Requests make the links notice the dead nodes sooner.
		_, _ = c.Put(ctx, []byte("k"), []byte("v"))
		code, body := httpGet(t, base+"/readyz")
		if code == http.StatusServiceUnavailable {
			t.Logf("readyz: %s", body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d with two nodes down", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAdminExplain(t *testing.T) {
	cl := startWithAdmin(t, clustertest.Options{})
	ctx := ctxT(t)
	v, err := cl.Client().Put(ctx, []byte("who"), []byte("12345"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cl.Owners([]byte("who")) {
		waitNode(t, cl, n, "who", v)
	}
	code, body := httpGet(t, "http://"+cl.Daemon.AdminAddr()+"/explain?key=who")
	if code != 200 {
		t.Fatalf("explain %d %s", code, body)
	}
	var ex daemon.Explanation
	if err := json.Unmarshal([]byte(body), &ex); err != nil {
		t.Fatal(err)
	}
	if ex.Epoch != 1 || len(ex.Owners) != 3 || ex.Partition != cl.Daemon.Ring().Partition([]byte("who")) {
		t.Fatalf("explain: %+v", ex)
	}
	for _, o := range ex.Owners {
		if o.Status != "OK" || o.TS != v.TS || o.ValueSize != 5 || !o.Up || o.Tombstone {
			t.Errorf("owner %+v, want version %v", o, v)
		}
	}
	if code, _ := httpGet(t, "http://"+cl.Daemon.AdminAddr()+"/explain"); code != http.StatusBadRequest {
		t.Errorf("explain without key: %d", code)
	}
}
