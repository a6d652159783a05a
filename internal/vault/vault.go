// Package vault keeps organisation and project secrets in the store, every
// value sealed under the server's secret key (internal/secret), and hands
// them out in exactly two ways: as metadata (names, description, variable
// names, file paths, who changed them and when; never a value) to the API,
// and as plaintext to the engine, for the job that names them, when it is
// assigned to an agent. It is the engine's SecretSource and ForkPolicy.
//
// Each value is sealed on its own, with associated data naming the secret
// (ID, scope and name) and the variable or file it belongs to, so that a
// ciphertext moved elsewhere in the database does not open. Each
// ciphertext carries the ID of the key that sealed it, and the store's
// settings record the ID of the key every secret is sealed with, so that
// starting with the wrong key is refused at once, and key rotation (one
// transaction) can never leave a mixture.
package vault

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/redact"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
)

// KeyIDSetting is the store setting that holds the ID of the key the
// secrets are sealed with.
const KeyIDSetting = "secret_key_id"

// Limits on what a secret holds.
const (
	maxNameLen   = 128
	maxPathLen   = 4096
	maxEnvVars   = 100
	maxFiles     = 100
	maxValueSize = 512 << 10
)

// ErrInvalid wraps the errors of a request that cannot be stored (a bad
// name, an empty secret...); its message says what to change.
var ErrInvalid = errors.New("invalid secret")

// EnvVar is an environment variable of a secret, in plaintext.
type EnvVar struct {
	Name  string
	Value secret.Value
}

// File is a file of a secret, in plaintext.
type File struct {
	Path    string
	Content secret.Value
}

// Change creates or changes a secret. Nil fields are left as they are;
// Env and Files add variables and files or replace those of the same name
// or path; RemoveEnv and RemoveFiles remove them.
type Change struct {
	Description *string
	AllowForks  *bool
	// ProjectAccess sets an organisation secret's project policy:
	// store.AccessAll, store.AccessNone, or store.AccessAllowed with the
	// projects in ProjectIDs. nil leaves it as it is.
	ProjectAccess *string
	ProjectIDs    []string
	Env           []EnvVar
	Files         []File
	RemoveEnv     []string
	RemoveFiles   []string
}

// Meta is what may be shown of a secret: everything but its values.
type Meta struct {
	ID string `json:"id"`
	// ProjectID is "" for an organisation secret.
	ProjectID   string `json:"project_id,omitempty"`
	Name        string `json:"name"`
	Description string `json:"description"`
	AllowForks  bool   `json:"allow_forks"`
	// ProjectAccess is an organisation secret's project policy (all,
	// allowed or none), ProjectIDs the projects it allows.
	ProjectAccess string    `json:"project_access"`
	ProjectIDs    []string  `json:"project_ids,omitempty"`
	EnvVars       []string  `json:"env_vars"`
	Files         []string  `json:"files"`
	CreatedAt     time.Time `json:"created_at"`
	CreatedBy     string    `json:"created_by"`
	UpdatedAt     time.Time `json:"updated_at"`
	UpdatedBy     string    `json:"updated_by"`
}

// Config configures a Vault.
type Config struct {
	Store *store.DB
	Key   *secret.Key
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Vault reads and writes secrets. It is safe for concurrent use.
type Vault struct {
	db  *store.DB
	key *secret.Key
	now func() time.Time
}

var (
	_ engine.SecretSource = (*Vault)(nil)
	_ engine.ForkPolicy   = (*Vault)(nil)
)

// New returns a vault. It checks that the key is the one the store's
// secrets are sealed with (recording its ID on first use): a server
// started with another key fails here, not at the first job. Webhook
// secrets an older version stored in plain are sealed here.
func New(ctx context.Context, cfg Config) (*Vault, error) {
	if cfg.Store == nil || cfg.Key == nil {
		return nil, errors.New("vault: a store and a key are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := CheckKey(ctx, cfg.Store, cfg.Key); err != nil {
		return nil, err
	}
	v := &Vault{db: cfg.Store, key: cfg.Key, now: cfg.Now}
	// Seal what an older version stored in plain.
	if err := cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		_, err := v.upgradeProjects(tx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("seal stored webhook secrets and forge tokens: %w", err)
	}
	return v, nil
}

// CheckKey verifies that key is the key the store's secrets are sealed
// with, and records its ID if none is recorded yet. When the recorded key
// differs but no secret exists, key becomes the recorded one.
func CheckKey(ctx context.Context, db *store.DB, key *secret.Key) error {
	return db.Tx(ctx, func(tx *store.Tx) error {
		id, err := tx.GetSetting(KeyIDSetting)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return tx.SetSetting(KeyIDSetting, key.ID())
		case err != nil:
			return err
		case id == key.ID():
			return nil
		}
		all, err := tx.AllSecrets()
		if err != nil {
			return err
		}
		projects, err := tx.ListProjects()
		if err != nil {
			return err
		}
		tokens := 0
		for _, p := range projects {
			if p.ForgeToken != "" {
				tokens++
			}
			if sealed(p.WebhookSecret) {
				tokens++
			}
		}
		targets, err := tx.AllTargets()
		if err != nil {
			return err
		}
		for _, t := range targets {
			if len(t.Env) > 0 || len(t.Files) > 0 {
				return fmt.Errorf("the secret key (id %s) is not the one deployment target %q's secret is encrypted with (id %s): "+
					"start with the right key (the data directory's secret.key or BATON_SECRET_KEY)", key.ID(), t.Name, id)
			}
		}
		if k, err := sealedNotifications(tx); err != nil {
			return err
		} else if k > 0 {
			return fmt.Errorf("the secret key (id %s) is not the one the %d stored notification(s) are encrypted with (id %s): "+
				"start with the right key (the data directory's secret.key or BATON_SECRET_KEY)", key.ID(), k, id)
		}
		if k, err := sealedLibraries(tx); err != nil {
			return err
		} else if k > 0 {
			return fmt.Errorf("the secret key (id %s) is not the one the %d stored library token(s) and SSH key(s) are encrypted with (id %s): "+
				"start with the right key (the data directory's secret.key or BATON_SECRET_KEY)", key.ID(), k, id)
		}
		if len(all) == 0 && tokens == 0 {
			return tx.SetSetting(KeyIDSetting, key.ID())
		}
		if len(all) == 0 {
			return fmt.Errorf("the secret key (id %s) is not the one the %d stored forge token(s) and webhook secret(s) are encrypted with (id %s): "+
				"start with the right key (the data directory's secret.key or BATON_SECRET_KEY)", key.ID(), tokens, id)
		}
		return fmt.Errorf("the secret key (id %s) is not the one the %d stored secret(s) are encrypted with (id %s): "+
			"start with the right key (the data directory's secret.key or BATON_SECRET_KEY)", key.ID(), len(all), id)
	})
}

// ad is the associated data of one value of a secret.
func ad(s *store.Secret, kind, name string) string {
	return secret.AD("baton secret", s.ID, s.ProjectID, s.Name, kind, name)
}

// meta returns what may be shown of s.
func meta(s *store.Secret) *Meta {
	m := &Meta{
		ID: s.ID, ProjectID: s.ProjectID, Name: s.Name, Description: s.Description, AllowForks: s.AllowForks,
		ProjectAccess: s.ProjectAccess, ProjectIDs: s.ProjectIDs,
		EnvVars: []string{}, Files: []string{},
		CreatedAt: s.CreatedAt, CreatedBy: s.CreatedBy, UpdatedAt: s.UpdatedAt, UpdatedBy: s.UpdatedBy,
	}
	for _, e := range s.Env {
		m.EnvVars = append(m.EnvVars, e.Name)
	}
	for _, f := range s.Files {
		m.Files = append(m.Files, f.Path)
	}
	return m
}

// List returns the secrets of a scope (projectID "" = the organisation's).
func (v *Vault) List(ctx context.Context, projectID string) ([]*Meta, error) {
	ss, err := v.db.ListSecrets(ctx, projectID)
	if err != nil {
		return nil, err
	}
	out := []*Meta{}
	for _, s := range ss {
		out = append(out, meta(s))
	}
	return out, nil
}

// Get returns one secret of a scope; store.ErrNotFound if there is none.
func (v *Vault) Get(ctx context.Context, projectID, name string) (*Meta, error) {
	s, err := v.db.GetSecret(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	return meta(s), nil
}

// Create stores a new secret in a scope; store.ErrConflict if the name is
// taken there.
func (v *Vault) Create(ctx context.Context, projectID, name string, ch Change, by string, hooks ...Hook) (*Meta, error) {
	name = strings.TrimSpace(name)
	if err := checkName(name); err != nil {
		return nil, err
	}
	now := v.now()
	s := &store.Secret{ProjectID: projectID, Name: name, CreatedAt: now, CreatedBy: by, UpdatedAt: now, UpdatedBy: by}
	// The ID is part of every value's associated data: set it first.
	s.ID = ids.New()
	if err := v.apply(s, ch); err != nil {
		return nil, err
	}
	err := v.db.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateSecret(s); err != nil {
			return err
		}
		return runHooks(tx, meta(s), hooks)
	})
	if err != nil {
		return nil, err
	}
	return meta(s), nil
}

// Update changes a secret of a scope; store.ErrNotFound if there is none.
func (v *Vault) Update(ctx context.Context, projectID, name string, ch Change, by string, hooks ...Hook) (*Meta, error) {
	var s *store.Secret
	err := v.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if s, err = tx.GetSecret(projectID, name); err != nil {
			return err
		}
		if err := v.apply(s, ch); err != nil {
			return err
		}
		s.UpdatedAt, s.UpdatedBy = v.now(), by
		if err := tx.UpdateSecret(s); err != nil {
			return err
		}
		return runHooks(tx, meta(s), hooks)
	})
	if err != nil {
		return nil, err
	}
	return meta(s), nil
}

// Delete deletes a secret of a scope; store.ErrNotFound if there is none.
func (v *Vault) Delete(ctx context.Context, projectID, name string, hooks ...Hook) error {
	return v.db.Tx(ctx, func(tx *store.Tx) error {
		s, err := tx.GetSecret(projectID, name)
		if err != nil {
			return err
		}
		if err := tx.DeleteSecret(projectID, name); err != nil {
			return err
		}
		return runHooks(tx, meta(s), hooks)
	})
}

// Hook runs in the transaction of a change, after it, with the secret's
// new metadata (for example to record an audit entry that commits with
// the change).
type Hook func(tx *store.Tx, m *Meta) error

func runHooks(tx *store.Tx, m *Meta, hooks []Hook) error {
	for _, h := range hooks {
		if err := h(tx, m); err != nil {
			return err
		}
	}
	return nil
}

// applyPolicy validates and applies the project policy of ch to s.
func applyPolicy(s *store.Secret, ch Change) error {
	if s.ProjectAccess == "" {
		s.ProjectAccess = store.AccessAll
	}
	if ch.ProjectAccess == nil {
		if len(ch.ProjectIDs) > 0 {
			return fmt.Errorf("%w: projects given without a project policy", ErrInvalid)
		}
		return nil
	}
	if s.ProjectID != "" {
		return fmt.Errorf("%w: a project secret is only ever used by its own project; project policies are for organisation secrets", ErrInvalid)
	}
	switch access := *ch.ProjectAccess; access {
	case store.AccessAll, store.AccessNone:
		if len(ch.ProjectIDs) > 0 {
			return fmt.Errorf("%w: the policy %q takes no list of projects", ErrInvalid, access)
		}
		s.ProjectAccess, s.ProjectIDs = access, nil
	case store.AccessAllowed:
		if len(ch.ProjectIDs) == 0 {
			return fmt.Errorf("%w: the policy %q needs at least one project", ErrInvalid, access)
		}
		ids := slices.Clone(ch.ProjectIDs)
		slices.Sort(ids)
		s.ProjectAccess, s.ProjectIDs = access, slices.Compact(ids)
	default:
		return fmt.Errorf("%w: the project policy is all, allowed (a list of projects) or none, not %q", ErrInvalid, access)
	}
	return nil
}

// apply validates ch and applies it to s, sealing new values.
func (v *Vault) apply(s *store.Secret, ch Change) error {
	if ch.Description != nil {
		if len(*ch.Description) > 1000 {
			return fmt.Errorf("%w: the description is longer than 1000 characters", ErrInvalid)
		}
		s.Description = *ch.Description
	}
	if ch.AllowForks != nil {
		s.AllowForks = *ch.AllowForks
	}
	if err := applyPolicy(s, ch); err != nil {
		return err
	}
	seal := func(kind, name string, plain []byte) (string, error) {
		return v.key.Seal(plain, ad(s, kind, name))
	}
	if err := applyValues("secret", s, ch, seal); err != nil {
		return err
	}
	switch {
	case len(s.Env) == 0 && len(s.Files) == 0:
		return fmt.Errorf("%w: a secret needs at least one environment variable or file", ErrInvalid)
	case len(s.Env) > maxEnvVars:
		return fmt.Errorf("%w: more than %d environment variables", ErrInvalid, maxEnvVars)
	case len(s.Files) > maxFiles:
		return fmt.Errorf("%w: more than %d files", ErrInvalid, maxFiles)
	}
	return nil
}

// ShortValues lists the variables and files of ch whose values are too
// short to be masked in job logs (redact.MinLength), as warnings.
func ShortValues(ch Change) []string {
	var out []string
	for _, e := range ch.Env {
		if n := e.Value.Len(); n > 0 && n < redact.MinLength {
			out = append(out, fmt.Sprintf("the value of %s is shorter than %d characters: it will not be masked in job logs", e.Name, redact.MinLength))
		}
	}
	for _, f := range ch.Files {
		if n := f.Content.Len(); n > 0 && n < redact.MinLength {
			out = append(out, fmt.Sprintf("the content of %s is shorter than %d characters: it will not be masked in job logs", f.Path, redact.MinLength))
		}
	}
	return out
}

// Resolve returns the variables and files of the named secrets, in order,
// for a job of projectID: a project secret overrides an organisation
// secret of the same name. It implements engine.SecretSource.
func (v *Vault) Resolve(ctx context.Context, projectID string, names []string) ([]jobspec.Var, []jobspec.File, error) {
	found, err := v.db.LookupSecrets(ctx, projectID, names)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve secrets: %w", err)
	}
	var env []jobspec.Var
	var files []jobspec.File
	for _, n := range names {
		s, ok := found[n]
		if !ok {
			return nil, nil, fmt.Errorf("secret %q not found", n)
		}
		e, f, err := v.openValues(s.Env, s.Files, func(kind, name string) string { return ad(s, kind, name) })
		if err != nil {
			return nil, nil, fmt.Errorf("secret %q: %w", n, err)
		}
		env, files = append(env, e...), append(files, f...)
	}
	return env, files, nil
}

// resealValues re-seals variables and files in place with reseal, whose
// associated data adOf gives.
func resealValues(env []store.SealedEnv, files []store.SealedFile, adOf func(kind, name string) string, reseal func(ct, ad string) (string, error)) error {
	var err error
	for i, e := range env {
		if env[i].Value, err = reseal(e.Value, adOf("env", e.Name)); err != nil {
			return fmt.Errorf("env %s: %w", e.Name, err)
		}
	}
	for i, f := range files {
		if files[i].Content, err = reseal(f.Content, adOf("file", f.Path)); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

// openValues decrypts sealed variables and files, whose associated data
// adOf gives (secrets and deployment targets alike).
func (v *Vault) openValues(sealedEnv []store.SealedEnv, sealedFiles []store.SealedFile, adOf func(kind, name string) string) ([]jobspec.Var, []jobspec.File, error) {
	var env []jobspec.Var
	var files []jobspec.File
	for _, e := range sealedEnv {
		plain, err := v.key.Open(e.Value, adOf("env", e.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s cannot be decrypted: %w", e.Name, err)
		}
		env = append(env, jobspec.Var{Name: e.Name, Value: string(plain)})
	}
	for _, f := range sealedFiles {
		plain, err := v.key.Open(f.Content, adOf("file", f.Path))
		if err != nil {
			return nil, nil, fmt.Errorf("file %s cannot be decrypted: %w", f.Path, err)
		}
		files = append(files, jobspec.File{Path: f.Path, Content: plain})
	}
	return env, files, nil
}

// ForkAllowed reports which of the named secrets allow pull requests from
// forks. It implements engine.ForkPolicy.
func (v *Vault) ForkAllowed(ctx context.Context, projectID string, names []string) (map[string]bool, error) {
	found, err := v.db.LookupSecrets(ctx, projectID, names)
	if err != nil {
		return nil, fmt.Errorf("resolve secrets: %w", err)
	}
	out := map[string]bool{}
	for _, n := range names {
		s, ok := found[n]
		if !ok {
			return nil, fmt.Errorf("secret %q not found", n)
		}
		out[n] = s.AllowForks
	}
	return out, nil
}

// Rotate re-seals every value of every secret from oldKey to newKey in one
// transaction, and records newKey's ID: either every secret is under the
// new key or, if anything fails, every secret stays under the old one. It
// returns the number of secrets re-sealed. Servers must be stopped first:
// one still running with the old key cannot open the new ciphertexts
// (its jobs fail with "sealed under another key").
func Rotate(ctx context.Context, db *store.DB, oldKey, newKey *secret.Key) (int, error) {
	n := 0
	err := db.Tx(ctx, func(tx *store.Tx) error {
		n = 0
		id, err := tx.GetSetting(KeyIDSetting)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && id != oldKey.ID() && id != newKey.ID() {
			return fmt.Errorf("the current key (id %s) is not the one the secrets are encrypted with (id %s)", oldKey.ID(), id)
		}
		all, err := tx.AllSecrets()
		if err != nil {
			return err
		}
		// reseal opens ct under the old key (or the new one: a rotation to
		// the same key, run again) and seals it under the new key.
		reseal := func(ct, ad string) (string, error) {
			plain, err := oldKey.Open(ct, ad)
			if errors.Is(err, secret.ErrWrongKey) {
				plain, err = newKey.Open(ct, ad)
			}
			if err != nil {
				return "", err
			}
			return newKey.Seal(plain, ad)
		}
		for _, s := range all {
			if err := resealValues(s.Env, s.Files, func(kind, name string) string { return ad(s, kind, name) }, reseal); err != nil {
				return fmt.Errorf("secret %q: %w", s.Name, err)
			}
			if err := tx.UpdateSecret(s); err != nil {
				return err
			}
			n++
		}
		// Projects' forge tokens and webhook secrets are sealed with the
		// same key.
		projects, err := tx.ListProjects()
		if err != nil {
			return err
		}
		for _, p := range projects {
			if p.ForgeToken == "" && !sealed(p.WebhookSecret) {
				continue
			}
			if p.ForgeToken != "" {
				if p.ForgeToken, err = reseal(p.ForgeToken, forgeTokenAD(p)); err != nil {
					return fmt.Errorf("forge token of project %q: %w", p.Name, err)
				}
			}
			if sealed(p.WebhookSecret) {
				if p.WebhookSecret, err = reseal(p.WebhookSecret, webhookSecretAD(p.ID)); err != nil {
					return fmt.Errorf("webhook secret of project %q: %w", p.Name, err)
				}
			}
			if err := tx.UpdateProject(p); err != nil {
				return err
			}
		}
		// So are deployment targets' secrets and notifications' endpoints.
		if err := rotateTargets(tx, reseal); err != nil {
			return err
		}
		if err := rotateNotifications(tx, reseal); err != nil {
			return err
		}
		if err := rotateLibraries(tx, reseal); err != nil {
			return err
		}
		return tx.SetSetting(KeyIDSetting, newKey.ID())
	})
	if err != nil {
		return 0, fmt.Errorf("rotate the secret key: %w", err)
	}
	return n, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a name is required", ErrInvalid)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: the name is longer than %d characters", ErrInvalid, maxNameLen)
	case strings.ContainsAny(name, "/?#%"):
		return fmt.Errorf("%w: name %q may not contain '/', '?', '#' or '%%'", ErrInvalid, name)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("%w: name %q contains a control character", ErrInvalid, name)
	}
	return nil
}

func checkEnvName(name string) error {
	if !envName.MatchString(name) {
		return fmt.Errorf("%w: %q is not a valid environment variable name (letters, digits and _, not starting with a digit)", ErrInvalid, name)
	}
	return nil
}

func checkPath(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return fmt.Errorf("%w: a file needs a path", ErrInvalid)
	case len(p) > maxPathLen:
		return fmt.Errorf("%w: file path is longer than %d characters", ErrInvalid, maxPathLen)
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("%w: file path %q contains a control character", ErrInvalid, p)
	case strings.HasSuffix(p, "/"):
		return fmt.Errorf("%w: file path %q names a directory", ErrInvalid, p)
	}
	return nil
}
