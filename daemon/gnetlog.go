package daemon

import (
	"fmt"
	"log/slog"
)

// gnetLogger routes gnet's internal logs into slog. gnet's info lines
// ("launching with N event-loops") are demoted to debug: an operator's
// info log is the daemon's own story.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }

// Fatalf is an error, not an exit: gnet calls it only on conditions a
// caller of gnet.Run sees as an error too.
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
