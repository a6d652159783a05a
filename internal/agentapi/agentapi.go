// Package agentapi is the versioned protocol between agents and the server:
// JSON over HTTP under /agent/v1. It holds the message types shared by
// both sides and the client agents use.
//
// Authentication: an agent token (`Authorization: Token bag_...`) only
// registers agents. Registration returns a credential (bacr_...) bound to
// the agent's ID; every other request carries that credential instead
// (`Authorization: Token bacr_...`), and the server accepts a job's logs,
// finish and debug streams only from the agent the job is assigned to. A
// restarting agent sends its old ID and credential with its registration;
// an ID whose agent is still connected cannot be registered without it.
// Revoking a token voids the credentials of the agents it registered.
//
// The protocol:
//   - POST /agent/v1/register: an agent announces itself and gets its ID
//     and credential.
//   - POST /agent/v1/poll: a long poll that is also the heartbeat. The agent
//     says how many slots are free and which jobs it runs; the server answers
//     as soon as it has something (a job, a cancellation, a drain) or after
//     PollTimeout with nothing. Dispatch is event-driven: a queued job wakes
//     waiting polls at once.
//   - POST /agent/v1/jobs/{id}/logs: one sequenced log chunk, gzip-encoded
//     JSON; retried until acknowledged; idempotent per sequence number.
//   - POST /agent/v1/jobs/{id}/finish: the job's result, accepted only once
//     every chunk is stored (409 with the next expected sequence otherwise),
//     so a job is reported finished only when its log is durable.
//   - POST /agent/v1/disconnect: a clean goodbye.
//
// Debug sessions (baton attach, baton debug) use the same channel, so
// agents behind NAT never open a port:
//   - At registration an agent reports its SSH host key (SSHHostKey), which
//     the CLI pins (the user's ssh checks it).
//   - When a user asks for a shell in a job, the server records a pending
//     stream and wakes the poll of the job's agent, whose response carries
//     a Stream: its ID, the job, and the public keys of the user (the only
//     keys the agent's SSH server accepts on it).
//   - The agent dials GET /agent/v1/streams/{id} with `Connection:
//     Upgrade`, `Upgrade: baton-stream` and its token; the server answers
//     101 Switching Protocols and splices the connection to the user's
//     (GET /api/v1/jobs/{id}/ssh/connect, also an upgrade). The bytes are
//     an SSH connection: the agent runs an in-process SSH server on it.
//
// The server that holds the user's end of a stream must be the one the
// agent dials: the Stream carries that server's URL (its configured base
// URL), so with several servers sharing one database each must be
// reachable by agents at its own URL; a dial that reaches another server
// is refused (404).
package agentapi

import (
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/jobspec"
)

// Version is the protocol version; it is part of every path.
const Version = "v1"

// Prefix is the path prefix of every protocol endpoint.
const Prefix = "/agent/" + Version

// CredentialPrefix starts every agent credential.
const CredentialPrefix = "bacr_"

// RegisterRequest announces an agent.
type RegisterRequest struct {
	// AgentID is set when an agent restarts and wants its old identity (and
	// to clean up after jobs it was running when it died).
	AgentID string `json:"agent_id,omitempty"`
	// Credential is the credential the agent was given when it last
	// registered under AgentID: it proves the agent is the same one, so
	// it may take the ID over while the server still thinks it connected.
	Credential string   `json:"credential,omitempty"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Slots      int      `json:"slots"`
	Version    string   `json:"version"`
	Hostname   string   `json:"hostname"`
	OS         string   `json:"os"`
	Arch       string   `json:"arch"`
	Executors  []string `json:"executors"`
	// SSHHostKey is the agent's SSH host public key (authorized_keys
	// format), for debug sessions; "" if it has none.
	SSHHostKey string `json:"ssh_host_key,omitempty"`
}

// RegisterResponse confirms a registration.
type RegisterResponse struct {
	AgentID string `json:"agent_id"`
	// Credential authenticates every later request of this agent (and
	// its next registration); it is shown once, the server keeps a hash.
	Credential string `json:"credential"`
	// PollTimeout is how long the server may hold a poll open.
	PollTimeout Duration `json:"poll_timeout"`
	// LostAfter is how long the server waits for a poll before it declares
	// the agent lost; agents must poll more often than that.
	LostAfter Duration `json:"lost_after"`
}

// PollRequest is the long poll, and the agent's heartbeat.
type PollRequest struct {
	AgentID   string   `json:"agent_id"`
	FreeSlots int      `json:"free_slots"`
	Running   []string `json:"running"`
	// Draining asks for no new jobs (graceful shutdown).
	Draining bool `json:"draining,omitempty"`
	// Images lists the container images the agent holds ("name:tag");
	// absent means no change (or no Docker). The list is reset when the
	// agent registers.
	Images []string `json:"images,omitempty"`
	// ImagesKnown says that Images is the agent's whole list, even when
	// empty (every image removed).
	ImagesKnown bool `json:"images_known,omitempty"`
	// ImagePruning is what the agent removed over its image disk budget
	// since it started; absent if nothing.
	ImagePruning *ci.ImagePruning `json:"image_pruning,omitempty"`
}

// PollResponse carries the server's instructions.
type PollResponse struct {
	Assign []Assignment `json:"assign,omitempty"`
	Cancel []Cancel     `json:"cancel,omitempty"`
	// Reregister tells an agent the server does not know it (for example
	// after its registration was dropped); it must register again.
	Reregister bool `json:"reregister,omitempty"`
	// Streams ask the agent to dial debug session streams.
	Streams []Stream `json:"streams,omitempty"`
}

// StreamUpgrade is the Upgrade protocol of stream connections.
const StreamUpgrade = "baton-stream"

// Stream asks the agent to dial /agent/v1/streams/{ID} and serve SSH on
// it for a shell in one of its jobs.
type Stream struct {
	ID    string `json:"id"`
	JobID string `json:"job_id"`
	// Kind is "attach" or "debug".
	Kind string `json:"kind"`
	// User is the login of who connects.
	User string `json:"user"`
	// URL is the server to dial the stream at (the one holding the
	// user's end); empty means the server the agent polls.
	URL string `json:"url,omitempty"`
	// AuthorizedKeys are the public keys (authorized_keys lines) the
	// SSH server accepts on this stream: the user's registered keys.
	AuthorizedKeys []string `json:"authorized_keys"`
}

// Assignment is a job for the agent to run.
type Assignment struct {
	JobID string `json:"job_id"`
	// Job is what to run, secret values included (sent only over this
	// authenticated channel, only to the agent that runs the job).
	Job jobspec.Job `json:"job"`
	// Checkout says which commit the job's workspace holds.
	Checkout *Checkout `json:"checkout,omitempty"`
	// Project and Workflow are the IDs of the job's project and workflow:
	// the agent's job service (internal/jobsvc) gives the job that
	// project's cache and artifacts and no other's. They come from the
	// server, not from the job's variables, which its YAML can set.
	Project  string `json:"project,omitempty"`
	Workflow string `json:"workflow,omitempty"`
	// Fork is set for a pull request from a fork: its job service
	// refuses writes to the project's cache and project artifacts.
	Fork bool `json:"fork,omitempty"`
	// Tools are the organisation's global tools: the agent installs them
	// in its tool cache (once per agent and version) and puts them on
	// the job's PATH.
	Tools []ci.GlobalTool `json:"tools,omitempty"`
}

// Checkout is the repository and commit a job builds.
type Checkout struct {
	// Project is the ID of the job's project: the agent keeps a mirror
	// per project and never checks out from another project's.
	Project  string `json:"project"`
	URL      string `json:"url"`
	SHA      string `json:"sha"`
	Ref      string `json:"ref,omitempty"`
	RepoName string `json:"repo_name"`
	// Merge is set for a pull request: SHA is the merge of the head into
	// the base, which the agent makes itself (the server made the same,
	// deterministic commit in its own mirror).
	Merge *Merge `json:"merge,omitempty"`
}

// Merge says how to make a pull request's merge commit.
type Merge struct {
	BaseSHA string `json:"base_sha"`
	// HeadURL is where the head is fetched from; "" means the URL of the
	// checkout (a pull request from the same repository).
	HeadURL string `json:"head_url,omitempty"`
	HeadSHA string `json:"head_sha"`
}

// Cancel asks the agent to stop a running job.
type Cancel struct {
	JobID  string    `json:"job_id"`
	Reason ci.Reason `json:"reason"`
}

// LogChunk is one sequenced batch of a job's log events.
type LogChunk struct {
	Seq    int        `json:"seq"`
	Events []ci.Event `json:"events"`
}

// LogAck acknowledges chunks: Next is the sequence number the server
// expects next (all before it are stored).
type LogAck struct {
	Next int `json:"next"`
}

// FinishRequest reports a job's end.
type FinishRequest struct {
	Result ci.Result `json:"result"`
	Reason ci.Reason `json:"result_reason,omitempty"`
	// Chunks is the number of log chunks the job produced.
	Chunks int `json:"chunks"`
	// Last, when set, is the log's last chunk (Seq Chunks-1), sent with
	// the result instead of on its own: a small job's whole log and
	// result are then one request. The server stores it first, as a
	// chunk sent to /logs; a gap answer says what to send (on its own).
	Last *LogChunk `json:"last_chunk,omitempty"`
}

// DisconnectRequest is the body of POST /agent/v1/disconnect: the agent
// saying goodbye.
type DisconnectRequest struct {
	AgentID string `json:"agent_id"`
}

// Error is the body of every error response.
type Error struct {
	Message string `json:"message"`
	// Next is set on 409 responses to log and finish requests.
	Next *int `json:"next,omitempty"`
}

// Duration is a time.Duration carried as milliseconds.
type Duration int64

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) * time.Millisecond }

// Ms converts a time.Duration.
func Ms(d time.Duration) Duration { return Duration(d / time.Millisecond) }
