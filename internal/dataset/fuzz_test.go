package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

var fuzzFields = []string{"brand", "name", "notes", "accords", "year", "rating", "votes", "source_id"}

// FuzzReader feeds arbitrary bytes to the format-sniffing reader (JSON
// array, JSON Lines, CSV, each optionally gzip-compressed). It must never
// panic or loop, every error must be a *SyntaxError naming the input or
// an I/O error, and a record is never larger than MaxRecordBytes.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`[{"brand": "Acme", "name": "One", "notes": {"top": ["Rose"]}}]`))
	f.Add([]byte("{\"brand\": \"Acme\", \"name\": \"One\"}\n{\"brand\": \"B\", \"name\": 2}\n"))
	f.Add([]byte("brand,name,notes\nAcme,One,Rose|Oud\n\"Quoted, brand\",Two,\n"))
	f.Add([]byte("\xef\xbb\xbfbrand;name\nAcme;One\n"))
	f.Add([]byte(`[{"brand": "Acme", "name": "One"},`))
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("{\"brand\": \"Acme\", \"name\": \"Gz\"}\n"))
	w.Close()
	f.Add(gz.Bytes())
	f.Add(gz.Bytes()[:gz.Len()/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader("fuzz.dat", bytes.NewReader(data), fuzzFields, Options{Map: map[string]string{"perfume": "name"}})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("opening: %T %v, want *SyntaxError", err, err)
			}
			return
		}
		defer r.Close()
		for i := 0; i <= len(data)+1; i++ {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, gzip.ErrChecksum) && !errors.Is(err, gzip.ErrHeader) {
					t.Fatalf("record %d: %T %v, want *SyntaxError", i, err, err)
				}
				return
			}
			if raw.Index != i+1 {
				t.Fatalf("record index %d, want %d", raw.Index, i+1)
			}
			for k := range raw.Fields {
				if !contains(fuzzFields, k) && k != ExtraCellsKey {
					t.Fatalf("unknown field %q passed through", k)
				}
			}
		}
		t.Fatalf("more records than bytes: the reader loops")
	})
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
