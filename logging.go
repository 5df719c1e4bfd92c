package main

import (
	"io"
	"log"

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
	prev := log.Writer()
	log.SetOutput(safe)
	return safe, func() { log.SetOutput(prev) }
}
