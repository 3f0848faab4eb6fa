package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin listener bounds: the admin port serves operators and scrapers,
// never bulk data, so every phase of a request is short. The write
// timeout leaves room for a 30 s CPU profile (/debug/pprof/profile).
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 60 * time.Second
	adminIdleTimeout       = 2 * time.Minute
	adminMaxHeaderBytes    = 16 << 10
	// explainTimeout bounds the RGETs of one /explain.
	explainTimeout = 2 * time.Second
)

// admin is the daemon's HTTP listener: /metrics, /healthz, /readyz,
// /explain and /debug/pprof/. It owns its server goroutine; close stops
// it and waits.
type admin struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returned
	log  *slog.Logger
}

// startAdmin listens on addr and serves d's admin endpoints.
func startAdmin(d *Daemon, addr string) (*admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on admin address %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{d},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", d.serveReady)
	mux.HandleFunc("GET /explain", d.serveExplain)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a := &admin{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: adminReadHeaderTimeout,
			ReadTimeout:       adminReadTimeout,
			WriteTimeout:      adminWriteTimeout,
			IdleTimeout:       adminIdleTimeout,
			MaxHeaderBytes:    adminMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		done: make(chan struct{}),
		log:  d.log.With("component", "admin"),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener failed", "err", err)
		}
	}()
	return a, nil
}

// addr is the bound address (port 0 resolved).
func (a *admin) addr() string { return a.ln.Addr().String() }

// close stops the listener, lets handlers finish until ctx ends, then
// closes what is left and waits for the server goroutine.
func (a *admin) close(ctx context.Context) {
	if err := a.srv.Shutdown(ctx); err != nil {
		_ = a.srv.Close()
	}
	<-a.done
}

// AdminAddr is the admin listener's address, or "" when it is disabled.
func (d *Daemon) AdminAddr() string {
	if d.admin == nil {
		return ""
	}
	return d.admin.addr()
}

// serveReady answers 200 when every partition has at least max(W, R)
// owners up, so both default quorums can be met everywhere; else 503
// with the first partition that cannot.
func (d *Daemon) serveReady(w http.ResponseWriter, _ *http.Request) {
	if err := d.Ready(); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Ready reports nil when every partition of the current ring has at least
// max(W, R) owners that the links believe up. With every node up (the
// common case) it only asks the links; it walks the partition table only
// when some node is down.
func (d *Daemon) Ready() error {
	if d.fe.draining.Load() {
		return errors.New("draining: shutting down")
	}
	r := d.coord.Ring()
	tun := d.coord.Tunables()
	need := max(tun.W, tun.R)
	nodes := r.Nodes()
	down := make([]bool, len(nodes))
	anyDown := false
	for i, n := range nodes {
		if !d.pool.Up(n.ID) {
			down[i], anyDown = true, true
		}
	}
	if !anyDown {
		return nil
	}
	for p := range uint32(r.Partitions()) {
		up := 0
		for _, o := range r.Owners(p) {
			if !down[o] {
				up++
			}
		}
		if up < need {
			return fmt.Errorf("partition %d has %d of %d owners up, needs %d", p, up, r.Replicas(), need)
		}
	}
	return nil
}

func (d *Daemon) serveExplain(w http.ResponseWriter, req *http.Request) {
	key := req.URL.Query().Get("key")
	if key == "" {
		http.Error(w, "missing ?key=", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), explainTimeout)
	defer cancel()
	ex, err := d.Explain(ctx, []byte(key))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(ex)
}
