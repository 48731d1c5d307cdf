package importer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// seenKey is an identity's digest: SHA-256 (collision-resistant, so that a
// hostile source id cannot pass for another record's) cut to 12 bytes.
// 96 bits: with a million identities in a run, the chance that any new
// one's digest equals an earlier one's (which would mark it a duplicate)
// is about 10^-17. 16 bytes cost a third more memory for nothing an
// operator could ever observe.
type seenKey [12]byte

func seenKeyOf(id identity) seenKey {
	buf := make([]byte, 0, len(id.Source)+1+len(id.SourceID))
	buf = append(append(append(buf, id.Source...), 0x1f), id.SourceID...)
	sum := sha256.Sum256(buf)
	var k seenKey
	copy(k[:], sum[:len(k)])
	return k
}

// seenBuckets is how many sorted runs a seenSet files its keys in, by
// their first 12 bits (digests are uniform): at 1M keys about 250 each,
// so an insertion moves a few KB.
const seenBuckets = 1 << 12

// seenSet is the set of identities a run committed, as digests. A Go map
// of 16-byte keys took about 37 bytes a key (slots at the map's load
// factor, tables doubling), and that much again as garbage-collector
// headroom: at 1M keys about a third of the import's peak RSS. Here each
// key takes 12 bytes plus at most an eighth for room to grow, in sorted
// runs found by binary search.
type seenSet struct {
	buckets [][]seenKey
	n       int
}

func seenBucket(k seenKey) int {
	return int(binary.BigEndian.Uint16(k[:2]) >> 4)
}

// has reports whether k is in the set.
func (s *seenSet) has(k seenKey) bool {
	if s.buckets == nil {
		return false
	}
	_, ok := slices.BinarySearchFunc(s.buckets[seenBucket(k)], k, compareSeen)
	return ok
}

// add puts k in the set.
func (s *seenSet) add(k seenKey) {
	if s.buckets == nil {
		s.buckets = make([][]seenKey, seenBuckets)
	}
	b := &s.buckets[seenBucket(k)]
	i, ok := slices.BinarySearchFunc(*b, k, compareSeen)
	if ok {
		return
	}
	if len(*b) == cap(*b) {
		// Grow by an eighth, not append's doubling: the runs stay
		// within 1/8 of their length.
		grown := make([]seenKey, len(*b), len(*b)+len(*b)/8+4)
		copy(grown, *b)
		*b = grown
	}
	*b = slices.Insert(*b, i, k)
	s.n++
}

// len is the number of keys in the set.
func (s *seenSet) len() int { return s.n }

func compareSeen(a, b seenKey) int { return bytes.Compare(a[:], b[:]) }
