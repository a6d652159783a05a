package toolbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/batonci/baton/internal/jobsvc"
	"github.com/batonci/baton/internal/semservice"
)

const semServiceUsage = "sem-service start SERVICE [VERSION] [--username U --password P --db D] | status [SERVICE] | stop SERVICE"

// semServiceWait is how long start waits for a service's port by default;
// SEM_SERVICE_TIMEOUT (seconds) changes it.
const semServiceWait = 120 * time.Second

// runSemService starts, lists and stops the job's services (databases,
// caches, queues) as Semaphore's sem-service does: each is a container of
// the service's official image that the agent starts through the job's
// service (internal/jobsvc), reachable on 127.0.0.1 at its usual port and
// removed when the job ends. start returns once the port accepts
// connections; without Docker on the agent it fails with one line.
func runSemService(c *call, args []string) int {
	pos, fl, err := parseFlags(args, []flagSpec{{long: "username", value: true}, {long: "password", value: true}, {long: "db", value: true}})
	if errors.Is(err, errHelp) {
		fmt.Fprintf(c.stdout, "usage: %s\nservices: %s\n", semServiceUsage, strings.Join(semservice.Names(), ", "))
		return 0
	}
	if err != nil {
		return c.usageError(semServiceUsage, "%v", err)
	}
	if len(pos) == 0 {
		return c.usageError(semServiceUsage, "want start, status or stop")
	}
	sub, rest := pos[0], pos[1:]
	switch {
	case sub != "start" && sub != "status" && sub != "stop":
		return c.usageError(semServiceUsage, "unknown subcommand %q (want start, status or stop)", sub)
	case sub == "start" && (len(rest) < 1 || len(rest) > 2):
		return c.usageError(semServiceUsage, "start wants a service and an optional version")
	case sub == "stop" && len(rest) != 1:
		return c.usageError(semServiceUsage, "stop wants a service")
	case sub == "status" && len(rest) > 1:
		return c.usageError(semServiceUsage, "status wants at most a service")
	case sub != "start" && len(fl) > 0:
		return c.usageError(semServiceUsage, "--username, --password and --db go with start")
	}
	svc, err := jobsvc.NewClient(c.getenv)
	if err != nil {
		c.errorf("cannot start services here: this is not a job that baton runs (%v)", err)
		return 1
	}
	switch sub {
	case "start":
		req := semservice.Request{Service: rest[0], Username: fl["username"], Password: fl["password"], DB: fl["db"]}
		if len(rest) == 2 {
			req.Version = rest[1]
		}
		return semServiceStart(c, svc, req)
	case "stop":
		stopped, err := svc.ServiceStop(c.ctx, rest[0])
		if err != nil {
			c.errorf("%v", serviceErr(err))
			return 1
		}
		if !stopped {
			c.infof("no running service named '%s' was found; skipping", rest[0])
			return 0
		}
		c.infof("'%s' stopped", rest[0])
		return 0
	default:
		list, err := svc.ServiceList(c.ctx)
		if err != nil {
			c.errorf("%v", serviceErr(err))
			return 1
		}
		code := 0
		if len(rest) == 1 {
			code = 1
		}
		for _, s := range list {
			if len(rest) == 1 && s.Service != rest[0] {
				continue
			}
			state := "running"
			if !s.Running {
				state = "not running"
			}
			if len(rest) == 1 && s.Running {
				code = 0
			}
			fmt.Fprintf(c.stdout, "%s %s (%s) %s at 127.0.0.1:%s\n", s.Service, s.Version, s.Image, state, joinPorts(s.Ports))
		}
		if len(rest) == 1 && code != 0 {
			c.infof("'%s' not running", rest[0])
		}
		return code
	}
}

// serviceErr is the one line an error from the job service says.
func serviceErr(err error) error {
	var se *jobsvc.StatusError
	if errors.As(err, &se) {
		return errors.New(se.Message)
	}
	return err
}

func joinPorts(ps []int) string {
	var out []string
	for _, p := range ps {
		out = append(out, strconv.Itoa(p))
	}
	return strings.Join(out, ", 127.0.0.1:")
}

// semServiceStart starts a service and waits for its first port, as
// Semaphore's sem-service does (it prints the service's log lines when
// the port does not open in time).
func semServiceStart(c *call, svc *jobsvc.Client, req semservice.Request) int {
	wait := semServiceWait
	if s := c.getenv("SEM_SERVICE_TIMEOUT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			c.errorf("SEM_SERVICE_TIMEOUT=%q: want a number of seconds", s)
			return 1
		}
		wait = time.Duration(n) * time.Second
	}
	// The job service checks the request again; this saves the line.
	if _, err := semservice.Plan(req); err != nil {
		c.errorf("cannot start %s: %v", req.Service, err)
		return 1
	}
	start := time.Now()
	fmt.Fprintf(c.stderr, "Starting %s...", req.Service)
	spec, err := svc.ServiceStart(c.ctx, req)
	if err != nil {
		fmt.Fprintln(c.stderr)
		if jobsvc.IsStatus(err, http.StatusServiceUnavailable) {
			c.errorf("%v", serviceErr(err))
		} else {
			c.errorf("cannot start %s: %v", req.Service, serviceErr(err))
		}
		return 1
	}
	if err := waitPort(c.ctx, spec.Ports[0], wait); err != nil {
		fmt.Fprintln(c.stderr)
		c.errorf("%s %s did not accept connections on 127.0.0.1:%d within %v; its last log lines:", semservice.Title(spec.Service), spec.Version, spec.Ports[0], wait)
		if logs, lerr := svc.ServiceLogs(c.ctx, spec.Service); lerr == nil {
			fmt.Fprint(c.stderr, logs)
		}
		return 1
	}
	fmt.Fprintf(c.stderr, " done in %v.\n", time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintf(c.stdout, "%s %s is running at 127.0.0.1:%s\n", semservice.Title(spec.Service), spec.Version, joinPorts(spec.Ports))
	if spec.Access != "" {
		fmt.Fprintf(c.stdout, "To access it use %s.\n", spec.Access)
	}
	return 0
}

// waitPort waits until 127.0.0.1:port accepts a TCP connection and keeps
// it open: Docker's proxy for a published port accepts connections before
// the service listens and closes them at once, so a connection counts
// when it sends data (MySQL's greeting) or stays open for a moment.
func waitPort(ctx context.Context, port int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var d net.Dialer
		dctx, dcancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		dcancel()
		if err == nil {
			conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, rerr := conn.Read(make([]byte, 1))
			conn.Close()
			var ne net.Error
			if n > 0 || (errors.As(rerr, &ne) && ne.Timeout()) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
