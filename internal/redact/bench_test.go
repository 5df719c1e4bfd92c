package redact

import (
	"fmt"
	"strings"
	"testing"
)

// keyLikeLine is a line of size bytes full of keys shaped like those in
// use but not in use (so every position is looked up and none is cut
// short by a match), as the review's worst case: short ones (key-N) or
// long ones (30 characters).
func keyLikeLine(size int, short bool) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		if short {
			fmt.Fprintf(&b, "key-%d ", 900_000+i)
		} else {
			fmt.Fprintf(&b, "sk-test-%022d ", i*104_729)
		}
	}
	return b.String()[:size]
}

// BenchmarkClean is one log line through the writer's redaction at 1,
// 1 000 and 20 000 keys in use, short and long: its cost must not grow
// with the keys (docs/performance.md has the figures).
func BenchmarkClean(b *testing.B) {
	for _, short := range []bool{true, false} {
		for _, n := range []int{1, 1000, 20_000} {
			keys := longKeys(n)
			kind := "long"
			if short {
				keys, kind = shortKeys(n), "short"
			}
			s := NewSet(n)
			for _, k := range keys {
				s.Add(k)
			}
			for _, size := range []int{1024, 4096} {
				line := keyLikeLine(size, short)
				b.Run(fmt.Sprintf("keys=%d/%s/line=%dB", n, kind, size), func(b *testing.B) {
					b.SetBytes(int64(size))
					for b.Loop() {
						_ = s.Clean(line, 2*size)
					}
				})
			}
		}
	}
}
