package collector

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Prometheus asks for gzip on every scrape. promhttp compresses at gzip's
// default level while the text encoder writes line by line, which made
// compression the largest cost of a scrape (about 200µs of 750µs here).
// Encoding into a buffer and compressing it in one write at BestSpeed costs
// about 40µs, for an answer some 10% larger (2.7 KB instead of 2.4 KB).

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// gzipWriters keeps a few compressors across garbage collections, which
// empty a sync.Pool: a BestSpeed compressor holds about 450 KB, and making
// one per scrape doubled the cost of compression and grew the heap.
var gzipWriters = make(chan *gzip.Writer, 4)

func getGzip() *gzip.Writer {
	select {
	case w := <-gzipWriters:
		return w
	default:
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}
}

func putGzip(w *gzip.Writer) {
	select {
	case gzipWriters <- w:
	default: // enough kept; let this one go
	}
}

// bufferedResponse holds a response until it is known whether to compress it.
type bufferedResponse struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

// serveCompressed runs h into a buffer and sends the result, gzipped at
// BestSpeed when the client accepts gzip.
func serveCompressed(w http.ResponseWriter, r *http.Request, h http.Handler) {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	resp := &bufferedResponse{header: w.Header(), body: buf}
	h.ServeHTTP(resp, r)
	if resp.status == 0 {
		resp.status = http.StatusOK
	}
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		w.WriteHeader(resp.status)
		_, _ = w.Write(buf.Bytes())
		return
	}
	// Compress into a second buffer so that the answer goes out with a
	// Content-Length in one write, not chunked in several.
	zbuf := bufPool.Get().(*bytes.Buffer)
	zbuf.Reset()
	defer bufPool.Put(zbuf)
	gz := getGzip()
	gz.Reset(zbuf)
	_, _ = gz.Write(buf.Bytes())
	_ = gz.Close()
	putGzip(gz)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("Content-Length", strconv.Itoa(zbuf.Len()))
	w.WriteHeader(resp.status)
	_, _ = w.Write(zbuf.Bytes())
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip: a
// "gzip" or "*" entry whose q-value is not 0 (RFC 9110 12.5.3).
func acceptsGzip(header string) bool {
	for _, entry := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(entry, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		if q > 0 {
			return true
		}
	}
	return false
}
