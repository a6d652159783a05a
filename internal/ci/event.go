package ci

import (
	"strconv"
	"time"
)

// EventKind names a job log event (docs/semaphore.md §7.3) or one of Baton's
// pipeline-level additions.
type EventKind string

// The event kinds. The first five are Semaphore's job log events.
const (
	EventJobStarted       EventKind = "job_started"
	EventCmdStarted       EventKind = "cmd_started"
	EventCmdOutput        EventKind = "cmd_output"
	EventCmdFinished      EventKind = "cmd_finished"
	EventJobFinished      EventKind = "job_finished"
	EventBlockFinished    EventKind = "block_finished"
	EventPipelineFinished EventKind = "pipeline_finished"
)

// Timestamp is a point in time that marshals to JSON as Unix seconds with a
// millisecond fraction (for example 1732579200.125).
type Timestamp time.Time

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// MarshalJSON renders t as Unix seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

// UnmarshalJSON parses Unix seconds, with or without a fraction.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*t = Timestamp(time.UnixMilli(int64(f*1000 + 0.5)))
	return nil
}

// Event is one entry of a job's log stream. Kind decides which fields are
// meaningful:
//   - job_started: Timestamp.
//   - cmd_started: Directive (the command, or its alias).
//   - cmd_output: Output, a chunk that may hold partial lines.
//   - cmd_finished: Directive, ExitCode, StartedAt, FinishedAt.
//   - job_finished, block_finished, pipeline_finished: Result.
//
// Block and Job name the unit the event belongs to when several jobs share
// one stream (baton run --json).
type Event struct {
	Kind       EventKind  `json:"event"`
	Timestamp  Timestamp  `json:"timestamp"`
	Block      string     `json:"block,omitempty"`
	Job        string     `json:"job,omitempty"`
	Directive  string     `json:"directive,omitempty"`
	Output     string     `json:"output,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	StartedAt  *Timestamp `json:"started_at,omitempty"`
	FinishedAt *Timestamp `json:"finished_at,omitempty"`
	Result     Result     `json:"result,omitempty"`
	Reason     Reason     `json:"result_reason,omitempty"`
}

// DirectivePrepare is the one command in the log of a job that could not
// be prepared.
const DirectivePrepare = "Preparing the job"

// PrepareFailed returns the log of a job that could not be prepared (a
// secret it names does not exist, its workspace cannot be made): one
// "Preparing the job" command that failed with msg as its output, then the
// job's end with result and reason. `baton run`, the engine and agents
// write it alike.
func PrepareFailed(ts Timestamp, msg string, result Result, reason Reason) []Event {
	code := 1
	return []Event{
		{Kind: EventJobStarted, Timestamp: ts},
		{Kind: EventCmdStarted, Timestamp: ts, Directive: DirectivePrepare},
		{Kind: EventCmdOutput, Timestamp: ts, Output: msg + "\n"},
		{Kind: EventCmdFinished, Timestamp: ts, Directive: DirectivePrepare, ExitCode: &code, StartedAt: &ts, FinishedAt: &ts},
		{Kind: EventJobFinished, Timestamp: ts, Result: result, Reason: reason},
	}
}
