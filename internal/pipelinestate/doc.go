// Package pipelinestate is the pipeline state machine, defined once for
// the server's engine and for `baton run`: events come in (a job started
// or finished, its agent was lost, a stop, a stop of one job, a newer
// pipeline superseding this one, time passing) and decisions come out
// (the jobs to start, the running jobs to stop, whether the pipeline left
// its queue or ended, and its result). It works on a pipeline tree
// (ci.Pipeline with its blocks and jobs) in memory and does no I/O: the
// engine reads the tree in a transaction, applies an event and writes
// back what changed; `baton run` keeps the tree in memory.
//
// Receive applies an event; Advance then moves every unit as far as it
// can go. Advance is level-triggered: calling it twice in a row changes
// nothing the second time, so every event ends with the same call.
package pipelinestate
