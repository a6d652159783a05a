package agentapi

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"
)

// Gzip compresses at gzip.BestSpeed, as log chunks travel, with writers
// reused from earlier calls: a new writer allocates about a megabyte,
// which every log chunk of every job paid, twice. The zero value is ready
// to use; it is safe for concurrent use.
type Gzip struct{ writers sync.Pool }

// Compress returns what write writes, gzip-compressed.
func (g *Gzip) Compress(write func(io.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := g.writers.Get().(*gzip.Writer)
	if zw == nil {
		zw, _ = gzip.NewWriterLevel(&buf, gzip.BestSpeed) // a valid level: no error
	} else {
		zw.Reset(&buf)
	}
	defer g.writers.Put(zw)
	if err := write(zw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
