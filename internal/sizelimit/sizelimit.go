// Package sizelimit reads a stream up to a size and tells one that was
// longer from one that fit: for request bodies and uncompressed reports
// whose size is known only once they are read.
package sizelimit

import "io"

// Reader reads at most n bytes of its stream. Once n bytes are read, a
// read that finds more fails with the error given to New and Over turns
// true; one that finds the stream's end returns the stream's error.
type Reader struct {
	r    io.Reader
	left int64
	err  error
	over bool
}

// New returns a Reader of at most n bytes of r that fails with err when
// r has more.
func New(r io.Reader, n int64, err error) *Reader {
	return &Reader{r: r, left: n, err: err}
}

func (l *Reader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n == 0 {
			return 0, err
		}
		l.over = true
		return 0, l.err
	}
	p = p[:min(int64(len(p)), l.left)]
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Over reports whether the stream was found longer than the limit.
func (l *Reader) Over() bool { return l.over }
