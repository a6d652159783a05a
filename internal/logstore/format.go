package logstore

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/batonci/baton/internal/ci"
)

// On-disk format, version 1. A job's directory holds three files:
//
//	data      append-only blocks, one per chunk, then an optional seal block:
//	          a 32-byte header (see blockHeader) and a payload, the chunk's
//	          events in the binary encoding below, DEFLATE-compressed unless
//	          compression did not help. The data file is the source of truth.
//	index     one 64-byte record per block (see record): where the block is,
//	          and the line state after it, so that line ranges map to blocks
//	          without decompressing anything.
//	commands  framed records, one per cmd_started and cmd_finished event,
//	          appended when their chunk is stored (see cmdRec).
//
// Only the data file is fsynced on Append; index and commands are written
// after it and are rebuilt from the data file's tail after a crash. All
// integers are little-endian; checksums are CRC-32C.
const (
	dataName  = "data"
	indexName = "index"
	cmdsName  = "commands"

	blockMagic      uint32 = 0x314c5442 // "BTL1"
	recordMagic     uint32 = 0x31495442 // "BTI1"
	blockHeaderSize        = 32
	recordSize             = 64
	frameHeaderSize        = 8

	// maxChunkBytes caps the encoded size of one chunk.
	maxChunkBytes = 1 << 28
	// maxLineBytes caps the text of one rendered line; the rest is dropped.
	maxLineBytes = 1 << 20
)

// Block header flags.
const (
	blockSeal  uint32 = 1 << 0
	codecMask  uint32 = 0xff << 8
	codecRaw   uint32 = 0 << 8
	codecFlate uint32 = 1 << 8
)

// Index record flags.
const (
	recSeal     uint32 = 1 << 0 // the seal block
	recOpen     uint32 = 1 << 1 // a line is open (unterminated) after the block
	recFinished uint32 = 1 << 2 // the current command has finished
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// blockHeader starts every block of the data file:
//
//	0  magic "BTL1"     4  flags (seal, codec)   8  seq (uint64)
//	16 payload length   20 decoded length        24 payload CRC
//	28 CRC of bytes 0..28
type blockHeader struct {
	flags      uint32
	seq        uint64
	payloadLen uint32
	rawLen     uint32
	payloadCRC uint32
}

func (h *blockHeader) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], blockMagic)
	le.PutUint32(b[4:], h.flags)
	le.PutUint64(b[8:], h.seq)
	le.PutUint32(b[16:], h.payloadLen)
	le.PutUint32(b[20:], h.rawLen)
	le.PutUint32(b[24:], h.payloadCRC)
	le.PutUint32(b[28:], checksum(b[:28]))
}

func parseBlockHeader(b []byte) (blockHeader, bool) {
	le := binary.LittleEndian
	if len(b) < blockHeaderSize || le.Uint32(b[0:]) != blockMagic || le.Uint32(b[28:]) != checksum(b[:28]) {
		return blockHeader{}, false
	}
	return blockHeader{
		flags:      le.Uint32(b[4:]),
		seq:        le.Uint64(b[8:]),
		payloadLen: le.Uint32(b[16:]),
		rawLen:     le.Uint32(b[20:]),
		payloadCRC: le.Uint32(b[24:]),
	}, true
}

// lineState is the rendering state between two chunks: everything needed
// to render lines from a chunk on without reading the chunks before it.
type lineState struct {
	lines    int64 // lines started so far
	raw      int64 // output bytes so far
	cmdsEnd  int64 // length of the commands file so far
	cmd      int32 // index of the current command, -1 before the first
	open     bool  // the last line is unterminated and may continue
	finished bool  // the current command has finished
}

var initialState = lineState{cmd: -1}

// record is an index record, describing one block and the state after it:
//
//	0  magic "BTI1"   4  flags      8  seq          16 block offset
//	24 block length   28 cmd        32 lines        40 raw bytes
//	48 commands end   56 reserved   60 CRC of bytes 0..60
type record struct {
	seq  int
	off  int64
	size int64
	seal bool
	lineState
}

func (r *record) end() int64 { return r.off + r.size }

func (r *record) put(b []byte) {
	le := binary.LittleEndian
	var flags uint32
	if r.seal {
		flags |= recSeal
	}
	if r.open {
		flags |= recOpen
	}
	if r.finished {
		flags |= recFinished
	}
	le.PutUint32(b[0:], recordMagic)
	le.PutUint32(b[4:], flags)
	le.PutUint64(b[8:], uint64(r.seq))
	le.PutUint64(b[16:], uint64(r.off))
	le.PutUint32(b[24:], uint32(r.size))
	le.PutUint32(b[28:], uint32(r.cmd))
	le.PutUint64(b[32:], uint64(r.lines))
	le.PutUint64(b[40:], uint64(r.raw))
	le.PutUint64(b[48:], uint64(r.cmdsEnd))
	le.PutUint32(b[56:], 0)
	le.PutUint32(b[60:], checksum(b[:60]))
}

func parseRecord(b []byte) (record, bool) {
	le := binary.LittleEndian
	if len(b) < recordSize || le.Uint32(b[0:]) != recordMagic || le.Uint32(b[60:]) != checksum(b[:60]) {
		return record{}, false
	}
	flags := le.Uint32(b[4:])
	return record{
		seq:  int(le.Uint64(b[8:])),
		off:  int64(le.Uint64(b[16:])),
		size: int64(le.Uint32(b[24:])),
		seal: flags&recSeal != 0,
		lineState: lineState{
			cmd:      int32(le.Uint32(b[28:])),
			lines:    int64(le.Uint64(b[32:])),
			raw:      int64(le.Uint64(b[40:])),
			cmdsEnd:  int64(le.Uint64(b[48:])),
			open:     flags&recOpen != 0,
			finished: flags&recFinished != 0,
		},
	}, true
}

// Event encoding. A chunk is uvarint(count) followed by its events; an
// event is its kind code (0: a uvarint-length kind name follows), a uvarint
// mask of the fields present, the timestamp, then the present fields in
// mask order. Strings are uvarint-length prefixed; times are
// varint(Unix seconds) uvarint(nanoseconds).
var kindCodes = [...]ci.EventKind{
	1: ci.EventJobStarted,
	2: ci.EventCmdStarted,
	3: ci.EventCmdOutput,
	4: ci.EventCmdFinished,
	5: ci.EventJobFinished,
	6: ci.EventBlockFinished,
	7: ci.EventPipelineFinished,
}

const (
	fBlock = 1 << iota
	fJob
	fDirective
	fOutput
	fExitCode
	fStartedAt
	fFinishedAt
	fResult
	fReason
)

func kindCode(k ci.EventKind) byte {
	for i := 1; i < len(kindCodes); i++ {
		if kindCodes[i] == k {
			return byte(i)
		}
	}
	return 0
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t ci.Timestamp) []byte {
	tt := time.Time(t)
	b = binary.AppendVarint(b, tt.Unix())
	return binary.AppendUvarint(b, uint64(tt.Nanosecond()))
}

func appendEvents(b []byte, evs []ci.Event) []byte {
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for i := range evs {
		ev := &evs[i]
		code := kindCode(ev.Kind)
		b = append(b, code)
		if code == 0 {
			b = appendString(b, string(ev.Kind))
		}
		var mask uint64
		if ev.Block != "" {
			mask |= fBlock
		}
		if ev.Job != "" {
			mask |= fJob
		}
		if ev.Directive != "" {
			mask |= fDirective
		}
		if ev.Output != "" {
			mask |= fOutput
		}
		if ev.ExitCode != nil {
			mask |= fExitCode
		}
		if ev.StartedAt != nil {
			mask |= fStartedAt
		}
		if ev.FinishedAt != nil {
			mask |= fFinishedAt
		}
		if ev.Result != "" {
			mask |= fResult
		}
		if ev.Reason != "" {
			mask |= fReason
		}
		b = binary.AppendUvarint(b, mask)
		b = appendTime(b, ev.Timestamp)
		if mask&fBlock != 0 {
			b = appendString(b, ev.Block)
		}
		if mask&fJob != 0 {
			b = appendString(b, ev.Job)
		}
		if mask&fDirective != 0 {
			b = appendString(b, ev.Directive)
		}
		if mask&fOutput != 0 {
			b = appendString(b, ev.Output)
		}
		if mask&fExitCode != 0 {
			b = binary.AppendVarint(b, int64(*ev.ExitCode))
		}
		if mask&fStartedAt != 0 {
			b = appendTime(b, *ev.StartedAt)
		}
		if mask&fFinishedAt != 0 {
			b = appendTime(b, *ev.FinishedAt)
		}
		if mask&fResult != 0 {
			b = appendString(b, string(ev.Result))
		}
		if mask&fReason != 0 {
			b = appendString(b, string(ev.Reason))
		}
	}
	return b
}

// decoder reads the binary encoding; the first malformed read sets bad and
// makes every later read return zero values.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.bad = true
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.bad, d.b = true, nil
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() ci.Timestamp {
	sec := d.varint()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.bad = true
		return ci.Timestamp{}
	}
	if sec == zeroUnix && nsec == 0 {
		return ci.Timestamp{}
	}
	return ci.Timestamp(time.Unix(sec, int64(nsec)))
}

// eventView is a decoded event whose byte fields alias the decoded chunk;
// they are valid only during the callback that receives the view.
type eventView struct {
	kind                          ci.EventKind
	mask                          uint64
	ts                            ci.Timestamp
	block, job, directive, output []byte
	result, reason                []byte
	exitCode                      int
	startedAt, finishedAt         ci.Timestamp
}

func (v *eventView) event() ci.Event {
	ev := ci.Event{
		Kind:      v.kind,
		Timestamp: v.ts,
		Block:     string(v.block),
		Job:       string(v.job),
		Directive: string(v.directive),
		Output:    string(v.output),
		Result:    ci.Result(v.result),
		Reason:    ci.Reason(v.reason),
	}
	if v.mask&fExitCode != 0 {
		code := v.exitCode
		ev.ExitCode = &code
	}
	if v.mask&fStartedAt != 0 {
		t := v.startedAt
		ev.StartedAt = &t
	}
	if v.mask&fFinishedAt != 0 {
		t := v.finishedAt
		ev.FinishedAt = &t
	}
	return ev
}

// forEachEvent decodes a chunk's events, calling fn for each.
func forEachEvent(raw []byte, fn func(*eventView)) error {
	d := decoder{b: raw}
	n := d.uvarint()
	if n > uint64(len(raw)) {
		return fmt.Errorf("%w: bad event count", ErrCorrupt)
	}
	var v eventView
	for range n {
		v = eventView{}
		code := d.byte()
		switch {
		case code == 0:
			v.kind = ci.EventKind(d.bytes())
		case int(code) < len(kindCodes):
			v.kind = kindCodes[code]
		default:
			d.bad = true
		}
		v.mask = d.uvarint()
		v.ts = d.time()
		if v.mask&fBlock != 0 {
			v.block = d.bytes()
		}
		if v.mask&fJob != 0 {
			v.job = d.bytes()
		}
		if v.mask&fDirective != 0 {
			v.directive = d.bytes()
		}
		if v.mask&fOutput != 0 {
			v.output = d.bytes()
		}
		if v.mask&fExitCode != 0 {
			v.exitCode = int(d.varint())
		}
		if v.mask&fStartedAt != 0 {
			v.startedAt = d.time()
		}
		if v.mask&fFinishedAt != 0 {
			v.finishedAt = d.time()
		}
		if v.mask&fResult != 0 {
			v.result = d.bytes()
		}
		if v.mask&fReason != 0 {
			v.reason = d.bytes()
		}
		if d.bad {
			return fmt.Errorf("%w: bad event encoding", ErrCorrupt)
		}
		fn(&v)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: trailing bytes after events", ErrCorrupt)
	}
	return nil
}

// cmdRec is a record of the commands file: a command started (finish
// false) or finished. On disk each is framed as uint32 length, uint32 CRC
// of the payload, payload:
//
//	'S' uvarint(index) uvarint(first line) time(started) string(directive)
//	'F' uvarint(index) byte(presence: 1 exit code, 2 started, 4 finished)
//	    [varint(exit code)] [time(started)] [time(finished)]
type cmdRec struct {
	finish     bool
	index      int
	firstLine  int64
	at         ci.Timestamp
	directive  []byte
	exitCode   *int
	startedAt  *ci.Timestamp
	finishedAt *ci.Timestamp
}

func appendCmdRec(b []byte, r *cmdRec) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeaderSize)...)
	if !r.finish {
		b = append(b, 'S')
		b = binary.AppendUvarint(b, uint64(r.index))
		b = binary.AppendUvarint(b, uint64(r.firstLine))
		b = appendTime(b, r.at)
		b = binary.AppendUvarint(b, uint64(len(r.directive)))
		b = append(b, r.directive...)
	} else {
		b = append(b, 'F')
		b = binary.AppendUvarint(b, uint64(r.index))
		var present byte
		if r.exitCode != nil {
			present |= 1
		}
		if r.startedAt != nil {
			present |= 2
		}
		if r.finishedAt != nil {
			present |= 4
		}
		b = append(b, present)
		if r.exitCode != nil {
			b = binary.AppendVarint(b, int64(*r.exitCode))
		}
		if r.startedAt != nil {
			b = appendTime(b, *r.startedAt)
		}
		if r.finishedAt != nil {
			b = appendTime(b, *r.finishedAt)
		}
	}
	payload := b[start+frameHeaderSize:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], checksum(payload))
	return b
}

// applyCmdRecs parses framed command records and applies them to cmds. It
// fails, leaving cmds partly updated, unless b holds whole valid records.
func applyCmdRecs(cmds []Command, b []byte) ([]Command, error) {
	bad := fmt.Errorf("%w: bad command record", ErrCorrupt)
	for len(b) > 0 {
		if len(b) < frameHeaderSize {
			return cmds, bad
		}
		n := int(binary.LittleEndian.Uint32(b))
		if n > len(b)-frameHeaderSize || binary.LittleEndian.Uint32(b[4:]) != checksum(b[frameHeaderSize:frameHeaderSize+n]) {
			return cmds, bad
		}
		d := decoder{b: b[frameHeaderSize : frameHeaderSize+n]}
		b = b[frameHeaderSize+n:]
		switch d.byte() {
		case 'S':
			idx := d.uvarint()
			first := d.uvarint()
			at := d.time()
			dir := d.bytes()
			if d.bad || len(d.b) != 0 || idx != uint64(len(cmds)) {
				return cmds, bad
			}
			cmds = append(cmds, Command{Index: int(idx), Directive: string(dir), StartedAt: &at, FirstLine: int(first)})
		case 'F':
			idx := d.uvarint()
			present := d.byte()
			var exit *int
			var started, finished *ci.Timestamp
			if present&1 != 0 {
				code := int(d.varint())
				exit = &code
			}
			if present&2 != 0 {
				t := d.time()
				started = &t
			}
			if present&4 != 0 {
				t := d.time()
				finished = &t
			}
			if d.bad || len(d.b) != 0 || len(cmds) == 0 || idx != uint64(len(cmds)-1) {
				return cmds, bad
			}
			c := &cmds[idx]
			c.ExitCode = exit
			if started != nil {
				c.StartedAt = started
			}
			c.FinishedAt = finished
		default:
			return cmds, bad
		}
	}
	return cmds, nil
}

// advance applies a chunk's events to the line state, appending the
// command records they produce to cmdBuf. The line-counting rules here and
// in renderer must agree.
func advance(s lineState, raw []byte, cmdBuf []byte) (lineState, []byte, error) {
	start := len(cmdBuf)
	err := forEachEvent(raw, func(ev *eventView) {
		switch ev.kind {
		case ci.EventCmdStarted:
			s.cmd++
			s.finished = false
			s.open = false
			cmdBuf = appendCmdRec(cmdBuf, &cmdRec{index: int(s.cmd), firstLine: s.lines, at: ev.ts, directive: ev.directive})
			s.lines++
		case ci.EventCmdOutput:
			out := ev.output
			if len(out) == 0 {
				return
			}
			s.raw += int64(len(out))
			starts := int64(bytes.Count(out, newline))
			if !s.open {
				starts++
			}
			if out[len(out)-1] == '\n' {
				starts--
				s.open = false
			} else {
				s.open = true
			}
			s.lines += starts
		case ci.EventCmdFinished:
			s.open = false
			if s.cmd >= 0 && !s.finished {
				s.finished = true
				r := cmdRec{finish: true, index: int(s.cmd)}
				if ev.mask&fExitCode != 0 {
					code := ev.exitCode
					r.exitCode = &code
				}
				if ev.mask&fStartedAt != 0 {
					t := ev.startedAt
					r.startedAt = &t
				}
				t := ev.ts
				if ev.mask&fFinishedAt != 0 {
					t = ev.finishedAt
				}
				r.finishedAt = &t
				cmdBuf = appendCmdRec(cmdBuf, &r)
			}
		default:
			s.open = false
		}
	})
	s.cmdsEnd += int64(len(cmdBuf) - start)
	return s, cmdBuf, err
}

var newline = []byte{'\n'}

// compress appends the DEFLATE compression of raw to dst.
func compress(fw *flate.Writer, dst *bytes.Buffer, raw []byte) error {
	fw.Reset(dst)
	if _, err := fw.Write(raw); err != nil {
		return err
	}
	return fw.Close()
}

// decodePayload returns the decoded bytes of a block's payload in buf.
func decodePayload(h blockHeader, payload []byte, fr io.ReadCloser, buf []byte) ([]byte, error) {
	switch h.flags & codecMask {
	case codecRaw:
		return append(buf[:0], payload...), nil
	case codecFlate:
		if cap(buf) < int(h.rawLen) {
			buf = make([]byte, h.rawLen)
		}
		buf = buf[:h.rawLen]
		if err := fr.(flate.Resetter).Reset(bytes.NewReader(payload), nil); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(fr, buf); err != nil {
			return nil, fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
		}
		return buf, nil
	default:
		return nil, fmt.Errorf("%w: unknown codec %#x", ErrCorrupt, h.flags&codecMask)
	}
}

// zeroUnix is the Unix time of the zero time.Time, decoded back to it.
const zeroUnix = -62135596800
