package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sunor-community/sunor_exporter/internal/testing/hostileapi"
	"github.com/sunor-community/sunor_exporter/internal/testing/testtool"
)

// TestJSONLogEveryLine: with --log.format=json every line the real binary
// writes is a JSON object, the standard library's too (here net/http's
// "Unsolicited response", from an API that sends bytes after its answer),
// and one cut at redact.MaxLineChars (the bytes quoted are longer).
func TestJSONLogEveryLine(t *testing.T) {
	const body = `{"code":200,"data":{"available":1,"frozen":0,"total":1}}`
	srv := hostileapi.New(t, reply("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sHTTP/1.1 200 OK\r\nX-Leak: KEY\r\nX-Pad: %s\r\n\r\n",
		len(body), body, strings.Repeat("p", 20_000)))
	cmd := exec.Command(testtool.ExporterBinary(t), "--web.listen-address=127.0.0.1:0", "--log.format=json",
		"--sunor.url="+srv.URL, "--no-collector.usage", "--sunor.max-calls-per-minute=0")
	cmd.Env = append(os.Environ(), "SUNOR_API_KEY="+canaryKey)
	p := testtool.Start(t, cmd)
	line := p.Out.WaitFor(t, regexp.MustCompile(`"msg":"Listening on"`), 20*time.Second)
	var listening struct{ Address string }
	if err := json.Unmarshal([]byte(line), &listening); err != nil {
		t.Fatalf("the listening line %q: %v", line, err)
	}
	fetchPage(t, "http://"+strings.Replace(listening.Address, "[::]", "127.0.0.1", 1)+"/metrics")
	p.Out.WaitFor(t, regexp.MustCompile(`Unsolicited response`), 20*time.Second)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("exit status %d", code)
	}
	for _, l := range strings.Split(strings.TrimSpace(p.Out.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Errorf("not a JSON object (%v): %.300s", err, l)
		}
	}
	checkNoLeak(t, p.Out.String(), nil, canaryKey)
}
