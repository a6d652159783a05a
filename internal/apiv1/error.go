package apiv1

import (
	"fmt"
	"net/http"
)

// ErrorBody is the body of every answer that is not 2xx.
type ErrorBody struct {
	Message string `json:"message"`
}

// MessageView is the body of answers that only say what was done
// ("stopping", "deleted").
type MessageView struct {
	Message string `json:"message"`
}

// Error is an answer of the API other than 2xx: its status and message.
// Handlers of the server return one to choose the status themselves;
// internal/apiclient returns one for every such answer.
type Error struct {
	Status  int
	Message string
	// RetryAfter, in seconds, is sent as the Retry-After header (0: none).
	RetryAfter int
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// Errorf is an *Error with status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}
