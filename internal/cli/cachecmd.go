package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"

	"github.com/batonci/baton/internal/ci"
	"github.com/batonci/baton/internal/imagecache"
)

func projectUpdateCommand() *command {
	var cacheSize string
	return apiCommand{
		command: &command{name: "project update", summary: "change a project's settings",
			usage: "PROJECT --cache-size SIZE",
			help:  "--cache-size sets the size budget of the project's cache (shared by every agent; the least\nrecently used keys are evicted past it): a size such as 9GiB, 500MB or 1073741824 (bytes);\n0 restores the default, 9 GiB. Project admins only."},
		do: func(ctx context.Context, o *IO, c *client, args []string, _ bool) int {
			if len(args) != 1 || cacheSize == "" {
				fmt.Fprintln(o.Err, "baton project update: usage: baton project update PROJECT --cache-size SIZE")
				return ExitUsage
			}
			n, err := imagecache.ParseSize(cacheSize)
			if err != nil {
				fmt.Fprintf(o.Err, "baton project update: --cache-size: %v\n", err)
				return ExitUsage
			}
			var p ci.Project
			if err := c.do(ctx, "PATCH", "/api/v1/projects/"+url.PathEscape(args[0]), map[string]any{"cache_size": n}, &p); err != nil {
				return failAPI(o, "project update", err)
			}
			if n == 0 {
				fmt.Fprintf(o.Out, "Project %s: cache size budget is the default (9.0 GiB)\n", p.Name)
			} else {
				fmt.Fprintf(o.Out, "Project %s: cache size budget %s\n", p.Name, humanBytes(n))
			}
			return ExitOK
		},
	}.build(func(fs *flagSet) {
		fs.StringVar(&cacheSize, "cache-size", "", "the project's cache size budget (`SIZE`, e.g. 9GiB; 0: the default)")
	})
}

// humanBytes formats a byte count like 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// cacheLocalBudget is the --cache-local-budget flag of `baton agent` and
// `baton up`.
type cacheLocalBudget struct{ s *string }

func addCacheLocalBudgetFlag(fs *flag.FlagSet) cacheLocalBudget {
	return cacheLocalBudget{fs.String("cache-local-budget", "5GiB", "keep copies of restored cache archives within `SIZE`, so a second restore on this agent downloads nothing (0: keep none)")}
}

// bytes returns the budget for agent.Config: negative keeps no copies.
func (c cacheLocalBudget) bytes() (int64, error) {
	n, err := imagecache.ParseSize(*c.s)
	if err != nil {
		return 0, fmt.Errorf("--cache-local-budget: %w", err)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}
