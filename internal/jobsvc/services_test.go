package jobsvc

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/batonci/baton/internal/semservice"
)

// recordingRunner records what reaches the runner: the Docker executor in
// an agent (tested with Docker in internal/server).
type recordingRunner struct {
	mu      sync.Mutex
	started []semservice.Spec
}

func (r *recordingRunner) Start(_ context.Context, spec semservice.Spec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.started {
		if s.Service == spec.Service {
			return semservice.ErrRunning
		}
	}
	r.started = append(r.started, spec)
	return nil
}

func (r *recordingRunner) List(context.Context) ([]semservice.Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []semservice.Info
	for _, s := range r.started {
		out = append(out, s.Info(true))
	}
	return out, nil
}

func (r *recordingRunner) Stop(_ context.Context, name string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, s := range r.started {
		if s.Service == name {
			r.started = append(r.started[:i], r.started[i+1:]...)
			return true, nil
		}
	}
	return false, nil
}

func (r *recordingRunner) Logs(context.Context, string) (string, error) { return "log line\n", nil }

// TestServicesRefuseWhatIsNotInTheCatalogue: a job reaches Docker only
// with a service and version of the catalogue; image names, flags,
// mounts, privileges and ports in the request are refused before the
// runner sees anything.
func TestServicesRefuseWhatIsNotInTheCatalogue(t *testing.T) {
	run := &recordingRunner{}
	s, err := Start(Config{Services: run, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tests := []struct {
		name, body string
		code       int
		want       string
	}{
		{"an image", `{"service":"alpine"}`, 400, `unknown service "alpine"`},
		{"an image field", `{"service":"redis","image":"evil/miner:latest"}`, 400, `unknown field "image"`},
		{"privileged", `{"service":"redis","privileged":true}`, 400, `unknown field "privileged"`},
		{"mounts", `{"service":"postgres","mounts":["/:/host"]}`, 400, `unknown field "mounts"`},
		{"ports", `{"service":"postgres","ports":[22]}`, 400, `unknown field "ports"`},
		{"docker flags as the version", `{"service":"postgres","version":"15 -v /:/host"}`, 400, "is not available"},
		{"docker flags as a name", `{"service":"--privileged"}`, 400, "unknown service"},
		{"an unknown version", `{"service":"redis","version":"1"}`, 400, `redis version "1" is not available; versions: 2.8`},
		{"not JSON", `redis`, 400, "a start request is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := raw(t, s, s.token, "POST", "/v1/services", strings.NewReader(tt.body))
			var e Error
			if json.Unmarshal([]byte(body), &e) == nil {
				body = e.Message
			}
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("POST %s = %d %s, want %d with %q", tt.body, code, body, tt.code, tt.want)
			}
		})
	}
	if len(run.started) != 0 {
		t.Fatalf("the runner got %+v from refused requests", run.started)
	}
	if code, _ := raw(t, s, "wrong", "POST", "/v1/services", strings.NewReader(`{"service":"redis"}`)); code != http.StatusUnauthorized {
		t.Errorf("without the job's token: %d, want 401", code)
	}

	c, err := NewClient(envOf(s.Env()))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.ServiceStart(t.Context(), semservice.Request{Service: "postgres", Version: "15", Username: "app", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Image != "postgres:15" || len(run.started) != 1 || run.started[0].Image != "postgres:15" {
		t.Errorf("started %+v (runner %+v), want postgres:15", spec, run.started)
	}
	if _, err := c.ServiceStart(t.Context(), semservice.Request{Service: "postgres"}); !IsStatus(err, http.StatusConflict) {
		t.Errorf("second start = %v, want 409", err)
	}
	list, err := c.ServiceList(t.Context())
	if err != nil || len(list) != 1 || list[0].Service != "postgres" || !list[0].Running {
		t.Errorf("list = %+v, %v", list, err)
	}
	if ok, err := c.ServiceStop(t.Context(), "postgres"); !ok || err != nil {
		t.Errorf("stop = %t, %v", ok, err)
	}
	if ok, err := c.ServiceStop(t.Context(), "postgres"); ok || err != nil {
		t.Errorf("second stop = %t, %v; want false (nothing running)", ok, err)
	}
}

// TestServicesUnavailable: without a runner every call says why, in one
// line.
func TestServicesUnavailable(t *testing.T) {
	s, err := Start(Config{NoServices: "sem-service needs Docker, and this agent has none", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, _ := NewClient(envOf(s.Env()))
	_, err = c.ServiceStart(t.Context(), semservice.Request{Service: "redis"})
	if !IsStatus(err, http.StatusServiceUnavailable) || err.Error() != "sem-service needs Docker, and this agent has none" {
		t.Errorf("start = %v, want 503 with the reason", err)
	}
}
