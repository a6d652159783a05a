package redact

// automaton is an Aho-Corasick string matcher compiled into a dense DFA over
// byte classes: bytes that occur in no needle share class 0, so the
// transition table stays small (states × distinct needle bytes).
//
// A transition that enters a state where some needle ends is stored negated
// (-(state+1)), so the scanning loop needs a single table load per byte and
// only looks further on a match.
type automaton struct {
	class  [256]int32 // byte → class; 0 for bytes in no needle
	stride int        // number of classes
	next   []int32    // next[state*stride+class]; negative: -(state+1), a match state
	depth  []int32    // length of the needle prefix a state stands for
	match  []int32    // length of the longest needle that is a suffix of the state's string
	// Prefilter for the root state, where the automaton spends most of its
	// time on ordinary output: positions at which no needle can start are
	// skipped without stepping the automaton.
	//
	// window is the length of the shortest needle (at most maxWindow), and
	// shift is a Wu-Manber table over the last two bytes of a window: how
	// far the window may move on before those two bytes could fall inside
	// the first window bytes of some needle. starts has bit b0<<8|b1 set
	// when some needle starts with b0 b1.
	window int
	shift  []uint8
	starts [1 << 16 / 64]uint64
}

// maxWindow caps the prefilter window so that shifts fit in a uint8 and the
// table is built quickly.
const maxWindow = 64

// skip returns the first index i >= from at which a needle may start, given
// that the automaton is in its root state before p[from]. It never skips the
// last byte, whose successor is not known yet.
func (a *automaton) skip(p []byte, from int) int {
	i := from
	m := a.window
	for i+m <= len(p) {
		x := uint(p[i+m-2])<<8 | uint(p[i+m-1])
		if sh := a.shift[x]; sh > 0 {
			i += int(sh)
			continue
		}
		if y := uint(p[i])<<8 | uint(p[i+1]); a.starts[y>>6]&(1<<(y&63)) != 0 {
			return i
		}
		i++
	}
	for ; i+1 < len(p); i++ {
		y := uint(p[i])<<8 | uint(p[i+1])
		if a.starts[y>>6]&(1<<(y&63)) != 0 {
			return i
		}
	}
	return i
}

// compile builds the automaton for needles (distinct, at least two bytes
// long).
func compile(needles []string) *automaton {
	a := &automaton{}
	n := int32(1) // class 0 is "no needle byte"
	for _, s := range needles {
		for i := 0; i < len(s); i++ {
			if a.class[s[i]] == 0 {
				a.class[s[i]] = n
				n++
			}
		}
	}
	a.stride = int(n)

	// Trie. -1 marks a missing edge while building.
	newState := func(depth int32) int32 {
		for range a.stride {
			a.next = append(a.next, -1)
		}
		a.depth = append(a.depth, depth)
		a.match = append(a.match, 0)
		return int32(len(a.depth) - 1)
	}
	newState(0)
	for _, s := range needles {
		st := int32(0)
		for i := 0; i < len(s); i++ {
			idx := int(st)*a.stride + int(a.class[s[i]])
			if a.next[idx] < 0 {
				child := newState(int32(i + 1))
				a.next[idx] = child
			}
			st = a.next[idx]
		}
		a.match[st] = int32(len(s))
	}
	a.buildPrefilter(needles)

	// Failure links, breadth first, turning the trie into a DFA.
	fail := make([]int32, len(a.depth))
	queue := make([]int32, 0, len(a.depth))
	for c := range a.stride {
		u := a.next[c]
		if u <= 0 {
			a.next[c] = 0
			continue
		}
		fail[u] = 0
		queue = append(queue, u)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if m := a.match[fail[s]]; m > a.match[s] {
			a.match[s] = m
		}
		for c := range a.stride {
			idx := int(s)*a.stride + c
			u := a.next[idx]
			f := a.next[int(fail[s])*a.stride+c]
			if u < 0 {
				a.next[idx] = f
				continue
			}
			fail[u] = f
			queue = append(queue, u)
		}
	}
	// Mark transitions into match states.
	for i, t := range a.next {
		if a.match[t] > 0 {
			a.next[i] = -(t + 1)
		}
	}
	return a
}

func (a *automaton) buildPrefilter(needles []string) {
	m := maxWindow
	for _, s := range needles {
		m = min(m, len(s))
	}
	a.window = m
	a.shift = make([]uint8, 1<<16)
	for i := range a.shift {
		a.shift[i] = uint8(m - 1)
	}
	for _, s := range needles {
		x := uint(s[0])<<8 | uint(s[1])
		a.starts[x>>6] |= 1 << (x & 63)
		for j := 0; j+2 <= m; j++ {
			b := uint(s[j])<<8 | uint(s[j+1])
			if sh := uint8(m - 2 - j); sh < a.shift[b] {
				a.shift[b] = sh
			}
		}
	}
}
