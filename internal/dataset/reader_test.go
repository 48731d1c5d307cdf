package dataset

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var known = []string{"brand", "name", "year", "notes", "source_id"}

func readAll(t *testing.T, name, content string, opts Options) ([]*Raw, *Reader, error) {
	t.Helper()
	r, err := NewReader(name, strings.NewReader(content), known, opts)
	if err != nil {
		return nil, nil, err
	}
	var out []*Raw
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, rec)
	}
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

func TestFormatsAreDetectedFromContent(t *testing.T) {
	t.Parallel()
	jsonArray := "[\n  {\"brand\": \"Dior\", \"name\": \"Sauvage\"},\n  {\"brand\": \"Chanel\",\n   \"name\": \"No 5\"}\n]\n"
	jsonl := "{\"brand\": \"Dior\", \"name\": \"Sauvage\"}\n\n{\"brand\": \"Chanel\", \"name\": \"No 5\"}\n"
	csvText := "brand,name,extra\nDior,Sauvage,x\n\"Chanel\",\"No\n5\",y\n"
	cases := []struct {
		name, content string
		format        Format
		lines         []int
	}{
		{"a.json", jsonArray, FormatJSON, []int{2, 3}},
		{"a.txt", jsonl, FormatJSONL, []int{1, 3}},
		{"a.json", csvText, FormatCSV, []int{2, 3}},
		{"a.csv", gz(jsonl), FormatJSONL, []int{1, 3}},
		{"a", gz(csvText), FormatCSV, []int{2, 3}},
		{"a.json", "\ufeff" + jsonArray, FormatJSON, []int{2, 3}},
	}
	for _, tc := range cases {
		recs, r, err := readAll(t, tc.name, tc.content, Options{})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.format, r.Format())
		require.Len(t, recs, 2)
		require.Equal(t, "Dior", recs[0].Fields["brand"])
		require.Equal(t, 1, recs[0].Index)
		require.Equal(t, 2, recs[1].Index)
		require.Equal(t, tc.lines, []int{recs[0].Line, recs[1].Line}, "%s %s", tc.name, tc.format)
	}
}

func TestMapRenamesAndReportsUnmapped(t *testing.T) {
	t.Parallel()
	recs, r, err := readAll(t, "c.csv", "perfume,launch_year,image,longevity\nSauvage,2015,o.1.jpg,\"[1,2]\"\n",
		Options{Map: map[string]string{"perfume": "name", "launch_year": "year", "image": "source_id"}})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"name": "Sauvage", "year": "2015", "source_id": "o.1.jpg"}, recs[0].Fields)
	require.Equal(t, []string{"longevity"}, r.Unmapped())
}

func TestUnreadableFilesNameLineAndExpectation(t *testing.T) {
	t.Parallel()
	full := gz("{\"brand\": \"Dior\", \"name\": \"Sauvage\"}\n{\"brand\": \"Chanel\", \"name\": \"No 5\"}\n")
	cases := []struct {
		name, content, want string
	}{
		{"broken.csv", "brand,name\nDior,Sauvage\nChanel,\"No 5\nGuerlain,Shalimar\n", "broken.csv:3"},
		{"bare.csv", "brand,name\nDior,Sau\"vage\n", "bare.csv:2:"},
		{"bad.jsonl", "{\"brand\": \"Dior\"}\n{\"brand\": Chanel}\n", "bad.jsonl:2:"},
		{"bad.json", "[\n{\"brand\": \"Dior\"},\n{\"brand\" \"Chanel\"}\n]", "bad.json:3:"},
		{"short.json", "[\n{\"brand\": \"Dior\"},\n", "short.json:"},
		{"trunc.jsonl.gz", full[:len(full)-12], "truncated"},
		{"list.jsonl", "{\"brand\": \"Dior\"}\n[1, 2]\n", "bad.jsonl"},
	}
	for _, tc := range cases {
		_, _, err := readAll(t, tc.name, tc.content, Options{})
		var se *SyntaxError
		require.ErrorAs(t, err, &se, tc.name)
		if tc.name == "list.jsonl" {
			require.Contains(t, err.Error(), "list.jsonl:2")
			continue
		}
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
}

func TestVeryLongLineIsOneRecordNotAFailedFile(t *testing.T) {
	t.Parallel()
	huge := "{\"brand\": \"Dior\", \"name\": \"" + strings.Repeat("x", MaxRecordBytes+10) + "\"}"
	content := "{\"brand\": \"Chanel\", \"name\": \"No 5\"}\n" + huge + "\n{\"brand\": \"Guerlain\", \"name\": \"Shalimar\"}\n"
	recs, _, err := readAll(t, "big.jsonl", content, Options{})
	require.NoError(t, err)
	require.Len(t, recs, 3)
	require.True(t, recs[1].TooLarge)
	require.Equal(t, 2, recs[1].Line)
	require.LessOrEqual(t, len(recs[1].Excerpt), 256)
	require.Equal(t, "Guerlain", recs[2].Fields["brand"])
	require.Equal(t, 3, recs[2].Line)
}

// TestTruncatedGzipNamesTheLineWhereReadingStopped: a gzip stream cut
// short reaches the CSV reader as a plain read error; the message names
// the line the readable data ends on (it said line 0), as JSON Lines does.
func TestTruncatedGzipNamesTheLineWhereReadingStopped(t *testing.T) {
	t.Parallel()
	csvBody := strings.Builder{}
	jsonlBody := strings.Builder{}
	csvBody.WriteString("brand,name,notes\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&csvBody, "Brand %d,Scent %d,\"%x, %x\"\n", i%97, i, i*7919, i*104729)
		fmt.Fprintf(&jsonlBody, "{\"brand\": \"Brand %d\", \"name\": \"Scent %d\", \"notes\": \"%x\"}\n", i%97, i, i*7919)
	}
	for name, body := range map[string]string{"t.csv.gz": csvBody.String(), "t.jsonl.gz": jsonlBody.String()} {
		full := gz(body)
		cut := full[:len(full)/2]
		// What a gzip reader gets out of the cut stream, and the line it ends on.
		zr, err := gzip.NewReader(strings.NewReader(cut))
		require.NoError(t, err)
		readable, err := io.ReadAll(zr)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		want := bytes.Count(readable, []byte("\n")) + 1
		require.Greater(t, want, 100, "the cut is well inside the file")

		recs, _, err := readAll(t, name, cut, Options{})
		var se *SyntaxError
		require.ErrorAs(t, err, &se, name)
		require.Equal(t, want, se.Line, "%s: %v", name, err)
		require.Contains(t, err.Error(), fmt.Sprintf("%s:%d: the file is truncated", name, want))
		require.Less(t, recs[len(recs)-1].Line, want, "the records before it were read")
	}
}
