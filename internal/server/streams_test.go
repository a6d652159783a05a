package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/batonci/baton/internal/api"
	"github.com/batonci/baton/internal/testenv"
)

// TestLiveLogStreamsLimitedPerAddress checks one client address holds at
// most api.MaxLiveStreams live log streams at once (429 beyond), that
// closing one frees its place, and that other addresses are not affected.
func TestLiveLogStreamsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := testenv.Start(t, testenv.Options{TrustedProxies: loopback})
	repo := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": okPipeline, "hello.txt": "hi\n"})
	createProject(t, e, "app", repo, nil)
	// No agent: the job stays queued and its log open.
	wfID := run(t, e, "app", "main")
	var jobID string
	e.Eventually(20*time.Second, func() bool {
		var w testenv.Workflow
		e.Do("GET", "/api/v1/workflows/"+wfID, nil, &w)
		for _, j := range w.Jobs() {
			jobID = j.ID
		}
		return jobID != ""
	}, "the job exists")

	follow := func(ctx context.Context, addr string) *http.Response {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/api/v1/jobs/"+jobID+"/log?follow=1", nil)
		req.Header.Set("Authorization", "Token "+e.Token)
		req.Header.Set("X-Forwarded-For", addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	for i := range api.MaxLiveStreams {
		ctx, cancel := context.WithCancel(t.Context())
		cancels = append(cancels, cancel)
		if resp := follow(ctx, "203.0.113.7"); resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, resp.StatusCode)
		}
	}
	resp := follow(t.Context(), "203.0.113.7")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("stream %d from one address: %d, want 429", api.MaxLiveStreams+1, resp.StatusCode)
	}
	// Another address is not affected.
	ctx, cancel := context.WithCancel(t.Context())
	cancels = append(cancels, cancel)
	if resp := follow(ctx, "198.51.100.9"); resp.StatusCode != http.StatusOK {
		t.Errorf("a stream from another address: %d, want 200", resp.StatusCode)
	}
	// Closing one frees its place.
	cancels[0]()
	e.Eventually(10*time.Second, func() bool {
		ctx, cancel := context.WithCancel(t.Context())
		resp := follow(ctx, "203.0.113.7")
		if resp.StatusCode == http.StatusOK {
			cancels = append(cancels, cancel)
			return true
		}
		resp.Body.Close()
		cancel()
		return false
	}, "a place frees up after a stream closes")
}
