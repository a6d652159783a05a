package cli_test

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/batonci/baton/internal/cli"
	"github.com/batonci/baton/internal/testenv"
)

// TestRunOutputIsLive: a line a job prints is on baton run's standard
// output while the job still runs, although nothing follows it: the job
// waits for a file that the test creates only once it has read the line.
// Output held back until the command ends (or until more output fills a
// buffer) fails the test at its deadline. Both when the output is a pipe
// (plain) and a terminal (coloured prefixes).
func TestRunOutputIsLive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		terminal bool
		// want is how the job's first line looks.
		want string
	}{
		{"pipe", false, "[Wait] first line\n"},
		{"terminal", true, "\x1b[36m[Wait] \x1b[0mfirst line\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			release := filepath.Join(t.TempDir(), "release")
			// A flood before the line: the line must not wait in a buffer
			// for more output.
			dir := testenv.NewRepo(t, map[string]string{".semaphore/semaphore.yml": `version: v1.0
name: Live
agent:
  machine:
    type: e1-standard-2
blocks:
  - name: Only
    task:
      jobs:
        - name: Wait
          commands:
            - seq 3000; echo first line; until [ -e ` + release + ` ]; do sleep 0.05; done; echo released
`}).Dir
			r, w := outputFile(t, tc.terminal)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "USER": "tester", "TERM": "xterm"}
			code := make(chan int, 1)
			go func() {
				defer w.Close()
				code <- cli.Main(ctx, []string{"baton", "run"}, &cli.IO{
					In: strings.NewReader(""), Out: w, Err: io.Discard, Dir: dir,
					Getenv: func(k string) string { return env[k] },
				})
			}()
			lines := make(chan string, 1024)
			go func() {
				defer close(lines)
				br := bufio.NewReader(r)
				for {
					line, err := br.ReadString('\n')
					if line != "" {
						lines <- line
					}
					if err != nil {
						return
					}
				}
			}()

			deadline := time.After(time.Minute)
			var seen []string
		waitLine:
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("output ended before the line; it ended with:\n%s", lastLines(seen))
					}
					seen = append(seen, line)
					if line == tc.want {
						break waitLine
					}
				case <-deadline:
					t.Fatalf("the job's line %q was not shown while the job waited; the output so far ends with:\n%s", tc.want, lastLines(seen))
				}
			}
			if err := os.WriteFile(release, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			var rest strings.Builder
			for line := range lines {
				rest.WriteString(line)
			}
			if got := <-code; got != 0 {
				t.Errorf("exit status %d; output after the line:\n%s", got, rest.String())
			}
			if !strings.Contains(rest.String(), "released") || !strings.Contains(rest.String(), "Pipeline ") {
				t.Errorf("output after the line:\n%s", rest.String())
			}
		})
	}
}

// lastLines is the last lines of lines, for a failure's message.
func lastLines(lines []string) string {
	return strings.Join(lines[max(0, len(lines)-5):], "")
}

// outputFile returns where baton run writes (w) and where the test reads
// it (r): a pipe, or a terminal.
func outputFile(t *testing.T, terminal bool) (r io.Reader, w *os.File) {
	t.Helper()
	if !terminal {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close() })
		return pr, pw
	}
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	return master, tty
}
