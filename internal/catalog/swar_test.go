package catalog

import (
	"math/bits"
	"testing"
)

// The eight-byte checks of the JSON scanners against the byte tables they
// stand for: every byte value at every position, among fillers.

func TestJSONUnsafeMaskMatchesTable(t *testing.T) {
	testMaskMatchesTable(t, jsonUnsafeMask, &htmlSafeByte, []byte{'a', ' ', 0x7f, '0'})
}

func TestJSONSpecialMaskMatchesTable(t *testing.T) {
	testMaskMatchesTable(t, jsonSpecialMask, &jsonStringByte, []byte{'a', ' ', 0x7f, '0', '<'})
}

// testMaskMatchesTable: mask marks a word exactly when the table rejects
// one of its bytes.
func testMaskMatchesTable(t *testing.T, mask func(uint64) uint64, ok *[256]bool, fills []byte) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range fills {
				b := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				b[pos] = byte(c)
				got := mask(load64(string(b), 0)) != 0
				want := !ok[c] || !ok[fill]
				if got != want {
					t.Fatalf("c=%#x pos=%d fill=%q got %v", c, pos, fill, got)
				}
			}
		}
	}
}

// The lowest byte each mask marks is the first byte its table rejects,
// whatever the bytes above it.
func TestJSONSpecialMaskFirstByte(t *testing.T) {
	testMaskFirstByte(t, jsonSpecialMask, &jsonStringByte)
}

func TestJSONUnsafeMaskFirstByte(t *testing.T) {
	testMaskFirstByte(t, jsonUnsafeMask, &htmlSafeByte)
}

func testMaskFirstByte(t *testing.T, mask func(uint64) uint64, ok *[256]bool) {
	fills := []byte{'a', ' ', 0x7f, '0', '"', '\\', '<', '>', '&', 0, 0x1f, 0x20, 0x80, 0xff}
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, above := range fills {
				b := []byte("abcdefgh")
				b[pos] = byte(c)
				for k := pos + 1; k < 8; k++ {
					b[k] = above
				}
				want := 8
				for k, x := range b {
					if !ok[x] {
						want = k
						break
					}
				}
				got := 8
				if m := mask(load64(string(b), 0)); m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("%q: first special byte at %d, mask says %d", b, want, got)
				}
			}
		}
	}
}
