package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"
	"time"

	"github.com/distridata/distridata/daemon"
)

// defaultAdminAddr is where serve and local put the admin listener.
const defaultAdminAddr = "127.0.0.1:7380"

// adminEnv, if set, replaces defaultAdminAddr for explain.
const adminEnv = "DISTRIDATA_ADMIN"

// maxExplainBody bounds the JSON read from /explain: N owners of a few
// hundred bytes each.
const maxExplainBody = 1 << 20

func init() {
	register("explain", command{summary: "show a key's partition, owners and each owner's version (via --admin)", run: runExplain})
}

func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("distridata explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := defaultAdminAddr
	if env := os.Getenv(adminEnv); env != "" {
		addr = env
	}
	fs.StringVar(&addr, "admin", addr, "the daemon's admin address host:port; $"+adminEnv+", if set, replaces the default")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on the whole call")
	asJSON := fs.Bool("json", false, "print the daemon's JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: distridata explain [flags] KEY\n\n"+
			"Asks the daemon where KEY lives and reads it from each owner directly\n"+
			"(no quorum, no repair), so a replica that diverges shows at a glance.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "distridata explain: want one KEY, got %d arguments\n", len(pos))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	body, err := fetchExplain(ctx, addr, pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "distridata explain: %v\n", err)
		return exitUnavailable
	}
	if *asJSON {
		_, _ = stdout.Write(body)
		return exitOK
	}
	var ex daemon.Explanation
	if err := json.Unmarshal(body, &ex); err != nil {
		fmt.Fprintf(stderr, "distridata explain: bad reply: %v\n", err)
		return exitUnavailable
	}
	printExplain(stdout, ex)
	return exitOK
}

func fetchExplain(ctx context.Context, addr, key string) ([]byte, error) {
	u := url.URL{Scheme: "http", Host: addr, Path: "/explain", RawQuery: url.Values{"key": {key}}.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExplainBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return body, nil
}

// printExplain prints the owners as a table and flags the owners whose
// version differs from the newest.
func printExplain(w io.Writer, ex daemon.Explanation) {
	fmt.Fprintf(w, "key %q  partition %d  ring epoch %d\n\n", ex.Key, ex.Partition, ex.Epoch)
	var newest daemon.OwnerReplica
	for _, o := range ex.Owners {
		if o.TS > newest.TS || (o.TS == newest.TS && o.Origin > newest.Origin) {
			newest = o
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OWNER\tADDR\tZONE\tLINK\tSTATUS\tVERSION\tWRITTEN\tSIZE\t")
	for _, o := range ex.Owners {
		link := "up"
		if !o.Up {
			link = "DOWN"
		}
		ver, note := "-", ""
		if o.TS != 0 {
			ver = fmt.Sprintf("%d.%d", o.TS, o.Origin)
		}
		if o.Tombstone {
			ver += " (deleted)"
		}
		if newest.TS != 0 && (o.TS != newest.TS || o.Origin != newest.Origin) {
			note = "STALE"
		}
		if o.Error != "" {
			note = o.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", o.ID, o.Addr, o.Zone, link, o.Status, ver, o.Written, o.ValueSize, note)
	}
	_ = tw.Flush()
}
