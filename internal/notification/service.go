package notification

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/ids"
	"github.com/batonci/baton/internal/secret"
	"github.com/batonci/baton/internal/store"
	"github.com/batonci/baton/internal/vault"
)

// Channel is the store notification channel that wakes senders when
// deliveries are enqueued (on PostgreSQL, on every server).
const Channel = "notification-deliveries"

// Sealer seals and opens a notification's endpoints and secret
// (*vault.Vault is one).
type Sealer interface {
	SealNotification(id, field, plain string) (string, error)
	OpenNotification(id, field, sealed string) (secret.Value, error)
}

// Config configures a Service.
type Config struct {
	Store  *store.DB
	Sealer Sealer
	// BaseURL is the server's URL, for links in messages.
	BaseURL string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Client sends the messages (default: a client with Timeout). It
	// never follows redirects, whatever its CheckRedirect.
	Client *http.Client
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Attempts is how many times a delivery is tried (default 6);
	// Backoff the wait after the first failure, doubled after each
	// (default 2s), at most MaxBackoff (default 5m).
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Lease is how long a claim lasts (default Timeout + 1m): a sender that
	// dies leaves its deliveries to another after that.
	Lease time.Duration
	// Owner names this sender in claims (default: a new ID).
	Owner string
	// Keep is how many finished deliveries a notification keeps (default 200).
	Keep int
}

// Service manages notifications and sends their deliveries.
type Service struct {
	cfg Config
	db  *store.DB
	log *slog.Logger
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	noRedirect := *cfg.Client
	// The 3xx answer itself is the result: a permanent failure.
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.Client = &noRedirect
	if cfg.Attempts <= 0 {
		cfg.Attempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 2 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = cfg.Timeout + time.Minute
	}
	if cfg.Owner == "" {
		cfg.Owner = ids.New()
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 200
	}
	return &Service{cfg: cfg, db: cfg.Store, log: cfg.Logger}
}

// Change creates or changes a notification. Nil fields are left as they
// are; an empty endpoint removes that target (and, for the webhook, its
// secret).
type Change struct {
	Projects, Branches, Pipelines, Results *[]string
	SlackEndpoint                          *secret.Value
	SlackChannels                          *[]string
	WebhookEndpoint                        *secret.Value
	WebhookSecret                          *secret.Value
}

// View is what may be shown of a notification: endpoints as scheme and
// host only, whether the webhook has a secret, never its value.
type View struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Projects  []string     `json:"projects"`
	Branches  []string     `json:"branches"`
	Pipelines []string     `json:"pipelines"`
	Results   []string     `json:"results"`
	Slack     *SlackView   `json:"slack,omitempty"`
	Webhook   *WebhookView `json:"webhook,omitempty"`
	CreatedAt time.Time    `json:"created_at"`
	CreatedBy string       `json:"created_by"`
	UpdatedAt time.Time    `json:"updated_at"`
	UpdatedBy string       `json:"updated_by"`
}

// SlackView shows a Slack target.
type SlackView struct {
	Endpoint string   `json:"endpoint"`
	Channels []string `json:"channels"`
}

// WebhookView shows a webhook target.
type WebhookView struct {
	Endpoint string `json:"endpoint"`
	Secret   bool   `json:"secret"`
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (s *Service) view(n *store.Notification) (*View, error) {
	v := &View{ID: n.ID, Name: n.Name, Projects: orEmpty(n.Projects), Branches: orEmpty(n.Branches),
		Pipelines: orEmpty(n.Pipelines), Results: orEmpty(n.Results),
		CreatedAt: n.CreatedAt, CreatedBy: n.CreatedBy, UpdatedAt: n.UpdatedAt, UpdatedBy: n.UpdatedBy}
	if n.SlackEndpoint != "" {
		u, err := s.cfg.Sealer.OpenNotification(n.ID, vault.NotificationSlackEndpoint, n.SlackEndpoint)
		if err != nil {
			return nil, err
		}
		v.Slack = &SlackView{Endpoint: Redact(u.Reveal()), Channels: orEmpty(n.SlackChannels)}
	}
	if n.WebhookEndpoint != "" {
		u, err := s.cfg.Sealer.OpenNotification(n.ID, vault.NotificationWebhookEndpoint, n.WebhookEndpoint)
		if err != nil {
			return nil, err
		}
		v.Webhook = &WebhookView{Endpoint: Redact(u.Reveal()), Secret: n.WebhookSecret != ""}
	}
	return v, nil
}

// List returns every notification.
func (s *Service) List(ctx context.Context) ([]*View, error) {
	ns, err := s.db.ListNotifications(ctx)
	if err != nil {
		return nil, err
	}
	out := []*View{}
	for _, n := range ns {
		v, err := s.view(n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Get returns a notification by name; store.ErrNotFound if none.
func (s *Service) Get(ctx context.Context, name string) (*View, error) {
	n, err := s.db.GetNotification(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.view(n)
}

// Hook runs in the transaction of a change, after it (for the audit log).
type Hook func(tx *store.Tx, v *View) error

// apply checks a change and applies it to n, sealing what it sets.
func (s *Service) apply(tx *store.Tx, n *store.Notification, ch Change) error {
	set := func(dst *[]string, src *[]string) {
		if src != nil {
			l := []string{}
			for _, e := range *src {
				l = append(l, strings.TrimSpace(e))
			}
			*dst = l
		}
	}
	set(&n.Projects, ch.Projects)
	set(&n.Branches, ch.Branches)
	set(&n.Pipelines, ch.Pipelines)
	set(&n.Results, ch.Results)
	set(&n.SlackChannels, ch.SlackChannels)
	for _, f := range []struct {
		name string
		l    []string
	}{{"projects", n.Projects}, {"branches", n.Branches}, {"pipelines", n.Pipelines}} {
		if err := checkFilter(f.name, f.l); err != nil {
			return err
		}
	}
	if err := checkResults(n.Results); err != nil {
		return err
	}
	if err := checkChannels(n.SlackChannels); err != nil {
		return err
	}
	// An exact project name must name a project: a typo would silently
	// never match (and a private project is only sent about by name).
	if ch.Projects != nil {
		for i, p := range n.Projects {
			if isRegex(p) {
				continue
			}
			if _, err := tx.GetProject(p); errors.Is(err, store.ErrNotFound) {
				return invalid("projects[%d]: there is no project %q", i, p)
			} else if err != nil {
				return err
			}
		}
	}
	seal := func(field, label string, v *secret.Value, dst *string, check bool) error {
		if v == nil {
			return nil
		}
		plain := strings.TrimSpace(v.Reveal())
		if plain != "" && check {
			if err := CheckEndpoint(label, plain); err != nil {
				return err
			}
		}
		sealed, err := s.cfg.Sealer.SealNotification(n.ID, field, plain)
		if err != nil {
			return err
		}
		*dst = sealed
		return nil
	}
	if err := seal(vault.NotificationSlackEndpoint, "slack endpoint", ch.SlackEndpoint, &n.SlackEndpoint, true); err != nil {
		return err
	}
	if err := seal(vault.NotificationWebhookEndpoint, "webhook endpoint", ch.WebhookEndpoint, &n.WebhookEndpoint, true); err != nil {
		return err
	}
	if ch.WebhookSecret != nil && ch.WebhookSecret.Len() > maxSecretLen {
		return invalid("webhook secret: longer than %d bytes", maxSecretLen)
	}
	if err := seal(vault.NotificationWebhookSecret, "webhook secret", ch.WebhookSecret, &n.WebhookSecret, false); err != nil {
		return err
	}
	if n.WebhookEndpoint == "" {
		if ch.WebhookSecret != nil && !ch.WebhookSecret.IsZero() {
			return invalid("webhook secret: set without a webhook endpoint")
		}
		n.WebhookSecret = ""
	}
	if n.SlackEndpoint == "" {
		if len(n.SlackChannels) > 0 && ch.SlackChannels != nil {
			return invalid("slack channels: set without a Slack endpoint")
		}
		n.SlackChannels = nil
	}
	if n.SlackEndpoint == "" && n.WebhookEndpoint == "" {
		return invalid("a Slack endpoint or a webhook endpoint is required")
	}
	return nil
}

// Create stores a new notification; store.ErrConflict if the name is taken.
func (s *Service) Create(ctx context.Context, name string, ch Change, by string, hooks ...Hook) (*View, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	n := &store.Notification{ID: ids.New(), Name: name, CreatedAt: now, CreatedBy: by, UpdatedAt: now, UpdatedBy: by}
	var v *View
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := s.apply(tx, n, ch); err != nil {
			return err
		}
		if err := tx.CreateNotification(n); err != nil {
			return err
		}
		var err error
		if v, err = s.view(n); err != nil {
			return err
		}
		return runHooks(tx, v, hooks)
	})
	return v, err
}

// Update changes a notification; store.ErrNotFound if none.
func (s *Service) Update(ctx context.Context, name string, ch Change, by string, hooks ...Hook) (*View, error) {
	var v *View
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.GetNotification(name)
		if err != nil {
			return err
		}
		if err := s.apply(tx, n, ch); err != nil {
			return err
		}
		n.UpdatedAt, n.UpdatedBy = s.cfg.Now(), by
		if err := tx.UpdateNotification(n); err != nil {
			return err
		}
		if v, err = s.view(n); err != nil {
			return err
		}
		return runHooks(tx, v, hooks)
	})
	return v, err
}

// Delete deletes a notification and its deliveries.
func (s *Service) Delete(ctx context.Context, name string, hooks ...Hook) error {
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.GetNotification(name)
		if err != nil {
			return err
		}
		v, err := s.view(n)
		if err != nil {
			return err
		}
		if err := tx.DeleteNotification(n.Name); err != nil {
			return err
		}
		return runHooks(tx, v, hooks)
	})
}

func runHooks(tx *store.Tx, v *View, hooks []Hook) error {
	for _, h := range hooks {
		if err := h(tx, v); err != nil {
			return err
		}
	}
	return nil
}

// Test enqueues a sample message to each of the notification's targets
// (each Slack channel), whatever its filters, and returns the deliveries.
func (s *Service) Test(ctx context.Context, name string) ([]*store.NotificationDelivery, error) {
	var ds []*store.NotificationDelivery
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		n, err := tx.GetNotification(name)
		if err != nil {
			return err
		}
		ds = deliveriesOf(n, "", s.cfg.Now())
		if _, err := tx.EnqueueNotificationDeliveries(ds); err != nil {
			return err
		}
		return tx.Notify(Channel, "")
	})
	return ds, err
}

// Deliveries returns a notification's latest deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, name string, limit int) ([]*store.NotificationDelivery, error) {
	n, err := s.db.GetNotification(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.db.ListNotificationDeliveries(ctx, n.ID, limit)
}

// deliveriesOf returns the deliveries n sends about pipelineID: one per
// Slack channel (one to the endpoint's own channel when none is named),
// one to the webhook.
func deliveriesOf(n *store.Notification, pipelineID string, now time.Time) []*store.NotificationDelivery {
	var ds []*store.NotificationDelivery
	add := func(target, channel string) {
		ds = append(ds, &store.NotificationDelivery{NotificationID: n.ID, PipelineID: pipelineID, Target: target, Channel: channel, CreatedAt: now})
	}
	if n.SlackEndpoint != "" {
		if len(n.SlackChannels) == 0 {
			add(store.TargetSlack, "")
		}
		for _, c := range n.SlackChannels {
			add(store.TargetSlack, c)
		}
	}
	if n.WebhookEndpoint != "" {
		add(store.TargetWebhook, "")
	}
	return ds
}

// PipelineDone enqueues, in the transaction that ends pipeline p, the
// deliveries of every notification whose rule matches it. It is the
// engine's Finisher. Enqueueing twice is harmless: a pipeline's delivery
// to a target is stored once. A debug job's pipeline is someone's
// interactive session, not the project's build: it sends nothing.
func (s *Service) PipelineDone(tx *store.Tx, p *ci.Pipeline) error {
	ns, err := tx.ListNotifications()
	if err != nil || len(ns) == 0 {
		return err
	}
	if debug, err := tx.IsDebugPipeline(p.ID); err != nil || debug {
		return err
	}
	wf, err := tx.GetWorkflow(p.WorkflowID)
	if err != nil {
		return err
	}
	proj, err := tx.GetProject(p.ProjectID)
	if err != nil {
		return err
	}
	var ds []*store.NotificationDelivery
	for _, n := range ns {
		if Matches(n, proj, wf, p) {
			ds = append(ds, deliveriesOf(n, p.ID, s.cfg.Now())...)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	if _, err := tx.EnqueueNotificationDeliveries(ds); err != nil {
		return err
	}
	return tx.Notify(Channel, "")
}
