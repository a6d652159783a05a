//go:build !linux

package cli

import "io"

// growOutputPipe does nothing here: pipes cannot be grown.
func growOutputPipe(w io.Writer) {}
