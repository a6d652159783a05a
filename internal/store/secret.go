package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/batonci/baton/internal/ids"
)

// Secret is a stored secret: metadata in plaintext, every value a
// ciphertext. The store never sees a plaintext value: sealing and opening
// are the caller's (internal/vault).
type Secret struct {
	ID string
	// ProjectID is the project of a project secret; "" for an
	// organisation secret.
	ProjectID   string
	Name        string
	Description string
	// AllowForks lets workflows of pull requests from forks receive it.
	AllowForks bool
	// ProjectAccess is an organisation secret's project policy:
	// AccessAll ("" reads as all), AccessAllowed (the projects in
	// ProjectIDs) or AccessNone. Project secrets ignore it.
	ProjectAccess string
	ProjectIDs    []string
	Env           []SealedEnv
	Files         []SealedFile
	CreatedAt     time.Time
	CreatedBy     string
	UpdatedAt     time.Time
	UpdatedBy     string
}

// The project policies of an organisation secret.
const (
	AccessAll     = "all"
	AccessAllowed = "allowed"
	AccessNone    = "none"
)

// UsableBy reports whether a job of projectID may use s: a project secret
// only in its project, an organisation secret as its policy says.
func (s *Secret) UsableBy(projectID string) bool {
	if s.ProjectID != "" {
		return s.ProjectID == projectID
	}
	switch s.ProjectAccess {
	case AccessAll, "":
		return true
	case AccessAllowed:
		return slices.Contains(s.ProjectIDs, projectID)
	}
	return false
}

// SealedEnv is an environment variable of a secret; Value is a ciphertext.
type SealedEnv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SealedFile is a file of a secret; Content is a ciphertext.
type SealedFile struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

const secretCols = `id, project_id, name, description, allow_forks, env, files,
	created_at, created_by, updated_at, updated_by, project_access, project_ids`

func scanSecret(s scanner) (*Secret, error) {
	x := &Secret{}
	var env, files, projects json.RawMessage
	err := s.Scan(&x.ID, strCol{&x.ProjectID}, &x.Name, &x.Description, &x.AllowForks,
		jsonCol{&env}, jsonCol{&files},
		timeCol{&x.CreatedAt}, &x.CreatedBy, timeCol{&x.UpdatedAt}, &x.UpdatedBy,
		&x.ProjectAccess, jsonCol{&projects})
	if err != nil {
		return nil, err
	}
	if x.Env, x.Files, err = sealedValues(env, files); err != nil {
		return nil, fmt.Errorf("scan secret: %w", err)
	}
	if err := json.Unmarshal(projects, &x.ProjectIDs); err != nil {
		return nil, fmt.Errorf("scan secret: project_ids: %w", err)
	}
	if len(x.ProjectIDs) == 0 {
		x.ProjectIDs = nil
	}
	return x, nil
}

// policyArgs returns the project_access and project_ids arguments of s.
func policyArgs(s *Secret) (access, projects string) {
	access = s.ProjectAccess
	if access == "" {
		access = AccessAll
	}
	p, _ := json.Marshal(s.ProjectIDs)
	if s.ProjectIDs == nil {
		p = []byte("[]")
	}
	return access, string(p)
}

// sealedValues decodes the env and files columns of a secret or a
// deployment target (nil when empty).
func sealedValues(envCol, filesCol json.RawMessage) (env []SealedEnv, files []SealedFile, err error) {
	if err := json.Unmarshal(envCol, &env); err != nil {
		return nil, nil, fmt.Errorf("env: %w", err)
	}
	if err := json.Unmarshal(filesCol, &files); err != nil {
		return nil, nil, fmt.Errorf("files: %w", err)
	}
	if len(env) == 0 {
		env = nil
	}
	if len(files) == 0 {
		files = nil
	}
	return env, files, nil
}

// secretArgs returns the JSON arguments of a secret's env and files.
func secretArgs(s *Secret) (env, files string) {
	e, _ := json.Marshal(s.Env)
	f, _ := json.Marshal(s.Files)
	if s.Env == nil {
		e = []byte("[]")
	}
	if s.Files == nil {
		f = []byte("[]")
	}
	return string(e), string(f)
}

func normSecret(s *Secret) {
	if s.ProjectAccess == "" {
		s.ProjectAccess = AccessAll
	}
	normTime(&s.CreatedAt)
	normTime(&s.UpdatedAt)
}

// CreateSecret stores a new secret, giving it an ID if it has none and
// CreatedAt/UpdatedAt if they are zero. A name already taken in its scope
// is ErrConflict; an unknown project is ErrNotFound.
func (tx *Tx) CreateSecret(s *Secret) error {
	if s.ID == "" {
		s.ID = ids.New()
	}
	now := time.Now()
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.UpdatedAt.IsZero() {
		s.UpdatedAt = s.CreatedAt
	}
	normSecret(s)
	env, files := secretArgs(s)
	access, projects := policyArgs(s)
	_, err := tx.exec(`INSERT INTO secrets (`+secretCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		s.ID, nullStr(s.ProjectID), s.Name, s.Description, s.AllowForks, env, files,
		tx.ts(s.CreatedAt), s.CreatedBy, tx.ts(s.UpdatedAt), s.UpdatedBy, access, projects)
	return wrap("create secret "+s.Name, err)
}

// secretScope is the WHERE clause that selects the scope of projectID
// ("" = organisation) as parameter $1.
const secretScope = `(($1 = '' AND project_id IS NULL) OR project_id = $1)`

// GetSecret returns the secret of that name in the scope of projectID ("" =
// the organisation's); ErrNotFound if there is none. It does not fall back
// from a project to the organisation: see LookupSecrets.
func (tx *Tx) GetSecret(projectID, name string) (*Secret, error) {
	s, err := scanSecret(tx.queryRow(`SELECT `+secretCols+` FROM secrets
		WHERE `+secretScope+` AND name = $2`, projectID, name))
	if err != nil {
		return nil, wrap(fmt.Sprintf("get secret %q", name), err)
	}
	return s, nil
}

// GetSecret returns the secret of that name in the scope of projectID ("" =
// the organisation's).
func (db *DB) GetSecret(ctx context.Context, projectID, name string) (*Secret, error) {
	return db.reader(ctx).GetSecret(projectID, name)
}

// ListSecrets returns the secrets of one scope (projectID "" = the
// organisation's), by name.
func (tx *Tx) ListSecrets(projectID string) ([]*Secret, error) {
	ss, err := collect(tx, scanSecret, `SELECT `+secretCols+` FROM secrets
		WHERE `+secretScope+` ORDER BY name`, projectID)
	return ss, wrap("list secrets", err)
}

// ListSecrets returns the secrets of one scope, by name.
func (db *DB) ListSecrets(ctx context.Context, projectID string) ([]*Secret, error) {
	return db.reader(ctx).ListSecrets(projectID)
}

// AllSecrets returns every secret of every scope, locked for update on
// PostgreSQL (key rotation re-seals them all in one transaction).
func (tx *Tx) AllSecrets() ([]*Secret, error) {
	ss, err := collect(tx, scanSecret, `SELECT `+secretCols+` FROM secrets ORDER BY id`+tx.forUpdate())
	return ss, wrap("list all secrets", err)
}

// LookupSecrets returns the secrets a job of projectID can use under the
// given names: the project's secret of a name if it has one, else the
// organisation's if its project policy lets projectID use it. Names
// without either are absent from the map: a secret the project may not
// use looks exactly like one that does not exist.
func (db *DB) LookupSecrets(ctx context.Context, projectID string, names []string) (map[string]*Secret, error) {
	out := map[string]*Secret{}
	err := db.view(ctx, func(tx *Tx) error {
		for _, n := range names {
			if _, ok := out[n]; ok {
				continue
			}
			ss, err := collect(tx, scanSecret, `SELECT `+secretCols+` FROM secrets
				WHERE name = $2 AND (project_id IS NULL OR project_id = $1)
				ORDER BY CASE WHEN project_id IS NULL THEN 1 ELSE 0 END LIMIT 1`, projectID, n)
			if err != nil {
				return wrap(fmt.Sprintf("look up secret %q", n), err)
			}
			if len(ss) == 1 && ss[0].UsableBy(projectID) {
				out[n] = ss[0]
			}
		}
		return nil
	})
	return out, err
}

// UpdateSecret stores every field of s but its ID, ProjectID, Name and
// creation, by ID.
func (tx *Tx) UpdateSecret(s *Secret) error {
	normSecret(s)
	env, files := secretArgs(s)
	access, projects := policyArgs(s)
	return tx.execOne("update secret "+s.Name, `UPDATE secrets SET description = $2,
		allow_forks = $3, env = $4, files = $5, updated_at = $6, updated_by = $7,
		project_access = $8, project_ids = $9
		WHERE id = $1`,
		s.ID, s.Description, s.AllowForks, env, files, tx.ts(s.UpdatedAt), s.UpdatedBy, access, projects)
}

// DeleteSecret deletes the secret of that name in the scope of projectID
// ("" = the organisation's); ErrNotFound if there is none.
func (tx *Tx) DeleteSecret(projectID, name string) error {
	return tx.execOne(fmt.Sprintf("delete secret %q", name),
		`DELETE FROM secrets WHERE `+secretScope+` AND name = $2`, projectID, name)
}
