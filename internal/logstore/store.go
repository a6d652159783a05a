// Package logstore keeps the logs of Baton's jobs: durable, compressed,
// append-only, and cheap to read in ranges.
//
// An agent streams a job's log as ordered chunks of ci.Events. Each chunk
// is stored as one compressed block appended to the job's data file and
// fsynced before Append returns (a store opened on Shared logs commits
// the block there instead, and keeps files only as an unsynced replica
// for reads; see Shared); a fixed-size index record per block
// carries the block's offset and the line count after it, so Lines and
// Tail decompress only the blocks that hold the lines asked for, and a
// side file of command records makes Commands a read of a few bytes per
// command. Appending a chunk twice is a no-op and a gap is refused, so an
// agent can retry until acknowledged. Followers are woken by Append.
//
// One process writes a log; other processes may read the same directory.
// A crash can leave a torn block at the end of the data file or index and
// command records behind it: readers ignore such a tail, and the next
// writer truncates it and rebuilds the records from the data file.
package logstore

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// Chunk is a piece of a job's log as an agent sends it: the events of a
// time slice, numbered from 0 in the order they must be stored.
type Chunk struct {
	Seq    int        `json:"seq"`
	Events []ci.Event `json:"events"`
}

// Info describes a stored log.
type Info struct {
	StoredBytes int64 `json:"stored_bytes"` // bytes on disk: data, index and command files
	RawBytes    int64 `json:"raw_bytes"`    // bytes of command output (the Output of cmd_output events)
	Lines       int   `json:"lines"`        // lines of the plain-text rendering (see Store.Lines)
	Chunks      int   `json:"chunks"`       // chunks stored; the next expected Seq
	Sealed      bool  `json:"sealed"`       // the log is complete
}

// Line is one line of a log's plain-text rendering.
type Line struct {
	N    int    `json:"n"`    // 0-based line number
	Text string `json:"text"` // without the line end
	// Cmd is the index of the command the line belongs to, -1 for lines
	// before the first command.
	Cmd  int          `json:"cmd"`
	Kind string       `json:"kind"` // KindCmd for a command's "$ directive" header, KindOut for output
	At   ci.Timestamp `json:"at"`   // when the line's first byte was logged
}

// Command is a command of a log, as collapsible sections and "slowest
// commands" need it.
type Command struct {
	Index      int           `json:"index"`       // 0-based, in order of cmd_started events
	Directive  string        `json:"directive"`   // the command as written, possibly several lines
	ExitCode   *int          `json:"exit_code"`   // nil until the command finishes
	StartedAt  *ci.Timestamp `json:"started_at"`  // from cmd_finished, else the cmd_started event's time
	FinishedAt *ci.Timestamp `json:"finished_at"` // nil until the command finishes
	FirstLine  int           `json:"first_line"`  // the line of its "$ directive" header
	// LastLine is the last line the command owns: the line before the
	// next command's header, or the last line of the log so far.
	LastLine int `json:"last_line"`
}

// GapError refuses a chunk that is beyond the next expected one.
type GapError struct {
	Want int // the Seq the store expects next
}

// Error reports the expected Seq.
func (e *GapError) Error() string {
	return fmt.Sprintf("log chunk out of order: want seq %d", e.Want)
}

// Errors callers may branch on.
var (
	// ErrNotFound means the job has no stored log.
	ErrNotFound = errors.New("log not found")
	// ErrSealed means a new chunk arrived after the log was sealed.
	ErrSealed = errors.New("log is sealed")
	// ErrInvalidJobID means the job ID is not a safe directory name.
	ErrInvalidJobID = errors.New("invalid job id")
	// ErrLocked means another process is writing the log.
	ErrLocked = errors.New("log is being written by another process")
	// ErrCorrupt means a stored block or record failed its checks.
	ErrCorrupt = errors.New("corrupt log data")
	// ErrClosed means the store was closed.
	ErrClosed = errors.New("log store closed")
)

const (
	// maxCachedJobs bounds the per-job states kept between calls.
	maxCachedJobs = 256
	// recheckEvery is how often a follower re-reads a log written by
	// another process; in-process appends wake followers at once.
	recheckEvery = time.Second
	// flateLevel trades ingest speed for size; BestSpeed keeps ingest
	// close to the cost of the fsync and already compresses logs 3–10x.
	flateLevel = flate.BestSpeed
)

// Store keeps logs under a directory, one subdirectory per job. It is safe
// for concurrent use. Several processes may open the same directory, but
// only one may write a given job's log (others get ErrLocked).
type Store struct {
	dir string

	mu     sync.Mutex
	jobs   map[string]*job
	tick   uint64
	closed atomic.Bool // set once, under mu

	encoders sync.Pool // *encoder
	decoders sync.Pool // *blockDecoder

	// shared, when set, holds the logs; dir is this process's replica.
	shared Shared
	// replica, when set, is removed by Close (see OpenReplica).
	replica *replica
}

// job is the state of one log in this process. Readers snapshot it under
// mu; Append, Seal and Delete are serialized by wmu.
type job struct {
	id  string
	dir string

	refs int    // guarded by Store.mu
	used uint64 // guarded by Store.mu

	wmu sync.Mutex
	w   *writer // guarded by wmu

	mu      sync.RWMutex
	st      logState
	writing bool        // this process writes the log: st is authoritative
	known   os.FileInfo // the data file st was read from, nil if none
	scanned int64       // the data file's size when last scanned
	gen     uint64      // bumped when the log is deleted
	wake    chan struct{}
	// lastSync is when the replica last asked Shared; guarded by mu.
	lastSync time.Time
}

// Open returns a store keeping logs under dir, creating it if needed.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	return &Store{dir: dir, jobs: map[string]*job{}}, nil
}

// Close releases the files and locks the store holds and ends followers.
// Later calls fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	jobs := s.jobs
	s.jobs = map[string]*job{}
	s.mu.Unlock()
	// Writes in flight finish first; later ones fail in ensureWriter.
	for _, j := range jobs {
		j.wmu.Lock()
		j.closeWriter()
		j.wmu.Unlock()
		j.mu.Lock()
		j.broadcast()
		j.mu.Unlock()
	}
	if s.replica != nil {
		s.replica.remove()
	}
	return nil
}

// checkID accepts job IDs that are safe as a directory name: 1 to 128
// letters, digits, '-', '_' and '.', starting with a letter or digit.
func checkID(id string) error {
	ok := len(id) > 0 && len(id) <= 128
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case (c == '-' || c == '_' || c == '.') && i > 0:
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrInvalidJobID, id)
	}
	return nil
}

func (s *Store) acquire(id string) (*job, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	j := s.jobs[id]
	if j == nil {
		j = &job{id: id, dir: filepath.Join(s.dir, id), wake: make(chan struct{})}
		s.jobs[id] = j
	}
	j.refs++
	s.tick++
	j.used = s.tick
	return j, nil
}

func (s *Store) release(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.refs--
	for len(s.jobs) > maxCachedJobs {
		var oldID string
		var old *job
		for id, c := range s.jobs {
			if c.refs == 0 && (old == nil || c.used < old.used) {
				oldID, old = id, c
			}
		}
		if old == nil {
			return
		}
		// Unused: nobody else can reach it, and its lock must be gone
		// before a new state for the same job can be created.
		old.closeWriter()
		delete(s.jobs, oldID)
		if s.shared != nil && old.st.seal != nil {
			// A sealed log's replica is a cache of the shared log: keep
			// only the logs in use, or the replica would grow into a copy
			// of every log ever read.
			os.RemoveAll(old.dir)
		}
	}
}

// closeWriter drops this process's writer role; callers hold wmu or own j.
func (j *job) closeWriter() {
	if j.w != nil {
		j.w.close()
		j.w = nil
	}
	j.mu.Lock()
	j.writing = false
	j.mu.Unlock()
}

// broadcast wakes followers; callers hold j.mu.
func (j *job) broadcast() {
	close(j.wake)
	j.wake = make(chan struct{})
}

// reset forgets the log (it was deleted); callers hold j.mu.
func (j *job) reset() {
	j.st = logState{}
	j.known, j.scanned = nil, 0
	j.gen++
	j.broadcast()
}

// refresh brings st up to date with the files, for a log this process does
// not write; callers hold j.mu.
func (s *Store) refresh(j *job) error {
	path := filepath.Join(j.dir, dataName)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if j.known != nil {
			j.reset()
		}
		return nil
	}
	if err != nil {
		return err
	}
	if j.known != nil && !os.SameFile(fi, j.known) {
		j.reset()
	}
	if j.known != nil && fi.Size() == j.scanned {
		return nil
	}
	var f logFiles
	if f.data, err = os.Open(path); err != nil {
		return err
	}
	defer f.data.Close()
	if f.index, err = os.Open(filepath.Join(j.dir, indexName)); err == nil {
		defer f.index.Close()
	} else {
		f.index = nil
	}
	if f.cmds, err = os.Open(filepath.Join(j.dir, cmdsName)); err == nil {
		defer f.cmds.Close()
	} else {
		f.cmds = nil
	}
	before := j.st.total()
	if _, err := s.scan(&j.st, f, fi.Size()); err != nil {
		return err
	}
	j.known, j.scanned = fi, fi.Size()
	if j.st.total() != before {
		j.broadcast()
	}
	return nil
}

// view is a consistent snapshot of a log: whole chunks only.
type view struct {
	recs    []record
	sealed  bool
	exists  bool
	writing bool
	stored  int64
	gen     uint64
	wake    <-chan struct{}
	cmds    []Command // only if asked for
}

func (v *view) last() lineState {
	if n := len(v.recs); n > 0 {
		return v.recs[n-1].lineState
	}
	return initialState
}

func (s *Store) view(j *job, withCmds bool) (view, error) {
	if err := s.refreshShared(context.Background(), j, false); err != nil {
		return view{}, err
	}
	j.mu.RLock()
	if !j.writing {
		j.mu.RUnlock()
		j.mu.Lock()
		defer j.mu.Unlock()
		if !j.writing {
			if err := s.refresh(j); err != nil {
				return view{}, err
			}
		}
	} else {
		defer j.mu.RUnlock()
	}
	st := &j.st
	v := view{
		recs:    st.recs[:len(st.recs):len(st.recs)],
		sealed:  st.seal != nil,
		exists:  j.known != nil,
		writing: j.writing,
		gen:     j.gen,
		wake:    j.wake,
		stored:  st.end() + int64(st.total())*recordSize + st.last().cmdsEnd,
	}
	if withCmds {
		v.cmds = make([]Command, len(st.cmds))
		for i, c := range st.cmds {
			v.cmds[i] = Command{
				Index: c.Index, Directive: c.Directive, FirstLine: c.FirstLine,
				ExitCode: clonePtr(c.ExitCode), StartedAt: clonePtr(c.StartedAt), FinishedAt: clonePtr(c.FinishedAt),
			}
		}
	}
	return v, nil
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// ensureWriter makes this process the log's writer, recovering the files
// after a crash or a failed write; callers hold wmu.
func (s *Store) ensureWriter(j *job) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if j.w != nil && !j.w.broken {
		return nil
	}
	if j.w != nil {
		j.w.close()
		j.w = nil
	}
	w, err := openWriter(s.dir, j.dir, s.shared != nil)
	if err != nil {
		return err
	}
	st, fi, err := s.recoverLog(w)
	if err != nil {
		w.close()
		return err
	}
	j.mu.Lock()
	if j.known != nil && !os.SameFile(fi, j.known) {
		j.gen++
	}
	j.st, j.known, j.scanned, j.writing = st, fi, fi.Size(), true
	j.broadcast()
	j.mu.Unlock()
	j.w = w
	return nil
}

// encoder holds the buffers and compressor of one Append.
type encoder struct {
	raw   []byte
	cmds  []byte
	block bytes.Buffer
	fw    *flate.Writer
}

func (s *Store) getEncoder() *encoder {
	if e, ok := s.encoders.Get().(*encoder); ok {
		return e
	}
	fw, _ := flate.NewWriter(nil, flateLevel) // the level is valid
	return &encoder{fw: fw}
}

// encode returns the block of chunk c: its header and compressed events.
func (e *encoder) encode(c Chunk) ([]byte, error) {
	e.raw = appendEvents(e.raw[:0], c.Events)
	if len(e.raw) > maxChunkBytes {
		return nil, fmt.Errorf("chunk of %d bytes is too large", len(e.raw))
	}
	e.block.Reset()
	e.block.Write(make([]byte, blockHeaderSize))
	h := blockHeader{seq: uint64(c.Seq), rawLen: uint32(len(e.raw)), flags: codecFlate}
	if err := compress(e.fw, &e.block, e.raw); err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if e.block.Len()-blockHeaderSize >= len(e.raw) {
		e.block.Truncate(blockHeaderSize)
		e.block.Write(e.raw)
		h.flags = codecRaw
	}
	block := e.block.Bytes()
	h.payloadLen = uint32(len(block) - blockHeaderSize)
	h.payloadCRC = checksum(block[blockHeaderSize:])
	h.put(block)
	return block, nil
}

func (s *Store) putEncoder(e *encoder) {
	if cap(e.raw) > 4*maxPooledBuf {
		return
	}
	s.encoders.Put(e)
}

// blockDecoder holds the buffers and decompressor of one reader.
type blockDecoder struct {
	payload []byte
	raw     []byte
	fr      io.ReadCloser
}

const maxPooledBuf = 1 << 20

func (s *Store) getDecoder() *blockDecoder {
	if d, ok := s.decoders.Get().(*blockDecoder); ok {
		return d
	}
	return &blockDecoder{fr: flate.NewReader(bytes.NewReader(nil))}
}

func (s *Store) putDecoder(d *blockDecoder) {
	if cap(d.raw) > maxPooledBuf || cap(d.payload) > maxPooledBuf {
		return
	}
	s.decoders.Put(d)
}

// Append stores chunk c of jobID's log and fsyncs it before returning, so
// a job can be reported finished once its log is durable. A chunk whose
// Seq is already stored is ignored (agents retry), a chunk beyond the next
// expected one is refused with *GapError, and a new chunk after Seal
// fails with ErrSealed.
func (s *Store) Append(ctx context.Context, jobID string, c Chunk) error {
	_, err := s.append(ctx, jobID, c, false)
	return err
}

// AppendAck is Append that also returns the seq the store expects next,
// as an agent's acknowledgement: every chunk before it is stored. Of a
// shared log it may say less than other servers stored (they are then
// offered again and ignored), never more.
func (s *Store) AppendAck(ctx context.Context, jobID string, c Chunk) (next int, err error) {
	return s.append(ctx, jobID, c, false)
}

// errTaken means another chunk holds the seq AppendNext tried.
var errTaken = errors.New("log chunk seq taken")

// AppendNext stores events as the next chunk of jobID's log, whatever its
// seq, as a server adds its own lines (an agent lost, a job stopped): if
// another chunk takes the seq first, it tries the next one. After the
// seal it fails with ErrSealed.
func (s *Store) AppendNext(ctx context.Context, jobID string, events []ci.Event) error {
	for range 20 {
		next, err := s.Next(jobID)
		if err != nil {
			return err
		}
		if _, err := s.append(ctx, jobID, Chunk{Seq: next, Events: events}, true); !errors.Is(err, errTaken) {
			return err
		}
	}
	return fmt.Errorf("append log chunk: %w (gave up after 20 tries)", errTaken)
}

// append stores c and returns the seq expected next; with exclusive, a
// seq already stored is errTaken instead of a retry that succeeds.
func (s *Store) append(ctx context.Context, jobID string, c Chunk, exclusive bool) (int, error) {
	if c.Seq < 0 {
		return 0, fmt.Errorf("append log chunk: negative seq %d", c.Seq)
	}
	j, err := s.acquire(jobID)
	if err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	defer s.release(j)
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	// A retried chunk that is already stored costs no compression.
	j.mu.RLock()
	dup := j.writing && c.Seq < len(j.st.recs)
	next := len(j.st.recs)
	j.mu.RUnlock()
	if dup {
		return next, taken(exclusive)
	}

	// Encode and compress before taking the write lock, so that the next
	// chunk can be compressed while this job's previous one is fsynced.
	e := s.getEncoder()
	defer s.putEncoder(e)
	block, err := e.encode(c)
	if err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	if s.shared != nil {
		return s.appendShared(ctx, j, c.Seq, block, exclusive)
	}

	j.wmu.Lock()
	defer j.wmu.Unlock()
	if err := s.ensureWriter(j); err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	// Only this writer changes j.st, so reading it without j.mu is safe.
	st := &j.st
	switch next := len(st.recs); {
	case c.Seq < next:
		return next, taken(exclusive)
	case c.Seq > next:
		return 0, &GapError{Want: next}
	case st.seal != nil:
		return 0, ErrSealed
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	if err := s.storeBlock(j, c.Seq, block, e.raw); err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	return len(st.recs), nil
}

// taken is what storing a seq already stored returns: nothing for an
// agent's retry, errTaken for AppendNext.
func taken(exclusive bool) error {
	if exclusive {
		return errTaken
	}
	return nil
}

// storeBlock writes the encoded chunk seq (block, whose events are raw)
// to the log's files; callers hold wmu and the writer and have checked
// that seq is the next chunk.
func (s *Store) storeBlock(j *job, seq int, block, raw []byte) error {
	st := &j.st
	prev := st.last()
	next, cmds, err := advance(prev, raw, nil)
	if err != nil {
		return err
	}
	rec := record{seq: seq, off: st.end(), size: int64(len(block)), lineState: next}
	if err := j.writeRecord(block, rec, cmds, prev.cmdsEnd); err != nil {
		return err
	}
	j.mu.Lock()
	st.recs = append(st.recs, rec)
	st.cmds, _ = applyCmdRecs(st.cmds, cmds) // just encoded: cannot fail
	st.idxN++
	j.broadcast()
	j.mu.Unlock()
	return nil
}

// writeRecord appends a block to the data file and fsyncs it, then writes
// its command and index records, which a crash may lose: they are rebuilt
// from the data file. Callers hold wmu.
func (j *job) writeRecord(block []byte, rec record, cmds []byte, cmdsOff int64) error {
	w := j.w
	_, err := w.data.WriteAt(block, rec.off)
	if err == nil {
		err = w.sync(w.data)
	}
	if err != nil {
		// After a failed fsync the block may still look whole in the page
		// cache without being durable: cut it off so that recovery does
		// not count it and the agent's retry stores it again.
		w.data.Truncate(rec.off)
		w.broken = true
		return err
	}
	if len(cmds) > 0 {
		if _, err := w.cmds.WriteAt(cmds, cmdsOff); err != nil {
			w.broken = true
			return err
		}
	}
	var buf [recordSize]byte
	rec.put(buf[:])
	if _, err := w.index.WriteAt(buf[:], int64(j.st.idxN)*recordSize); err != nil {
		w.broken = true
		return err
	}
	return nil
}

// Next returns the Seq the store expects next for jobID: 0 for a new job.
func (s *Store) Next(jobID string) (int, error) {
	j, err := s.acquire(jobID)
	if err != nil {
		return 0, fmt.Errorf("log next seq: %w", err)
	}
	defer s.release(j)
	if err := s.refreshShared(context.Background(), j, true); err != nil {
		return 0, fmt.Errorf("log next seq: %w", err)
	}
	v, err := s.view(j, false)
	if err != nil {
		return 0, fmt.Errorf("log next seq: %w", err)
	}
	return len(v.recs), nil
}

// Seal marks jobID's log complete: no more chunks are accepted and
// followers end once they have read it all. Sealing twice is a no-op.
func (s *Store) Seal(jobID string) error {
	j, err := s.acquire(jobID)
	if err != nil {
		return fmt.Errorf("seal log: %w", err)
	}
	defer s.release(j)
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if err := s.ensureWriter(j); err != nil {
		return fmt.Errorf("seal log: %w", err)
	}
	if s.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := s.sealShared(ctx, j); err != nil {
			return fmt.Errorf("seal log: %w", err)
		}
		return nil
	}
	if err := s.sealLocal(j); err != nil {
		return fmt.Errorf("seal log: %w", err)
	}
	return nil
}

// CountError means a seal expected another number of chunks than the
// log holds.
type CountError struct{ Have int }

func (e *CountError) Error() string {
	return fmt.Sprintf("the log holds %d chunks", e.Have)
}

// SealAt seals jobID's log if it holds exactly chunks chunks, as an
// agent reports a job's end with the count it sent; a log that holds
// another count (chunks still on their way, or sent to another server
// and not yet replicated here) is left open, with *CountError. Sealing
// again at the same count is a no-op. Of a shared log, the count is
// checked by the seal itself, so it costs one exchange with Shared.
func (s *Store) SealAt(jobID string, chunks int) error {
	j, err := s.acquire(jobID)
	if err != nil {
		return fmt.Errorf("seal log: %w", err)
	}
	defer s.release(j)
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if s.shared == nil {
		if err := s.ensureWriter(j); err != nil {
			return fmt.Errorf("seal log: %w", err)
		}
		st := &j.st
		if n := len(st.recs); n != chunks {
			return &CountError{Have: n}
		}
		if err := s.sealLocal(j); err != nil {
			return fmt.Errorf("seal log: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if err := s.sealSharedAt(ctx, j, chunks); err != nil {
		var ce *CountError
		if errors.As(err, &ce) {
			return err
		}
		return fmt.Errorf("seal log: %w", err)
	}
	return nil
}

// SealWith stores c as the last chunk of jobID's log and seals the log
// after it, as Append then SealAt(c.Seq+1) do, with the same answers: a
// chunk missing before c is *GapError; a log sealed at another count is
// *CountError; a retry (c stored, the log sealed after it) is nil. Of a
// shared log that expects c next, both are one exchange with Shared.
func (s *Store) SealWith(ctx context.Context, jobID string, c Chunk) error {
	if s.shared == nil {
		if _, err := s.AppendAck(ctx, jobID, c); err != nil && !errors.Is(err, ErrSealed) {
			return err
		}
		return s.SealAt(jobID, c.Seq+1)
	}
	if c.Seq < 0 {
		return fmt.Errorf("append log chunk: negative seq %d", c.Seq)
	}
	j, err := s.acquire(jobID)
	if err != nil {
		return fmt.Errorf("seal log: %w", err)
	}
	defer s.release(j)
	e := s.getEncoder()
	defer s.putEncoder(e)
	block, err := e.encode(c)
	if err != nil {
		return fmt.Errorf("append log chunk: %w", err)
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
	defer cancel()
	accepted, h, err := s.shared.CommitLast(ctx, j.id, c.Seq, block)
	switch {
	case err != nil:
		return fmt.Errorf("append log chunk: %w", err)
	case accepted:
		err = s.sealedSharedAt(ctx, j, c.Seq+1)
	case c.Seq < h.Next || h.Sealed:
		// Stored before (a retry), or sealed meanwhile: the seal's own
		// answer.
		err = s.sealSharedAt(ctx, j, c.Seq+1)
	default:
		return &GapError{Want: h.Next}
	}
	var ce *CountError
	if err != nil && !errors.As(err, &ce) {
		return fmt.Errorf("seal log: %w", err)
	}
	return err
}

// sealLocal writes the seal block; callers hold wmu and the writer.
func (s *Store) sealLocal(j *job) error {
	st := &j.st
	if st.seal != nil {
		return nil
	}
	var block [blockHeaderSize]byte
	h := blockHeader{flags: blockSeal, seq: uint64(len(st.recs)), payloadCRC: checksum(nil)}
	h.put(block[:])
	rec := record{seq: len(st.recs), off: st.end(), size: blockHeaderSize, seal: true, lineState: st.last()}
	if err := j.writeRecord(block[:], rec, nil, 0); err != nil {
		return err
	}
	j.mu.Lock()
	st.seal = &rec
	st.idxN++
	j.broadcast()
	j.mu.Unlock()
	return nil
}

// Info returns the sizes and counts of jobID's log, or ErrNotFound.
func (s *Store) Info(jobID string) (Info, error) {
	j, err := s.acquire(jobID)
	if err != nil {
		return Info{}, fmt.Errorf("log info: %w", err)
	}
	defer s.release(j)
	v, err := s.view(j, false)
	if err != nil {
		return Info{}, fmt.Errorf("log info: %w", err)
	}
	if !v.exists {
		return Info{}, fmt.Errorf("log info: %w", ErrNotFound)
	}
	last := v.last()
	return Info{
		StoredBytes: v.stored,
		RawBytes:    last.raw,
		Lines:       int(last.lines),
		Chunks:      len(v.recs),
		Sealed:      v.sealed,
	}, nil
}

// chunkReader reads the blocks of one log.
type chunkReader struct {
	s   *Store
	f   *os.File
	dec *blockDecoder
}

func (s *Store) openChunks(j *job) (*chunkReader, error) {
	f, err := os.Open(filepath.Join(j.dir, dataName))
	if err != nil {
		return nil, err
	}
	return &chunkReader{s: s, f: f, dec: s.getDecoder()}, nil
}

func (r *chunkReader) close() {
	r.f.Close()
	r.s.putDecoder(r.dec)
}

// read returns the decoded events of a chunk, valid until the next read.
func (r *chunkReader) read(rec record) ([]byte, error) {
	buf := grow(r.dec.payload, int(rec.size))
	r.dec.payload = buf
	if _, err := r.f.ReadAt(buf, rec.off); err != nil {
		return nil, err
	}
	h, ok := parseBlockHeader(buf)
	if !ok || h.seq != uint64(rec.seq) || int64(h.payloadLen) != rec.size-blockHeaderSize {
		return nil, fmt.Errorf("%w: bad block header for chunk %d", ErrCorrupt, rec.seq)
	}
	payload := buf[blockHeaderSize:]
	if checksum(payload) != h.payloadCRC {
		return nil, fmt.Errorf("%w: checksum mismatch in chunk %d", ErrCorrupt, rec.seq)
	}
	raw, err := decodePayload(h, payload, r.dec.fr, r.dec.raw)
	if err != nil {
		return nil, err
	}
	r.dec.raw = raw
	return raw, nil
}

// Events returns the events of chunks [fromSeq, toSeq) of jobID's log, in
// order; toSeq -1 (or past the end) means up to the last stored chunk.
func (s *Store) Events(ctx context.Context, jobID string, fromSeq, toSeq int) ([]ci.Event, error) {
	if fromSeq < 0 || toSeq < -1 {
		return nil, fmt.Errorf("log events: invalid range [%d, %d)", fromSeq, toSeq)
	}
	j, err := s.acquire(jobID)
	if err != nil {
		return nil, fmt.Errorf("log events: %w", err)
	}
	defer s.release(j)
	v, err := s.view(j, false)
	if err != nil {
		return nil, fmt.Errorf("log events: %w", err)
	}
	if !v.exists {
		return nil, fmt.Errorf("log events: %w", ErrNotFound)
	}
	if toSeq == -1 || toSeq > len(v.recs) {
		toSeq = len(v.recs)
	}
	evs := []ci.Event{}
	if fromSeq >= toSeq {
		return evs, nil
	}
	r, err := s.openChunks(j)
	if err != nil {
		return nil, fmt.Errorf("log events: %w", err)
	}
	defer r.close()
	for _, rec := range v.recs[fromSeq:toSeq] {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("log events: %w", err)
		}
		raw, err := r.read(rec)
		if err == nil {
			err = forEachEvent(raw, func(ev *eventView) { evs = append(evs, ev.event()) })
		}
		if err != nil {
			return nil, fmt.Errorf("log events: %w", err)
		}
	}
	return evs, nil
}

// Lines returns lines [from, to) of the plain-text rendering of jobID's
// log (to -1 for up to the end) and the total number of lines. Only the
// chunks holding those lines are read, and the result holds to-from
// lines: callers page through large logs.
//
// The rendering: each cmd_started event is a line "$ " followed by the
// first line of its directive; output is split at '\n', a line spanning
// chunks is one line, and an unterminated last line counts as a line;
// cmd_finished and other events end an open line and add no text. CRs are
// treated as a terminal would for progress bars: CRLF ends a line, and
// text after a lone CR replaces the line so far. A line's text is capped
// at 1 MiB.
func (s *Store) Lines(ctx context.Context, jobID string, from, to int) ([]Line, int, error) {
	if from < 0 || to < -1 {
		return nil, 0, fmt.Errorf("log lines: invalid range [%d, %d)", from, to)
	}
	j, err := s.acquire(jobID)
	if err != nil {
		return nil, 0, fmt.Errorf("log lines: %w", err)
	}
	defer s.release(j)
	v, err := s.view(j, false)
	if err != nil {
		return nil, 0, fmt.Errorf("log lines: %w", err)
	}
	if !v.exists {
		return nil, 0, fmt.Errorf("log lines: %w", ErrNotFound)
	}
	lines, err := s.lines(ctx, j, &v, from, to)
	if err != nil {
		return nil, 0, fmt.Errorf("log lines: %w", err)
	}
	return lines, int(v.last().lines), nil
}

// Tail returns the last n lines of jobID's log and the total number of
// lines.
func (s *Store) Tail(ctx context.Context, jobID string, n int) ([]Line, int, error) {
	j, err := s.acquire(jobID)
	if err != nil {
		return nil, 0, fmt.Errorf("log tail: %w", err)
	}
	defer s.release(j)
	v, err := s.view(j, false)
	if err != nil {
		return nil, 0, fmt.Errorf("log tail: %w", err)
	}
	if !v.exists {
		return nil, 0, fmt.Errorf("log tail: %w", ErrNotFound)
	}
	total := int(v.last().lines)
	lines, err := s.lines(ctx, j, &v, max(total-max(n, 0), 0), total)
	if err != nil {
		return nil, 0, fmt.Errorf("log tail: %w", err)
	}
	return lines, total, nil
}

func (s *Store) lines(ctx context.Context, j *job, v *view, from, to int) ([]Line, error) {
	total := int(v.last().lines)
	if to == -1 || to > total {
		to = total
	}
	if from >= to {
		return []Line{}, nil
	}
	// The first chunk in which a line >= from starts.
	i := sort.Search(len(v.recs), func(k int) bool { return v.recs[k].lines > int64(from) })
	prev := initialState
	if i > 0 {
		prev = v.recs[i-1].lineState
	}
	rd := newRenderer(prev, int64(from), int64(to))
	r, err := s.openChunks(j)
	if err != nil {
		return nil, err
	}
	defer r.close()
	for ; i < len(v.recs) && !rd.done(); i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		raw, err := r.read(v.recs[i])
		if err != nil {
			return nil, err
		}
		if err := forEachEvent(raw, rd.event); err != nil {
			return nil, err
		}
	}
	rd.closeLine() // an unterminated last line
	return rd.out, nil
}

// Commands returns the commands of jobID's log with their exit codes,
// times and line ranges, from records kept at append time.
func (s *Store) Commands(ctx context.Context, jobID string) ([]Command, error) {
	j, err := s.acquire(jobID)
	if err != nil {
		return nil, fmt.Errorf("log commands: %w", err)
	}
	defer s.release(j)
	v, err := s.view(j, true)
	if err != nil {
		return nil, fmt.Errorf("log commands: %w", err)
	}
	if !v.exists {
		return nil, fmt.Errorf("log commands: %w", ErrNotFound)
	}
	total := int(v.last().lines)
	for i := range v.cmds {
		if i+1 < len(v.cmds) {
			v.cmds[i].LastLine = v.cmds[i+1].FirstLine - 1
		} else {
			v.cmds[i].LastLine = total - 1
		}
	}
	return v.cmds, nil
}

// Follow delivers the chunks of jobID's log from fromSeq on, as they are
// appended, until the log is sealed and read to the end (then the channel
// closes), the log is deleted, the store is closed, or ctx ends. Appends
// in this process wake followers at once; a log written by another process
// is re-checked every second. If reading fails the channel closes early;
// Info tells whether the log was complete.
func (s *Store) Follow(ctx context.Context, jobID string, fromSeq int) (<-chan Chunk, error) {
	if fromSeq < 0 {
		return nil, fmt.Errorf("follow log: negative seq %d", fromSeq)
	}
	j, err := s.acquire(jobID)
	if err != nil {
		return nil, fmt.Errorf("follow log: %w", err)
	}
	v, err := s.view(j, false)
	if err != nil {
		s.release(j)
		return nil, fmt.Errorf("follow log: %w", err)
	}
	ch := make(chan Chunk)
	go func() {
		defer s.release(j)
		defer close(ch)
		s.follow(ctx, j, v, fromSeq, ch)
	}()
	return ch, nil
}

func (s *Store) follow(ctx context.Context, j *job, v view, next int, ch chan<- Chunk) {
	gen := v.gen
	for {
		if next < len(v.recs) {
			if !s.deliver(ctx, j, v.recs[next:], ch) {
				return
			}
			next = len(v.recs)
		} else if v.sealed {
			return
		} else {
			var recheck <-chan time.Time
			var t *time.Timer
			if s.shared != nil {
				t = time.NewTimer(sharedRecheck)
				recheck = t.C
			} else if !v.writing {
				t = time.NewTimer(recheckEvery)
				recheck = t.C
			}
			select {
			case <-ctx.Done():
			case <-v.wake:
			case <-recheck:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
		}
		if s.closed.Load() {
			return
		}
		var err error
		if v, err = s.view(j, false); err != nil || v.gen != gen {
			return
		}
	}
}

func (s *Store) deliver(ctx context.Context, j *job, recs []record, ch chan<- Chunk) bool {
	r, err := s.openChunks(j)
	if err != nil {
		return false
	}
	defer r.close()
	for _, rec := range recs {
		raw, err := r.read(rec)
		if err != nil {
			return false
		}
		c := Chunk{Seq: rec.seq}
		if err := forEachEvent(raw, func(ev *eventView) { c.Events = append(c.Events, ev.event()) }); err != nil {
			return false
		}
		select {
		case ch <- c:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Delete removes jobID's log. Deleting a missing log is not an error.
// Followers of the log end.
func (s *Store) Delete(jobID string) error {
	j, err := s.acquire(jobID)
	if err != nil {
		return fmt.Errorf("delete log: %w", err)
	}
	defer s.release(j)
	j.wmu.Lock()
	defer j.wmu.Unlock()
	j.closeWriter()
	if s.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := s.shared.Delete(ctx, jobID); err != nil {
			return fmt.Errorf("delete log: %w", err)
		}
	}
	if err := os.RemoveAll(j.dir); err != nil {
		return fmt.Errorf("delete log: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("delete log: %w", err)
	}
	j.mu.Lock()
	j.reset()
	j.mu.Unlock()
	return nil
}
