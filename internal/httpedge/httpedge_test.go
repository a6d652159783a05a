package httpedge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8", "192.168.1.5,::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		proxies bool
		peer    string
		xff     []string
		want    string
	}{
		{"no proxy configured: header ignored", false, "10.1.2.3:5000", []string{"203.0.113.7"}, "10.1.2.3"},
		{"untrusted peer: header ignored", true, "198.51.100.1:5000", []string{"203.0.113.7"}, "198.51.100.1"},
		{"trusted peer", true, "10.1.2.3:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted single address", true, "192.168.1.5:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"trusted IPv6 loopback", true, "[::1]:5000", []string{"203.0.113.7"}, "203.0.113.7"},
		{"forged first hop", true, "10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.7"}, "203.0.113.7"},
		{"chain of proxies", true, "10.1.2.3:5000", []string{"203.0.113.7, 10.9.9.9"}, "203.0.113.7"},
		{"several header lines", true, "10.1.2.3:5000", []string{"1.1.1.1", "203.0.113.7"}, "203.0.113.7"},
		{"garbage hop stops the walk", true, "10.1.2.3:5000", []string{"203.0.113.7, evil"}, "10.1.2.3"},
		{"no header", true, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"IPv4-mapped peer", true, "[::ffff:10.1.2.3]:5000", []string{"203.0.113.7"}, "203.0.113.7"},
	} {
		cfg := Config{}
		if tc.proxies {
			cfg.TrustedProxies = trusted
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		h := e.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = ClientAddr(r) }))
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("%s: client %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBadConfigRefused(t *testing.T) {
	if _, err := ParsePrefixes([]string{"10.0.0.0/33"}); err == nil {
		t.Error("10.0.0.0/33 accepted")
	}
	if _, err := ParsePrefixes([]string{"proxy.example"}); err == nil || !strings.Contains(err.Error(), "CIDR") {
		t.Errorf("a host name: %v", err)
	}
	for _, u := range []string{"ci.example.com", "ftp://ci.example.com", "https://"} {
		if _, err := New(Config{PublicURL: u}); err == nil {
			t.Errorf("public URL %q accepted", u)
		}
	}
}

func TestSecure(t *testing.T) {
	for _, tc := range []struct {
		publicURL string
		want      bool
	}{{"https://ci.example.com", true}, {"http://ci.example.com", false}, {"", false}} {
		e, _ := New(Config{PublicURL: tc.publicURL})
		var got bool
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Forwarded-Proto", "https") // never believed
		e.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = Secure(r) })).ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("public URL %q: Secure = %t", tc.publicURL, got)
		}
	}
}

// TestSlowClientsAreCut checks the server's timeouts on a real listener:
// headers that never end and a body that drips are cut off, while a
// handler that waits long after reading its request (a long poll) is not.
func TestSlowClientsAreCut(t *testing.T) {
	e, _ := New(Config{BodyTimeout: 300 * time.Millisecond})
	srv := e.Server(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
			return
		}
		if r.URL.Path == "/wait" {
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
				http.Error(w, "cancelled", 499)
				return
			}
		}
		fmt.Fprint(w, "done")
	}))
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = srv
	ts.Start()
	defer ts.Close()

	// A long poll: the body is read at once, then the handler waits
	// longer than the body timeout.
	resp, err := http.Post(ts.URL+"/wait", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Errorf("long poll answered %q, want done", b)
	}

	// A dripping body.
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /drip HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(line, "408") || time.Since(start) > 4*time.Second {
		t.Errorf("dripping body: %q after %s, want the connection cut after the body timeout", line, time.Since(start))
	}
	if srv.ReadHeaderTimeout != ReadHeaderTimeout || srv.IdleTimeout != IdleTimeout {
		t.Errorf("server timeouts: header %s, idle %s", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
}
