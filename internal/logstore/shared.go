package logstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Shared is where logs live when several servers serve them: an outside
// authority (a database and an object store, see package logshare) that
// decides which block is chunk N of a job's log and whether the log is
// sealed, and keeps the blocks. A Store opened with OpenShared keeps its
// directory as a private replica of the shared logs, a cache for reads:
// it commits every chunk and seal to Shared and writes nothing locally
// then; a read brings the replica up to date with what any server
// committed (at once after this process committed, otherwise at most
// every sharedFresh). Any server may thus append to or seal any log, and
// every reader sees the same chunks, in order, once each.
type Shared interface {
	// Commit offers block (a whole encoded chunk) as chunk seq of jobID's
	// log. It is accepted only if the log expects seq next and is not
	// sealed; Next and Sealed describe the log after the attempt.
	Commit(ctx context.Context, jobID string, seq int, block []byte) (accepted bool, h Head, err error)
	// CommitLast is Commit that also seals the log after block when it
	// accepts it (a job's last chunk, sent with its result).
	CommitLast(ctx context.Context, jobID string, seq int, block []byte) (accepted bool, h Head, err error)
	// Seal seals the log after chunks chunks if it has exactly that
	// many; the Head after the attempt tells whether the log is sealed
	// and how many chunks it has.
	Seal(ctx context.Context, jobID string, chunks int) (Head, error)
	// Fetch returns the log's blocks from chunk from on, in order (it may
	// start earlier, and may end with the seal block), with the Head
	// they belong to. Blocks is nil when there is nothing from from on.
	Fetch(ctx context.Context, jobID string, from int) (blocks io.ReadCloser, h Head, err error)
	// Archive stores the data of a sealed log as one object, after which
	// its separate chunks may go.
	Archive(ctx context.Context, jobID string, data io.Reader) error
	// Delete forgets the log.
	Delete(ctx context.Context, jobID string) error
}

// Head is the shared state of a log.
type Head struct {
	Exists bool // anything was ever committed or sealed
	Next   int  // chunks 0..Next-1 are committed
	Sealed bool
}

const (
	// sharedRecheck is how often a follower of a shared log asks for
	// chunks other servers committed.
	sharedRecheck = 250 * time.Millisecond
	// sharedFresh is how long a read trusts the replica of an unsealed
	// shared log without asking again.
	sharedFresh = 100 * time.Millisecond
	// sharedTimeout bounds one exchange with Shared where the caller
	// gives no context.
	sharedTimeout = 30 * time.Second
)

// OpenShared returns a store that serves the logs sh holds, keeping a
// replica under dir, which must be private to this process.
func OpenShared(dir string, sh Shared) (*Store, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.shared = sh
	return s, nil
}

// syncShared brings the replica of j up to date with the shared log;
// callers hold wmu. It creates nothing when the shared log does not
// exist.
func (s *Store) syncShared(ctx context.Context, j *job) error {
	if j.w == nil || j.w.broken {
		// A replica on disk is recovered first, so only what it lacks is
		// fetched.
		if _, err := os.Stat(filepath.Join(j.dir, dataName)); err == nil {
			if err := s.ensureWriter(j); err != nil {
				return err
			}
		}
	}
	from, sealed := 0, false
	if j.w != nil {
		from, sealed = len(j.st.recs), j.st.seal != nil
	}
	if sealed {
		return nil
	}
	blocks, h, err := s.shared.Fetch(ctx, j.id, from)
	if err != nil {
		return err
	}
	if blocks != nil {
		defer blocks.Close()
	}
	if !h.Exists {
		return nil
	}
	if err := s.ensureWriter(j); err != nil {
		return err
	}
	j.mu.Lock()
	j.lastSync = time.Now()
	j.mu.Unlock()
	st := &j.st
	if blocks != nil && st.seal == nil {
		if err := s.applyBlocks(j, blocks); err != nil {
			return fmt.Errorf("replicate: %w", err)
		}
	}
	if h.Sealed && st.seal == nil && len(st.recs) == h.Next {
		return s.sealLocal(j)
	}
	return nil
}

// applyBlocks stores the blocks of r that come after the replica's last
// chunk; callers hold wmu and the writer.
func (s *Store) applyBlocks(j *job, r io.Reader) error {
	dec := s.getDecoder()
	defer s.putDecoder(dec)
	var hdr [blockHeaderSize]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		h, ok := parseBlockHeader(hdr[:])
		if !ok || h.payloadLen > maxChunkBytes {
			return fmt.Errorf("%w: bad block header in a shared log", ErrCorrupt)
		}
		block := grow(dec.payload, blockHeaderSize+int(h.payloadLen))
		dec.payload = block
		copy(block, hdr[:])
		if _, err := io.ReadFull(r, block[blockHeaderSize:]); err != nil {
			return err
		}
		next := len(j.st.recs)
		switch {
		case h.flags&blockSeal != 0:
			if int(h.seq) != next {
				return fmt.Errorf("%w: seal after %d chunks, have %d", ErrCorrupt, h.seq, next)
			}
			return s.sealLocal(j)
		case int(h.seq) < next:
			continue
		case int(h.seq) > next:
			return fmt.Errorf("%w: chunk %d where %d was expected", ErrCorrupt, h.seq, next)
		}
		payload := block[blockHeaderSize:]
		if checksum(payload) != h.payloadCRC {
			return fmt.Errorf("%w: checksum mismatch in chunk %d", ErrCorrupt, h.seq)
		}
		raw, err := decodePayload(h, payload, dec.fr, dec.raw)
		if err != nil {
			return err
		}
		dec.raw = raw
		if err := s.storeBlock(j, int(h.seq), block, raw); err != nil {
			return err
		}
	}
}

// refreshShared brings a shared log's replica up to date before a read,
// at most every sharedFresh unless force.
func (s *Store) refreshShared(ctx context.Context, j *job, force bool) error {
	if s.shared == nil {
		return nil
	}
	j.mu.RLock()
	fresh := j.st.seal != nil || (!force && time.Since(j.lastSync) < sharedFresh)
	j.mu.RUnlock()
	if fresh {
		return nil
	}
	j.wmu.Lock()
	defer j.wmu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
	defer cancel()
	return s.syncShared(ctx, j)
}

// appendShared offers block as chunk seq of a shared log and returns the
// seq the log expects next. The replica is not written: Shared decides
// (an accepted seq, a retry of one accepted before, a gap, a sealed
// log), and the replica, a cache for reads, fetches the chunk when it
// is read. Followers in this process are woken to do so.
func (s *Store) appendShared(ctx context.Context, j *job, seq int, block []byte, exclusive bool) (int, error) {
	accepted, h, err := s.shared.Commit(ctx, j.id, seq, block)
	if err != nil {
		return 0, fmt.Errorf("append log chunk: %w", err)
	}
	if accepted {
		s.replicaStale(j)
		return seq + 1, nil
	}
	switch {
	case seq < h.Next:
		return h.Next, taken(exclusive) // a retry, or lost to a server's line
	case h.Sealed:
		return 0, ErrSealed
	default:
		return 0, &GapError{Want: h.Next}
	}
}

// replicaStale makes the next read of j ask Shared, and wakes its
// followers to read.
func (s *Store) replicaStale(j *job) {
	j.mu.Lock()
	j.lastSync = time.Time{}
	j.broadcast()
	j.mu.Unlock()
}

// sealShared seals the shared log at the replica's chunk count, catching
// up with chunks other servers committed when the count falls short,
// then stores the sealed log as one object if it has more than one
// chunk; callers hold wmu and the writer.
func (s *Store) sealShared(ctx context.Context, j *job) error {
	for attempt := 0; ; attempt++ {
		if j.st.seal != nil {
			return nil // sealed by another server, now replicated
		}
		n := len(j.st.recs)
		h, err := s.shared.Seal(ctx, j.id, n)
		if err != nil {
			return err
		}
		if h.Sealed && h.Next == n {
			if err := s.sealLocal(j); err != nil {
				return err
			}
			if n <= 1 {
				// The one chunk's object already holds the whole log: an
				// archive would copy it to another object for nothing.
				return nil
			}
			return s.archive(ctx, j)
		}
		if attempt == 10 {
			return errors.New("the log kept growing while being sealed")
		}
		// The replica lacks chunks (or the seal) another server
		// committed.
		if err := s.syncShared(ctx, j); err != nil {
			return err
		}
	}
}

// sealSharedAt seals the shared log at chunks chunks (or finds it sealed
// there), brings the replica up to it and seals that too, then stores
// the sealed log as one object if it has more than one chunk; callers
// hold wmu.
func (s *Store) sealSharedAt(ctx context.Context, j *job, chunks int) error {
	if j.st.seal != nil {
		if n := len(j.st.recs); n != chunks {
			return &CountError{Have: n}
		}
		return nil
	}
	h, err := s.shared.Seal(ctx, j.id, chunks)
	if err != nil {
		return err
	}
	if !h.Sealed || h.Next != chunks {
		return &CountError{Have: h.Next}
	}
	return s.sealedSharedAt(ctx, j, chunks)
}

// sealedSharedAt brings the replica up to a shared log just sealed at
// chunks chunks, and stores the sealed log as one object if it has more
// than one chunk; callers hold wmu.
func (s *Store) sealedSharedAt(ctx context.Context, j *job, chunks int) error {
	if chunks <= 1 {
		// The one chunk (its row or object) already holds the whole
		// log: nothing to archive, nothing to replicate until a read.
		s.replicaStale(j)
		return nil
	}
	// The archive is the replica's data file: bring it up to the seal.
	if err := s.syncShared(ctx, j); err != nil {
		return err
	}
	if j.st.seal == nil {
		if len(j.st.recs) != chunks {
			return fmt.Errorf("%w: the shared log is sealed at %d chunks, the replica has %d", ErrCorrupt, chunks, len(j.st.recs))
		}
		if err := s.sealLocal(j); err != nil {
			return err
		}
	}
	return s.archive(ctx, j)
}

// archive uploads the replica's data file, now sealed, as the shared
// log's one object.
func (s *Store) archive(ctx context.Context, j *job) error {
	f, err := os.Open(filepath.Join(j.dir, dataName))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.shared.Archive(ctx, j.id, io.LimitReader(f, j.st.end())); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// ownerName is the file a replica's process holds locked while it runs.
const ownerName = ".owner"

// OpenReplica opens a shared store whose replica is a new directory
// under parent, held by this process (a lock on its owner file) and
// removed by Close. Replicas under parent that no process holds any more
// (left by a crash) are removed first; several servers may share parent.
func OpenReplica(parent string, sh Shared) (*Store, error) {
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("open log replica: %w", err)
	}
	if lockable {
		entries, err := os.ReadDir(parent)
		if err != nil {
			return nil, fmt.Errorf("open log replica: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), "replica-") {
				continue
			}
			dir := filepath.Join(parent, e.Name())
			f, err := os.Open(filepath.Join(dir, ownerName))
			if err != nil {
				continue // not ours to judge
			}
			if lockFile(f) == nil {
				os.RemoveAll(dir) // nobody holds it: left by a crash
			}
			f.Close()
		}
	}
	// Built under a name no cleanup looks at, then renamed, so a replica
	// is never seen without its held owner file.
	tmp, err := os.MkdirTemp(parent, ".new-")
	if err != nil {
		return nil, fmt.Errorf("open log replica: %w", err)
	}
	owner, err := os.OpenFile(filepath.Join(tmp, ownerName), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = lockFile(owner)
	}
	dir := filepath.Join(parent, "replica-"+strings.TrimPrefix(filepath.Base(tmp), ".new-"))
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		if owner != nil {
			owner.Close()
		}
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("open log replica: %w", err)
	}
	s, err := OpenShared(dir, sh)
	if err != nil {
		owner.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	s.replica = &replica{dir: dir, owner: owner}
	return s, nil
}

// replica is the directory OpenReplica made, removed by Close.
type replica struct {
	dir   string
	owner *os.File
}

func (r *replica) remove() {
	os.RemoveAll(r.dir)
	r.owner.Close()
}
