// Package dataset streams records out of catalog files: JSON arrays, JSON
// Lines and CSV with a header row, each optionally gzip-compressed. The
// format is detected from the content (gzip magic, then the first
// significant byte), not from the extension. Every record carries its
// 1-based index and the line where it starts, and memory stays flat however
// large the file: one record is in memory at a time.
package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Format is a detected file format.
type Format string

// Formats.
const (
	FormatJSON  Format = "json"
	FormatJSONL Format = "jsonl"
	FormatCSV   Format = "csv"
)

// MaxRecordBytes bounds one record (a JSON Lines line, a JSON array element
// or a CSV row). A larger record is returned with TooLarge set, once, and
// reading goes on with the next one.
const MaxRecordBytes = 16 << 20

// Raw is one record as read, before any validation.
type Raw struct {
	// Index is the 1-based record number in the file.
	Index int
	// Line is the 1-based line where the record starts.
	Line int
	// Fields maps field names (after --map renames) to values: strings for
	// CSV, decoded JSON values (json.Number for numbers) for JSON.
	Fields map[string]any
	// TooLarge is set when the record exceeded MaxRecordBytes; Fields is
	// then empty and Excerpt holds its first bytes.
	TooLarge bool
	Excerpt  string
	// Problem is set when the record was read but cannot be used as it
	// is; Excerpt then shows the part to blame.
	Problem *Problem
}

// Problem makes one self-contained record unusable: a JSON Lines line that
// is not a JSON object, a JSON array element that is not an object, a
// value that is not valid UTF-8, a field given twice. The record is
// returned with it, to be rejected under Rule, and reading goes on with
// the next record. (What leaves the rest of the file unreadable, such as a
// syntax error inside a JSON array, is a *SyntaxError instead.)
type Problem struct {
	// Rule is the validation rule the record breaks: json, type, utf8 or
	// duplicate-field.
	Rule string
	// Field is the field to blame, when there is one.
	Field string
	Msg   string
	// Text is the record as it stands in the file (at most
	// MaxRecordBytes), to be kept where Fields could not hold it all.
	Text string

	// incomplete: the record ends inside a JSON value.
	incomplete bool
	// value is the part of the record to show, when not all of it.
	value []byte
}

// SyntaxError says the file itself cannot be read: it names the file,
// the line (and column when known) and what was expected.
type SyntaxError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Options tune a Reader.
type Options struct {
	// Map renames foreign column or key names to record fields
	// (e.g. perfume -> name).
	Map map[string]string
	// Required names the fields a CSV header must have a column for
	// (after Map): a header without one is a *SyntaxError, not a file of
	// records that all lack the field.
	Required []string
}

// Reader yields records one at a time.
type Reader struct {
	name    string
	format  Format
	close   func() error
	next    func() (*Raw, error)
	opts    Options
	index   int
	counter *countingReader
	// Unmapped collects source columns or keys that map to no known field.
	unmapped map[string]bool
	known    map[string]bool
	// firstLine is the line the content starts on (after blank lines).
	firstLine int
}

// Open opens path for reading records. Names in known are the record
// fields the caller understands; other names (after Map) are reported by
// Unmapped and dropped.
func Open(path string, known []string, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(path, f, known, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	inner := r.close
	r.close = func() error {
		err := inner()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return r, nil
}

// NewReader reads records from src; name is used in error messages.
func NewReader(name string, src io.Reader, known []string, opts Options) (*Reader, error) {
	r := &Reader{name: name, opts: opts, unmapped: map[string]bool{}, known: map[string]bool{}, close: func() error { return nil }}
	for _, k := range known {
		r.known[k] = true
	}
	r.counter = &countingReader{r: src}
	br := bufio.NewReaderSize(r.counter, 64<<10)
	magic, _ := br.Peek(2)
	var body io.Reader = br
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, &SyntaxError{File: name, Line: 1, Msg: "not a valid gzip stream: " + err.Error()}
		}
		r.close = gz.Close
		body = gz
	}
	lines := &lineReader{r: bufio.NewReaderSize(body, 64<<10), lastNL: -1}
	bom, _ := lines.r.Peek(3)
	if bytes.HasPrefix(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = lines.r.Discard(3)
	} else if bytes.HasPrefix(bom, []byte{0xFF, 0xFE}) || bytes.HasPrefix(bom, []byte{0xFE, 0xFF}) {
		return nil, &SyntaxError{File: name, Line: 1, Msg: "the file is UTF-16 (it starts with a UTF-16 byte-order mark): expected UTF-8; save it as UTF-8"}
	}
	// Blank lines ahead of the content are skipped however many there
	// are, so they cannot hide the first byte that tells the format.
	first, skipped, err := lines.skipBlankLines()
	if err != nil {
		return nil, r.ioError(err, skipped+1)
	}
	r.firstLine = skipped + 1
	switch first {
	case '[':
		r.format = FormatJSON
		lines.track = true
		lines.passed = skipped
		r.next = r.jsonArray(lines)
	case '{':
		r.format = FormatJSONL
		lines.lineNo = skipped
		r.next = r.jsonLines(lines)
	case 0:
		return nil, &SyntaxError{File: name, Line: 1, Msg: "the file is empty or holds only blank lines: expected records (a JSON array, JSON Lines, or CSV with a header row)"}
	default:
		r.format = FormatCSV
		next, err := r.csvRows(lines, skipped)
		if err != nil {
			return nil, err
		}
		r.next = next
	}
	return r, nil
}

// Format returns the detected format.
func (r *Reader) Format() Format { return r.format }

// Name returns the file name used in messages.
func (r *Reader) Name() string { return r.name }

// BytesRead returns how many bytes of the (possibly compressed) file have
// been consumed, for progress.
func (r *Reader) BytesRead() int64 { return r.counter.n.Load() }

// Unmapped lists the source names that matched no field, sorted.
func (r *Reader) Unmapped() []string {
	out := make([]string, 0, len(r.unmapped))
	for k := range r.unmapped {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

// Next returns the next record, io.EOF at the end, or a *SyntaxError when
// the file cannot be read further. A file that ends without a single
// record (an empty JSON array, a CSV header alone) is a *SyntaxError too.
func (r *Reader) Next() (*Raw, error) {
	raw, err := r.next()
	if err == io.EOF && r.index == 0 {
		return nil, r.noRecords()
	}
	return raw, err
}

func (r *Reader) noRecords() error {
	what := "the JSON array is empty"
	if r.format == FormatCSV {
		what = "the file has a header row and no data rows"
	}
	return &SyntaxError{File: r.name, Line: r.firstLine, Msg: "no records: " + what + "; expected at least one record"}
}

// Close releases the file.
func (r *Reader) Close() error { return r.close() }

// field maps a source name to a record field, or "" when it maps to none.
func (r *Reader) field(name string) string {
	clean := cleanName(name)
	if to, ok := r.opts.Map[clean]; ok {
		clean = to
	}
	if len(r.known) > 0 && !r.known[clean] {
		r.unmapped[clean] = true
		return ""
	}
	return clean
}

// cleanName is a column or key name without surrounding spaces or a
// byte-order mark.
func cleanName(name string) string {
	return strings.TrimSpace(strings.TrimPrefix(name, "\ufeff"))
}

func (r *Reader) ioError(err error, line int) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return &SyntaxError{File: r.name, Line: line, Msg: "the file is truncated or corrupt (" + err.Error() + "): expected more data"}
	}
	return &SyntaxError{File: r.name, Line: line, Msg: err.Error()}
}

// jsonLines reads one JSON object per line; blank lines are skipped.
func (r *Reader) jsonLines(lines *lineReader) func() (*Raw, error) {
	return func() (*Raw, error) {
		for {
			line, start, tooLarge, err := lines.readLine(MaxRecordBytes)
			if err != nil && !(errors.Is(err, io.EOF) && len(line) > 0) {
				if errors.Is(err, io.EOF) {
					return nil, io.EOF
				}
				return nil, r.ioError(err, start)
			}
			if tooLarge {
				r.index++
				return &Raw{Index: r.index, Line: start, TooLarge: true, Excerpt: excerpt(line)}, nil
			}
			trimmed := bytes.TrimSpace(line)
			if len(trimmed) == 0 {
				if errors.Is(err, io.EOF) {
					return nil, io.EOF
				}
				continue
			}
			r.index++
			// Each line is a record of its own: one that is no JSON
			// object is rejected and the next line read. Only a first
			// line that leaves an object open stops the file: that is a
			// JSON object spread over several lines, not JSON Lines.
			lead := len(line) - len(bytes.TrimLeftFunc(line, unicode.IsSpace))
			fields, p := r.decodeObject(trimmed, lead)
			if p != nil && p.incomplete && r.index == 1 {
				return nil, &SyntaxError{File: r.name, Line: start, Msg: "the first line holds an incomplete JSON object: expected one whole JSON object per line (for records spread over several lines, use a JSON array)"}
			}
			return r.record(start, fields, p, trimmed), nil
		}
	}
}

// record makes the Raw of a decoded record, or of one with a problem.
func (r *Reader) record(line int, fields map[string]any, p *Problem, data []byte) *Raw {
	raw := &Raw{Index: r.index, Line: line, Fields: fields}
	if p != nil {
		raw.Problem, p.Text, raw.Excerpt = p, string(data), excerpt(data)
		if s, ok := fields[p.Field].(string); ok && p.value != nil {
			// A string as decoded, not as escaped in the file.
			raw.Excerpt = excerpt([]byte(s))
		} else if p.value != nil {
			raw.Excerpt = excerpt(p.value)
		}
	}
	return raw
}

// decodeObject decodes one JSON object (a JSON Lines line, a JSON array
// element) and renames its keys; lead is where data starts on its line.
// Valid input pays for one UTF-8 check and one scan counting the
// object's members; only a record that fails either is looked at again.
func (r *Reader) decodeObject(data []byte, lead int) (map[string]any, *Problem) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return nil, &Problem{Rule: "json", Msg: fmt.Sprintf("invalid JSON at column %d: %s; expected one JSON object per line", lead+int(se.Offset), se.Error())}
		case errors.As(err, &te):
			return nil, &Problem{Rule: "type", Msg: "expected a JSON object (a record), found " + te.Value}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, &Problem{Rule: "json", Msg: "the JSON object is not closed: expected one whole JSON object per line", incomplete: true}
		default:
			return nil, &Problem{Rule: "json", Msg: "invalid JSON: " + err.Error()}
		}
	}
	if dec.More() {
		return nil, &Problem{Rule: "json", Msg: fmt.Sprintf("unexpected data after the record at column %d; expected one JSON object per line", lead+int(dec.InputOffset())+1)}
	}
	if obj == nil {
		return nil, &Problem{Rule: "type", Msg: "expected a JSON object (a record), found null"}
	}
	fields, mapped := r.rename(obj)
	// encoding/json has replaced invalid UTF-8 by U+FFFD: the bytes as
	// written tell whether a field held any.
	if !utf8.Valid(data) {
		if p := r.invalidUTF8(data); p != nil {
			return fields, p
		}
	}
	// A key given twice (or two keys for one field) left one value only.
	if mapped != len(fields) || countMembers(data) != len(obj) {
		if p := r.duplicateField(data); p != nil {
			return fields, p
		}
	}
	return fields, nil
}

// rename maps obj's keys to fields; mapped counts the keys that map to one.
func (r *Reader) rename(obj map[string]any) (map[string]any, int) {
	out := make(map[string]any, len(obj))
	mapped := 0
	for k, v := range obj {
		if f := r.field(k); f != "" {
			out[f] = v
			mapped++
		}
	}
	return out, mapped
}

// members lists the top-level members of the JSON object data, which has
// decoded: each key as decoded and its value as written.
func members(data []byte) ([]string, []json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, nil
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		k, _ := tok.(string)
		keys, vals = append(keys, k), append(vals, v)
	}
	return keys, vals
}

// invalidUTF8 names the first field whose value is not valid UTF-8, or
// returns nil when the invalid bytes are only in keys or values that map
// to no field (dropped anyway, as a CSV column would be).
func (r *Reader) invalidUTF8(data []byte) *Problem {
	keys, vals := members(data)
	for i, k := range keys {
		if f := r.field(k); f != "" && !utf8.Valid(vals[i]) {
			return &Problem{Rule: "utf8", Field: f, Msg: "the value is not valid UTF-8", value: vals[i]}
		}
	}
	return nil
}

// duplicateField names the first field given twice, or returns nil when
// only keys that map to no field repeat.
func (r *Reader) duplicateField(data []byte) *Problem {
	keys, _ := members(data)
	first := make(map[string]int, len(keys))
	for i, k := range keys {
		f := r.field(k)
		if f == "" {
			continue
		}
		j, seen := first[f]
		if !seen {
			first[f] = i
			continue
		}
		msg := fmt.Sprintf("the key %q appears twice: expected each field once (only the last value would be kept)", f)
		if cleanName(keys[j]) != cleanName(k) {
			msg = fmt.Sprintf("the keys %q and %q both map to field %q: expected each field once (only one value would be kept)", keys[j], k, f)
		}
		return &Problem{Rule: "duplicate-field", Field: f, Msg: msg}
	}
	return nil
}

// countMembers counts the members of the JSON object data, which has
// decoded: the colons outside strings at depth 1. Strings are skipped
// with IndexByte, so it costs little next to decoding.
func countMembers(data []byte) int {
	n, depth := 0, 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			// Find the closing quote: one not escaped by an odd run of
			// backslashes.
			for {
				j := bytes.IndexByte(data[i+1:], '"')
				if j < 0 {
					return n
				}
				i += j + 1
				bs := 0
				for k := i - 1; k >= 0 && data[k] == '\\'; k-- {
					bs++
				}
				if bs%2 == 0 {
					break
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ':':
			if depth == 1 {
				n++
			}
		}
	}
	return n
}

// jsonArray streams the elements of a top-level JSON array.
func (r *Reader) jsonArray(lines *lineReader) func() (*Raw, error) {
	dec := json.NewDecoder(lines)
	dec.UseNumber()
	started := false
	return func() (*Raw, error) {
		if !started {
			started = true
			if _, err := dec.Token(); err != nil { // '['
				return nil, r.jsonError(err, lines, dec)
			}
		}
		if !dec.More() {
			if _, err := dec.Token(); err != nil { // ']'
				return nil, r.jsonError(err, lines, dec)
			}
			return nil, io.EOF
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, r.jsonError(err, lines, dec)
		}
		// The raw element ends at the decoder's offset: its start is its line.
		line := lines.lineAt(dec.InputOffset() - int64(len(v)))
		r.index++
		if len(v) > MaxRecordBytes {
			return &Raw{Index: r.index, Line: line, TooLarge: true, Excerpt: excerpt(v)}, nil
		}
		// The element is valid JSON (the decoder has read it whole): one
		// that is no object is a record of its own to reject.
		fields, p := r.decodeObject(v, 0)
		if p != nil && p.Rule == "type" {
			p.Msg = fmt.Sprintf("array element %d: %s", r.index, p.Msg)
		}
		return r.record(line, fields, p, v), nil
	}
}

func (r *Reader) jsonError(err error, lines *lineReader, dec *json.Decoder) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lines.position(se.Offset)
		return &SyntaxError{File: r.name, Line: line, Column: col, Msg: "invalid JSON: " + se.Error()}
	}
	line, _ := lines.position(dec.InputOffset())
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &SyntaxError{File: r.name, Line: line, Msg: "the JSON array ends early: expected a record, ',' or ']'"}
	}
	return r.ioError(err, line)
}

// csvRows reads a header row and then one record per row; skipped blank
// lines came before the header.
func (r *Reader) csvRows(lines *lineReader, skipped int) (func() (*Raw, error), error) {
	cr := csv.NewReader(lines)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, r.csvError(err, lines, skipped)
	}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = r.field(h)
	}
	if err := r.checkHeader(header, names); err != nil {
		return nil, err
	}
	return func() (*Raw, error) {
		row, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, r.csvError(err, lines, skipped)
		}
		line, _ := cr.FieldPos(0)
		line += skipped
		r.index++
		size := 0
		for _, c := range row {
			size += len(c)
		}
		if size > MaxRecordBytes {
			return &Raw{Index: r.index, Line: line, TooLarge: true, Excerpt: excerpt([]byte(strings.Join(row, ",")))}, nil
		}
		fields := make(map[string]any, len(row))
		for i, cell := range row {
			if i < len(names) && names[i] != "" {
				fields[names[i]] = cell
			}
		}
		if len(row) > len(names) {
			fields["\x00extra_cells"] = len(row) - len(names)
		}
		return &Raw{Index: r.index, Line: line, Fields: fields}, nil
	}, nil
}

// checkHeader refuses a header that would lose data or every record: two
// columns for one field (the second would overwrite the first in every
// row), or no column for a required field (every row would be rejected).
func (r *Reader) checkHeader(header, names []string) error {
	for i, n := range names {
		if n == "" {
			continue
		}
		for j := 0; j < i; j++ {
			if names[j] != n {
				continue
			}
			msg := fmt.Sprintf("column %q appears twice (columns %d and %d): expected each field once; rename or remove one", n, j+1, i+1)
			if cleanName(header[i]) != cleanName(header[j]) {
				msg = fmt.Sprintf("columns %q (column %d) and %q (column %d) both map to field %q: expected each field once; check the column names and --map", header[j], j+1, header[i], i+1, n)
			}
			return &SyntaxError{File: r.name, Line: r.firstLine, Msg: msg}
		}
	}
	var missing []string
	for _, req := range r.opts.Required {
		found := false
		for _, n := range names {
			found = found || n == req
		}
		if !found {
			missing = append(missing, req)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("the header has no column for the required field(s) %s; columns found: %s. Expected a column named after each (or mapped to it with --map COLUMN=FIELD)",
		strings.Join(missing, ", "), quotedList(header, 30))
	if strings.Contains(strings.Join(header, ""), "\x00") {
		msg += "; the header holds NUL bytes: the file looks UTF-16, save it as UTF-8"
	}
	return &SyntaxError{File: r.name, Line: r.firstLine, Msg: msg}
}

// quotedList quotes at most max names, each cut to 40 bytes.
func quotedList(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(n) > 40 {
			n = n[:40] + "…"
		}
		fmt.Fprintf(&b, "%q", n)
	}
	if len(names) == 0 {
		return "none"
	}
	return b.String()
}

// csvError describes a CSV read error; lines are shifted by the blank
// lines skipped ahead of the header, which the CSV reader did not see.
func (r *Reader) csvError(err error, lines *lineReader, skipped int) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if pe.StartLine != 0 {
			pe.StartLine += skipped
		}
		if pe.Line != 0 {
			pe.Line += skipped
		}
		msg := pe.Err.Error()
		if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
			msg += ": expected a closing '\"' (a quote inside a cell is written \"\")"
		}
		if errors.Is(pe.Err, io.ErrUnexpectedEOF) || errors.Is(pe.Err, gzip.ErrChecksum) {
			return r.ioError(pe.Err, pe.StartLine)
		}
		if pe.StartLine != 0 && pe.StartLine != pe.Line {
			// A quoted cell that never closes swallows the following lines:
			// name the line where the record starts.
			return &SyntaxError{File: r.name, Line: pe.StartLine, Msg: fmt.Sprintf("%s (the record starting here runs on to line %d, column %d)", msg, pe.Line, pe.Column)}
		}
		return &SyntaxError{File: r.name, Line: pe.Line, Column: pe.Column, Msg: msg}
	}
	if errors.Is(err, io.EOF) {
		return &SyntaxError{File: r.name, Line: 1, Msg: "empty file: expected a header row"}
	}
	// A read error (a truncated gzip stream) reaches the CSV reader as is.
	return r.ioError(err, lines.readingLine())
}

// ExtraCellsKey marks a CSV row with more cells than the header.
const ExtraCellsKey = "\x00extra_cells"

func excerpt(b []byte) string {
	if len(b) > 120 {
		b = b[:120]
	}
	s := strings.ToValidUTF8(string(b), "\ufffd")
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return strings.ReplaceAll(s, "\x00", "\ufffd")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
