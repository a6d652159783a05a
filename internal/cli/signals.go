package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/batonci/baton/internal/ci"
)

// SignalContext returns a context that the first SIGINT or SIGTERM cancels
// (with a user stop as its cause: a run stops its jobs, an agent drains), a
// channel that the second closes (an agent stops its jobs), and exits the
// process through exit on the third, for when clean-up itself hangs (main
// passes os.Exit, so main alone ends the process).
func SignalContext(exit func(code int)) (context.Context, <-chan struct{}) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := make(chan struct{})
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel(ci.StopCause{Reason: ci.ReasonUser})
		<-sigs
		close(stop)
		<-sigs
		exit(130)
	}()
	return ctx, stop
}
