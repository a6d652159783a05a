package toolbox

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const retryUsage = "retry [-t|--times N] [-s|--sleep SECONDS] COMMAND..."

// runRetry runs a command until it succeeds, at most --times times (3),
// sleeping --sleep seconds (0) between attempts, and exits with the last
// attempt's status. As Semaphore's retry, options are read only before the
// command, and the command's words are joined with spaces and run by bash,
// so `retry 'make deps && make test'` works.
func runRetry(c *call, args []string) int {
	times, sleep := 3, 0.0
	for len(args) > 0 {
		opt := args[0]
		if opt != "-t" && opt != "--times" && opt != "-s" && opt != "--sleep" {
			break
		}
		if len(args) < 2 {
			return c.usageError(retryUsage, "option %s needs a value", opt)
		}
		var err error
		switch opt {
		case "-t", "--times":
			times, err = strconv.Atoi(args[1])
			if err == nil && times < 1 {
				err = errors.New("at least 1")
			}
		default:
			sleep, err = strconv.ParseFloat(args[1], 64)
			if err == nil && sleep < 0 {
				err = errors.New("not negative")
			}
		}
		if err != nil {
			return c.usageError(retryUsage, "invalid value %q for %s: %v", args[1], opt, err)
		}
		args = args[2:]
	}
	if len(args) == 0 {
		return c.usageError(retryUsage, "no command to run")
	}
	script := strings.Join(args, " ")
	status := 0
	for i := 1; i <= times; i++ {
		cmd := c.command(c.ctx, "bash", "-c", script)
		cmd.Stdin = c.stdin
		cmd.Stdout = c.stdout
		cmd.Stderr = c.stderr
		err := cmd.Run()
		var xerr *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &xerr):
			status = xerr.ExitCode()
			if ws, ok := xerr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				status = 128 + int(ws.Signal()) // as a shell reports it
			}
		default:
			c.errorf("%v", err)
			return 127
		}
		if c.ctx.Err() != nil {
			return status
		}
		if i == times {
			c.errorf("[%d/%d] Execution Failed with exit status %d. No more retries.", i, times, status)
			break
		}
		c.errorf("[%d/%d] Execution Failed with exit status %d. Retrying.", i, times, status)
		select {
		case <-time.After(time.Duration(sleep * float64(time.Second))):
		case <-c.ctx.Done():
			return status
		}
	}
	return status
}
