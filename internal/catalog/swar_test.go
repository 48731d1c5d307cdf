package catalog

import "testing"

// The eight-byte checks of the JSON scanners against the byte tables they
// stand for: every byte value at every position, among fillers.

func TestJSONUnsafe8MatchesTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'a', ' ', 0x7f, '0'} {
				b := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				b[pos] = byte(c)
				got := jsonUnsafe8(load64(string(b), 0))
				want := !htmlSafeByte[c] || !htmlSafeByte[fill]
				if got != want {
					t.Fatalf("c=%#x pos=%d fill=%q got %v", c, pos, fill, got)
				}
			}
		}
	}
}

func TestJSONSpecial8MatchesTable(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'a', ' ', 0x7f, '0', '<'} {
				b := []byte{fill, fill, fill, fill, fill, fill, fill, fill}
				b[pos] = byte(c)
				got := jsonSpecial8(load64(string(b), 0))
				want := !jsonStringByte[c] || !jsonStringByte[fill]
				if got != want {
					t.Fatalf("c=%#x pos=%d fill=%q got %v", c, pos, fill, got)
				}
			}
		}
	}
}
