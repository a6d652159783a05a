package store

import (
	"context"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// Library is an organisation script library: a git repository whose files
// pipelines use as command lists and jobs check out. Token is the sealed
// credential for the repository ("" for none); SSHKey the sealed private
// key for an SSH repository ("" for none), SSHPublicKey its public key
// (an authorized_keys line) and KnownHosts the host keys its server must
// show (known_hosts lines); sealing and opening are the caller's
// (internal/vault).
type Library struct {
	ID           string
	Name         string
	RepoURL      string
	Branch       string
	Token        string
	SSHKey       string
	SSHPublicKey string
	KnownHosts   string
	CreatedAt    time.Time
	CreatedBy    string
	UpdatedAt    time.Time
	UpdatedBy    string
}

// LibraryPin is the commit of a library fixed for a workflow: the head of
// its branch when the workflow was created. Error says why there is no
// commit (the repository could not be reached); SHA is "" then.
type LibraryPin struct {
	Name      string
	LibraryID string
	SHA       string
	Error     string
}

// LibraryUse is one library file a pipeline used, with where it ran.
type LibraryUse struct {
	PipelineID string
	LibraryID  string
	Path       string
	SHA        string
	CreatedAt  time.Time
	// Filled by ListLibraryUses.
	WorkflowID     string
	WorkflowNumber int
	ProjectID      string
	ProjectName    string
	PipelineName   string
	PipelineResult string
	PipelineState  string
}

const libraryCols = `id, name, repo_url, branch, token, ssh_key, ssh_public_key, known_hosts, created_at, created_by, updated_at, updated_by`

func scanLibrary(s scanner) (*Library, error) {
	l := &Library{}
	err := s.Scan(&l.ID, &l.Name, &l.RepoURL, &l.Branch, &l.Token, &l.SSHKey, &l.SSHPublicKey, &l.KnownHosts,
		timeCol{&l.CreatedAt}, &l.CreatedBy, timeCol{&l.UpdatedAt}, &l.UpdatedBy)
	return l, err
}

// CreateLibrary stores a new library, giving it an ID if it has none;
// ErrConflict if the name is taken.
func (tx *Tx) CreateLibrary(l *Library) error {
	if l.ID == "" {
		l.ID = ids.New()
	}
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = l.CreatedAt
	}
	normTime(&l.CreatedAt)
	normTime(&l.UpdatedAt)
	_, err := tx.exec(`INSERT INTO libraries (`+libraryCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		l.ID, l.Name, l.RepoURL, l.Branch, l.Token, l.SSHKey, l.SSHPublicKey, l.KnownHosts, tx.ts(l.CreatedAt), l.CreatedBy, tx.ts(l.UpdatedAt), l.UpdatedBy)
	return wrap("create library", err)
}

// UpdateLibrary writes every field of l but its ID, name and creation;
// ErrNotFound if it does not exist.
func (tx *Tx) UpdateLibrary(l *Library) error {
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = time.Now()
	}
	normTime(&l.UpdatedAt)
	return tx.execOne("update library", `UPDATE libraries SET repo_url = $2, branch = $3, token = $4,
		ssh_key = $5, ssh_public_key = $6, known_hosts = $7, updated_at = $8, updated_by = $9 WHERE id = $1`,
		l.ID, l.RepoURL, l.Branch, l.Token, l.SSHKey, l.SSHPublicKey, l.KnownHosts, tx.ts(l.UpdatedAt), l.UpdatedBy)
}

// DeleteLibrary deletes a library by name. Workflows that pinned it keep
// their pins (and fail to read it); its uses are deleted.
func (tx *Tx) DeleteLibrary(name string) error {
	l, err := tx.GetLibrary(name)
	if err != nil {
		return err
	}
	if _, err := tx.exec(`DELETE FROM library_uses WHERE library_id = $1`, l.ID); err != nil {
		return wrap("delete library", err)
	}
	return tx.execOne("delete library", `DELETE FROM libraries WHERE id = $1`, l.ID)
}

// GetLibrary returns a library by name.
func (tx *Tx) GetLibrary(name string) (*Library, error) {
	l, err := scanLibrary(tx.queryRow(`SELECT `+libraryCols+` FROM libraries WHERE name = $1`, name))
	if err != nil {
		return nil, wrap("get library", err)
	}
	return l, nil
}

// GetLibrary returns a library by name.
func (db *DB) GetLibrary(ctx context.Context, name string) (*Library, error) {
	return db.reader(ctx).GetLibrary(name)
}

// GetLibraryByID returns a library by ID.
func (db *DB) GetLibraryByID(ctx context.Context, id string) (*Library, error) {
	l, err := scanLibrary(db.reader(ctx).queryRow(`SELECT `+libraryCols+` FROM libraries WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("get library", err)
	}
	return l, nil
}

// ListLibraries returns every library by name.
func (tx *Tx) ListLibraries() ([]*Library, error) {
	ls, err := collect(tx, scanLibrary, `SELECT `+libraryCols+` FROM libraries ORDER BY name`)
	return ls, wrap("list libraries", err)
}

// ListLibraries returns every library by name.
func (db *DB) ListLibraries(ctx context.Context) ([]*Library, error) {
	return db.reader(ctx).ListLibraries()
}

// SetWorkflowLibraries records the libraries' commits fixed for a
// workflow, replacing none: a workflow's pins never change.
func (tx *Tx) SetWorkflowLibraries(workflowID string, pins []LibraryPin) error {
	for _, p := range pins {
		if _, err := tx.exec(`INSERT INTO workflow_libraries (workflow_id, name, library_id, sha, error)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			workflowID, p.Name, p.LibraryID, p.SHA, p.Error); err != nil {
			return wrap("pin libraries", err)
		}
	}
	return nil
}

// WorkflowLibraries returns the libraries' commits fixed for a workflow,
// by name.
func (db *DB) WorkflowLibraries(ctx context.Context, workflowID string) ([]LibraryPin, error) {
	pins, err := collect(db.reader(ctx), func(s scanner) (LibraryPin, error) {
		var p LibraryPin
		err := s.Scan(&p.Name, &p.LibraryID, &p.SHA, &p.Error)
		return p, err
	}, `SELECT name, library_id, sha, error FROM workflow_libraries WHERE workflow_id = $1 ORDER BY name`, workflowID)
	return pins, wrap("workflow libraries", err)
}

// UsedWorkflowLibraries returns the pins of a workflow whose library one
// of its pipelines used, by name.
func (db *DB) UsedWorkflowLibraries(ctx context.Context, workflowID string) ([]LibraryPin, error) {
	pins, err := collect(db.reader(ctx), func(s scanner) (LibraryPin, error) {
		var p LibraryPin
		err := s.Scan(&p.Name, &p.LibraryID, &p.SHA, &p.Error)
		return p, err
	}, `SELECT wl.name, wl.library_id, wl.sha, wl.error FROM workflow_libraries wl
		WHERE wl.workflow_id = $1 AND EXISTS (SELECT 1 FROM library_uses u JOIN pipelines p ON p.id = u.pipeline_id
			WHERE p.workflow_id = wl.workflow_id AND u.library_id = wl.library_id)
		ORDER BY wl.name`, workflowID)
	return pins, wrap("used workflow libraries", err)
}

// AddLibraryUses records the library files a pipeline used.
func (tx *Tx) AddLibraryUses(uses []LibraryUse) error {
	for _, u := range uses {
		if u.CreatedAt.IsZero() {
			u.CreatedAt = time.Now()
		}
		if _, err := tx.exec(`INSERT INTO library_uses (pipeline_id, library_id, path, sha, created_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
			u.PipelineID, u.LibraryID, u.Path, u.SHA, tx.ts(u.CreatedAt)); err != nil {
			return wrap("record library use", err)
		}
	}
	return nil
}

// ListLibraryUses returns the uses of a library's files since a time,
// newest first, at most limit, with their pipelines and projects.
func (db *DB) ListLibraryUses(ctx context.Context, libraryID string, since time.Time, limit int) ([]LibraryUse, error) {
	tx := db.reader(ctx)
	uses, err := collect(tx, func(s scanner) (LibraryUse, error) {
		var u LibraryUse
		err := s.Scan(&u.PipelineID, &u.LibraryID, &u.Path, &u.SHA, timeCol{&u.CreatedAt},
			&u.WorkflowID, &u.WorkflowNumber, &u.ProjectID, &u.ProjectName, &u.PipelineName, &u.PipelineState, &u.PipelineResult)
		return u, err
	}, `SELECT u.pipeline_id, u.library_id, u.path, u.sha, u.created_at,
			w.id, w.number, pr.id, pr.name, p.name, p.state, p.result
		FROM library_uses u
		JOIN pipelines p ON p.id = u.pipeline_id
		JOIN workflows w ON w.id = p.workflow_id
		JOIN projects pr ON pr.id = p.project_id
		WHERE u.library_id = $1 AND u.created_at >= $2
		ORDER BY u.created_at DESC, u.pipeline_id, u.path LIMIT $3`, libraryID, tx.ts(since), limit)
	return uses, wrap("list library uses", err)
}
