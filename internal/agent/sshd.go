package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/batonci/baton/internal/agentapi"
	"github.com/batonci/baton/internal/executor"
	"github.com/batonci/baton/internal/jobspec"
	"github.com/batonci/baton/internal/runner"
	"golang.org/x/crypto/ssh"
)

// Debug sessions: the agent serves SSH, in process, on streams the
// server asks it to dial (agentapi.Stream); it never listens on a port.
// Shells start beside the job's shell with executor.Shell, in the job's
// environment (runner.ShellInit).

// hostKeyFile is the agent's SSH host key, in DataDir.
const hostKeyFile = "ssh_host_ed25519_key"

// loadHostKey reads the agent's SSH host key, made the first time.
func loadHostKey(dataDir string) (ssh.Signer, error) {
	path := filepath.Join(dataDir, hostKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("make the ssh host key: %w", err)
		}
		blk, err := ssh.MarshalPrivateKey(priv, "baton agent host key")
		if err != nil {
			return nil, fmt.Errorf("make the ssh host key: %w", err)
		}
		b = pem.EncodeToMemory(blk)
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			return nil, fmt.Errorf("save the ssh host key: %w", err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return nil, fmt.Errorf("save the ssh host key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read the ssh host key: %w", err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("read the ssh host key %s: %w", path, err)
	}
	return s, nil
}

// debugState is a job's side of debug sessions, guarded by agent.mu.
type debugState struct {
	// sess is the job's live shell session, nil when there is none.
	sess executor.Session
	// job is what the job runs (its variables, for shells).
	job jobspec.Job
	// conns counts the SSH connections into the job; idle is signalled
	// when the last one closes.
	conns int
	idle  chan struct{}
	// held is set once a debug job is set up and waits (its shells must
	// not start before ~/commands.sh is written).
	held bool
}

// recorder is the executor of one job: it records the job's live session
// for debug sessions.
type recorder struct {
	executor.Executor
	set func(executor.Session)
	// user, when not nil, is the user sessions without containers run as.
	user *executor.User
}

func (r recorder) Start(ctx context.Context, cfg executor.SessionConfig) (executor.Session, error) {
	if len(cfg.Containers) == 0 {
		cfg.User = r.user
	}
	s, err := r.Executor.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.set(s)
	return &recorded{Session: s, unset: func() { r.set(nil) }}, nil
}

// recorded is a session whose Close forgets it.
type recorded struct {
	executor.Session
	unset func()
}

func (r *recorded) Close() error {
	r.unset()
	return r.Session.Close()
}

// holdFor returns the runner's Hold of a job: a debug job is held until
// its last SSH connection closes (or its deadline); a kept failed job
// until its deadline or a stop.
func (a *agent) holdFor(j *job) func(ctx context.Context, h runner.Hold) {
	return func(ctx context.Context, h runner.Hold) {
		if h.Kind != runner.HoldDebug {
			<-ctx.Done()
			return
		}
		a.mu.Lock()
		j.debug.held = true
		if j.debug.conns == 0 {
			// A connection that closed before the job was set up does
			// not end the session that now begins.
			select {
			case <-j.debug.idle:
			default:
			}
		}
		a.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-j.debug.idle:
		}
	}
}

// serveStream dials a stream the server asked for and serves SSH on it.
func (a *agent) serveStream(st agentapi.Stream) {
	log := a.log.With(logJob, st.JobID, "stream", st.ID, "user", st.User)
	a.mu.Lock()
	j := a.jobs[st.JobID]
	a.mu.Unlock()
	if j == nil {
		log.Warn("debug session for a job the agent does not run")
		return
	}
	allowed := map[string]bool{}
	for _, line := range st.AuthorizedKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err == nil {
			allowed[string(k.Marshal())] = true
		}
	}
	ctx, cancel := context.WithTimeout(j.ctx, 30*time.Second)
	rwc, err := a.client.DialStream(ctx, st, a.id)
	cancel()
	if err != nil {
		log.Warn("dial debug session stream", logErr, err)
		return
	}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if allowed[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("this key may not open a shell in this job")
		},
		ServerVersion: "SSH-2.0-baton-agent",
	}
	cfg.AddHostKey(a.hostKey)
	conn := &streamConn{rwc: rwc}
	stop := context.AfterFunc(j.ctx, func() { conn.Close() })
	defer stop()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		log.Info("debug session refused", logErr, err)
		conn.Close()
		return
	}
	defer sconn.Close()
	log.Info("debug session opened", "kind", st.Kind)
	a.mu.Lock()
	j.debug.conns++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		j.debug.conns--
		if j.debug.conns == 0 {
			select {
			case j.debug.idle <- struct{}{}:
			default:
			}
		}
		a.mu.Unlock()
		log.Info("debug session closed")
	}()
	sctx, cancelSession := context.WithCancel(j.ctx)
	defer cancelSession()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			wg.Go(func() { a.serveSession(sctx, j, ch, creqs) })
		case "direct-tcpip":
			var to struct {
				Host       string
				Port       uint32
				OriginHost string
				OriginPort uint32
			}
			if err := ssh.Unmarshal(nc.ExtraData(), &to); err != nil {
				nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			wg.Go(func() { ssh.DiscardRequests(creqs) })
			wg.Go(func() { a.forward(sctx, j, ch, to.Host, to.Port) })
		default:
			nc.Reject(ssh.UnknownChannelType, "only sessions and direct-tcpip forwarding")
		}
	}
	cancelSession()
}

// shellWait bounds how long a shell waits for the job's shell session to
// start (the job is being set up: checkout, images, services).
const shellWait = 10 * time.Minute

// shellOf returns the job's live session as an executor.Shell, and the
// bash source that gives a shell the job's environment, waiting while the
// job is being set up.
func (a *agent) shellOf(ctx context.Context, j *job) (executor.Shell, string, error) {
	ctx, cancel := context.WithTimeout(ctx, shellWait)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		a.mu.Lock()
		ready := j.debug.sess != nil && (j.debug.held || !j.debug.job.Debug)
		a.mu.Unlock()
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			return nil, "", errors.New("the job has no running shell (it ended, or is still being set up)")
		case <-tick.C:
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if j.debug.sess == nil {
		return nil, "", errors.New("the job has no running shell now (it ended)")
	}
	sh, ok := j.debug.sess.(executor.Shell)
	if !ok {
		return nil, "", errors.New("this agent's executor cannot open shells in jobs")
	}
	return sh, runner.ShellInit(j.debug.job), nil
}

// serveSession serves one SSH session channel: a terminal, variables, a
// shell or a command, resizes, and the exit status.
func (a *agent) serveSession(ctx context.Context, j *job, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var (
		mu      sync.Mutex
		proc    executor.Process
		tty     bool
		term    = "xterm"
		rows    = 24
		cols    = 80
		env     []jobspec.Var
		started bool
		exited  = make(chan int, 1)
	)
	for req := range reqs {
		ok := false
		switch req.Type {
		case "pty-req":
			var p struct {
				Term          string
				Cols, Rows    uint32
				Width, Height uint32
				Modes         string
			}
			if ssh.Unmarshal(req.Payload, &p) == nil {
				tty, ok = true, true
				if p.Term != "" {
					term = p.Term
				}
				if p.Rows > 0 && p.Cols > 0 {
					rows, cols = int(p.Rows), int(p.Cols)
				}
			}
		case "env":
			var p struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &p) == nil && validEnvName(p.Name) {
				env = append(env, jobspec.Var{Name: p.Name, Value: p.Value})
				ok = true
			}
		case "window-change":
			var p struct {
				Cols, Rows    uint32
				Width, Height uint32
			}
			if ssh.Unmarshal(req.Payload, &p) == nil {
				ok = true
				mu.Lock()
				rows, cols = int(p.Rows), int(p.Cols)
				if proc != nil {
					proc.Resize(rows, cols)
				}
				mu.Unlock()
			}
		case "shell", "exec":
			if started {
				break
			}
			var command string
			if req.Type == "exec" {
				var p struct{ Command string }
				if ssh.Unmarshal(req.Payload, &p) != nil {
					break
				}
				command = p.Command
			}
			sh, init, err := a.shellOf(ctx, j)
			if err != nil {
				fmt.Fprintf(ch.Stderr(), "baton: %v\r\n", err)
				break
			}
			if len(env) > 0 {
				init += "\n" + runner.ShellInit(jobspec.Job{Env: env})
			}
			mu.Lock()
			p, err := sh.StartShell(ctx, executor.ShellConfig{
				Init: init, Command: command, TTY: tty, Term: term, Rows: rows, Cols: cols,
				Stdin: ch, Stdout: ch, Stderr: ch.Stderr(),
			})
			proc = p
			mu.Unlock()
			if err != nil {
				fmt.Fprintf(ch.Stderr(), "baton: %v\r\n", err)
				break
			}
			started, ok = true, true
			go func() {
				code, _ := p.Wait()
				exited <- code
			}()
		}
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if started {
			break
		}
	}
	if !started {
		return
	}
	// Requests after the start: resizes, mostly.
	go func() {
		for req := range reqs {
			ok := false
			if req.Type == "window-change" {
				var p struct {
					Cols, Rows    uint32
					Width, Height uint32
				}
				if ssh.Unmarshal(req.Payload, &p) == nil {
					ok = true
					proc.Resize(int(p.Rows), int(p.Cols))
				}
			}
			if req.WantReply {
				req.Reply(ok, nil)
			}
		}
	}()
	var code int
	select {
	case code = <-exited:
	case <-ctx.Done():
		proc.Close()
		code = <-exited
	}
	status := make([]byte, 4)
	binary.BigEndian.PutUint32(status, uint32(max(code, 0)))
	ch.SendRequest("exit-status", false, status)
	ch.CloseWrite()
}

// forward connects a direct-tcpip channel (ssh -L) to host:port as seen
// from the job: from the job's shell, so that in a container job the
// services' names resolve on the job's network (bash's /dev/tcp). In a
// container job, "localhost" means the first of the main container and
// its services that listens on port (`baton debug JOB --port 5432`
// reaches the database service).
func (a *agent) forward(ctx context.Context, j *job, ch ssh.Channel, host string, port uint32) {
	defer ch.Close()
	sh, _, err := a.shellOf(ctx, j)
	if err != nil || !validHost(host) {
		return
	}
	hosts := []string{host}
	if host == "localhost" {
		a.mu.Lock()
		if cs := j.debug.job.Containers; len(cs) > 1 {
			for _, c := range cs[1:] {
				if validHost(c.Name) {
					hosts = append(hosts, c.Name)
				}
			}
		}
		a.mu.Unlock()
	}
	p, err := sh.StartShell(ctx, executor.ShellConfig{
		Command: "for h in " + strings.Join(hosts, " ") + "; do exec 3<>/dev/tcp/$h/" + strconv.FormatUint(uint64(port), 10) + " && break; done 2>/dev/null\n" +
			"{ : >&3; } 2>/dev/null || exit 1\ncat <&3 &\ncat >&3\nwait",
		Stdin: ch, Stdout: ch, Stderr: io.Discard,
	})
	if err != nil {
		return
	}
	p.Wait()
}

// validHost accepts host names and addresses, nothing a shell would read
// as syntax.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		if !(r == '.' || r == '-' || r == ':' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

func validEnvName(n string) bool {
	if n == "" {
		return false
	}
	for i, r := range n {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// streamConn is a stream as a net.Conn, as the SSH server wants.
type streamConn struct {
	rwc  io.ReadWriteCloser
	once sync.Once
}

func (c *streamConn) Read(p []byte) (int, error)  { return c.rwc.Read(p) }
func (c *streamConn) Write(p []byte) (int, error) { return c.rwc.Write(p) }
func (c *streamConn) Close() error {
	var err error
	c.once.Do(func() { err = c.rwc.Close() })
	return err
}
func (c *streamConn) LocalAddr() net.Addr              { return streamAddr{} }
func (c *streamConn) RemoteAddr() net.Addr             { return streamAddr{} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

type streamAddr struct{}

func (streamAddr) Network() string { return "baton-stream" }
func (streamAddr) String() string  { return "server" }
