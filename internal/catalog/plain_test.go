package catalog

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/stretchr/testify/require"
)

// TestPlainCellsMatchGeneralPath validates records whose list cells are
// JSON arrays and notes objects (as CSV files carry them) with and without
// the one-pass paths for plain items (cleanPlainArray), and requires the
// same record, issues and content hash. The items are drawn from the
// oracle inputs with case and space variants of earlier items, null words,
// over-long and empty items; the cells from encoding/json with and without
// HTML escaping, with spaces around the JSON tokens, nulls, unknown or
// repeated notes keys and broken syntax.
func TestPlainCellsMatchGeneralPath(t *testing.T) {
	t.Parallel()
	in := oracleInputs(t)
	plainItems := []string{"Tonka Bean", "vanilla", "Red wine", "warm spicy", "Ylang-Ylang", "Bergamot", "bergamot", "BERGAMOT",
		"Rose & Oud", "Rose and Oud", "Rose+Oud", "Lily-of-the-Valley", "Lily of the Valley", "A", "!!", "N/A", "1", "x"}
	extra := []string{"", " ", "null", "N/A", "n a", "-", "none", "None!", "x" + strings.Repeat("-", 200), strings.Repeat("y", 200), strings.Repeat("y", 201)}
	fast := goldenValidator()
	general := goldenValidator()
	general.noPlain = true
	rng := rand.New(rand.NewPCG(5, 6))
	list := func() []any {
		n := rng.IntN(9)
		if rng.IntN(40) == 0 {
			n = 28 + rng.IntN(10)
		}
		items := make([]any, 0, n)
		for len(items) < n {
			switch r := rng.IntN(20); {
			case r < 10:
				items = append(items, plainItems[rng.IntN(len(plainItems))])
			case r < 13:
				items = append(items, in[rng.IntN(len(in))])
			case r < 16 && len(items) > 0:
				prev, _ := items[rng.IntN(len(items))].(string)
				items = append(items, respelled(rng, prev))
			case r < 17:
				items = append(items, nil)
			default:
				items = append(items, extra[rng.IntN(len(extra))])
			}
		}
		return items
	}
	encode := func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(rng.IntN(2) == 0)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		s := strings.TrimSuffix(b.String(), "\n")
		switch rng.IntN(12) {
		case 0:
			s = strings.ReplaceAll(s, ",", " ,\n ")
		case 1:
			s = " \t" + strings.ReplaceAll(s, ":", " : ") + "\r\n"
		case 2:
			s = strings.ReplaceAll(s, "[", "[ ")
		case 3:
			if len(s) > 2 {
				s = s[:rng.IntN(len(s))]
			}
		case 4:
			s = "\v" + s
		}
		return s
	}
	notes := func() string {
		if rng.IntN(3) == 0 {
			return encode(list())
		}
		keys := []string{"top", "middle", "base"}
		var b strings.Builder
		b.WriteString("{")
		n := rng.IntN(4)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(15) {
			case 0:
				k = "heart"
			case 1:
				k = `\u0074op`
			}
			b.WriteString(`"` + k + `": `)
			if rng.IntN(8) == 0 {
				b.WriteString("null")
			} else {
				b.WriteString(encode(list()))
			}
		}
		b.WriteString("}")
		return b.String()
	}
	plainCells := 0
	sc := &scratch{}
	// Cells whose every item folds to nothing (dropped, no issue), short
	// and long (with and without room for the accords in the record).
	dropped := []map[string]any{
		{"accords": `["!!"]`, "notes": `["--", "!!"]`, "perfumers": `["()"]`},
		{"accords": `["` + strings.Repeat(`!!!!", "`, 30) + `--"]`, "notes": `{"top": ["` + strings.Repeat(`!!!!", "`, 30) + `--"]}`},
	}
	for round := 0; round < 20000+len(dropped); round++ {
		fields := map[string]any{"brand": "Dior", "name": "Sauvage"}
		switch {
		case round >= 20000:
			for k, v := range dropped[round-20000] {
				fields[k] = v
			}
		default:
			if rng.IntN(2) == 0 {
				fields["notes"] = notes()
			}
			if rng.IntN(2) == 0 {
				fields["accords"] = encode(list())
			}
			if rng.IntN(4) == 0 {
				fields["perfumers"] = encode(list())
			}
			if rng.IntN(8) == 0 {
				fields["notes_top"] = encode(list())
			}
		}
		for _, k := range []string{"accords", "perfumers"} {
			if s, ok := fields[k].(string); ok {
				s = strings.TrimSpace(s)
				if _, _, i, ok := sc.cleanPlainArray(nil, s, 0, fast.Quality.MaxNameLength); ok && skipWS(s, i) == len(s) {
					plainCells++
				}
			}
		}
		raw := &dataset.Raw{Index: round + 1, Line: round + 2, Fields: fields}
		got, gotIssues := fast.Check(raw)
		want, wantIssues := general.Check(raw)
		require.Equal(t, wantIssues, gotIssues, "issues of %q", fields)
		require.Equal(t, want, got, "record of %q", fields)
		if want != nil {
			require.Equal(t, ContentHash(want), ContentHash(got), "hash of %q", fields)
		}
	}
	// The one-pass path must have been taken, not only declined.
	require.Greater(t, plainCells, 5000)
}

// TestShortJSONStringsMatchGeneralWriter compares appendJSONString's paths
// for strings under eight bytes (a loop) and of eight to sixteen (two
// words) with the general writer on the oracle inputs, their pieces of up
// to 7 and of 8 to 20 bytes, every single byte and every pair of bytes, at
// each room left in the buffer around what either path needs.
func TestShortJSONStringsMatchGeneralWriter(t *testing.T) {
	t.Parallel()
	var short []string
	for _, s := range oracleInputs(t) {
		short = append(short, s)
		for i := 0; i < len(s); i += 7 {
			short = append(short, s[i:min(len(s), i+7)])
		}
		for n := 8; n <= 20 && n <= len(s); n++ {
			short = append(short, s[:n], s[len(s)-n:])
		}
	}
	for c := 0; c < 256; c++ {
		short = append(short, string(rune(c)), string([]byte{byte(c)}), "ab"+string([]byte{byte(c)})+"cd")
		for d := 0; d < 256; d += 17 {
			short = append(short, string([]byte{byte(c), byte(d)}))
		}
	}
	for _, s := range short {
		want := appendJSONStringSlow([]byte("x"), s)
		for _, room := range []int{7, 8, 9, 10, 11, 16, 17, 18, 19} {
			dst := append(make([]byte, 0, 1+room), 'x')
			require.Equal(t, string(want), string(appendJSONString(dst, s)), "%q with %d bytes of room", s, room)
		}
	}
}

// TestNonAlnumMaskMatchesTable checks nonAlnumMask against foldLower (the
// letters and digits) for every byte value at every position, among
// letters, digits and other bytes.
func TestNonAlnumMaskMatchesTable(t *testing.T) {
	t.Parallel()
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{'a', 'Z', '5', ' ', '@', '`', '{', 0x10, 0x80, 0xff, 0} {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(c)
				m := nonAlnumMask(load64(string(w[:]), 0))
				for i, b := range w {
					if (foldLower[b] == 0) != (m>>(8*i+7)&1 == 1) || m>>(8*i)&0x7f != 0 {
						t.Fatalf("nonAlnumMask(%q) = %#x: wrong at byte %d (%#x)", w, m, i, b)
					}
				}
			}
		}
	}
}

// TestFoldPlainItemMatchesAppendFoldPlain folds the oracle inputs, and
// their pieces at every length up to 20, followed by a closing quote and
// more text, and compares with appendFoldPlain: the same fold (and whether
// a letter was upper case) where it is plain and has no '"' or '\\';
// declined otherwise. (Empty items and a trailing space are left to its
// caller.)
func TestFoldPlainItemMatchesAppendFoldPlain(t *testing.T) {
	t.Parallel()
	var items []string
	for _, s := range oracleInputs(t) {
		items = append(items, s)
		for n := 1; n <= 20 && n < len(s); n++ {
			items = append(items, s[:n], s[len(s)-n:])
		}
	}
	buf := make([]byte, 0, 4096)
	for _, it := range items {
		if it == "" || strings.HasSuffix(it, " ") {
			continue // cleanPlainArray's own checks
		}
		for _, tail := range []string{`"`, `", "Vanilla"]`, `"]`} {
			s := it + tail
			if 5*len(s)+8 > cap(buf) {
				continue
			}
			n, q, upper, ok := foldPlainItem(buf[:cap(buf)], s)
			want, wantOK := appendFoldPlain(nil, it)
			wantOK = wantOK && !strings.ContainsAny(it, "\"\\")
			if !wantOK {
				// Declined, or an earlier quote ended a (plain) item.
				if ok && q == len(it) {
					t.Fatalf("foldPlainItem(%q) took an item appendFoldPlain declines", s)
				}
				continue
			}
			require.True(t, ok, "foldPlainItem(%q) declined", s)
			require.Equal(t, len(it), q, "quote of %q", s)
			require.Equal(t, string(want), string(buf[:cap(buf)][:n]), "fold of %q", s)
			require.Equal(t, strings.ToLower(it) != it, upper, "upper of %q", s)
		}
	}
}

// TestTrimSpaceMatchesStrings compares trimSpace with strings.TrimSpace on
// the oracle inputs and on every byte and pair of bytes around a word.
func TestTrimSpaceMatchesStrings(t *testing.T) {
	t.Parallel()
	in := oracleInputs(t)
	for c := 0; c < 256; c++ {
		for _, d := range []string{"", " ", "\u00a0", "\u0085", "x", "\xff"} {
			b := string([]byte{byte(c)})
			in = append(in, b, b+"word"+d, d+"word"+b, b+d, d+b)
		}
	}
	for _, s := range in {
		if got, want := trimSpace(s), strings.TrimSpace(s); got != want {
			t.Fatalf("trimSpace(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestSplitConcentrationIgnoresWordsOfAnotherName: the words stripBrand
// keeps for splitConcentration are those of the very same string; the
// words of an earlier name in the same scratch are not an empty name's.
func TestSplitConcentrationIgnoresWordsOfAnotherName(t *testing.T) {
	sc := &scratch{}
	require.Equal(t, [2]string{"Magnolia", ConcEDC}, pair(sc.splitConcentration("Magnolia Eau de Cologne")))
	require.Equal(t, [2]string{"", ""}, pair(sc.splitConcentration("")))
	sc.stripBrand("Magnolia Eau de Cologne", [][]string{{"dior"}})
	require.Equal(t, [2]string{"", ""}, pair(sc.splitConcentration("")))
	name := "Magnolia Eau de Cologne"
	sc.stripBrand(name, [][]string{{"dior"}})
	require.Equal(t, [2]string{"Magnolia", ConcEDC}, pair(sc.splitConcentration(name)))
}

func pair(a, b string) [2]string { return [2]string{a, b} }

// TestContentHashOfEveryYear compares the content hash's own writing of
// four-digit years with encoding/json's for the years around them.
func TestContentHashOfEveryYear(t *testing.T) {
	t.Parallel()
	f := &Fragrance{BrandKey: "dior", Name: "Sauvage"}
	for y := -10; y < 10100; y++ {
		if y > 20 && y < 990 {
			continue
		}
		f.Year = &y
		require.Equal(t, contentHashJSON(f), ContentHash(f), "year %d", y)
	}
}
