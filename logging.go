package main

import (
	"io"
	stdlog "log"
	"strings"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/sunor-community/sunor_exporter/internal/redact"
)

// installSafeLogging returns w behind the redaction of every key in use and
// the bound on a line's length (redact.Writer), and sends the standard log
// package's output there too. Everything that logs goes through it: the
// exporter's go-kit lines, the exporter-toolkit's slog (bridged to go-kit),
// and whatever the standard library or a dependency writes with log or
// slog's default logger, such as net/http's transport quoting unsolicited
// bytes from the API, or http.Server, whose nil ErrorLog means log's. The
// returned function puts the previous standard log output back.
func installSafeLogging(w io.Writer) (io.Writer, func()) {
	safe := redact.Writer(w, redact.Known)
	prev := stdlog.Writer()
	stdlog.SetOutput(safe)
	return safe, func() { stdlog.SetOutput(prev) }
}

// logStdlibAs makes the standard log package's lines (and slog's default
// logger's, which go through it) lines of l, a logger in the format asked
// for: with --log.format=json, net/http's "Unsolicited response" and
// http.Server's errors were plain text among the JSON lines. Each becomes
// one line at warn (they are the standard library's complaints about
// peers), whatever --log.level, as they always were shown. The returned
// function puts the previous output and flags back.
func logStdlibAs(l log.Logger) func() {
	prev, flags := stdlog.Writer(), stdlog.Flags()
	stdlog.SetFlags(0) // the logger adds its own time
	stdlog.SetOutput(stdlibLines{level.Warn(l)})
	return func() { stdlog.SetOutput(prev); stdlog.SetFlags(flags) }
}

// stdlibLines logs each line the log package writes as the msg of one
// line of its logger. The log package writes one line per call.
type stdlibLines struct{ l log.Logger }

func (s stdlibLines) Write(p []byte) (int, error) {
	if err := s.l.Log("msg", strings.TrimSuffix(string(p), "\n")); err != nil {
		return 0, err
	}
	return len(p), nil
}
