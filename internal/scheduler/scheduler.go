// Package scheduler holds the pure part of the dispatcher's matching
// decisions: values in, values out, no clock, database or network.
//
// Image affinity: a job in containers starts faster on an agent whose
// Docker already holds its images. For a short grace window after a job
// is queued, an agent that lacks the job's images leaves it alone while
// an idle agent that holds them is connected (that agent takes it on its
// next poll, which the queueing wakes at once). After the window anyone
// may take it, so affinity never delays a job by more than the window.
package scheduler

import (
	"slices"
	"strings"
	"time"
)

// Agent is what the decision needs to know about an agent.
type Agent struct {
	ID string
	// Images are the images it holds ("name:tag").
	Images []string
	// Idle is set when it can take a job now (connected, free slot,
	// Docker).
	Idle bool
}

// Job is a queued job in containers.
type Job struct {
	ID       string
	Images   []string
	QueuedAt time.Time
}

// Defer returns the jobs agent should leave for now to another idle agent
// that holds their images, and when the earliest of those decisions
// expires (zero when none is deferred).
func Defer(agent Agent, others []Agent, jobs []Job, now time.Time, grace time.Duration) (skip []string, until time.Time) {
	if grace <= 0 {
		return nil, time.Time{}
	}
	for _, j := range jobs {
		end := j.QueuedAt.Add(grace)
		if len(j.Images) == 0 || !now.Before(end) || Holds(agent.Images, j.Images) {
			continue
		}
		for _, o := range others {
			if o.ID != agent.ID && o.Idle && Holds(o.Images, j.Images) {
				skip = append(skip, j.ID)
				if until.IsZero() || end.Before(until) {
					until = end
				}
				break
			}
		}
	}
	return skip, until
}

// Holds reports whether held contains every image of want, comparing
// normalised references.
func Holds(held, want []string) bool {
	if len(want) == 0 {
		return true
	}
	set := make(map[string]bool, len(held))
	for _, h := range held {
		set[NormalizeImage(h)] = true
	}
	for _, w := range want {
		if !set[NormalizeImage(w)] {
			return false
		}
	}
	return true
}

// NormalizeImage returns the form of an image reference Docker lists it
// under: the tag "latest" when none is given, and Docker Hub's
// "docker.io/" and "library/" prefixes dropped (docker.io/library/debian
// → debian:latest).
func NormalizeImage(ref string) string {
	ref = strings.TrimSpace(ref)
	if strings.Contains(ref, "@") {
		return ref
	}
	for _, p := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		ref = strings.TrimPrefix(ref, p)
	}
	ref = strings.TrimPrefix(ref, "library/")
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if !strings.Contains(last, ":") {
		ref += ":latest"
	}
	return ref
}

// Images returns the distinct images of a job's containers.
func Images(containers []string) []string {
	var out []string
	for _, c := range containers {
		if c != "" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}
