package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// Debug sessions: `baton key ...` registers SSH keys; `baton
// attach` and `baton debug` run the real OpenSSH client, whose
// ProxyCommand is `baton ssh-proxy`: an authenticated HTTP upgrade to the
// server, which splices it to the job's agent.

func debugCommands() []*command {
	return []*command{keyAddCommand(), keyListCommand(), keyRemoveCommand(), attachCommand(), debugCommand(), sshProxyCommand()}
}

func keyAddCommand() *command {
	var name *string
	return apiCommand{
		command: &command{name: "key add", summary: "register an SSH public key for debug sessions", usage: "FILE|- [--name NAME]",
			help: "Registers an SSH public key (a .pub file, or - for standard input) with your user, so that\n'baton attach' and 'baton debug' can sign you in to jobs. The name defaults to the key's comment."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton key add: usage: baton key add FILE|- [--name NAME]")
				return ExitUsage
			}
			var b []byte
			var err error
			if args[0] == "-" {
				b, err = io.ReadAll(io.LimitReader(o.In, 64<<10))
			} else {
				p := args[0]
				if !filepath.IsAbs(p) {
					p = filepath.Join(o.Dir, p)
				}
				b, err = os.ReadFile(p)
			}
			if err != nil {
				fmt.Fprintf(o.Err, "baton key add: %v\n", err)
				return ExitUsage
			}
			if strings.Contains(string(b), "PRIVATE KEY") {
				fmt.Fprintln(o.Err, "baton key add: this is a private key: give the public key (the .pub file)")
				return ExitUsage
			}
			var k struct {
				ID, Name, Fingerprint string
			}
			if err := c.do(ctx, "POST", "/api/v1/keys", map[string]string{"name": *name, "public_key": string(b)}, &k); err != nil {
				return failAPI(o, "key add", err)
			}
			fmt.Fprintf(o.Out, "Added SSH key %s (%s) %s\n", k.ID, k.Name, k.Fingerprint)
			return ExitOK
		},
	}.build(func(fs *flagSet) { name = fs.String("name", "", "the key's `name` (default: its comment)") })
}

func keyListCommand() *command {
	return apiCommand{
		read:    true,
		command: &command{name: "key list", summary: "list your SSH public keys", usage: "[--json]", help: "Lists the SSH public keys registered with your user."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 0 {
				fmt.Fprintln(o.Err, "baton key list: usage: baton key list [--json]")
				return ExitUsage
			}
			var keys []apiv1.SSHKeyView
			if err := c.do(ctx, "GET", "/api/v1/keys", nil, &keys); err != nil {
				return failAPI(o, "key list", err)
			}
			if asJSON {
				printJSON(o.Out, keys)
				return ExitOK
			}
			if len(keys) == 0 {
				fmt.Fprintln(o.Out, "No SSH keys. Add one with: baton key add ~/.ssh/id_ed25519.pub")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tFINGERPRINT\tADDED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Fingerprint, k.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func keyRemoveCommand() *command {
	return apiCommand{
		command: &command{name: "key remove", summary: "remove one of your SSH public keys", usage: "ID", help: "Removes an SSH public key (see 'baton key list' for the IDs)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton key remove: usage: baton key remove ID")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", "/api/v1/keys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return failAPI(o, "key remove", err)
			}
			fmt.Fprintf(o.Out, "Removed SSH key %s\n", args[0])
			return ExitOK
		},
	}.build(nil)
}

// sshOptions are what attach and debug pass to ssh.
type sshOptions struct {
	server   string
	ports    multiFlag
	identity string
}

func (so *sshOptions) flags(fs *flagSet) {
	fs.Var(&so.ports, "port", "forward a local port to the job: `[LOCAL:]HOST:PORT` (HOST as the job sees it, e.g. a service's name), or PORT alone: the job's own port, else the first of its services listening on it (repeatable)")
	fs.StringVar(&so.identity, "i", "", "the SSH private key `file` to use (default: ssh's)")
}

// forwardSpec turns --port into ssh -L's argument.
func forwardSpec(p string) (string, error) {
	parts := strings.Split(p, ":")
	for _, s := range parts {
		if s == "" {
			return "", fmt.Errorf("bad --port %q: want [LOCAL:]HOST:PORT or PORT", p)
		}
	}
	switch len(parts) {
	case 1:
		return parts[0] + ":localhost:" + parts[0], nil
	case 2:
		return parts[1] + ":" + parts[0] + ":" + parts[1], nil
	case 3:
		return p, nil
	}
	return "", fmt.Errorf("bad --port %q: want [LOCAL:]HOST:PORT or PORT", p)
}

// runSSH waits until the job runs on an agent, then runs ssh into it
// through `baton ssh-proxy`, and returns ssh's exit code.
func runSSH(ctx context.Context, o *IO, c *client, name, jobID string, so *sshOptions, command []string) int {
	var info apiv1.SSHInfo
	told := false
	err := wait(ctx, 500*time.Millisecond, func() (bool, error) {
		if err := c.do(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(jobID)+"/ssh", nil, &info); err != nil {
			return false, err
		}
		switch info.State {
		case "running":
			return info.HostKey != "", nil
		case "done":
			return false, fmt.Errorf("job %s is done: there is no shell to attach to", jobID)
		}
		if !told {
			fmt.Fprintf(o.Err, "Waiting for job %s to start (it is %s)...\n", jobID, info.State)
			told = true
		}
		return false, nil
	})
	if err != nil {
		return failAPI(o, name, err)
	}
	if info.HostKey == "" {
		fmt.Fprintf(o.Err, "baton %s: the job's agent has no SSH host key (it is older than this server)\n", name)
		return ExitFailure
	}
	var forwards []string
	for _, p := range so.ports {
		f, err := forwardSpec(p)
		if err != nil {
			fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
			return ExitUsage
		}
		forwards = append(forwards, "-L", f)
	}
	kh, err := os.CreateTemp("", "baton-known-hosts-")
	if err != nil {
		fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
		return ExitFailure
	}
	defer os.Remove(kh.Name())
	fmt.Fprintf(kh, "%s %s\n", info.Host, info.HostKey)
	kh.Close()
	self := o.Getenv("BATON_EXECUTABLE")
	if self == "" {
		if self, err = os.Executable(); err != nil {
			fmt.Fprintf(o.Err, "baton %s: %v\n", name, err)
			return ExitFailure
		}
	}
	proxy := shQuote(self) + " ssh-proxy --server " + shQuote(c.base) + " " + shQuote(jobID)
	args := []string{
		"-o", "ProxyCommand=" + proxy,
		"-o", "UserKnownHostsFile=" + kh.Name(),
		"-o", "StrictHostKeyChecking=yes",
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "ServerAliveInterval=30",
		"-o", "LogLevel=ERROR",
	}
	if so.identity != "" {
		args = append(args, "-i", so.identity, "-o", "IdentitiesOnly=yes")
	}
	args = append(args, forwards...)
	if len(command) == 0 && isTerminal(o.Out) {
		args = append(args, "-t")
	}
	args = append(args, info.User+"@"+info.Host)
	args = append(args, command...)
	bin := o.Getenv("BATON_SSH")
	if bin == "" {
		bin = "ssh"
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.In, o.Out, o.Err
	cmd.Env = os.Environ()
	if c.token != "" {
		cmd.Env = append(cmd.Env, "BATON_TOKEN="+c.token)
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintf(o.Err, "baton %s: run ssh: %v\n", name, err)
		return ExitFailure
	}
	return ExitOK
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func attachCommand() *command {
	so := &sshOptions{}
	return apiCommand{
		command: &command{name: "attach", summary: "open a shell in a running job (ssh)", usage: "JOB_ID [--port [LOCAL:]HOST:PORT]... [-- COMMAND...]",
			help: "Opens a shell in a running job, in its environment (variables, secrets, working directory;\nin the main container of a Docker job), through the server: the agent opens no port.\nRuns the OpenSSH client ('ssh', or BATON_SSH) with your SSH key, which must be registered\n('baton key add'); you need the write role in the job's project. With COMMAND, runs it\ninstead of a shell and exits with its status; everything after -- is the command\n(baton attach JOB_ID -- bash -c 'echo hi'). --port forwards local ports (ssh -L)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) < 1 {
				fmt.Fprintln(o.Err, "baton attach: usage: baton attach JOB_ID [-- COMMAND...]")
				return ExitUsage
			}
			return runSSH(ctx, o, c, "attach", args[0], so, args[1:])
		},
	}.build(so.flags)
}

func debugCommand() *command {
	so := &sshOptions{}
	var duration *string
	return apiCommand{
		command: &command{name: "debug", summary: "debug a job: a shell in a new job like it (ssh)", usage: "JOB_ID [--duration 60m] [--port [LOCAL:]HOST:PORT]...",
			help: "Starts a debug job with the same environment, image, services, secrets and checkout as the\ngiven job, which does not run its commands but writes them to ~/commands.sh, and opens a shell\nin it (see 'baton attach'). The debug job ends when you exit, or after --duration, and is then\nstopped."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton debug: usage: baton debug JOB_ID [--duration 60m]")
				return ExitUsage
			}
			if *duration != "" {
				if d, err := time.ParseDuration(*duration); err != nil || d <= 0 {
					fmt.Fprintf(o.Err, "baton debug: bad --duration %q: want for example 30m or 1h30m\n", *duration)
					return ExitUsage
				}
			}
			var dj apiv1.DebugView
			if err := c.do(ctx, "POST", "/api/v1/jobs/"+url.PathEscape(args[0])+"/debug", apiv1.DebugRequest{Duration: *duration}, &dj); err != nil {
				return failAPI(o, "debug", err)
			}
			fmt.Fprintf(o.Err, "Debug job %s (for %s) is starting; its commands are in ~/commands.sh.\n", dj.JobID, dj.TimeLimit)
			code := runSSH(ctx, o, c, "debug", dj.JobID, so, nil)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_ = c.do(sctx, "POST", "/api/v1/jobs/"+url.PathEscape(dj.JobID)+"/stop", nil, nil)
			return code
		},
	}.build(func(fs *flagSet) {
		duration = fs.String("duration", "", "how long the debug job waits for you at most (default 60m)")
		so.flags(fs)
	})
}

// sshProxyCommand is plumbing for ssh's ProxyCommand.
func sshProxyCommand() *command {
	return apiCommand{
		command: &command{name: "ssh-proxy", hidden: true, summary: "(plumbing) carry ssh to a job through the server", usage: "JOB_ID",
			help: "Used by 'baton attach' and 'baton debug' as ssh's ProxyCommand: connects standard input and\noutput to the job's agent through the server (GET /api/v1/jobs/ID/ssh/connect, an HTTP upgrade)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton ssh-proxy: usage: baton ssh-proxy JOB_ID")
				return ExitUsage
			}
			conn, err := c.upgrade(ctx, "/api/v1/jobs/"+url.PathEscape(args[0])+"/ssh/connect", "baton-ssh")
			if err != nil {
				return failAPI(o, "ssh-proxy", err)
			}
			// ssh closes our standard input when it ends: the connection
			// ends with it.
			go func() {
				_, _ = io.Copy(conn, o.In)
				conn.Close()
			}()
			_, _ = io.Copy(o.Out, conn)
			conn.Close()
			return ExitOK
		},
	}.build(nil)
}

func workflowRebuildCommand() *command {
	var keep *string
	return apiCommand{
		command: &command{name: "workflow rebuild", summary: "run a workflow again on the same commit", usage: "ID [--keep-on-failure 30m]",
			help: "Creates a new workflow on the same commit and pipeline file.\n--keep-on-failure keeps its failed jobs alive that long, so that you can 'baton attach' to them."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton workflow rebuild: usage: baton workflow rebuild ID [--keep-on-failure 30m]")
				return ExitUsage
			}
			var out apiv1.Workflow
			if err := c.do(ctx, "POST", "/api/v1/workflows/"+url.PathEscape(args[0])+"/rebuild", apiv1.RebuildRequest{KeepOnFailure: *keep}, &out); err != nil {
				return failAPI(o, "workflow rebuild", err)
			}
			fmt.Fprintf(o.Out, "New workflow: %s\n", out.ID)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		keep = fs.String("keep-on-failure", "", "keep failed jobs alive this `long` (30m) for 'baton attach'")
	})
}
