package jobsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/batonci/baton/internal/semservice"
)

// ServiceRunner runs sem-service's containers for one job: the agent's
// Docker executor. It gets only Specs that semservice.Plan made from a
// request this service checked; a job cannot name an image, a flag, a
// mount or a port.
type ServiceRunner interface {
	// Start starts the service's container (its image made present
	// through the agent's image cache and registry mirror) and returns
	// once the container runs; the client waits for its port. A service
	// the job already started is semservice.ErrRunning.
	Start(ctx context.Context, spec semservice.Spec) error
	// List reports the job's services.
	List(ctx context.Context) ([]semservice.Info, error)
	// Stop stops and removes a service; false when it was not started.
	Stop(ctx context.Context, service string) (bool, error)
	// Logs returns the last lines of a service's output.
	Logs(ctx context.Context, service string) (string, error)
}

// The sem-service endpoints:
//
//	POST   /v1/services              start: a semservice.Request; 201 with the semservice.Spec
//	GET    /v1/services              the job's services, as []semservice.Info
//	DELETE /v1/services/{name}       stop: 200, or 404 when it is not running
//	GET    /v1/services/{name}/logs  its last log lines (text)

// maxServiceRequest bounds a start request's body.
const maxServiceRequest = 4 << 10

func (s *Service) services(w http.ResponseWriter) (ServiceRunner, bool) {
	if s.cfg.Services == nil {
		why := s.cfg.NoServices
		if why == "" {
			why = "this job cannot start services"
		}
		writeError(w, http.StatusServiceUnavailable, "%s", why)
		return nil, false
	}
	return s.cfg.Services, true
}

func (s *Service) serviceStart(w http.ResponseWriter, r *http.Request) {
	run, ok := s.services(w)
	if !ok {
		return
	}
	var req semservice.Request
	dec := json.NewDecoder(io.LimitReader(r.Body, maxServiceRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "a start request is {service, version, username, password, db}: %v", err)
		return
	}
	spec, err := semservice.Plan(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if err := run.Start(r.Context(), spec); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, semservice.ErrRunning) {
			code = http.StatusConflict
		}
		writeError(w, code, "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, spec)
}

func (s *Service) serviceList(w http.ResponseWriter, r *http.Request) {
	run, ok := s.services(w)
	if !ok {
		return
	}
	list, err := run.List(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if list == nil {
		list = []semservice.Info{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Service) serviceStop(w http.ResponseWriter, r *http.Request) {
	run, ok := s.services(w)
	if !ok {
		return
	}
	stopped, err := run.Stop(r.Context(), r.PathValue("name"))
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
	case !stopped:
		writeError(w, http.StatusNotFound, "no running service %q", r.PathValue("name"))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"message": "stopped"})
	}
}

func (s *Service) serviceLogs(w http.ResponseWriter, r *http.Request) {
	run, ok := s.services(w)
	if !ok {
		return
	}
	logs, err := run.Logs(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, logs)
}

// ServiceStart asks the service to start a sem-service container.
func (c *Client) ServiceStart(ctx context.Context, req semservice.Request) (semservice.Spec, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return semservice.Spec{}, err
	}
	// Pulling an image may take minutes.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	return decode[semservice.Spec](c.do(ctx, http.MethodPost, "/v1/services", nil, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(body))
		return err
	}))
}

// ServiceList lists the job's services.
func (c *Client) ServiceList(ctx context.Context) ([]semservice.Info, error) {
	return decode[[]semservice.Info](c.do(ctx, http.MethodGet, "/v1/services", nil, nil))
}

// ServiceStop stops a service; false when none of that name runs.
func (c *Client) ServiceStop(ctx context.Context, name string) (bool, error) {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/services/"+url.PathEscape(name), nil, nil)
	if IsStatus(err, http.StatusNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// ServiceLogs returns a service's last log lines.
func (c *Client) ServiceLogs(ctx context.Context, name string) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name)+"/logs", nil, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(data), err
}
