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
		{"bad.json", "[\n{\"brand\": \"Dior\"},\n{\"brand\" \"Chanel\"}\n]", "bad.json:3:"},
		{"short.json", "[\n{\"brand\": \"Dior\"},\n", "short.json:"},
		{"trunc.jsonl.gz", full[:len(full)-12], "truncated"},
		// One object spread over lines is not JSON Lines: said at once,
		// not as a rejected record per line.
		{"pretty.jsonl", "{\n  \"brand\": \"Dior\",\n  \"name\": \"Sauvage\"\n}\n", "pretty.jsonl:1: the first line holds an incomplete JSON object"},
		{"pretty2.jsonl", "\n{\"brand\": \"Dior\",\n  \"name\": \"Sauvage\"}\n", "pretty2.jsonl:2: the first line holds an incomplete JSON object"},
	}
	for _, tc := range cases {
		_, _, err := readAll(t, tc.name, tc.content, Options{})
		var se *SyntaxError
		require.ErrorAs(t, err, &se, tc.name)
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

// TestNoRecordsIsBadInput: a file without a single record is not a
// successful import of nothing: empty, blank, or a header or array alone.
func TestNoRecordsIsBadInput(t *testing.T) {
	t.Parallel()
	blanks := strings.Repeat(" \r\n\t\n", 40<<10) // 160 KiB, past any buffer
	cases := []struct {
		name, content, want string
	}{
		{"empty.csv", "", "empty.csv:1: the file is empty or holds only blank lines"},
		{"blank.jsonl", "\n  \r\n\t\n", "blank.jsonl:1: the file is empty or holds only blank lines"},
		{"long-blank.csv", blanks, "long-blank.csv:1: the file is empty"},
		{"empty.csv.gz", gz(""), "empty.csv.gz:1: the file is empty"},
		{"bom.csv", "\ufeff\n", "bom.csv:1: the file is empty"},
		{"header.csv", "brand,name\n", "header.csv:1: no records: the file has a header row and no data rows"},
		{"late-header.csv", "\n\nbrand,name\n", "late-header.csv:3: no records"},
		{"array.json", "[ ]", "array.json:1: no records: the JSON array is empty"},
	}
	for _, tc := range cases {
		recs, _, err := readAll(t, tc.name, tc.content, Options{})
		var se *SyntaxError
		require.ErrorAs(t, err, &se, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
		require.Empty(t, recs, tc.name)
	}
}

// TestBlankLinesBeforeTheContent: however many blank lines come first,
// the format is told by the first byte after them and lines stay right.
func TestBlankLinesBeforeTheContent(t *testing.T) {
	t.Parallel()
	const n = 70 << 10 // more blank lines than the 64 KiB format sniffing once looked at
	blank := strings.Repeat("\n", n-1) + "  \r\n"
	cases := []struct {
		name, content string
		format        Format
		lines         []int
	}{
		{"late.csv", blank + "brand,name\nDior,Sauvage\n\"Chanel\",\"No\n5\"\n", FormatCSV, []int{n + 2, n + 3}},
		{"late.jsonl", blank + "{\"brand\": \"Dior\"}\n\n{\"brand\": \"Chanel\"}\n", FormatJSONL, []int{n + 1, n + 3}},
		{"late.json", blank + "[\n{\"brand\": \"Dior\"},\n {\"brand\": \"Chanel\"}]", FormatJSON, []int{n + 2, n + 3}},
		{"late.csv.gz", gz(blank + "brand,name\nDior,Sauvage\nChanel,No 5\n"), FormatCSV, []int{n + 2, n + 3}},
	}
	for _, tc := range cases {
		recs, r, err := readAll(t, tc.name, tc.content, Options{})
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.format, r.Format(), tc.name)
		require.Len(t, recs, 2, tc.name)
		require.Equal(t, "Dior", recs[0].Fields["brand"], tc.name)
		require.Equal(t, tc.lines, []int{recs[0].Line, recs[1].Line}, tc.name)
	}
	// Errors name the line in the file, blank lines counted.
	_, _, err := readAll(t, "late-broken.csv", blank+"brand,name\nDior,Sau\"vage\n", Options{})
	require.ErrorContains(t, err, fmt.Sprintf("late-broken.csv:%d:", n+2))
	_, _, err = readAll(t, "late-broken.json", blank+"[\n{\"brand\" \"Dior\"}]", Options{})
	require.ErrorContains(t, err, fmt.Sprintf("late-broken.json:%d:", n+2))
}

// TestCSVHeaderThatWouldLoseData: a column named twice, or two mapped to
// one field, would overwrite one with the other in every row; a missing
// required column would reject every row. Both stop at the header.
func TestCSVHeaderThatWouldLoseData(t *testing.T) {
	t.Parallel()
	req := Options{Required: []string{"brand", "name"}}
	cases := []struct {
		name, content string
		opts          Options
		want          string
	}{
		{"dup.csv", "brand,name,name,source_id\nDior,Sauvage,Fahrenheit,1\n", req,
			`dup.csv:1: column "name" appears twice (columns 2 and 3)`},
		{"dup-late.csv", "\n\nbrand, name ,name\nDior,Sauvage,x\n", req, `dup-late.csv:3: column "name" appears twice`},
		{"mapped.csv", "brand,perfume,name\nDior,Sauvage,x\n", Options{Map: map[string]string{"perfume": "name"}},
			`mapped.csv:1: columns "perfume" (column 2) and "name" (column 3) both map to field "name"`},
		{"noname.csv", "brand,perfume,year\nDior,Sauvage,2015\n", req,
			`noname.csv:1: the header has no column for the required field(s) name; columns found: "brand", "perfume", "year"`},
		{"wrongmap.csv", "brand,perfume\nDior,Sauvage\n", Options{Map: map[string]string{"perfum": "name"}, Required: req.Required},
			`the required field(s) name; columns found: "brand", "perfume"`},
		{"neither.csv", "a;b\n1;2\n", req, `neither.csv:1: the header has no column for the required field(s) brand, name; columns found: "a;b"`},
		{"utf16.csv", "b\x00r\x00a\x00n\x00d\x00,\x00n\x00a\x00m\x00e\x00\n\x00", req, "looks UTF-16"},
		{"bom16.csv", "\xff\xfeb\x00r\x00a\x00n\x00d\x00", req, "bom16.csv:1: the file is UTF-16"},
	}
	for _, tc := range cases {
		_, _, err := readAll(t, tc.name, tc.content, tc.opts)
		var se *SyntaxError
		require.ErrorAs(t, err, &se, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
	// Columns that map to no field may repeat: they are dropped anyway.
	recs, r, err := readAll(t, "extra.csv", "brand,name,notes_x,notes_x\nDior,Sauvage,a,b\n", req)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"brand": "Dior", "name": "Sauvage"}, recs[0].Fields)
	require.Equal(t, []string{"notes_x"}, r.Unmapped())
}

// TestSelfContainedBadRecordsAreRecords: a JSON Lines line that is no
// JSON object, a JSON array element that is no object, a value that is
// not valid UTF-8, a field given twice: each is one record with its
// Problem (rule, field, message, the text as read), and the records
// around it are read as usual.
func TestSelfContainedBadRecordsAreRecords(t *testing.T) {
	t.Parallel()
	type want struct {
		line         int
		rule, field  string
		msg, excerpt string
	}
	cases := []struct {
		name, content string
		opts          Options
		good          []string // brands of the good records, in order
		bad           map[int]want
	}{
		{"lines.jsonl", "{\"brand\": \"Dior\"}\n{\"brand\": \"B\"\n {\"brand\": Chanel}\n[1, 2]\n42\nnull\n{\"brand\": \"C\"} x\n{\"brand\": \"Guerlain\"}\n{\"brand\": \"Last\"",
			Options{}, []string{"Dior", "Guerlain"}, map[int]want{
				2: {2, "json", "", "the JSON object is not closed", `{"brand": "B"`},
				3: {3, "json", "", "invalid JSON at column 12: invalid character 'C' looking for beginning of value", `{"brand": Chanel}`},
				4: {4, "type", "", "expected a JSON object (a record), found array", "[1, 2]"},
				5: {5, "type", "", "found number", "42"},
				6: {6, "type", "", "found null", "null"},
				7: {7, "json", "", "unexpected data after the record at column 16", `{"brand": "C"} x`},
				9: {9, "json", "", "the JSON object is not closed", `{"brand": "Last"`},
			}},
		{"elements.json", "[{\"brand\": \"Dior\"},\n 42,\n \"x\",\n [1],\n {\"brand\": \"Guerlain\"}]", Options{}, []string{"Dior", "Guerlain"}, map[int]want{
			2: {2, "type", "", "array element 2: expected a JSON object (a record), found number", "42"},
			3: {3, "type", "", "array element 3: expected a JSON object (a record), found string", `"x"`},
			4: {4, "type", "", "found array", "[1]"},
		}},
		{"utf8.jsonl", "{\"brand\": \"Dior\", \"name\": \"Sauv\xe9ge\", \"source_id\": \"l1\"}\n{\"brand\": \"Dior\", \"notes\": [\"Ros\xe9\"]}\n" +
			"{\"brand\": \"Guerlain\", \"other\": \"\xe9\", \"\xe9\": 1}\n",
			Options{}, []string{"Guerlain"}, map[int]want{
				1: {1, "utf8", "name", "the value is not valid UTF-8", "Sauv\ufffdge"},
				2: {2, "utf8", "notes", "the value is not valid UTF-8", `["Ros` + "\ufffd" + `"]`},
			}},
		{"utf8.json", "[\n{\"brand\": \"Dior\",\n \"name\": \"Sauv\xe9ge\"},\n{\"brand\": \"Guerlain\"}]", Options{}, []string{"Guerlain"}, map[int]want{
			1: {2, "utf8", "name", "the value is not valid UTF-8", "Sauv\ufffdge"},
		}},
		{"dup.jsonl", "{\"brand\": \"Dior\", \"name\": \"Sauvage\", \"name\": \"Fahrenheit\"}\n{\"brand\": \"Dior\", \"n\\u0061me\": \"A\", \"name\": \"B\"}\n" +
			"{\"brand\": \"Guerlain\", \"x\": 1, \"x\": 2, \"notes\": {\"top\": 1, \"top\": 2}, \"name\": \"a\\\"b:\\\\\"}\n{\"perfume\": \"P\", \"name\": \"N\", \"brand\": \"Chanel\"}\n",
			Options{Map: map[string]string{"perfume": "name"}}, []string{"Guerlain"}, map[int]want{
				1: {1, "duplicate-field", "name", `the key "name" appears twice`, `{"brand": "Dior", "name": "Sauvage", "name": "Fahrenheit"}`},
				2: {2, "duplicate-field", "name", `the key "name" appears twice`, ""},
				4: {4, "duplicate-field", "name", `the keys "perfume" and "name" both map to field "name"`, ""},
			}},
	}
	for _, tc := range cases {
		recs, _, err := readAll(t, tc.name, tc.content, tc.opts)
		require.NoError(t, err, tc.name)
		var good []string
		for i, rec := range recs {
			require.Equal(t, i+1, rec.Index, tc.name)
			w, bad := tc.bad[rec.Index]
			if !bad {
				require.Nil(t, rec.Problem, "%s record %d", tc.name, rec.Index)
				good = append(good, rec.Fields["brand"].(string))
				continue
			}
			p := rec.Problem
			require.NotNil(t, p, "%s record %d", tc.name, rec.Index)
			require.Equal(t, w.line, rec.Line, "%s record %d", tc.name, rec.Index)
			require.Equal(t, w.rule, p.Rule, "%s record %d: %s", tc.name, rec.Index, p.Msg)
			require.Equal(t, w.field, p.Field, "%s record %d", tc.name, rec.Index)
			require.Contains(t, p.Msg, w.msg, "%s record %d", tc.name, rec.Index)
			require.NotEmpty(t, p.Text, "the record as read is kept")
			if w.excerpt != "" {
				require.Equal(t, w.excerpt, rec.Excerpt, "%s record %d", tc.name, rec.Index)
			}
		}
		require.Equal(t, tc.good, good, tc.name)
		require.Len(t, recs, len(tc.good)+len(tc.bad), tc.name)
	}
}

func TestCountMembers(t *testing.T) {
	t.Parallel()
	for data, want := range map[string]int{
		`{}`:                                    0,
		`{"a": 1}`:                              1,
		`{"a:b": "c:d", "e": {"f": 1, "g": 2}}`: 2,
		`{"a": "x\"y:z", "b": "\\", "c": [":", {"d": 1}]}`: 3,
		`{"a": "\\\"", "b": 1}`:                            2,
	} {
		require.Equal(t, want, countMembers([]byte(data)), data)
	}
}
