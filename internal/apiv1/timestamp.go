package apiv1

import (
	"strconv"
	"time"
)

// Timestamp is a point in time written as Unix seconds with a millisecond
// fraction (1732579200.125), as in job log events.
type Timestamp time.Time

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// MarshalJSON writes t as Unix seconds with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

// UnmarshalJSON reads Unix seconds, with or without a fraction.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	*t = Timestamp(time.UnixMilli(int64(f*1000 + 0.5)))
	return nil
}

// Command is one command of a job's log: where its lines are and how it
// ended (ExitCode and FinishedAt are nil until it finishes).
type Command struct {
	Index      int        `json:"index"`
	Directive  string     `json:"directive"`
	ExitCode   *int       `json:"exit_code"`
	StartedAt  *Timestamp `json:"started_at"`
	FinishedAt *Timestamp `json:"finished_at"`
	FirstLine  int        `json:"first_line"`
	LastLine   int        `json:"last_line"`
}
