package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/semservice"
)

// LabelRole says what a container is to its job: RoleMain (the container
// the commands run in) or RoleService (a sem-service container).
const LabelRole = "io.batonci.role"

// The roles.
const (
	RoleMain    = "main"
	RoleService = "service"
)

// Services runs one job's sem-service containers. Each is a container of
// the service's official image, made present like a session's images
// (pull policy, registry mirror, the image cache's ImageUsed) and
// reachable from the job on 127.0.0.1 at the service's ports: for a job
// on this machine the ports are published on the loopback interface; for
// a job in containers the service joins the main container's network
// namespace. Everything is labelled with the agent and job, so Close,
// the supervisor (when the agent dies) and Sweep (when it starts again)
// remove it. It is safe for concurrent use.
type Services struct {
	e        *Executor
	jobID    string
	id       string // the session label of this job's services
	joinMain bool

	mu      sync.Mutex
	running map[string]*serviceContainer
	closed  bool
}

type serviceContainer struct {
	spec     semservice.Spec
	name     string
	lifeline *reaper.Lifeline
	wait     *exec.Cmd // docker wait under the supervisor, or nil
}

// Services returns the runner of job jobID's services. inContainers says
// the job runs in containers (its services then join its main container).
func (e *Executor) Services(jobID string, inContainers bool) *Services {
	return &Services{e: e, jobID: jobID, id: newID(), joinMain: inContainers, running: map[string]*serviceContainer{}}
}

// Start implements jobsvc.ServiceRunner.
func (s *Services) Start(ctx context.Context, spec semservice.Spec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("the job has ended")
	}
	if _, ok := s.running[spec.Service]; ok {
		return fmt.Errorf("%s: %w", spec.Service, semservice.ErrRunning)
	}
	if err := s.e.ensureImages(ctx, []executor.Container{{Name: spec.Service, Image: spec.Image}}, s.e.opts.PullPolicy, nil, io.Discard); err != nil {
		return err
	}
	if s.e.opts.ImageUsed != nil {
		s.e.opts.ImageUsed(spec.Image)
	}
	name := "baton-" + s.id + "-" + spec.Service
	args := []string{"run", "-d", "--pull", "never", "--name", name}
	args = append(args, s.e.labels(s.id, s.jobID)...)
	args = append(args, "--label", LabelRole+"="+RoleService)
	if s.joinMain {
		out, err := s.e.docker(ctx, nil, "ps", "-q", "--filter", "label="+LabelJob+"="+s.jobID, "--filter", "label="+LabelRole+"="+RoleMain)
		ids := strings.Fields(out)
		if err != nil || len(ids) == 0 {
			return fmt.Errorf("the job's main container is not running: %v", err)
		}
		args = append(args, "--network", "container:"+ids[0])
	} else {
		for _, p := range spec.Ports {
			args = append(args, "-p", fmt.Sprintf("127.0.0.1:%d:%d", p, p))
		}
	}
	envArgs, env := envFlags(spec.Env)
	args = append(args, envArgs...)
	args = append(args, spec.Image)
	args = append(args, spec.Args...)
	if _, err := s.e.docker(ctx, env, args...); err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _ = s.e.docker(rctx, nil, "rm", "-f", "-v", name)
		cancel()
		msg := err.Error()
		if strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use") {
			return fmt.Errorf("start %s: port %s on this machine is already in use (another job's service, or a server running on the agent)", spec.Service, ports(spec.Ports))
		}
		return fmt.Errorf("start %s (%s): %w", spec.Service, spec.Image, err)
	}
	c := &serviceContainer{spec: spec, name: name}
	if sup := s.e.opts.Supervisor; sup != nil {
		// The supervisor removes the container should this process die.
		cmd := exec.Command(s.e.opts.Docker, "wait", name)
		l, err := sup.Wrap(cmd, s.e.opts.GracePeriod, s.e.removeCommand(LabelSession+"="+s.id)...)
		if err == nil {
			err = cmd.Start()
			l.Started()
			if err != nil {
				_ = l.Close()
			} else {
				c.lifeline, c.wait = l, cmd
			}
		}
		if err != nil {
			s.removeOne(c)
			return fmt.Errorf("start %s: supervise its container: %w", spec.Service, err)
		}
	}
	s.running[spec.Service] = c
	return nil
}

func ports(ps []int) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprint(p))
	}
	return strings.Join(out, ", ")
}

// removeOne removes a service's container and ends its supervisor.
func (s *Services) removeOne(c *serviceContainer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := s.e.docker(ctx, nil, "rm", "-f", "-v", c.name)
	if c.wait != nil {
		_ = c.wait.Wait()
	}
	_ = c.lifeline.Close()
	return err
}

// List implements jobsvc.ServiceRunner.
func (s *Services) List(ctx context.Context) ([]semservice.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []semservice.Info
	for _, name := range semservice.Names() {
		c, ok := s.running[name]
		if !ok {
			continue
		}
		st, err := s.e.docker(ctx, nil, "inspect", "--format", "{{.State.Running}}", c.name)
		out = append(out, c.spec.Info(err == nil && strings.TrimSpace(st) == "true"))
	}
	return out, nil
}

// Stop implements jobsvc.ServiceRunner.
func (s *Services) Stop(ctx context.Context, service string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.running[service]
	if !ok {
		return false, nil
	}
	delete(s.running, service)
	if err := s.removeOne(c); err != nil {
		return true, fmt.Errorf("stop %s: %w", service, err)
	}
	return true, nil
}

// Logs implements jobsvc.ServiceRunner.
func (s *Services) Logs(ctx context.Context, service string) (string, error) {
	s.mu.Lock()
	c, ok := s.running[service]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("no service %q was started", service)
	}
	out, err := s.e.dockerCombined(ctx, "logs", "--tail", fmt.Sprint(serviceLogLines), c.name)
	if err != nil && out == "" {
		return "", err
	}
	return out, nil
}

// Close removes every service of the job; later starts fail.
func (s *Services) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := s.e.remove(ctx, LabelSession+"="+s.id)
	for name, c := range s.running {
		if c.wait != nil {
			_ = c.wait.Wait()
		}
		_ = c.lifeline.Close()
		delete(s.running, name)
	}
	return err
}
