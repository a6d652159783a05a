package vault

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// Deployment targets (docs/semaphore.md §3.3) keep their own secret: variables and
// files sealed like a secret's, with associated data naming the target,
// which only the jobs of pipelines promoted to the target receive
// (engine.TargetSecrets). Their access rules are plain metadata.

// TargetChange creates or changes a deployment target. Nil fields are left
// as they are; Env and Files add or replace variables and files,
// RemoveEnv and RemoveFiles remove them.
type TargetChange struct {
	Description *string
	Users       *[]string
	Roles       *[]string
	Branches    *[]string
	Tags        *[]string
	AllowPRs    *bool
	Env         []EnvVar
	Files       []File
	RemoveEnv   []string
	RemoveFiles []string
}

// TargetMeta is what may be shown of a deployment target: everything but
// its secret's values.
type TargetMeta struct {
	ID          string   `json:"id"`
	ProjectID   string   `json:"project_id"`
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Users       []string `json:"users"`
	Roles       []string `json:"roles"`
	Branches    []string `json:"branches"`
	Tags        []string `json:"tags"`
	AllowPRs    bool     `json:"allow_pull_requests"`
	// EnvVars and Files name the target secret's variables and files
	// (the API shows them to project admins only).
	EnvVars   []string  `json:"env_vars,omitempty"`
	Files     []string  `json:"files,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by"`
}

var _ engine.TargetSecretSource = (*Vault)(nil)

// TargetHook runs in the transaction of a target's change, after it.
type TargetHook func(tx *store.Tx, m *TargetMeta) error

func targetAD(t *store.DeploymentTarget, kind, name string) string {
	return secret.AD("baton deployment target", t.ID, t.ProjectID, t.Name, kind, name)
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// TargetMetaOf returns what may be shown of t.
func TargetMetaOf(t *store.DeploymentTarget) *TargetMeta {
	m := &TargetMeta{
		ID: t.ID, ProjectID: t.ProjectID, Name: t.Name, Description: t.Description,
		Users: orEmpty(t.Users), Roles: orEmpty(t.Roles), Branches: orEmpty(t.Branches), Tags: orEmpty(t.Tags),
		AllowPRs: t.AllowPRs, EnvVars: []string{}, Files: []string{},
		CreatedAt: t.CreatedAt, CreatedBy: t.CreatedBy, UpdatedAt: t.UpdatedAt, UpdatedBy: t.UpdatedBy,
	}
	for _, e := range t.Env {
		m.EnvVars = append(m.EnvVars, e.Name)
	}
	for _, f := range t.Files {
		m.Files = append(m.Files, f.Path)
	}
	return m
}

// ListTargets returns a project's deployment targets.
func (v *Vault) ListTargets(ctx context.Context, projectID string) ([]*TargetMeta, error) {
	ts, err := v.db.ListTargets(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := []*TargetMeta{}
	for _, t := range ts {
		out = append(out, TargetMetaOf(t))
	}
	return out, nil
}

// GetTarget returns a project's deployment target; store.ErrNotFound if
// there is none.
func (v *Vault) GetTarget(ctx context.Context, projectID, name string) (*TargetMeta, error) {
	t, err := v.db.GetTarget(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	return TargetMetaOf(t), nil
}

var targetName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// CreateTarget stores a new deployment target; store.ErrConflict if the
// project has one of that name.
func (v *Vault) CreateTarget(ctx context.Context, projectID, name string, ch TargetChange, by string, hooks ...TargetHook) (*TargetMeta, error) {
	name = strings.TrimSpace(name)
	if !targetName.MatchString(name) || len(name) > maxNameLen {
		return nil, fmt.Errorf("%w: deployment target name %q: use letters, digits, '-', '_' and '.' (at most %d)", ErrInvalid, name, maxNameLen)
	}
	now := v.now()
	t := &store.DeploymentTarget{ID: ids.New(), ProjectID: projectID, Name: name, CreatedAt: now, CreatedBy: by, UpdatedAt: now, UpdatedBy: by}
	if err := v.applyTarget(t, ch); err != nil {
		return nil, err
	}
	err := v.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateTarget(t); err != nil {
			return err
		}
		return runTargetHooks(tx, TargetMetaOf(t), hooks)
	})
	if err != nil {
		return nil, err
	}
	return TargetMetaOf(t), nil
}

// UpdateTarget changes a deployment target; store.ErrNotFound if there is
// none.
func (v *Vault) UpdateTarget(ctx context.Context, projectID, name string, ch TargetChange, by string, hooks ...TargetHook) (*TargetMeta, error) {
	var t *store.DeploymentTarget
	err := v.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if t, err = tx.GetTarget(projectID, name); err != nil {
			return err
		}
		if err := v.applyTarget(t, ch); err != nil {
			return err
		}
		t.UpdatedAt, t.UpdatedBy = v.now(), by
		if err := tx.UpdateTarget(t); err != nil {
			return err
		}
		return runTargetHooks(tx, TargetMetaOf(t), hooks)
	})
	if err != nil {
		return nil, err
	}
	return TargetMetaOf(t), nil
}

// DeleteTarget deletes a deployment target and its secret; its history
// stays. store.ErrNotFound if there is none.
func (v *Vault) DeleteTarget(ctx context.Context, projectID, name string, hooks ...TargetHook) error {
	return v.db.Tx(ctx, func(tx *store.Tx) error {
		t, err := tx.GetTarget(projectID, name)
		if err != nil {
			return err
		}
		if err := tx.DeleteTarget(projectID, name); err != nil {
			return err
		}
		return runTargetHooks(tx, TargetMetaOf(t), hooks)
	})
}

func runTargetHooks(tx *store.Tx, m *TargetMeta, hooks []TargetHook) error {
	for _, h := range hooks {
		if err := h(tx, m); err != nil {
			return err
		}
	}
	return nil
}

// checkPatterns validates branch or tag patterns: exact names or /regex/.
func checkPatterns(what string, ps []string) ([]string, error) {
	var out []string
	for _, p := range ps {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if len(p) >= 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
			if _, err := regexp.Compile(p[1 : len(p)-1]); err != nil {
				return nil, fmt.Errorf("%w: %s pattern %s is not a valid regular expression: %v", ErrInvalid, what, p, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// applyTarget validates ch and applies it to t, sealing new values.
func (v *Vault) applyTarget(t *store.DeploymentTarget, ch TargetChange) error {
	var err error
	if ch.Description != nil {
		if len(*ch.Description) > 1000 {
			return fmt.Errorf("%w: the description is longer than 1000 characters", ErrInvalid)
		}
		t.Description = *ch.Description
	}
	if ch.Users != nil {
		t.Users = nil
		for _, u := range *ch.Users {
			if u = strings.TrimSpace(u); u != "" && !slices.Contains(t.Users, u) {
				t.Users = append(t.Users, u)
			}
		}
	}
	if ch.Roles != nil {
		t.Roles = nil
		for _, r := range *ch.Roles {
			r = strings.TrimSpace(r)
			if r != "admin" && r != "write" {
				return fmt.Errorf("%w: role %q: a deployment target allows the roles admin and write", ErrInvalid, r)
			}
			if !slices.Contains(t.Roles, r) {
				t.Roles = append(t.Roles, r)
			}
		}
	}
	if ch.Branches != nil {
		if t.Branches, err = checkPatterns("branch", *ch.Branches); err != nil {
			return err
		}
	}
	if ch.Tags != nil {
		if t.Tags, err = checkPatterns("tag", *ch.Tags); err != nil {
			return err
		}
	}
	if ch.AllowPRs != nil {
		t.AllowPRs = *ch.AllowPRs
	}
	// The sealing rules are the secrets' own.
	s := &store.Secret{Name: t.Name, Env: t.Env, Files: t.Files}
	seal := func(kind, name string, plain []byte) (string, error) {
		return v.key.Seal(plain, targetAD(t, kind, name))
	}
	if err := applyValues("deployment target", s, Change{Env: ch.Env, Files: ch.Files, RemoveEnv: ch.RemoveEnv, RemoveFiles: ch.RemoveFiles}, seal); err != nil {
		return err
	}
	t.Env, t.Files = s.Env, s.Files
	if len(t.Env) > maxEnvVars {
		return fmt.Errorf("%w: more than %d environment variables", ErrInvalid, maxEnvVars)
	}
	if len(t.Files) > maxFiles {
		return fmt.Errorf("%w: more than %d files", ErrInvalid, maxFiles)
	}
	return nil
}

// applyValues removes, validates and seals the variables and files of ch
// into s, with seal: the rules of secrets and deployment targets alike
// (what names the kind in errors).
func applyValues(what string, s *store.Secret, ch Change, seal func(kind, name string, plain []byte) (string, error)) error {
	for _, n := range ch.RemoveEnv {
		i := slices.IndexFunc(s.Env, func(e store.SealedEnv) bool { return e.Name == n })
		if i < 0 {
			return fmt.Errorf("%w: %s %q has no variable %s to remove", ErrInvalid, what, s.Name, n)
		}
		s.Env = slices.Delete(s.Env, i, i+1)
	}
	for _, p := range ch.RemoveFiles {
		i := slices.IndexFunc(s.Files, func(f store.SealedFile) bool { return f.Path == p })
		if i < 0 {
			return fmt.Errorf("%w: %s %q has no file %s to remove", ErrInvalid, what, s.Name, p)
		}
		s.Files = slices.Delete(s.Files, i, i+1)
	}
	seen := map[string]bool{}
	for _, e := range ch.Env {
		if err := checkEnvName(e.Name); err != nil {
			return err
		}
		if seen[e.Name] {
			return fmt.Errorf("%w: variable %s is given twice", ErrInvalid, e.Name)
		}
		seen[e.Name] = true
		if e.Value.Len() > maxValueSize {
			return fmt.Errorf("%w: the value of %s is larger than %d KiB", ErrInvalid, e.Name, maxValueSize>>10)
		}
		ct, err := seal("env", e.Name, []byte(e.Value.Reveal()))
		if err != nil {
			return err
		}
		sealed := store.SealedEnv{Name: e.Name, Value: ct}
		if i := slices.IndexFunc(s.Env, func(x store.SealedEnv) bool { return x.Name == e.Name }); i >= 0 {
			s.Env[i] = sealed
		} else {
			s.Env = append(s.Env, sealed)
		}
	}
	seen = map[string]bool{}
	for _, f := range ch.Files {
		if err := checkPath(f.Path); err != nil {
			return err
		}
		if seen[f.Path] {
			return fmt.Errorf("%w: file %s is given twice", ErrInvalid, f.Path)
		}
		seen[f.Path] = true
		if f.Content.Len() > maxValueSize {
			return fmt.Errorf("%w: file %s is larger than %d KiB", ErrInvalid, f.Path, maxValueSize>>10)
		}
		ct, err := seal("file", f.Path, []byte(f.Content.Reveal()))
		if err != nil {
			return err
		}
		sealed := store.SealedFile{Path: f.Path, Content: ct}
		if i := slices.IndexFunc(s.Files, func(x store.SealedFile) bool { return x.Path == f.Path }); i >= 0 {
			s.Files[i] = sealed
		} else {
			s.Files = append(s.Files, sealed)
		}
	}
	return nil
}

// TargetSecrets returns the plaintext variables and files of a project's
// deployment target. It implements engine.TargetSecretSource: the engine
// calls it only for jobs of pipelines promoted to the target.
func (v *Vault) TargetSecrets(ctx context.Context, projectID, name string) ([]jobspec.Var, []jobspec.File, error) {
	t, err := v.db.GetTarget(ctx, projectID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("deployment target %q no longer exists", name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deployment target %q: %w", name, err)
	}
	env, files, err := v.openValues(t.Env, t.Files, func(kind, name string) string { return targetAD(t, kind, name) })
	if err != nil {
		return nil, nil, fmt.Errorf("deployment target %q: %w", name, err)
	}
	return env, files, nil
}

// rotateTargets re-seals every deployment target's values with reseal
// in tx (part of Rotate).
func rotateTargets(tx *store.Tx, reseal func(ct, ad string) (string, error)) error {
	all, err := tx.AllTargets()
	if err != nil {
		return err
	}
	for _, t := range all {
		if len(t.Env) == 0 && len(t.Files) == 0 {
			continue
		}
		if err := resealValues(t.Env, t.Files, func(kind, name string) string { return targetAD(t, kind, name) }, reseal); err != nil {
			return fmt.Errorf("deployment target %q: %w", t.Name, err)
		}
		if err := tx.UpdateTarget(t); err != nil {
			return err
		}
	}
	return nil
}
