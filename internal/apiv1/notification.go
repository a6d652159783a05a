package apiv1

import "time"

// Notification is an organisation notification: which pipelines' ends it
// matches and where it sends them. Endpoints are shown as scheme and host
// only, the webhook secret as whether one is set.
type Notification struct {
	ID        string               `json:"id"`
	Name      string               `json:"name"`
	Projects  []string             `json:"projects"`
	Branches  []string             `json:"branches"`
	Pipelines []string             `json:"pipelines"`
	Results   []string             `json:"results"`
	Slack     *NotificationSlack   `json:"slack,omitempty"`
	Webhook   *NotificationWebhook `json:"webhook,omitempty"`
	CreatedAt time.Time            `json:"created_at"`
	CreatedBy string               `json:"created_by"`
	UpdatedAt time.Time            `json:"updated_at"`
	UpdatedBy string               `json:"updated_by"`
}

// NotificationSlack is a notification's Slack target.
type NotificationSlack struct {
	Endpoint string   `json:"endpoint"`
	Channels []string `json:"channels"`
}

// NotificationWebhook is a notification's webhook target; Secret says
// whether its deliveries are signed.
type NotificationWebhook struct {
	Endpoint string `json:"endpoint"`
	Secret   bool   `json:"secret"`
}

// NotificationDeliveryView is a delivery of a notification with its
// attempts.
type NotificationDeliveryView struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id,omitempty"`
	// Test is true for a test message.
	Test       bool                      `json:"test,omitempty"`
	Target     string                    `json:"target"`
	Channel    string                    `json:"channel,omitempty"`
	State      string                    `json:"state"`
	Attempts   int                       `json:"attempts"`
	HTTPStatus int                       `json:"http_status"`
	Error      string                    `json:"error,omitempty"`
	NextAt     *time.Time                `json:"next_attempt_at,omitempty"`
	CreatedAt  time.Time                 `json:"created_at"`
	FinishedAt *time.Time                `json:"finished_at,omitempty"`
	AttemptLog []NotificationAttemptView `json:"attempt_log"`
}

// NotificationAttemptView is one attempt of a delivery.
type NotificationAttemptView struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	HTTPStatus int       `json:"http_status"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}
