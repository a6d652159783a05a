package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/gitssh"
	"github.com/batonci/baton/internal/library"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"golang.org/x/crypto/ssh"
)

// Organisation script libraries live under /api/v1/libraries. Organisation
// admins add, change and remove them; every signed-in user reads them (a
// library is the organisation's shared code that any project's pipelines
// may use). A token goes in and is never shown back.

func (a *API) libraryRoutes() []route {
	return []route{
		{"GET /api/v1/libraries", signedIn, a.listLibraries},
		{"POST /api/v1/libraries", orgAdmin, a.createLibrary},
		{"GET /api/v1/libraries/{name}", signedIn, a.getLibrary},
		{"PATCH /api/v1/libraries/{name}", orgAdmin, a.updateLibrary},
		{"DELETE /api/v1/libraries/{name}", orgAdmin, a.deleteLibrary},
		{"GET /api/v1/libraries/{name}/files/{path...}", signedIn, a.libraryFile},
	}
}

// usesShown is how many recent uses a library or file view lists.
const usesShown = 100

func (a *API) libraries() (*library.Service, error) {
	if a.cfg.Libraries == nil {
		return nil, fmt.Errorf("%w: script libraries are not enabled on this server", errNotFound)
	}
	return a.cfg.Libraries, nil
}

func libraryView(l *store.Library) apiv1.Library {
	v := apiv1.Library{Name: l.Name, RepoURL: repourl.Redact(l.RepoURL), Branch: l.Branch, Token: l.Token != "",
		CreatedAt: l.CreatedAt, CreatedBy: l.CreatedBy, UpdatedAt: l.UpdatedAt, UpdatedBy: l.UpdatedBy}
	if l.SSHKey != "" {
		v.SSHKey, v.SSHFingerprint = l.SSHPublicKey, sshFingerprint(l.SSHPublicKey)
		v.KnownHosts, _ = gitssh.HostKeys(l.KnownHosts)
	}
	return v
}

// sshFingerprint is the SHA256 fingerprint of an authorized_keys line,
// "" if it does not parse.
func sshFingerprint(authorized string) string {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		return ""
	}
	return ssh.FingerprintSHA256(pub)
}

func libraryCommitView(c repocache.CommitInfo) apiv1.LibraryCommit {
	return apiv1.LibraryCommit{SHA: c.SHA, Author: c.AuthorName, At: c.AuthorTime, Subject: c.Subject}
}

// libraryError turns service and store errors into API errors.
func libraryError(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, library.ErrInvalid):
		return fmt.Errorf("%w: %s", errBadRequest, strings.TrimPrefix(err.Error(), library.ErrInvalid.Error()+": "))
	case errors.Is(err, store.ErrConflict):
		return fmt.Errorf("%w: a library named %q already exists", errConflict, name)
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("%w: there is no library named %q", errNotFound, name)
	}
	return err
}

func (req *apiLibraryRequest) change() library.Change {
	ch := library.Change{RepoURL: req.RepoURL, Branch: req.Branch}
	if req.Token != nil {
		v := secret.NewValue(*req.Token)
		ch.Token = &v
	}
	if req.SSHKey != nil {
		v := secret.NewValue(*req.SSHKey)
		ch.SSHKey = &v
	}
	ch.KnownHosts = req.KnownHosts
	return ch
}

type apiLibraryRequest apiv1.LibraryRequest

// auditLibrary records a change in the audit log, in its transaction:
// the URL (redacted), the branch, whether a token is set and the SSH
// key's public fingerprint.
func (a *API) auditLibrary(r *http.Request, action audit.Action, what string) library.Hook {
	return func(tx *store.Tx, l *store.Library) error {
		detail := fmt.Sprintf("%s; repo=%s; branch=%s; token=%t", what, repourl.Redact(l.RepoURL), l.Branch, l.Token != "")
		if l.SSHKey != "" {
			detail += "; ssh_key=" + sshFingerprint(l.SSHPublicKey)
		}
		return audit.Record(r.Context(), tx, audit.Event{Action: action, Target: l.Name, Detail: detail, At: a.cfg.Now()})
	}
}

func (a *API) listLibraries(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	ls, err := s.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, append([]apiv1.Library{}, each(ls, libraryView)...))
}

func (a *API) createLibrary(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	var req apiLibraryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.RepoURL == nil {
		return fmt.Errorf("%w: a repository URL (repo_url) is required", errBadRequest)
	}
	l, err := s.Create(r.Context(), req.Name, req.change(), c.user.Login, a.auditLibrary(r, audit.LibraryChanged, "added"))
	if err != nil {
		return libraryError(err, req.Name)
	}
	return writeJSON(w, http.StatusCreated, libraryView(l))
}

func (a *API) updateLibrary(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	var req apiLibraryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("name")
	if req.Name != "" && req.Name != name {
		return fmt.Errorf("%w: libraries cannot be renamed (pipelines name them); add a new one and remove this one", errBadRequest)
	}
	l, err := s.Update(r.Context(), name, req.change(), c.user.Login, a.auditLibrary(r, audit.LibraryChanged, "updated"))
	if err != nil {
		return libraryError(err, name)
	}
	return writeJSON(w, http.StatusOK, libraryView(l))
}

func (a *API) deleteLibrary(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := s.Delete(r.Context(), name, a.auditLibrary(r, audit.LibraryDeleted, "removed")); err != nil {
		return libraryError(err, name)
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "removed library " + name})
}

// getLibrary answers the library with its branch head now (fetched), the
// files there and its recent uses.
func (a *API) getLibrary(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	l, err := s.Get(r.Context(), name)
	if err != nil {
		return libraryError(err, name)
	}
	v := apiv1.LibraryDetail{Library: libraryView(l), Files: []apiv1.LibraryFile{}}
	head, err := s.RecentHead(r.Context(), l)
	if err != nil {
		v.HeadError = repourl.Redact(err.Error())
	} else {
		v.Head = head
		files, err := s.Files(r.Context(), l, head)
		if err != nil {
			return err
		}
		for _, f := range files {
			v.Files = append(v.Files, apiv1.LibraryFile{Path: f.Path, Mode: f.Mode, Size: f.Size})
		}
		if log, err := s.History(r.Context(), l, head, "", 1); err == nil && len(log) == 1 {
			cv := libraryCommitView(log[0])
			v.Commit = &cv
		}
	}
	if v.Uses, err = a.libraryUses(r, c, s, l, ""); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// libraryFile answers a file at the branch head with its history and the
// pipelines that used it.
func (a *API) libraryFile(w http.ResponseWriter, r *http.Request, c *caller) error {
	s, err := a.libraries()
	if err != nil {
		return err
	}
	name, path := r.PathValue("name"), r.PathValue("path")
	l, err := s.Get(r.Context(), name)
	if err != nil {
		return libraryError(err, name)
	}
	head, err := s.RecentHead(r.Context(), l)
	if err != nil {
		return &apiv1.Error{Status: http.StatusBadGateway, Message: repourl.Redact(err.Error())}
	}
	content, err := s.Content(r.Context(), l, head, path)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: library %s has no file %q at %.12s", errNotFound, name, path, head)
		}
		return err
	}
	log, err := s.History(r.Context(), l, head, path, 50)
	if err != nil {
		return err
	}
	v := apiv1.LibraryFileView{Library: l.Name, Path: path, Head: head, Content: string(content),
		History: append([]apiv1.LibraryCommit{}, each(log, libraryCommitView)...)}
	if v.Uses, err = a.libraryUses(r, c, s, l, path); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// libraryUses lists the recent uses of a library (of one file when path
// is set) in the projects the caller may read.
func (a *API) libraryUses(r *http.Request, c *caller, s *library.Service, l *store.Library, path string) ([]apiv1.LibraryUse, error) {
	uses, err := s.Uses(r.Context(), l, 5*usesShown)
	if err != nil {
		return nil, err
	}
	readable := map[string]bool{}
	out := []apiv1.LibraryUse{}
	for _, u := range uses {
		if path != "" && u.Path != path {
			continue
		}
		ok, seen := readable[u.ProjectID]
		if !seen {
			p, err := a.cfg.Store.GetProject(r.Context(), u.ProjectID)
			ok = err == nil && c.canRead(p)
			readable[u.ProjectID] = ok
		}
		if !ok {
			continue
		}
		out = append(out, apiv1.LibraryUse{Path: u.Path, SHA: u.SHA, At: u.CreatedAt, Project: u.ProjectName,
			WorkflowID: u.WorkflowID, WorkflowNumber: u.WorkflowNumber, PipelineID: u.PipelineID, Pipeline: u.PipelineName,
			State: apiv1.State(u.PipelineState), Result: apiv1.Result(u.PipelineResult)})
		if len(out) == usesShown {
			break
		}
	}
	return out, nil
}

// workflowLibraries are the library commits fixed for a workflow, of
// the libraries its pipelines used.
func (a *API) workflowLibraries(r *http.Request, wf *ci.Workflow) []apiv1.LibraryPin {
	pins, err := a.cfg.Store.UsedWorkflowLibraries(r.Context(), wf.ID)
	if err != nil {
		a.cfg.Logger.Error("read the workflow's libraries", "workflow", wf.ID, "err", err)
		return nil
	}
	var out []apiv1.LibraryPin
	for _, p := range pins {
		out = append(out, apiv1.LibraryPin{Name: p.Name, SHA: p.SHA, Error: p.Error})
	}
	return out
}
