package importer

import (
	"fmt"
	"testing"
)

// TestSeenSetIsASet: the seenSet answers as a map of the same keys would,
// for keys added once or again, in any order, and keys never added
// (including ones that share a run with added keys).
func TestSeenSetIsASet(t *testing.T) {
	var s seenSet
	want := map[seenKey]bool{}
	if s.has(seenKeyOf(identity{Source: "a", SourceID: "1"})) {
		t.Fatal("an empty set has a key")
	}
	for i := 0; i < 20000; i++ {
		k := seenKeyOf(identity{Source: "src", SourceID: fmt.Sprint(i % 15000)})
		s.add(k)
		want[k] = true
	}
	// Keys in the same run as added ones, differing in one byte.
	var near []seenKey
	for k := range want {
		k[len(k)-1] ^= 1
		if !want[k] {
			near = append(near, k)
		}
		if len(near) == 100 {
			break
		}
	}
	if s.len() != len(want) {
		t.Fatalf("len %d, want %d", s.len(), len(want))
	}
	for k := range want {
		if !s.has(k) {
			t.Fatalf("added key %x not found", k)
		}
	}
	for _, k := range near {
		if s.has(k) {
			t.Fatalf("key %x never added is found", k)
		}
	}
	for i := 15000; i < 16000; i++ {
		if s.has(seenKeyOf(identity{Source: "src", SourceID: fmt.Sprint(i)})) {
			t.Fatalf("identity %d never added is found", i)
		}
	}
	for _, b := range s.buckets {
		for i := 1; i < len(b); i++ {
			if compareSeen(b[i-1], b[i]) >= 0 {
				t.Fatal("a run is not sorted")
			}
		}
		if c := cap(b); c > len(b)+len(b)/8+4 {
			t.Fatalf("a run of %d keys has room for %d", len(b), c)
		}
	}
}
