package apiv1

import "time"

// Library is an organisation script library: a git repository whose files
// pipelines use as command lists (commands_file: "@NAME/path") and jobs
// check out (lib checkout). The repository URL is shown with its
// credentials redacted; Token says whether a token is stored (never the
// token). SSHKey is the public key of the stored SSH private key (an
// authorized_keys line, to register as the repository's deploy key;
// never the private key), SSHFingerprint its SHA256 fingerprint, and
// KnownHosts the host keys the SSH server must show ("HOSTS TYPE
// FINGERPRINT").
type Library struct {
	Name           string    `json:"name"`
	RepoURL        string    `json:"repo_url"`
	Branch         string    `json:"branch"`
	Token          bool      `json:"token"`
	SSHKey         string    `json:"ssh_key,omitempty"`
	SSHFingerprint string    `json:"ssh_key_fingerprint,omitempty"`
	KnownHosts     []string  `json:"known_hosts,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	CreatedBy      string    `json:"created_by"`
	UpdatedAt      time.Time `json:"updated_at"`
	UpdatedBy      string    `json:"updated_by"`
}

// LibraryRequest adds (POST: Name and RepoURL required, Branch "main"
// when absent) or changes (PATCH: what is set changes) a library. Token
// replaces the stored token; "" removes it. SSHKey replaces the SSH
// private key (for ssh:// and user@host:path URLs); "" removes it.
// KnownHosts (known_hosts lines) replaces the host keys the SSH server
// must show; "" reads them from the server now. Without it, they are read
// from the server when a key is first set or the URL names another
// server (trust on first use), and kept otherwise.
type LibraryRequest struct {
	Name       string  `json:"name,omitempty"`
	RepoURL    *string `json:"repo_url,omitempty"`
	Branch     *string `json:"branch,omitempty"`
	Token      *string `json:"token,omitempty"`
	SSHKey     *string `json:"ssh_key,omitempty"`
	KnownHosts *string `json:"known_hosts,omitempty"`
}

// LibraryDetail is a library with its branch head now, its files there
// and the pipelines that used its files in the last 30 days.
type LibraryDetail struct {
	Library
	// Head is the branch's head commit; HeadError says why it could not
	// be read (Head and Files are empty then).
	Head      string         `json:"head,omitempty"`
	HeadError string         `json:"head_error,omitempty"`
	Files     []LibraryFile  `json:"files"`
	Uses      []LibraryUse   `json:"uses"`
	Commit    *LibraryCommit `json:"head_commit,omitempty"`
}

// LibraryFile is one file of a library at a commit.
type LibraryFile struct {
	Path string `json:"path"`
	// Mode is git's: 100644, 100755, or 120000 for a symbolic link.
	Mode string `json:"mode"`
	Size int64  `json:"size"`
}

// LibraryFileView is a library file at the branch head: its content and
// the commits that changed it, newest first.
type LibraryFileView struct {
	Library string          `json:"library"`
	Path    string          `json:"path"`
	Head    string          `json:"head"`
	Content string          `json:"content"`
	History []LibraryCommit `json:"history"`
	Uses    []LibraryUse    `json:"uses"`
}

// LibraryCommit is a commit of a library's repository.
type LibraryCommit struct {
	SHA     string    `json:"sha"`
	Author  string    `json:"author"`
	At      time.Time `json:"at"`
	Subject string    `json:"subject"`
}

// LibraryUse is a pipeline that used a library file, and at which commit.
// Only pipelines of projects the reader may see are listed.
type LibraryUse struct {
	Path           string    `json:"path"`
	SHA            string    `json:"sha"`
	At             time.Time `json:"at"`
	Project        string    `json:"project"`
	WorkflowID     string    `json:"workflow_id"`
	WorkflowNumber int       `json:"workflow_number"`
	PipelineID     string    `json:"pipeline_id"`
	Pipeline       string    `json:"pipeline"`
	State          State     `json:"state"`
	Result         Result    `json:"result,omitempty"`
}

// LibraryPin is the commit of a library fixed for a workflow when it was
// created; its pipelines, promotions and rebuilds read the library there.
// Error says why the branch could not be read then.
type LibraryPin struct {
	Name  string `json:"name"`
	SHA   string `json:"sha,omitempty"`
	Error string `json:"error,omitempty"`
}
