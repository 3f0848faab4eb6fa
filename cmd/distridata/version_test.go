package main

import (
	"strings"
	"testing"
)

func TestVersionPrintsModuleAndCommit(t *testing.T) {
	defer func(c string) { commit = c }(commit)
	commit = "abc1234"
	code, out, _ := cli(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "distridata "+version+" (module ") || !strings.Contains(out, "commit abc1234") {
		t.Fatalf("version: %d %q", code, out)
	}
}
