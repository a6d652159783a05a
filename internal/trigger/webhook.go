package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/engine"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/store"
)

// maxWebhookBody bounds a webhook delivery; GitHub caps payloads at 25 MB,
// push payloads are far smaller.
const maxWebhookBody = 5 << 20

// pushPayload holds the fields Baton uses of GitHub's push event.
type pushPayload struct {
	Ref     string `json:"ref"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
	Pusher  struct {
		Name string `json:"name"`
	} `json:"pusher"`
}

// Webhook is the push webhook endpoint: POST /hooks/{project}. The body is
// GitHub's push event; X-Hub-Signature-256 must be the HMAC-SHA256 of the
// body with the project's webhook secret. Every delivery is recorded.
func (t *Trigger) Webhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("project")
	p, err := t.cfg.Store.GetProject(r.Context(), name)
	if err != nil {
		hookError(w, http.StatusNotFound, "unknown project")
		return
	}
	d := &store.Delivery{ID: r.Header.Get("X-GitHub-Delivery"), ProjectID: p.ID, Event: r.Header.Get("X-GitHub-Event"), CreatedAt: t.cfg.Now()}
	if d.ID == "" {
		d.ID = ids.New()
	}
	code, msg := t.handleHook(r, p, d)
	d.HTTPStatus, d.Message = code, msg
	if code < 300 {
		d.Status = "ok"
	} else {
		d.Status = "rejected"
	}
	if err := t.cfg.Store.Tx(r.Context(), func(tx *store.Tx) error { return tx.RecordDelivery(d) }); err != nil {
		t.cfg.Logger.Error("record webhook delivery", "err", err)
	}
	if code >= 300 {
		hookError(w, code, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (t *Trigger) handleHook(r *http.Request, p *ci.Project, d *store.Delivery) (int, string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return http.StatusBadRequest, "cannot read body"
	}
	if len(body) > maxWebhookBody {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", maxWebhookBody)
	}
	d.Payload = body
	if p.WebhookSecret == "" {
		return http.StatusForbidden, "webhooks are not enabled for this project (no webhook secret set)"
	}
	if !validSignature(p.WebhookSecret, body, r.Header.Get("X-Hub-Signature-256")) {
		return http.StatusUnauthorized, "missing or invalid X-Hub-Signature-256"
	}
	switch d.Event {
	case "ping":
		return http.StatusOK, "pong"
	case "push":
	default:
		return http.StatusAccepted, fmt.Sprintf("event %q ignored", d.Event)
	}
	var push pushPayload
	if err := json.Unmarshal(body, &push); err != nil {
		return http.StatusBadRequest, "malformed push payload: " + err.Error()
	}
	if !strings.HasPrefix(push.Ref, "refs/heads/") && !strings.HasPrefix(push.Ref, "refs/tags/") {
		return http.StatusBadRequest, fmt.Sprintf("push payload: ref %q is not a branch or tag", push.Ref)
	}
	if push.Deleted || zeroSHA(push.After) {
		t.cfg.Store.CompareAndSetRef(r.Context(), p.ID, push.Ref, push.Before, "")
		return http.StatusOK, "ref deleted: nothing to build"
	}
	if len(push.After) < 7 {
		return http.StatusBadRequest, "push payload: missing after"
	}
	// Record the ref so polling does not build the same push again; if
	// polling won the race, it already created the workflow.
	seen, _ := t.cfg.Store.GetRefs(r.Context(), p.ID)
	if seen[push.Ref] == push.After {
		return http.StatusOK, "already built"
	}
	if won, err := t.cfg.Store.CompareAndSetRef(r.Context(), p.ID, push.Ref, seen[push.Ref], push.After); err == nil && !won {
		return http.StatusOK, "already built"
	}
	wf, err := t.push(r.Context(), p, push.Ref, push.Before, push.After, push.Pusher.Name)
	switch {
	case errors.Is(err, engine.ErrSkipCI):
		return http.StatusOK, "skipped: the commit message asks to skip CI"
	case err != nil:
		return http.StatusUnprocessableEntity, "cannot start a workflow: " + err.Error()
	}
	return http.StatusCreated, "workflow " + wf.ID
}

// validSignature checks GitHub's "sha256=<hex hmac>" header in constant time.
func validSignature(secret string, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func hookError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

var _ = errors.New
