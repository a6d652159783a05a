package cli

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/batonci/baton/internal/apiv1"
)

// The `baton library` commands manage the organisation's script
// libraries: git repositories whose files pipelines use as command lists
// (commands_file: "@NAME/path") and jobs check out (lib checkout).
// Organisation admins add, change and remove them; every signed-in user
// lists and shows them. A token or an SSH private key goes in on
// standard input (or the key from a file) and is never shown back.

func libraryCommands() []*command {
	return []*command{libraryAddCommand(), libraryListCommand(), libraryShowCommand(), libraryUpdateCommand(), libraryRemoveCommand()}
}

func libraryPath(name string) string {
	p := "/api/v1/libraries"
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// readToken reads one line (the token) from in, for --token-stdin.
func readToken(in io.Reader) (string, error) {
	line, err := bufio.NewReader(in).ReadString('\n')
	token := strings.TrimSpace(line)
	if token == "" {
		return "", fmt.Errorf("--token-stdin: no token on standard input (%v)", err)
	}
	return token, nil
}

// sshKeyFlags are the SSH key flags of library add and update.
type sshKeyFlags struct {
	keyFile, knownHosts string
	keyStdin            bool
}

func (f *sshKeyFlags) register(fs *flagSet) {
	fs.StringVar(&f.keyFile, "ssh-key-file", "", "read the SSH private key (without a passphrase) for an ssh:// or user@host:path repository from `FILE`")
	fs.BoolVar(&f.keyStdin, "ssh-key-stdin", false, "read the SSH private key from standard input")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "the SSH server's host keys, as known_hosts lines in `FILE` (default: read from the server now and trusted from then on)")
}

// apply sets the request's SSH key and known hosts from the flags; stdinTaken
// says the token already reads standard input.
func (f *sshKeyFlags) apply(o *IO, req *apiv1.LibraryRequest, stdinTaken bool) error {
	if f.keyStdin && (f.keyFile != "" || stdinTaken) {
		return errors.New("--ssh-key-stdin reads standard input: not with --ssh-key-file or --token-stdin")
	}
	var key []byte
	var err error
	switch {
	case f.keyStdin:
		key, err = io.ReadAll(io.LimitReader(o.In, 64<<10))
	case f.keyFile != "":
		key, err = os.ReadFile(o.path(f.keyFile))
	}
	if err != nil {
		return fmt.Errorf("the SSH key: %w", err)
	}
	if f.keyStdin || f.keyFile != "" {
		k := strings.TrimSpace(string(key))
		if k == "" {
			return errors.New("the SSH key is empty")
		}
		req.SSHKey = &k
	}
	if f.knownHosts != "" {
		b, err := os.ReadFile(o.path(f.knownHosts))
		if err != nil {
			return fmt.Errorf("--known-hosts: %w", err)
		}
		kh := string(b)
		if strings.TrimSpace(kh) == "" {
			return errors.New("--known-hosts: the file is empty")
		}
		req.KnownHosts = &kh
	}
	return nil
}

// credential says which credential a library has.
func credential(v apiv1.Library) string {
	switch {
	case v.Token:
		return "token"
	case v.SSHKey != "":
		return "ssh key"
	}
	return "none"
}

const libraryHelp = `A pipeline uses a file of a library as a command list, each line its own command
(with its own duration in the log and on the timing page):

    commands_file: "@NAME/path/to/file"

A job puts the library's files in a directory with: lib checkout NAME [DIR].
The library's commit is fixed when a workflow is created (the head of the
branch then); its reruns, rebuilds and promotions use the same commit.`

func libraryAddCommand() *command {
	var repo, branch string
	var tokenStdin bool
	var sshFlags sshKeyFlags
	return apiCommand{
		command: &command{name: "library add", summary: "add an organisation script library", usage: "NAME --repo URL [--branch main] [--token-stdin | --ssh-key-file F | --ssh-key-stdin [--known-hosts F]]",
			help: "Adds a script library: the git repository at --repo, read at the head of --branch (default main).\n" +
				"A private repository over http(s) takes a token on standard input (--token-stdin); one over SSH\n" +
				"(ssh://... or user@host:path) a private key without a passphrase (--ssh-key-file or --ssh-key-stdin),\n" +
				"such as a deploy key. Either is stored encrypted and never shown back nor given to jobs; of a key,\n" +
				"'library show' shows the public key. The SSH server's host keys are checked on every fetch: the ones\n" +
				"in --known-hosts, or else the ones the server shows now, trusted from then on (check the fingerprints\n" +
				"that 'library show' prints). The branch is read once before the library is stored.\n\n" +
				libraryHelp + "\n\nNeeds organisation admin rights."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || repo == "" {
				fmt.Fprintln(o.Err, "baton library add: usage: baton library add NAME --repo URL [--branch main] [--token-stdin]")
				return ExitUsage
			}
			req := apiv1.LibraryRequest{Name: args[0], RepoURL: &repo}
			if branch != "" {
				req.Branch = &branch
			}
			if err := sshFlags.apply(o, &req, tokenStdin); err != nil {
				fmt.Fprintf(o.Err, "baton library add: %v\n", err)
				return ExitUsage
			}
			if tokenStdin {
				token, err := readToken(o.In)
				if err != nil {
					fmt.Fprintf(o.Err, "baton library add: %v\n", err)
					return ExitUsage
				}
				req.Token = &token
			}
			var v apiv1.Library
			if err := c.do(ctx, "POST", libraryPath(""), req, &v); err != nil {
				return failAPI(o, "library add", err)
			}
			fmt.Fprintf(o.Out, "Added library %s: %s (branch %s)\n", v.Name, v.RepoURL, v.Branch)
			printSSH(o, v)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&repo, "repo", "", "the library's git repository `URL`")
		fs.StringVar(&branch, "branch", "", "the `BRANCH` pipelines read (default main)")
		fs.BoolVar(&tokenStdin, "token-stdin", false, "read the repository's access token from standard input")
		sshFlags.register(fs)
	})
}

func libraryUpdateCommand() *command {
	var repo, branch string
	var tokenStdin, noToken, noSSHKey bool
	var sshFlags sshKeyFlags
	const usage = "NAME [--repo URL] [--branch B] [--token-stdin | --no-token] [--ssh-key-file F | --ssh-key-stdin | --no-ssh-key] [--known-hosts F]"
	return apiCommand{
		command: &command{name: "library update", summary: "change an organisation script library", usage: usage,
			help: "Changes a library's repository, branch, token or SSH key; what is not named stays. The new definition is\n" +
				"read once before it is stored. The SSH server's host keys stay while the URL names the same server;\n" +
				"--known-hosts replaces them. Workflows created before keep the commit they fixed.\nNeeds organisation admin rights."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || (tokenStdin && noToken) || (noSSHKey && (sshFlags.keyStdin || sshFlags.keyFile != "")) {
				fmt.Fprintln(o.Err, "baton library update: usage: baton library update "+usage)
				return ExitUsage
			}
			var req apiv1.LibraryRequest
			if repo != "" {
				req.RepoURL = &repo
			}
			if branch != "" {
				req.Branch = &branch
			}
			switch {
			case tokenStdin:
				token, err := readToken(o.In)
				if err != nil {
					fmt.Fprintf(o.Err, "baton library update: %v\n", err)
					return ExitUsage
				}
				req.Token = &token
			case noToken:
				empty := ""
				req.Token = &empty
			}
			if err := sshFlags.apply(o, &req, tokenStdin); err != nil {
				fmt.Fprintf(o.Err, "baton library update: %v\n", err)
				return ExitUsage
			}
			if noSSHKey {
				empty := ""
				req.SSHKey = &empty
			}
			var v apiv1.Library
			if err := c.do(ctx, "PATCH", libraryPath(args[0]), req, &v); err != nil {
				return failAPI(o, "library update", err)
			}
			fmt.Fprintf(o.Out, "Updated library %s: %s (branch %s)\n", v.Name, v.RepoURL, v.Branch)
			printSSH(o, v)
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&repo, "repo", "", "the library's git repository `URL`")
		fs.StringVar(&branch, "branch", "", "the `BRANCH` pipelines read")
		fs.BoolVar(&tokenStdin, "token-stdin", false, "replace the access token with the one on standard input")
		fs.BoolVar(&noToken, "no-token", false, "remove the access token")
		sshFlags.register(fs)
		fs.BoolVar(&noSSHKey, "no-ssh-key", false, "remove the SSH key")
	})
}

// printSSH prints a library's SSH public key and the host keys it checks.
func printSSH(o *IO, v apiv1.Library) {
	if v.SSHKey == "" {
		return
	}
	fmt.Fprintf(o.Out, "SSH key:    %s (%s)\n", v.SSHKey, v.SSHFingerprint)
	for _, h := range v.KnownHosts {
		fmt.Fprintf(o.Out, "Host key:   %s\n", h)
	}
}

func libraryListCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "library list", summary: "list the organisation's script libraries", usage: "[--json]",
			help: "Lists the script libraries: name, repository (credentials redacted), branch and the credential stored\n(a token, an SSH key or none)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 0 {
				fmt.Fprintln(o.Err, "baton library list: usage: baton library list [--json]")
				return ExitUsage
			}
			var vs []apiv1.Library
			if err := c.do(ctx, "GET", libraryPath(""), nil, &vs); err != nil {
				return failAPI(o, "library list", err)
			}
			if asJSON {
				printJSON(o.Out, vs)
				return ExitOK
			}
			if len(vs) == 0 {
				fmt.Fprintln(o.Out, "No libraries. An organisation admin adds one with: baton library add NAME --repo URL")
				return ExitOK
			}
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tREPOSITORY\tBRANCH\tCREDENTIAL")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Name, v.RepoURL, v.Branch, credential(v))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func libraryShowCommand() *command {
	return apiCommand{
		read: true,
		command: &command{name: "library show", summary: "show a script library: its files and recent uses", usage: "NAME [--json]",
			help: "Shows a library: its repository and branch, the branch's head now (read from the repository),\n" +
				"the files there, and the pipelines that used its files in the last 30 days (of the projects you may read)."},
		do: func(ctx context.Context, o *IO, c *client, args []string, asJSON bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton library show: usage: baton library show NAME [--json]")
				return ExitUsage
			}
			var v apiv1.LibraryDetail
			if err := c.do(ctx, "GET", libraryPath(args[0]), nil, &v); err != nil {
				return failAPI(o, "library show", err)
			}
			if asJSON {
				printJSON(o.Out, v)
				return ExitOK
			}
			fmt.Fprintf(o.Out, "Library %s\n", v.Name)
			fmt.Fprintf(o.Out, "Repository: %s\n", v.RepoURL)
			fmt.Fprintf(o.Out, "Branch:     %s\n", v.Branch)
			fmt.Fprintf(o.Out, "Token:      %s\n", map[bool]string{true: "stored", false: "none"}[v.Token])
			printSSH(o, v.Library)
			if v.HeadError != "" {
				fmt.Fprintf(o.Out, "Head:       unreadable: %s\n", v.HeadError)
			} else {
				head := short(v.Head)
				if v.Commit != nil {
					head += " " + v.Commit.Subject + " (" + v.Commit.Author + ", " + v.Commit.At.Local().Format(time.DateTime) + ")"
				}
				fmt.Fprintf(o.Out, "Head:       %s\n", head)
			}
			fmt.Fprintf(o.Out, "Updated:    %s by %s\n", v.UpdatedAt.Local().Format(time.RFC3339), orDash(v.UpdatedBy))
			fmt.Fprintf(o.Out, "\nFiles (%d):\n", len(v.Files))
			for _, f := range v.Files {
				fmt.Fprintf(o.Out, "  %s  %s  %d\n", f.Mode, f.Path, f.Size)
			}
			fmt.Fprintf(o.Out, "\nUsed in the last 30 days (%d):\n", len(v.Uses))
			tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
			for _, u := range v.Uses {
				fmt.Fprintf(tw, "  %s\t%s #%d\t%s\t%s\t%s\n", u.At.Local().Format(time.DateTime), u.Project, u.WorkflowNumber, u.Pipeline,
					"@"+v.Name+"/"+u.Path+" at "+short(u.SHA), cmp.Or(string(u.Result), string(u.State)))
			}
			tw.Flush()
			return ExitOK
		},
	}.build(nil)
}

func libraryRemoveCommand() *command {
	return apiCommand{
		command: &command{name: "library remove", summary: "remove an organisation script library", usage: "NAME",
			help: "Removes a library. Pipelines that name it fail to compile from then on, saying which libraries exist.\nNeeds organisation admin rights."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 {
				fmt.Fprintln(o.Err, "baton library remove: usage: baton library remove NAME")
				return ExitUsage
			}
			if err := c.do(ctx, "DELETE", libraryPath(args[0]), nil, nil); err != nil {
				return failAPI(o, "library remove", err)
			}
			fmt.Fprintf(o.Out, "Removed library %s\n", args[0])
			return ExitOK
		},
	}.build(nil)
}

// registerLibraryFlag adds --library NAME=DIR to a local command's flags.
func registerLibraryFlag(fs *flag.FlagSet, libs *multiFlag) {
	fs.Var(libs, "library", "read the script library `NAME=DIR` (commands_file \"@NAME/path\") from a local directory; repeatable")
}

// libraryDirs parses --library NAME=DIR flags into absolute directories by
// name.
func libraryDirs(o *IO, flags multiFlag) (map[string]string, error) {
	libs := map[string]string{}
	for _, kv := range flags {
		name, dir, ok := strings.Cut(kv, "=")
		if !ok || name == "" || dir == "" {
			return nil, fmt.Errorf("--library %q: want NAME=DIR", kv)
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(o.Dir, dir)
		}
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--library %s: %s is not a directory", name, dir)
		}
		if _, dup := libs[name]; dup {
			return nil, fmt.Errorf("--library %s given twice", name)
		}
		libs[name] = dir
	}
	return libs, nil
}

// printWorkflowLibraries prints the library commits a workflow fixed.
func printWorkflowLibraries(o *IO, pins []apiv1.LibraryPin) {
	for _, p := range pins {
		if p.SHA == "" {
			fmt.Fprintf(o.Out, "  library %s: %s\n", p.Name, p.Error)
			continue
		}
		fmt.Fprintf(o.Out, "  library %s at %s\n", p.Name, short(p.SHA))
	}
}
