package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// readyInfo is what --ready-file holds: the addresses a process bound,
// with ports resolved, so a supervisor that asked for port 0 learns them
// without picking a port itself (a port picked, released and bound later
// can be taken by another process in between). Empty fields are
// listeners the process does not run.
type readyInfo struct {
	PID    int    `json:"pid"`
	Listen string `json:"listen"`
	TLS    string `json:"tls,omitempty"`
	Admin  string `json:"admin,omitempty"`
}

// writeReadyFile writes info to path atomically (a temporary file in the
// same directory, then a rename), so a reader polling for path sees
// either nothing or the whole file. Call it once every listener is bound.
func writeReadyFile(path string, info readyInfo) error {
	if path == "" {
		return nil
	}
	info.PID = os.Getpid()
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("cannot write ready file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("cannot write ready file: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("cannot write ready file: %w", err)
	}
	return nil
}
