package notification

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// batch is how many deliveries a sender claims at once, and sends in
// parallel.
const batch = 8

// recheck is how often Run looks at the outbox without being woken.
const recheck = 30 * time.Second

// maxAnswer bounds how much of an endpoint's answer is read.
const maxAnswer = 4 << 10

// Backoff is the wait after the attempt-th failed attempt (1-based):
// base, doubled after each failure, at most max.
func Backoff(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Run sends due deliveries until ctx is done: woken when deliveries are
// enqueued (by this server or, on PostgreSQL, another), when the next
// retry is due, and every 30 seconds.
func (s *Service) Run(ctx context.Context) error {
	wake, err := s.db.Listen(ctx, Channel)
	if err != nil {
		return fmt.Errorf("notifications: listen: %w", err)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-wake:
			if !ok {
				return nil
			}
		case <-timer.C:
		}
		for {
			n, err := s.Step(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("notifications: send", "err", err)
			}
			if n < batch || err != nil {
				break
			}
		}
		if now := s.cfg.Now(); now.Sub(lastPrune) > 10*time.Minute {
			lastPrune = now
			s.prune(ctx)
		}
		wait := recheck
		if at, ok, err := s.db.NextNotificationDue(ctx); err == nil && ok {
			wait = min(wait, max(at.Sub(s.cfg.Now()), 10*time.Millisecond))
		}
		timer.Reset(wait)
	}
}

// Step claims the deliveries due now (at most one batch), sends them and
// records each attempt. It returns how many it claimed.
func (s *Service) Step(ctx context.Context) (int, error) {
	ds, err := s.db.ClaimNotificationDeliveries(ctx, s.cfg.Owner, s.cfg.Now(), s.cfg.Lease, batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ds))
	for i, d := range ds {
		wg.Go(func() { errs[i] = s.deliver(ctx, d) })
	}
	wg.Wait()
	return len(ds), errors.Join(errs...)
}

// permanent marks a failure that retrying will not fix.
type permanent struct{ error }

// deliver makes one attempt at d and records it.
func (s *Service) deliver(ctx context.Context, d *store.NotificationDelivery) error {
	start := s.cfg.Now()
	code, err := s.send(ctx, d)
	a := store.NotificationAttempt{N: d.Attempts, At: start, HTTPStatus: code, Duration: s.cfg.Now().Sub(start)}
	state, next := store.DeliverySent, time.Time{}
	if err != nil {
		a.Error = bounded(err.Error())
		var perm permanent
		switch {
		case errors.As(err, &perm) || d.Attempts >= s.cfg.Attempts:
			state = store.DeliveryFailed
			s.log.Warn("notification delivery failed", "delivery", d.ID, "target", d.Target, "attempts", d.Attempts, "status", code, "err", err)
		default:
			state, next = store.DeliveryPending, s.cfg.Now().Add(Backoff(s.cfg.Backoff, s.cfg.MaxBackoff, d.Attempts))
		}
	}
	// Recorded even if ctx ends now: the attempt happened.
	return s.db.FinishNotificationAttempt(context.WithoutCancel(ctx), s.cfg.Owner, d.ID, a, state, next)
}

// bounded cuts an error message to what is worth keeping.
func bounded(s string) string {
	if len(s) > 500 {
		return s[:500] + "..."
	}
	return s
}

// send composes d's message and posts it. It returns the HTTP status (0
// when none came) and why it failed.
func (s *Service) send(ctx context.Context, d *store.NotificationDelivery) (int, error) {
	n, err := s.db.GetNotification(ctx, d.NotificationID)
	if err != nil {
		return 0, permanent{fmt.Errorf("read the notification: %w", err)}
	}
	ev, err := s.event(ctx, n, d)
	if err != nil {
		return 0, err
	}
	var endpoint, sig string
	var body []byte
	switch d.Target {
	case store.TargetSlack:
		if n.SlackEndpoint == "" {
			return 0, permanent{errors.New("the notification no longer sends to Slack")}
		}
		u, err := s.cfg.Sealer.OpenNotification(n.ID, vault.NotificationSlackEndpoint, n.SlackEndpoint)
		if err != nil {
			return 0, permanent{err}
		}
		endpoint = u.Reveal()
		if body, err = encode(ev.Slack(d.Channel)); err != nil {
			return 0, permanent{err}
		}
	case store.TargetWebhook:
		if n.WebhookEndpoint == "" {
			return 0, permanent{errors.New("the notification no longer sends to a webhook")}
		}
		u, err := s.cfg.Sealer.OpenNotification(n.ID, vault.NotificationWebhookEndpoint, n.WebhookEndpoint)
		if err != nil {
			return 0, permanent{err}
		}
		endpoint = u.Reveal()
		if body, err = encode(ev.Webhook()); err != nil {
			return 0, permanent{err}
		}
		if n.WebhookSecret != "" {
			sec, err := s.cfg.Sealer.OpenNotification(n.ID, vault.NotificationWebhookSecret, n.WebhookSecret)
			if err != nil {
				return 0, permanent{err}
			}
			sig = Sign(sec.Reveal(), body)
		}
	default:
		return 0, permanent{fmt.Errorf("unknown target %q", d.Target)}
	}
	return s.post(ctx, endpoint, body, sig)
}

// event reads what d's message is about: its pipeline, or the sample for
// a test message.
func (s *Service) event(ctx context.Context, n *store.Notification, d *store.NotificationDelivery) (*Event, error) {
	if d.PipelineID == "" {
		return Sample(s.cfg.BaseURL, d.CreatedAt), nil
	}
	p, err := s.db.GetPipelineTree(ctx, d.PipelineID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, permanent{errors.New("the pipeline no longer exists")}
	}
	if err != nil {
		return nil, err
	}
	wf, err := s.db.GetWorkflow(ctx, p.WorkflowID)
	if err != nil {
		return nil, err
	}
	proj, err := s.db.GetProject(ctx, p.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, permanent{errors.New("the project no longer exists")}
	}
	if err != nil {
		return nil, err
	}
	// The rule may have changed, or the project become private, since
	// the delivery was enqueued: never tell an endpoint about a project
	// its rule does not allow now.
	if !ProjectAllowed(n, proj) {
		return nil, permanent{errors.New("the rule no longer allows this project (a private project is sent about only when named)")}
	}
	return &Event{Project: proj, Workflow: wf, Pipeline: p, BaseURL: s.cfg.BaseURL}, nil
}

// post sends body to endpoint, bounded by the timeout, following no
// redirect and reading at most maxAnswer of the answer.
func (s *Service) post(ctx context.Context, endpoint string, body []byte, sig string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, permanent{fmt.Errorf("endpoint %s: %v", Redact(endpoint), err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "baton-notifications")
	if sig != "" {
		req.Header.Set(SignatureHeader, sig)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		// The client's error names the URL, which holds the credential.
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) {
			err = uerr.Unwrap()
		}
		return 0, fmt.Errorf("post to %s: %v", Redact(endpoint), err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch code := resp.StatusCode; {
	case code/100 == 2:
		return code, nil
	case code/100 == 3:
		return code, permanent{fmt.Errorf("HTTP %d from %s: redirects are not followed", code, Redact(endpoint))}
	case code/100 == 4 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return code, permanent{fmt.Errorf("HTTP %d from %s: %s", code, Redact(endpoint), bytes.TrimSpace(answer[:min(len(answer), 200)]))}
	default:
		return code, fmt.Errorf("HTTP %d from %s", code, Redact(endpoint))
	}
}

// prune deletes each notification's finished deliveries beyond Keep.
func (s *Service) prune(ctx context.Context) {
	ns, err := s.db.ListNotifications(ctx)
	if err != nil {
		return
	}
	for _, n := range ns {
		if err := s.db.Tx(ctx, func(tx *store.Tx) error { return tx.PruneNotificationDeliveries(n.ID, s.cfg.Keep) }); err != nil {
			s.log.Warn("notifications: prune deliveries", "notification", n.Name, "err", err)
		}
	}
}
