package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/apiv1"
	"github.com/batonci/baton/internal/audit"
	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/store"
	"golang.org/x/crypto/ssh"
)

// Debug sessions: users' SSH keys, and shells in jobs through
// the server (see agentapi for the agent's side).

// Streams opens debug session streams to agents (dispatch.Dispatcher).
type Streams interface {
	OpenStream(ctx context.Context, sess *store.DebugSession) (io.ReadWriteCloser, error)
}

// Upgrader takes over an HTTP connection for a stream (dispatch.Upgrade).
type Upgrader func(w http.ResponseWriter, protocol string) (io.ReadWriteCloser, error)

// SSHUpgrade is the Upgrade protocol of GET /api/v1/jobs/{id}/ssh/connect.
const SSHUpgrade = "baton-ssh"

// SSHUser is the user name of debug sessions (ssh baton@job-ID).
const SSHUser = "baton"

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, c *caller) error {
	keys, err := a.cfg.Store.SSHKeys(r.Context(), c.user.ID)
	if err != nil {
		return err
	}
	out := []apiv1.SSHKeyView{}
	for _, k := range keys {
		out = append(out, apiv1.SSHKeyView{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, CreatedAt: k.CreatedAt})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) addKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.SSHKeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(req.PublicKey)))
	if err != nil || len(strings.TrimSpace(string(rest))) > 0 {
		return fmt.Errorf("%w: public_key must be one SSH public key in authorized_keys format (the content of a .pub file)", errBadRequest)
	}
	if strings.HasPrefix(pub.Type(), "cert-") || strings.Contains(pub.Type(), "-cert-") {
		return fmt.Errorf("%w: certificates are not supported: register the public key", errBadRequest)
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = comment
	}
	if name == "" {
		name = pub.Type()
	}
	if len(name) > 100 {
		return fmt.Errorf("%w: the name is longer than 100 characters", errBadRequest)
	}
	k := &store.SSHKey{
		UserID: c.user.ID, Name: name, CreatedAt: a.cfg.Now(),
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Fingerprint: ssh.FingerprintSHA256(pub),
	}
	ctx := r.Context()
	err = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.AddSSHKey(k); err != nil {
			return err
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.SSHKeyAdded, Target: k.Fingerprint, Detail: name, At: a.cfg.Now()})
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: this key (%s) is already registered", errConflict, k.Fingerprint)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, apiv1.SSHKeyView{ID: k.ID, Name: k.Name, Fingerprint: k.Fingerprint, CreatedAt: k.CreatedAt})
}

func (a *API) removeKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	ctx := r.Context()
	err := a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteSSHKey(c.user.ID, id); err != nil {
			return fmt.Errorf("%w: ssh key %q", errNotFound, id)
		}
		return audit.Record(ctx, tx, audit.Event{Action: audit.SSHKeyRemoved, Target: id, At: a.cfg.Now()})
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, apiv1.MessageView{Message: "removed ssh key " + id})
}

// SSHHost is the host name ssh is given for a job.
func SSHHost(jobID string) string { return "job-" + jobID }

func (a *API) sshInfo(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	info := apiv1.SSHInfo{JobID: j.ID, State: apiv1.State(j.State), Host: SSHHost(j.ID), User: SSHUser, AgentID: j.AgentID}
	if j.AgentID != "" {
		if info.HostKey, err = a.cfg.Store.AgentHostKey(r.Context(), j.AgentID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if of, err := a.cfg.Store.DebugJobOf(r.Context(), j.ID); err == nil {
		info.DebugOf = of
	}
	return writeJSON(w, http.StatusOK, info)
}

// sshConnect splices the caller's connection (an HTTP upgrade to
// baton-ssh; ssh runs over it through `baton ssh-proxy`) to a stream of
// the job's agent. The caller needs the write role and a registered key;
// the agent accepts only the caller's keys.
func (a *API) sshConnect(w http.ResponseWriter, r *http.Request, c *caller) error {
	if a.cfg.Streams == nil || a.cfg.Upgrade == nil {
		return fmt.Errorf("%w: debug sessions are not enabled on this server", errNotFound)
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), SSHUpgrade) {
		return fmt.Errorf("%w: this endpoint is an HTTP upgrade to %s (use baton attach)", errBadRequest, SSHUpgrade)
	}
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := a.checkJobTarget(r, c, j, engine.TargetAttach); err != nil {
		return err
	}
	keys, err := a.cfg.Store.SSHKeys(ctx, c.user.ID)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: you have no SSH key: register one with 'baton key add ~/.ssh/id_ed25519.pub'", errForbidden)
	}
	if j.State != ci.StateRunning || j.AgentID == "" {
		return fmt.Errorf("%w: job %s is %s: only a running job has a shell to attach to", errConflict, j.ID, j.State)
	}
	kind := "attach"
	if _, err := a.cfg.Store.DebugJobOf(ctx, j.ID); err == nil {
		kind = "debug"
	}
	sess := &store.DebugSession{JobID: j.ID, ProjectID: j.ProjectID, AgentID: j.AgentID, UserID: c.user.ID, Login: c.user.Login, Kind: kind}
	agentConn, err := a.cfg.Streams.OpenStream(ctx, sess)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the caller left: nobody to answer
		}
		return fmt.Errorf("%w: %v", errConflict, err)
	}
	opened := a.cfg.Now()
	record := func(detail string) {
		actx := context.WithoutCancel(ctx)
		_ = a.cfg.Store.Tx(actx, func(tx *store.Tx) error {
			if err := tx.CloseDebugSession(sess.ID, a.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return audit.Record(actx, tx, audit.Event{Action: audit.DebugSession, Target: j.ID, ProjectID: j.ProjectID, Detail: detail, At: a.cfg.Now()})
		})
	}
	userConn, err := a.cfg.Upgrade(w, SSHUpgrade)
	if err != nil {
		agentConn.Close()
		record(fmt.Sprintf("%s session %s failed: %v", kind, sess.ID, err))
		return nil // the upgrader answered
	}
	splice(userConn, agentConn)
	record(fmt.Sprintf("%s session %s on agent %s, %s", kind, sess.ID, j.AgentID, a.cfg.Now().Sub(opened).Round(time.Second)))
	return nil
}

// checkJobTarget applies the deployment target's rules to a shell in a
// job of a pipeline that deploys to it (its jobs hold the target's
// secrets): the caller must be allowed to deploy to the target.
func (a *API) checkJobTarget(r *http.Request, c *caller, j *ci.Job, action string) error {
	pl, err := a.cfg.Store.GetPipeline(r.Context(), j.PipelineID)
	if err != nil {
		return err
	}
	if pl.DeploymentTarget == "" {
		return nil
	}
	proj, err := a.cfg.Store.GetProject(r.Context(), j.ProjectID)
	if err != nil {
		return err
	}
	return promoteError(a.cfg.Engine.CheckTarget(r.Context(), pl, c.user.Login, c.role(proj).String(), action))
}

// splice copies both ways until both directions end, half-closing each
// side when the other stops sending.
func splice(x, y io.ReadWriteCloser) {
	var wg sync.WaitGroup
	cp := func(dst, src io.ReadWriteCloser) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	wg.Add(2)
	go cp(x, y)
	go cp(y, x)
	wg.Wait()
	x.Close()
	y.Close()
}

func (a *API) debugJob(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req apiv1.DebugRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	d := engine.DefaultDebugDuration
	if req.Duration != "" {
		if d, err = time.ParseDuration(req.Duration); err != nil || d <= 0 {
			return fmt.Errorf("%w: duration %q: want a positive duration such as 30m or 1h30m", errBadRequest, req.Duration)
		}
	}
	ctx := r.Context()
	proj, err := a.cfg.Store.GetProject(ctx, j.ProjectID)
	if err != nil {
		return err
	}
	dj, err := a.cfg.Engine.Debug(ctx, engine.DebugRequest{JobID: j.ID, UserID: c.user.ID, Login: c.user.Login, Role: c.role(proj).String(), Duration: d})
	if err != nil {
		var te *engine.DebugLimitError
		if errors.As(err, &te) {
			err = fmt.Errorf("%w: %v", errBadRequest, err)
		}
		return promoteError(err)
	}
	p, err := a.cfg.Store.GetPipeline(ctx, dj.PipelineID)
	if err != nil {
		return err
	}
	_ = a.cfg.Store.Tx(ctx, func(tx *store.Tx) error {
		return audit.Record(ctx, tx, audit.Event{Action: audit.DebugSession, Target: dj.ID, ProjectID: dj.ProjectID,
			Detail: fmt.Sprintf("debug job %s of job %s for %s", dj.ID, j.ID, dj.TimeLimit), At: a.cfg.Now()})
	})
	return writeJSON(w, http.StatusCreated, apiv1.DebugView{JobID: dj.ID, PipelineID: p.ID, WorkflowID: p.WorkflowID, DebugOf: j.ID, TimeLimit: dj.TimeLimit.String()})
}

func (a *API) jobSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	j, err := a.job(r, c)
	if err != nil {
		return err
	}
	ss, err := a.cfg.Store.JobDebugSessions(r.Context(), j.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, each(ss, debugSessionView))
}

// keepOnFailure reads a keep_on_failure duration ("" is none).
func keepOnFailure(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil || d <= 0:
		return 0, fmt.Errorf("%w: keep_on_failure %q: want a positive duration such as 30m", errBadRequest, s)
	case d > engine.MaxDebugDuration:
		return 0, fmt.Errorf("%w: keep_on_failure may be at most %v", errBadRequest, engine.MaxDebugDuration)
	}
	return d, nil
}
