package workspace

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"syscall"
)

// A git index (the staging area, .git/index) records for every tracked
// file the lstat data it had when git last saw it. When a working tree is
// copied, every file gets a new inode and ctime, so the copied index no
// longer matches and the first `git status` in the copy reads and hashes
// every file again. indexFile lets Materialize write each copy an index
// whose stat data is the copy's own, so git trusts it at once.
//
// Only what Materialize needs is parsed: version 2 and 3 entries (the
// template is written with index.version=2); anything else is left to git.

// indexFile is a parsed index: its bytes and where each entry is.
type indexFile struct {
	data     []byte
	hashSize int
	entries  []indexEntry
}

type indexEntry struct {
	off  int    // offset of the entry in data
	path string // slash-separated
	mode uint32 // git's mode: 0100644, 0100755, 0120000, 0160000
}

// statData is what an index entry records about a file.
type statData struct {
	ctimeSec, ctimeNsec uint32
	mtimeSec, mtimeNsec uint32
	dev, ino, uid, gid  uint32
	size                uint32
}

func statDataOf(st *syscall.Stat_t) statData {
	return statData{
		ctimeSec: uint32(st.Ctim.Sec), ctimeNsec: uint32(st.Ctim.Nsec),
		mtimeSec: uint32(st.Mtim.Sec), mtimeNsec: uint32(st.Mtim.Nsec),
		dev: uint32(st.Dev), ino: uint32(st.Ino),
		uid: st.Uid, gid: st.Gid,
		size: uint32(st.Size),
	}
}

var errIndexFormat = errors.New("unsupported index format")

// parseIndex parses an index written by a repository whose object hashes
// are hashSize bytes long.
func parseIndex(data []byte, hashSize int) (*indexFile, error) {
	if len(data) < 12+hashSize || !bytes.Equal(data[:4], []byte("DIRC")) {
		return nil, fmt.Errorf("%w: no index header", errIndexFormat)
	}
	version := binary.BigEndian.Uint32(data[4:8])
	if version != 2 && version != 3 {
		return nil, fmt.Errorf("%w: version %d", errIndexFormat, version)
	}
	n := int(binary.BigEndian.Uint32(data[8:12]))
	end := len(data) - hashSize
	ix := &indexFile{data: data, hashSize: hashSize, entries: make([]indexEntry, 0, n)}
	off := 12
	for range n {
		fixed := 40 + hashSize + 2
		if off+fixed > end {
			return nil, fmt.Errorf("%w: truncated entry", errIndexFormat)
		}
		flags := binary.BigEndian.Uint16(data[off+40+hashSize:])
		if flags&0x4000 != 0 { // extended flags follow
			if version < 3 {
				return nil, fmt.Errorf("%w: extended flags in version 2", errIndexFormat)
			}
			fixed += 2
		}
		nul := bytes.IndexByte(data[off+fixed:end], 0)
		if nul < 0 {
			return nil, fmt.Errorf("%w: unterminated path", errIndexFormat)
		}
		size := (fixed + nul + 8) &^ 7
		if off+size > end {
			return nil, fmt.Errorf("%w: truncated entry", errIndexFormat)
		}
		ix.entries = append(ix.entries, indexEntry{
			off:  off,
			path: string(data[off+fixed : off+fixed+nul]),
			mode: binary.BigEndian.Uint32(data[off+24:]),
		})
		off += size
	}
	return ix, nil
}

// withStats returns a copy of the index in which every regular-file and
// symlink entry found in stats (keyed by slash-separated path) carries
// that stat data, with the trailing checksum recomputed. Entries not in
// stats keep theirs; git checks those by content.
func (ix *indexFile) withStats(stats map[string]statData) []byte {
	out := bytes.Clone(ix.data)
	be := binary.BigEndian
	for _, e := range ix.entries {
		if e.mode&0o170000 == 0o160000 { // submodule: git does not stat it
			continue
		}
		st, ok := stats[e.path]
		if !ok {
			continue
		}
		b := out[e.off:]
		be.PutUint32(b[0:], st.ctimeSec)
		be.PutUint32(b[4:], st.ctimeNsec)
		be.PutUint32(b[8:], st.mtimeSec)
		be.PutUint32(b[12:], st.mtimeNsec)
		be.PutUint32(b[16:], st.dev)
		be.PutUint32(b[20:], st.ino)
		be.PutUint32(b[28:], st.uid)
		be.PutUint32(b[32:], st.gid)
		be.PutUint32(b[36:], st.size)
	}
	sum := out[len(out)-ix.hashSize:]
	if !allZero(sum) { // index.skipHash writes no checksum
		var h hash.Hash = sha1.New()
		if ix.hashSize == sha256.Size {
			h = sha256.New()
		}
		h.Write(out[:len(out)-ix.hashSize])
		copy(sum, h.Sum(nil))
	}
	return out
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
