package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/forge/github"
	"github.com/batonci/baton/internal/reaper"
	"github.com/batonci/baton/internal/testenv"
	"github.com/batonci/baton/internal/testenv/probe"
	"github.com/batonci/baton/internal/toolbox"
)

// TestMain makes this test binary act as `baton` (and as every toolbox
// command, which `baton run` installs as links to the binary) inside the
// scripts.
func TestMain(m *testing.M) {
	main := func() {
		ctx, stop := cli.SignalContext(os.Exit)
		dir, _ := os.Getwd()
		os.Exit(cli.Main(ctx, os.Args, &cli.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Getenv: os.Getenv, Dir: dir, Stop: stop}))
	}
	cmds := map[string]func(){"baton": main, reaper.Name: main}
	for _, name := range toolbox.Names() {
		cmds[name] = main
	}
	testscript.Main(m, cmds)
}

// startServer is the script command "server [--no-agent]".
func startServer(ts *testscript.TestScript, neg bool, args []string) {
	e := testenv.Start(scriptTB{ts}, testenv.Options{DataDir: ts.MkAbs("baton-data")})
	ts.Setenv("BATON_SERVER", e.URL)
	ts.Setenv("BATON_TOKEN", e.Token)
	ts.Setenv("AGENT_TOKEN", e.AgentToken)
	if len(args) == 0 || args[0] != "--no-agent" {
		e.StartAgent(scriptTB{ts}, "script-agent", "e1-standard-2", 2)
	}
}

// signIn signs in as a browser does and creates an API token with the
// session.
func signIn(ts *testscript.TestScript, login, password string) string {
	server := ts.Getenv("BATON_SERVER")
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(server+"/login", url.Values{"login": {login}, "password": {password}, "next": {"/"}})
	ts.Check(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		ts.Fatalf("signin: sign-in answered %d", resp.StatusCode)
	}
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	resp, err = client.Get(server + "/api/v1/me")
	ts.Check(err)
	ts.Check(json.NewDecoder(resp.Body).Decode(&me))
	resp.Body.Close()
	req, _ := http.NewRequest("POST", server+"/api/v1/tokens", strings.NewReader(`{"name":"script"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", me.CSRF)
	resp, err = client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	ts.Check(json.NewDecoder(resp.Body).Decode(&tok))
	if tok.Token == "" {
		ts.Fatalf("signin: no token (status %d)", resp.StatusCode)
	}
	return tok.Token
}

// scriptTB adapts a test script to the testing.TB that testenv wants.
type scriptTB struct{ ts *testscript.TestScript }

func (s scriptTB) Helper()                        {}
func (s scriptTB) Skip(a ...any)                  { s.ts.Fatalf("%s", fmt.Sprint(a...)) }
func (s scriptTB) Fatalf(format string, a ...any) { s.ts.Fatalf(format, a...) }
func (s scriptTB) Fatal(a ...any)                 { s.ts.Fatalf("%s", fmt.Sprint(a...)) }
func (s scriptTB) Cleanup(f func())               { s.ts.Defer(f) }
func (s scriptTB) TempDir() string                { d, _ := os.MkdirTemp(s.ts.Getenv("WORK"), "tmp"); return d }

// TestScripts runs the CLI behaviour specifications in testdata/script.
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

// scriptParams are the parameters of the scripts in dir: their commands,
// conditions and environment.
func scriptParams(dir string) testscript.Params {
	return testscript.Params{
		Dir: dir,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// server starts a Baton server in this process, with an agent
			// of type e1-standard-2, and points BATON_SERVER and
			// BATON_TOKEN at it.
			"server": startServer,
			// s3server starts an S3-compatible server with a bucket and
			// sets S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID and
			// AWS_SECRET_ACCESS_KEY.
			"s3server": func(ts *testscript.TestScript, neg bool, args []string) {
				srv := testenv.StartS3(scriptTB{ts})
				ts.Setenv("S3_ENDPOINT", srv.Endpoint)
				ts.Setenv("S3_BUCKET", srv.Bucket)
				ts.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
				ts.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
			},
			// capture VAR REGEXP sets VAR to the first submatch of REGEXP
			// in the last command's stdout.
			"capture": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: capture VAR REGEXP")
				}
				m := regexp.MustCompile(args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
				if len(m) < 2 {
					ts.Fatalf("capture: no match for %s in stdout", args[1])
				}
				ts.Setenv(args[0], m[1])
			},
			// hook PROJECT SECRET EVENT FILE posts FILE to the server's
			// webhook endpoint as a GitHub delivery of EVENT signed with
			// SECRET, and prints the answer's status and message.
			"hook": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 4 {
					ts.Fatalf("usage: hook PROJECT SECRET EVENT FILE")
				}
				body := []byte(ts.ReadFile(args[3]))
				req, _ := http.NewRequest("POST", ts.Getenv("BATON_SERVER")+"/hooks/"+args[0], bytes.NewReader(body))
				req.Header.Set("X-GitHub-Event", args[2])
				req.Header.Set("X-Hub-Signature-256", github.Sign(args[1], body))
				resp, err := http.DefaultClient.Do(req)
				ts.Check(err)
				defer resp.Body.Close()
				msg, _ := io.ReadAll(resp.Body)
				fmt.Fprintf(ts.Stdout(), "%d %s", resp.StatusCode, msg)
				if (resp.StatusCode >= 300) != neg {
					ts.Fatalf("hook: status %d", resp.StatusCode)
				}
			},
			// receiver VAR DIR CODE starts an HTTP endpoint that answers
			// CODE and writes each request's body to DIR/N.json (N from 1)
			// and its X-Baton-Signature-256 header to DIR/N.sig, and sets
			// VAR to its URL.
			"receiver": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: receiver VAR DIR CODE")
				}
				dir := ts.MkAbs(args[1])
				ts.Check(os.MkdirAll(dir, 0o755))
				code, err := strconv.Atoi(args[2])
				ts.Check(err)
				var mu sync.Mutex
				n := 0
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					mu.Lock()
					n++
					base := filepath.Join(dir, strconv.Itoa(n))
					mu.Unlock()
					os.WriteFile(base+".sig", []byte(r.Header.Get("X-Baton-Signature-256")), 0o644)
					os.WriteFile(base+".json.tmp", b, 0o644)
					os.Rename(base+".json.tmp", base+".json")
					w.WriteHeader(code)
				}))
				ts.Defer(srv.Close)
				ts.Setenv(args[0], srv.URL)
			},
			// signin VAR LOGIN PASSWORD signs in as LOGIN through the
			// sign-in form and sets VAR to a new API token of theirs.
			"signin": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 3 {
					ts.Fatalf("usage: signin VAR LOGIN PASSWORD")
				}
				ts.Setenv(args[0], signIn(ts, args[1], args[2]))
			},
			// waitfile FILE... waits up to 30 s for files to exist.
			"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
				probe.Eventually(scriptTB{ts}, 30*time.Second, func() error {
					for _, f := range args {
						if _, err := os.Stat(ts.MkAbs(f)); err != nil {
							return fmt.Errorf("timed out waiting for %s", f)
						}
					}
					return nil
				})
			},
		},
		// [versitygw]: an S3-compatible server can be started (always true
		// in CI, where a missing one must fail the script). [docker]: Docker
		// and the test images are there (always true in CI, likewise). [root]: the
		// tests run as root (as in CI), so baton runs jobs as job users.
		Condition: func(cond string) (bool, error) {
			if cond == "versitygw" {
				return probe.VersitygwPath() != "" || probe.InCI(), nil
			}
			if cond == "docker" {
				return exec.Command("docker", "image", "inspect", "baton-test/debian").Run() == nil || probe.InCI(), nil
			}
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("GIT_AUTHOR_NAME", "Ada Tester")
			env.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Ada Tester")
			env.Setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/.cache")
			env.Setenv("HOME", env.WorkDir+"/home")
			return os.MkdirAll(env.WorkDir+"/home", 0o755)
		},
	}
}
