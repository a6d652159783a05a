package web

import (
	"fmt"
	"net/http"

	"github.com/batonci/baton/internal/apiv1"
)

// artifactList is the data of the "artifacts" section (layout.html) of
// the job, workflow and project pages: the files jobs pushed to that
// scope, each linked to its download (Base + "/" + path, an API route
// that checks the visitor may read the project).
type artifactList struct {
	Base  string
	Items []apiv1.Artifact
}

// artifacts reads the artifacts under the API path base as the visitor;
// none when the API refuses or fails (the page shows no section).
func (w *Web) artifacts(r *http.Request, base string) artifactList {
	l := artifactList{Base: base}
	if _, err := w.apiGet(r, base, &l.Items); err != nil {
		l.Items = nil
	}
	return l
}

// humanSize formats a byte count like 1.5 MiB.
func humanSize(n int64) string {
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
