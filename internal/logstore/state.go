package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// logState is what a process knows of one job's log: the index records of
// its chunks, its commands, and whether it is sealed.
type logState struct {
	recs []record  // one per chunk, in seq order
	seal *record   // the seal block, if sealed
	cmds []Command // FirstLine set; LastLine computed on read
	// idxN counts the records (chunks, then the seal) known to be in the
	// index file; records beyond it were rebuilt from the data file.
	idxN int
}

func (st *logState) last() lineState {
	if n := len(st.recs); n > 0 {
		return st.recs[n-1].lineState
	}
	return initialState
}

// before returns the state before record k (chunk k, or the seal when k
// is the number of chunks).
func (st *logState) before(k int) lineState {
	if k == 0 {
		return initialState
	}
	return st.recs[k-1].lineState
}

// end returns the length of the valid part of the data file.
func (st *logState) end() int64 {
	if st.seal != nil {
		return st.seal.end()
	}
	if n := len(st.recs); n > 0 {
		return st.recs[n-1].end()
	}
	return 0
}

func (st *logState) total() int {
	if st.seal != nil {
		return len(st.recs) + 1
	}
	return len(st.recs)
}

// at returns record k, counting the seal as the record after the chunks.
func (st *logState) at(k int) record {
	if k < len(st.recs) {
		return st.recs[k]
	}
	return *st.seal
}

// logFiles are a job's open files; index and cmds may be nil when absent.
type logFiles struct {
	data, index, cmds *os.File
}

// readAtMost reads b from f at off, returning how much was read; a short
// file is not an error.
func readAtMost(f *os.File, b []byte, off int64) (int, error) {
	if f == nil {
		return 0, nil
	}
	n, err := f.ReadAt(b, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// scan extends st with what the files hold beyond it, reading only. It
// trusts the index and commands files as far as they are valid and agree
// with the data file, then reads any further whole, valid blocks from the
// data file (dataSize bytes long) and rebuilds their records, returning
// the command records those produced (for a writer to persist). A torn
// or corrupt tail is ignored: st ends before it.
func (s *Store) scan(st *logState, f logFiles, dataSize int64) (rebuilt []byte, err error) {
	if err := scanIndex(st, f, dataSize); err != nil {
		return nil, err
	}
	if st.seal != nil {
		return nil, nil
	}
	dec := s.getDecoder()
	defer s.putDecoder(dec)
	var hdr [blockHeaderSize]byte
	off := st.end()
	for off+blockHeaderSize <= dataSize {
		if _, err := f.data.ReadAt(hdr[:], off); err != nil {
			return rebuilt, err
		}
		h, ok := parseBlockHeader(hdr[:])
		if !ok || h.seq != uint64(len(st.recs)) || int64(h.payloadLen) > dataSize-off-blockHeaderSize {
			break
		}
		prev := st.last()
		if h.flags&blockSeal != 0 {
			if h.payloadLen != 0 {
				break
			}
			st.seal = &record{seq: len(st.recs), off: off, size: blockHeaderSize, seal: true, lineState: prev}
			break
		}
		payload := grow(dec.payload, int(h.payloadLen))
		dec.payload = payload
		if _, err := f.data.ReadAt(payload, off+blockHeaderSize); err != nil {
			return rebuilt, err
		}
		if checksum(payload) != h.payloadCRC {
			break
		}
		raw, err := decodePayload(h, payload, dec.fr, dec.raw)
		if err != nil {
			break
		}
		dec.raw = raw
		next, cmdBuf, err := advance(prev, raw, rebuilt)
		if err != nil {
			break
		}
		cmds, err := applyCmdRecs(st.cmds, cmdBuf[len(rebuilt):])
		st.cmds = cmds
		if err != nil {
			return rebuilt, err // cannot happen: the records were just encoded
		}
		rebuilt = cmdBuf
		size := blockHeaderSize + int64(h.payloadLen)
		st.recs = append(st.recs, record{seq: len(st.recs), off: off, size: size, lineState: next})
		off += size
	}
	return rebuilt, nil
}

// scanIndex adopts the index records (and their command records) beyond
// st.idxN that are valid and consistent with what precedes them.
func scanIndex(st *logState, f logFiles, dataSize int64) error {
	if f.index == nil || st.seal != nil && st.idxN == st.total() {
		return nil
	}
	fi, err := f.index.Stat()
	if err != nil {
		return err
	}
	n := int(fi.Size()/recordSize) - st.idxN
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n*recordSize)
	got, err := readAtMost(f.index, buf, int64(st.idxN)*recordSize)
	if err != nil {
		return err
	}
	buf = buf[:got/recordSize*recordSize]

	// Records this process already rebuilt from data must match.
	for len(buf) > 0 && st.idxN < st.total() {
		r, ok := parseRecord(buf)
		if !ok || r != st.at(st.idxN) {
			return nil
		}
		st.idxN++
		buf = buf[recordSize:]
	}
	if st.seal != nil {
		return nil
	}
	// New records: check their structure first.
	var fresh []record
	prev := st.last()
	end := st.end()
	for ; len(buf) > 0; buf = buf[recordSize:] {
		r, ok := parseRecord(buf)
		if !ok || r.seq != len(st.recs)+len(fresh) || r.off != end || r.size < blockHeaderSize ||
			r.end() > dataSize || r.lines < prev.lines || r.raw < prev.raw || r.cmdsEnd < prev.cmdsEnd {
			break
		}
		if r.seal && (r.size != blockHeaderSize || r.lineState != prev) {
			break
		}
		fresh = append(fresh, r)
		prev, end = r.lineState, r.end()
		if r.seal {
			break
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	// Then their command records.
	lo := st.last().cmdsEnd
	cbuf := make([]byte, fresh[len(fresh)-1].cmdsEnd-lo)
	got, err = readAtMost(f.cmds, cbuf, lo)
	if err != nil {
		return err
	}
	cbuf = cbuf[:got]
	for _, r := range fresh {
		from, to := st.last().cmdsEnd-lo, r.cmdsEnd-lo
		if to > int64(len(cbuf)) {
			return nil
		}
		if from < to {
			// A finish record only updates the last command: keep a copy
			// to roll back to if the records turn out to be corrupt.
			saved := len(st.cmds)
			var last Command
			if saved > 0 {
				last = st.cmds[saved-1]
			}
			cmds, err := applyCmdRecs(st.cmds, cbuf[from:to])
			if err != nil {
				st.cmds = cmds[:saved]
				if saved > 0 {
					st.cmds[saved-1] = last
				}
				return nil
			}
			st.cmds = cmds
		}
		if r.seal {
			st.seal = &r
		} else {
			st.recs = append(st.recs, r)
		}
		st.idxN++
	}
	return nil
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// writer holds the files of a log this process appends to.
type writer struct {
	logFiles
	broken bool // a write failed: recover before the next one
	// replica: the files are a replica of a shared log, which is the
	// durable copy (every chunk is committed to Shared before it is
	// written here), so they are never fsynced. After a crash, recovery
	// cuts a torn tail and the next sync fetches what was lost.
	replica bool
}

// sync makes f durable, unless the files are a replica.
func (w *writer) sync(f *os.File) error {
	if w.replica {
		return nil
	}
	return f.Sync()
}

func (w *writer) close() {
	for _, f := range []*os.File{w.data, w.index, w.cmds} {
		if f != nil {
			f.Close() // the data that matters was fsynced; close errors change nothing
		}
	}
}

// openWriter opens (creating) a job's files for appending and locks the
// data file against writers in other processes.
func openWriter(storeDir, dir string, replica bool) (_ *writer, err error) {
	created := false
	if err := os.Mkdir(dir, 0o700); err == nil {
		created = true
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	w := &writer{replica: replica}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o600)
	}
	if w.data, err = open(dataName); err != nil {
		return nil, err
	}
	if err = lockFile(w.data); err != nil {
		return nil, err
	}
	if w.index, err = open(indexName); err != nil {
		return nil, err
	}
	if w.cmds, err = open(cmdsName); err != nil {
		return nil, err
	}
	if replica {
		return w, nil
	}
	if err = syncDir(dir); err != nil {
		return nil, err
	}
	if created {
		if err = syncDir(storeDir); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// recoverLog reads the log from w's files, truncates a torn tail off the
// data file and makes the index and commands files agree with it.
func (s *Store) recoverLog(w *writer) (logState, os.FileInfo, error) {
	var st logState
	fi, err := w.data.Stat()
	if err != nil {
		return st, nil, err
	}
	rebuilt, err := s.scan(&st, w.logFiles, fi.Size())
	if err != nil {
		return st, nil, err
	}
	if end := st.end(); fi.Size() != end {
		if err := w.data.Truncate(end); err != nil {
			return st, nil, err
		}
		if err := w.sync(w.data); err != nil {
			return st, nil, err
		}
		if fi, err = w.data.Stat(); err != nil {
			return st, nil, err
		}
	}
	total := st.total()
	cmdsEnd := st.last().cmdsEnd
	if st.idxN == total && size(w.index) == int64(total)*recordSize && size(w.cmds) == cmdsEnd {
		return st, fi, nil
	}
	// Drop what the index and commands files hold beyond their agreement
	// with the data file, then append the rebuilt records.
	base := st.before(st.idxN).cmdsEnd
	err = w.cmds.Truncate(base)
	if err == nil && len(rebuilt) > 0 {
		_, err = w.cmds.WriteAt(rebuilt, base)
	}
	if err == nil {
		err = w.index.Truncate(int64(st.idxN) * recordSize)
	}
	if err == nil && st.idxN < total {
		buf := make([]byte, (total-st.idxN)*recordSize)
		for k := st.idxN; k < total; k++ {
			r := st.at(k)
			r.put(buf[(k-st.idxN)*recordSize:])
		}
		_, err = w.index.WriteAt(buf, int64(st.idxN)*recordSize)
	}
	if err == nil {
		err = w.sync(w.cmds)
	}
	if err == nil {
		err = w.sync(w.index)
	}
	if err != nil {
		return st, nil, fmt.Errorf("repair index: %w", err)
	}
	st.idxN = total
	return st, fi, nil
}

func size(f *os.File) int64 {
	fi, err := f.Stat()
	if err != nil {
		return -1
	}
	return fi.Size()
}
