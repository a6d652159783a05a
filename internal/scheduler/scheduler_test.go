package scheduler

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"debian":                          "debian:latest",
		"debian:12":                       "debian:12",
		"docker.io/library/debian:12":     "debian:12",
		"library/debian":                  "debian:latest",
		"127.0.0.1:5000/app":              "127.0.0.1:5000/app:latest",
		"127.0.0.1:5000/app:1":            "127.0.0.1:5000/app:1",
		"baton-test/busybox":              "baton-test/busybox:latest",
		"debian@sha256:0123":              "debian@sha256:0123",
		"registry.example.com/a/b:latest": "registry.example.com/a/b:latest",
	} {
		if got := NormalizeImage(in); got != want {
			t.Errorf("NormalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefer(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const grace = 5 * time.Second
	job := Job{ID: "j1", Images: []string{"debian:12", "postgres"}, QueuedAt: now.Add(-time.Second)}
	holder := Agent{ID: "holder", Images: []string{"debian:12", "postgres:latest", "redis:7"}, Idle: true}
	cold := Agent{ID: "cold", Images: []string{"debian:12"}, Idle: true}
	for _, tc := range []struct {
		name      string
		agent     Agent
		others    []Agent
		jobs      []Job
		wantSkip  []string
		wantUntil time.Time
	}{
		{"a cold agent leaves the job to an idle holder", cold, []Agent{cold, holder}, []Job{job}, []string{"j1"}, job.QueuedAt.Add(grace)},
		{"the holder takes it", holder, []Agent{cold, holder}, []Job{job}, nil, time.Time{}},
		{"a busy holder does not count", cold, []Agent{{ID: "holder", Images: holder.Images}}, []Job{job}, nil, time.Time{}},
		{"no holder connected", cold, []Agent{cold}, []Job{job}, nil, time.Time{}},
		{"after the grace window anyone takes it", cold, []Agent{holder}, []Job{{ID: "j1", Images: job.Images, QueuedAt: now.Add(-grace)}}, nil, time.Time{}},
		{"jobs without images are never deferred", cold, []Agent{holder}, []Job{{ID: "j2", QueuedAt: now}}, nil, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip, until := Defer(tc.agent, tc.others, tc.jobs, now, grace)
			if d := cmp.Diff(tc.wantSkip, skip); d != "" || !until.Equal(tc.wantUntil) {
				t.Errorf("Defer = %q, %v; want %q, %v (%s)", skip, until, tc.wantSkip, tc.wantUntil, d)
			}
		})
	}
	if skip, _ := Defer(cold, []Agent{holder}, []Job{job}, now, 0); skip != nil {
		t.Errorf("Defer with no grace window = %q, want nothing deferred", skip)
	}
}
