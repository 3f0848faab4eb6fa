package repair

import (
	"fmt"
	"log/slog"
)

// pebbleLogger sends Pebble's log lines to slog. Pebble calls Fatalf on a
// failed WAL write or sync and requires it not to return: the hints DB
// cannot be trusted after that, which is a failed disk, not bad input.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("repair: pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("repair: pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := "repair: pebble fatal: " + fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}
