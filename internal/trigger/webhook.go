package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/forge"
	"github.com/batonci/baton/internal/forge/hosts"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/repocache"
	"github.com/batonci/baton/internal/repourl"
	"github.com/batonci/baton/internal/store"
)

// maxWebhookBody bounds a webhook delivery; GitHub caps payloads at 25 MB,
// push and pull request payloads are far smaller.
const maxWebhookBody = forge.MaxBody

// keptHeaders are the request headers a delivery keeps to be redelivered:
// the forges' event and delivery names, never a signature or token.
var keptHeaders = []string{
	"X-GitHub-Event", "X-GitHub-Delivery",
	"X-Gitlab-Event", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID",
	"X-Gitea-Event", "X-Gitea-Delivery",
}

// Bounds on what deliveries keep: anyone can post to /hooks/, so what a
// request can make the server store is capped.
const (
	// maxKeptHeaderBytes caps the headers kept with one delivery.
	maxKeptHeaderBytes = 8 << 10
	// maxDeliveryID and maxEventName cap the forge's names; a longer
	// delivery ID is replaced by one of Baton's.
	maxDeliveryID = 128
	maxEventName  = 128
	// KeptDeliveries is how many deliveries a project keeps, newest
	// first; at most KeptRejected of them rejected ones.
	KeptDeliveries = 200
	KeptRejected   = 20
)

// hookNotFound is the one answer for a project that does not exist, is
// private, or has no webhook secret, when the delivery's signature does
// not verify: it does not tell which.
const hookNotFound = "no webhook here: unknown project, or a delivery whose signature does not verify"

// Webhook is the webhook endpoint: POST /hooks/{project}. The delivery is
// verified with the scheme of the project's forge (GitHub's
// X-Hub-Signature-256 for a plain git project), then pushes start
// workflows, pull requests opened, updated or reopened start pull
// request workflows on the merge commit, and closed ones stop theirs.
//
// Until its signature verifies, a delivery to a project that does not
// exist, is private or has no webhook secret gets the same 404 (a public
// project's bad signature gets a 401 that says why). A verified delivery
// whose forge delivery ID was accepted before is answered 200 and not run
// again (Redeliver runs one again). Every delivery to a known project is
// recorded (the payload only once verified), within KeptDeliveries per
// project; deliveries to unknown projects are not.
func (t *Trigger) Webhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	p, err := t.cfg.Store.GetProject(r.Context(), name)
	if err != nil {
		p = nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		hookError(w, http.StatusBadRequest, "cannot read body")
		return
	}
	if p == nil {
		// Not recorded: anyone can post to any name. Verify against a
		// dummy secret so that the answer takes as long as for a project.
		f, _ := hosts.New("", "", "", nil)
		f.Verify("no project", r.Header, body)
		if len(body) > maxWebhookBody {
			hookError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxWebhookBody))
			return
		}
		hookError(w, http.StatusNotFound, hookNotFound)
		return
	}
	f, err := hosts.New(p.Forge, p.ForgeURL, "", nil)
	if err != nil {
		t.cfg.Logger.Error("webhook: the project's forge is misconfigured", "project", p.Name, "err", err)
		hookError(w, http.StatusNotFound, hookNotFound)
		return
	}
	id, event := f.Delivery(r.Header)
	if len(id) > maxDeliveryID {
		id = ""
	}
	if len(event) > maxEventName {
		event = event[:maxEventName]
	}
	d := &store.Delivery{ID: id, ProjectID: p.ID, Event: event, CreatedAt: t.cfg.Now(), Headers: keptHeadersOf(r.Header)}
	code, msg := t.receive(r.Context(), p, f, r.Header, body, d)
	answer := msg
	if code == http.StatusUnauthorized && !p.Public || code == http.StatusNotFound {
		code, answer = http.StatusNotFound, hookNotFound
	}
	if code == http.StatusOK && msg == alreadyReceived {
		// Not recorded again.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"message": msg, "delivery": d.ID})
		return
	}
	t.record(r.Context(), d, code, msg)
	if code >= 300 {
		hookError(w, code, answer)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg, "delivery": d.ID})
}

// alreadyReceived is the answer to a delivery accepted before.
const alreadyReceived = "delivery already received: not run again (redeliver it to run it again)"

// keptHeadersOf returns the headers of keptHeaders that h has, within
// maxKeptHeaderBytes.
func keptHeadersOf(h http.Header) map[string]string {
	kept := map[string]string{}
	size := 0
	for _, k := range keptHeaders {
		v := h.Get(k)
		if v == "" || size+len(k)+len(v) > maxKeptHeaderBytes {
			continue
		}
		kept[k] = v
		size += len(k) + len(v)
	}
	return kept
}

// record stores a delivery with its outcome, and prunes the project's
// deliveries to the newest KeptDeliveries. A delivery ID already taken (a
// forge's own redelivery of one rejected before, or another project's)
// is recorded under a new ID, as a redelivery.
func (t *Trigger) record(ctx context.Context, d *store.Delivery, code int, msg string) {
	d.HTTPStatus, d.Message = code, msg
	switch {
	case code >= 300:
		d.Status = "rejected"
	case strings.HasPrefix(msg, "workflow "):
		d.Status = "triggered"
	default:
		d.Status = "ok"
	}
	if d.ID == "" {
		d.ID = ids.New()
	}
	save := func(tx *store.Tx) error {
		if err := tx.RecordDelivery(d); err != nil {
			return err
		}
		return tx.PruneDeliveries(d.ProjectID, KeptDeliveries, KeptRejected)
	}
	err := t.cfg.Store.Tx(ctx, save)
	if errors.Is(err, store.ErrConflict) {
		if d.RedeliveryOf == "" {
			d.RedeliveryOf = d.ID
		}
		d.ID = ids.New()
		err = t.cfg.Store.Tx(ctx, save)
	}
	if err != nil {
		t.cfg.Logger.Error("record webhook delivery", "err", err)
	}
}

// receive checks and runs a delivery. Its 404 and 401 answers are turned
// into the one hookNotFound by Webhook where they must not tell apart a
// private project from none.
func (t *Trigger) receive(ctx context.Context, p *ci.Project, f forge.Forge, h http.Header, body []byte, d *store.Delivery) (int, string) {
	if len(body) > maxWebhookBody {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxWebhookBody)
	}
	secret, err := t.webhookSecret(p)
	if err != nil {
		t.cfg.Logger.Error("webhook: open the project's webhook secret", "project", p.Name, "err", err)
		return http.StatusNotFound, "cannot open the webhook secret: " + err.Error()
	}
	if secret == "" {
		f.Verify("no secret", h, body)
		return http.StatusNotFound, "webhooks are not enabled for this project (no webhook secret set)"
	}
	if !f.Verify(secret, h, body) {
		return http.StatusUnauthorized, "missing or invalid " + map[string]string{
			"github": "X-Hub-Signature-256", "gitlab": "X-Gitlab-Token", "gitea": "X-Gitea-Signature"}[f.Name()]
	}
	if d.ID != "" {
		seen, err := t.cfg.Store.DeliveryAccepted(ctx, p.ID, d.ID)
		if err != nil {
			return http.StatusInternalServerError, "cannot look up the delivery"
		}
		if seen {
			return http.StatusOK, alreadyReceived
		}
	}
	// Only an authentic delivery's payload is kept (and can be
	// redelivered): a rejected one is recorded without it.
	d.Payload = body
	return t.handle(ctx, p, f, h, body, false)
}

// webhookSecret returns the project's webhook secret in plaintext ("" when
// it has none).
func (t *Trigger) webhookSecret(p *ci.Project) (string, error) {
	if p.WebhookSecret == "" || t.cfg.Secrets == nil {
		return "", nil
	}
	v, err := t.cfg.Secrets.WebhookSecret(p)
	return v.Reveal(), err
}

// handle acts on a verified delivery. force (a redelivery) builds even
// what was built already.
func (t *Trigger) handle(ctx context.Context, p *ci.Project, f forge.Forge, h http.Header, body []byte, force bool) (int, string) {
	ev, err := f.ParseHook(h, body)
	if err != nil {
		return http.StatusBadRequest, err.Error()
	}
	switch ev.Kind {
	case forge.Ping:
		return http.StatusOK, "pong"
	case forge.Push:
		return t.pushEvent(ctx, p, ev, force)
	case forge.PullRequest:
		switch ev.PRAction {
		case forge.PROpened, forge.PRUpdated, forge.PRReopened:
			return t.pullRequest(ctx, p, ev, force)
		case forge.PRClosed:
			return t.closePR(ctx, p, ev.PR)
		}
		return http.StatusAccepted, "pull request event ignored"
	}
	return http.StatusAccepted, fmt.Sprintf("event %q ignored", ev.Name)
}

func (t *Trigger) pushEvent(ctx context.Context, p *ci.Project, ev *forge.Event, force bool) (int, string) {
	if !strings.HasPrefix(ev.Ref, "refs/heads/") && !strings.HasPrefix(ev.Ref, "refs/tags/") {
		return http.StatusBadRequest, fmt.Sprintf("push payload: ref %q is not a branch or tag", ev.Ref)
	}
	if ev.Deleted || zeroSHA(ev.After) {
		t.cfg.Store.CompareAndSetRef(ctx, p.ID, ev.Ref, ev.Before, "")
		return http.StatusOK, "ref deleted: nothing to build"
	}
	if len(ev.After) < 7 {
		return http.StatusBadRequest, "push payload: missing after"
	}
	// Record the ref so polling does not build the same push again; if
	// polling won the race, it already created the workflow.
	seen, _ := t.cfg.Store.GetRefs(ctx, p.ID)
	old := seen[ev.Ref]
	if !force {
		if old == ev.After {
			return http.StatusOK, "already built"
		}
		if won, err := t.cfg.Store.CompareAndSetRef(ctx, p.ID, ev.Ref, old, ev.After); err == nil && !won {
			return http.StatusOK, "already built"
		}
	}
	wf, err := t.push(ctx, p, ev.Ref, ev.Before, ev.After, ev.Sender)
	switch {
	case errors.Is(err, engine.ErrSkipCI):
		return http.StatusOK, "skipped: the commit message asks to skip CI"
	case err != nil:
		if !force {
			// Let a redelivery or the next poll try again.
			t.cfg.Store.CompareAndSetRef(ctx, p.ID, ev.Ref, ev.After, old)
		}
		return http.StatusUnprocessableEntity, "cannot start a workflow: " + err.Error()
	}
	return http.StatusCreated, "workflow " + wf.ID
}

// prRef is the key of a pull request's last built head in the refs table.
func prRef(n int) string { return "refs/pull/" + strconv.Itoa(n) + "/head" }

// pullRequest starts the workflow of a pull request: it builds the merge
// of the head into the base, as Semaphore does.
func (t *Trigger) pullRequest(ctx context.Context, p *ci.Project, ev *forge.Event, force bool) (int, string) {
	pr := ev.PR
	if t.cfg.Merger == nil {
		return http.StatusNotImplemented, "this server cannot merge pull requests"
	}
	ref := prRef(pr.Number)
	seen, _ := t.cfg.Store.GetRefs(ctx, p.ID)
	old := seen[ref]
	if !force {
		if old == pr.HeadSHA {
			return http.StatusOK, "already built"
		}
		if won, err := t.cfg.Store.CompareAndSetRef(ctx, p.ID, ref, old, pr.HeadSHA); err == nil && !won {
			return http.StatusOK, "already built"
		}
	}
	undo := func() {
		if !force {
			t.cfg.Store.CompareAndSetRef(ctx, p.ID, ref, pr.HeadSHA, old)
		}
	}
	base := pr.BaseSHA
	if base == "" {
		// GitLab's merge request hooks name no base commit.
		refs, err := t.cfg.Repos.ListRefs(ctx, p.ID, p.RepoURL)
		if base = refs["refs/heads/"+pr.BaseBranch]; err != nil || base == "" {
			undo()
			return http.StatusUnprocessableEntity, fmt.Sprintf("cannot find the base branch %q", pr.BaseBranch)
		}
	}
	headURL := ""
	if pr.FromFork() {
		headURL = pr.HeadCloneURL
		// The payload names the fork: anyone who opens a pull request
		// chooses it. A path or file:// URL would make the server read
		// its own disk into the project's mirror.
		if err := repourl.Check(headURL, false); err != nil {
			undo()
			return http.StatusUnprocessableEntity, fmt.Sprintf("pull request %d: its head repository is refused: %v", pr.Number, err)
		}
	}
	merge, err := t.cfg.Merger.MergeCommit(ctx, p.ID, p.RepoURL, base, headURL, pr.HeadSHA)
	if err != nil {
		undo()
		if errors.Is(err, repocache.ErrMergeConflict) {
			return http.StatusUnprocessableEntity, fmt.Sprintf("pull request %d does not merge cleanly into %s: nothing to build", pr.Number, pr.BaseBranch)
		}
		t.cfg.Logger.Error("merge pull request", "project", p.Name, "pr", pr.Number, "err", err)
		return http.StatusUnprocessableEntity, "cannot merge the pull request: " + err.Error()
	}
	slug := pr.HeadRepo
	if slug == "" {
		slug = pr.BaseRepo
	}
	wf, err := t.cfg.Engine.Trigger(ctx, engine.TriggerRequest{
		Project: p, Trigger: ci.TriggerPR, RefType: "pull-request",
		Branch: pr.BaseBranch, PR: strconv.Itoa(pr.Number), PRBranch: pr.HeadBranch,
		SHA: merge, PRSHA: pr.HeadSHA, PRName: pr.Title, PRAuthor: pr.Author, PRSlug: slug, PRHeadURL: headURL,
		PRFromFork: pr.FromFork(), TriggeredBy: ev.Sender,
	})
	switch {
	case errors.Is(err, engine.ErrSkipCI):
		return http.StatusOK, "skipped: the commit message asks to skip CI"
	case err != nil:
		undo()
		return http.StatusUnprocessableEntity, "cannot start a workflow: " + err.Error()
	}
	t.cfg.Logger.Info("pull request workflow created", "project", p.Name, "pr", pr.Number, "merge", merge, "fork", pr.FromFork(), "workflow", wf.ID)
	return http.StatusCreated, "workflow " + wf.ID
}

// closePR stops the unfinished workflows of a closed (or merged) pull
// request.
func (t *Trigger) closePR(ctx context.Context, p *ci.Project, pr *forge.PR) (int, string) {
	ref := prRef(pr.Number)
	if seen, err := t.cfg.Store.GetRefs(ctx, p.ID); err == nil && seen[ref] != "" {
		t.cfg.Store.CompareAndSetRef(ctx, p.ID, ref, seen[ref], "")
	}
	wfs, err := t.cfg.Store.ListWorkflows(ctx, p.ID, store.WorkflowFilter{Branch: pr.BaseBranch, Limit: 500})
	if err != nil {
		return http.StatusInternalServerError, "cannot list workflows"
	}
	n := strconv.Itoa(pr.Number)
	stopped := 0
	for _, wf := range wfs {
		if wf.RefType != "pull-request" || wf.PR != n || wf.State == ci.StateDone {
			continue
		}
		if err := t.cfg.Engine.StopWorkflow(ctx, wf.ID); err != nil {
			t.cfg.Logger.Warn("stop workflow of a closed pull request", "workflow", wf.ID, "err", err)
			continue
		}
		stopped++
	}
	return http.StatusOK, fmt.Sprintf("pull request %d closed: %d workflow(s) stopped", pr.Number, stopped)
}

// ErrNoDelivery is Redeliver's error for a delivery that does not exist
// or has no payload.
var ErrNoDelivery = errors.New("no such delivery")

// Redeliver processes a recorded delivery of a project again, as if the
// forge had sent it now (its signature is not checked again: the caller
// is a project admin), and records the outcome as a new delivery. A push
// or pull request already built is built again.
func (t *Trigger) Redeliver(ctx context.Context, p *ci.Project, id string) (*store.Delivery, error) {
	orig, err := t.cfg.Store.GetDelivery(ctx, p.ID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && len(orig.Payload) == 0) {
		return nil, fmt.Errorf("%w: %q", ErrNoDelivery, id)
	}
	if err != nil {
		return nil, err
	}
	f, err := hosts.New(p.Forge, p.ForgeURL, "", nil)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, v := range orig.Headers {
		h.Set(k, v)
	}
	d := &store.Delivery{ID: ids.New(), ProjectID: p.ID, Event: orig.Event, CreatedAt: t.cfg.Now(),
		Headers: orig.Headers, Payload: orig.Payload, RedeliveryOf: orig.ID}
	code, msg := t.handle(ctx, p, f, h, orig.Payload, true)
	t.record(ctx, d, code, msg)
	return d, nil
}

func hookError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
