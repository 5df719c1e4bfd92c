package baseurl

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "sunor.cc", "ftp://sunor.cc", "http://", "https://user:pw@sunor.cc", "://x",
		"https://sunor.cc/?token=s3cr3t-t0ken", "https://sunor.cc?", "https://sunor.cc/#s3cr3t-t0ken"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a bad URL", bad)
		} else if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Parse(%q): the error shows the token: %v", bad, err)
		}
	}
	u, err := Parse("https://sunor.cc/")
	if err != nil || u.String() != "https://sunor.cc" {
		t.Errorf("Parse(https://sunor.cc/) = %v, %v", u, err)
	}
	u, err = Parse("http://127.0.0.1:8080/proxy/")
	if err != nil || u.String() != "http://127.0.0.1:8080/proxy" {
		t.Errorf("got %v, %v", u, err)
	}
}
