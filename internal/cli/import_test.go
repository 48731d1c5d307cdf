package cli

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/postgres"
)

func TestImportCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	data := filepath.Join(dir, "cat.csv")
	require.NoError(t, os.WriteFile(data, []byte("perfume,house,year,image,longevity\n"+
		"Sauvage,Dior,2015,o.1.jpg,\"[1]\"\nNo 5,Chanel,1921,o.2.jpg,\"[2]\"\n,Chanel,1921,o.3.jpg,\"[3]\"\nShalimar,Guerlain,1492,o.4.jpg,\"[4]\"\n"), 0o644))
	report := filepath.Join(dir, "r.jsonl")
	args := []string{"import", "--fragrances", data, "--source", "cat", "--map", "perfume=name,house=brand,image=source_id", "--report", report}

	r := run(t, env, append(args, "--json")...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	out := decode[struct {
		Fragrances importer.Summary `json:"fragrances"`
	}](t, r.stdout).Fragrances
	require.Equal(t, 4, out.Records)
	require.Equal(t, 2, out.Counts["inserted"])
	require.Equal(t, 2, out.Counts["rejected"])
	require.Equal(t, []string{"longevity"}, out.Unmapped)
	require.Contains(t, r.stderr, "longevity", "unmapped columns are named once in a warning")
	reportData, err := os.ReadFile(report)
	require.NoError(t, err)
	require.Equal(t, 4, strings.Count(string(reportData), "\n"))

	r = run(t, env, args...)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "unchanged:")
	require.Regexp(t, `inserted:\s+0\n`, r.stdout)
	require.Regexp(t, `quarantine:\s+2 open row\(s\) of earlier runs superseded`, r.stdout, "the rerun's rejects replaced the first run's rows")

	r = run(t, env, "quarantine", "list", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	list := decode[[]importer.Quarantined](t, r.stdout)
	require.Len(t, list, 2, "the second run supersedes the first run's rows")
	rules := []string{list[0].Rule, list[1].Rule}
	require.ElementsMatch(t, []string{"required", "year-range"}, rules)

	// Loosen the year rule: replay imports the record that now passes.
	cfgDir := t.TempDir()
	mon, err := os.ReadFile("../../config/monitoring_config.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cfgDir, "monitoring_config.json"), []byte(strings.Replace(string(mon), `"min_year": 1700`, `"min_year": 1400`, 1)), 0o644))
	env2 := map[string]string{"DATABASE_URL": env["DATABASE_URL"], "SCENTMATCH_CONFIG_DIR": cfgDir}
	r = run(t, env2, "quarantine", "replay")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 now pass and were imported, 1 still fail")
	r = run(t, env2, "quarantine", "list", "--json")
	require.Len(t, decode[[]importer.Quarantined](t, r.stdout), 1)
}

func TestImportBadInputExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	broken := filepath.Join(dir, "broken.csv")
	require.NoError(t, os.WriteFile(broken, []byte("brand,name\nDior,Sauvage\nChanel,\"No 5\nGuerlain,Shalimar\n"), 0o644))
	r := run(t, env, "import", "--fragrances", broken)
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "broken.csv:3")
	require.Contains(t, r.stderr, "rolled back")

	trunc := filepath.Join(dir, "t.jsonl.gz")
	f, err := os.Create(trunc)
	require.NoError(t, err)
	gz := gzip.NewWriter(f)
	for i := 0; i < 200; i++ {
		_, _ = gz.Write([]byte(`{"brand": "Acme", "name": "Scent ` + strings.Repeat("x", i) + `"}` + "\n"))
	}
	require.NoError(t, gz.Close())
	info, _ := f.Stat()
	require.NoError(t, f.Truncate(info.Size()/2))
	f.Close()
	r = run(t, env, "import", "--fragrances", trunc, "--source", "t")
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "t.jsonl.gz:")
	require.Contains(t, r.stderr, "truncated")

	for _, args := range [][]string{
		{"import"},
		{"import", "--fragrances", filepath.Join(dir, "missing.csv")},
		{"import", "--fragrances", broken, "--map", "perfume"},
		{"import", "--fragrances", broken, "--map", "perfume=colour"},
	} {
		r := run(t, env, args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", args, r.stderr)
	}
}

// TestImportWritesAHeapProfile: the hidden --memprofile writes a Go heap
// profile (gzipped protobuf) once the import has run.
func TestImportWritesAHeapProfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	data := filepath.Join(dir, "cat.csv")
	require.NoError(t, os.WriteFile(data, []byte("name,brand,source_id\nSauvage,Dior,1\nNo 5,Chanel,2\n"), 0o644))
	prof := filepath.Join(dir, "heap.pb.gz")
	r := run(t, env, "import", "--fragrances", data, "--source", "cat", "--memprofile", prof, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	f, err := os.Open(prof)
	require.NoError(t, err)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	require.NoError(t, err, "a heap profile is gzipped")
	n, err := zr.Read(make([]byte, 64))
	require.NoError(t, err)
	require.Positive(t, n)
}

// TestImportChecksEverythingBeforeWriting: a bad --report path, a
// directory or an unreadable header given with a good brands file exits 2
// and writes nothing, brands included (they used to be committed first).
func TestImportChecksEverythingBeforeWriting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	good := filepath.Join(dir, "good.csv")
	require.NoError(t, os.WriteFile(good, []byte("name,brand,source_id\nSauvage,Dior,1\n"), 0o644))
	brands := filepath.Join(dir, "b.csv")
	require.NoError(t, os.WriteFile(brands, []byte("name,country\nMaison Zyx,France\nAtelier Qwv,Italy\n"), 0o644))
	badHeader := filepath.Join(dir, "header.csv")
	require.NoError(t, os.WriteFile(badHeader, []byte("name,\"brand\n"), 0o644))
	adir := filepath.Join(dir, "adir")
	require.NoError(t, os.Mkdir(adir, 0o755))
	existing := filepath.Join(dir, "old-report.jsonl")
	require.NoError(t, os.WriteFile(existing, []byte("kept\n"), 0o644))
	report := filepath.Join(dir, "r.jsonl")

	counts := func() [3]int {
		t.Helper()
		ctx := context.Background()
		conn, err := postgres.ConnectOne(ctx, dbURL, postgres.PoolOptions{})
		require.NoError(t, err)
		defer conn.Close(ctx)
		var n [3]int
		require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM brands), (SELECT count(*) FROM fragrances), (SELECT count(*) FROM import_runs)`).Scan(&n[0], &n[1], &n[2]))
		return n
	}
	before := counts()

	missingDir := filepath.Join(dir, "missing", "r.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--brands", brands, "--fragrances", good, "--report", missingDir}, "--report " + missingDir + ": cannot write it: no such file or directory"},
		{[]string{"--brands", brands, "--fragrances", good, "--report", adir}, "--report " + adir + ": cannot write it: is a directory"},
		{[]string{"--brands", brands, "--fragrances", good, "--report", brands}, "--report " + brands + ": is an input file"},
		{[]string{"--brands", brands, "--fragrances", good, "--report", existing, "--memprofile", missingDir}, "--memprofile " + missingDir},
		{[]string{"--brands", brands, "--fragrances", good, "--report", report, "--memprofile", missingDir}, "--memprofile " + missingDir},
		{[]string{"--brands", brands, "--fragrances", adir}, adir + ": is a directory, not a dataset file"},
		{[]string{"--brands", adir, "--fragrances", good}, adir + ": is a directory, not a dataset file"},
		{[]string{"--brands", brands, "--fragrances", badHeader}, "header.csv:1"},
		{[]string{"--brands", brands, "--fragrances", filepath.Join(dir, "nope.csv")}, "nope.csv: no such file or directory"},
		{[]string{"--brands", brands, "--fragrances", good, "--embedding-timeout", "soon"}, "--embedding-timeout"},
	} {
		args := append([]string{"import"}, tc.args...)
		r := run(t, env, args...)
		require.Equal(t, ExitUsage, r.code, "%v: %s%s", args, r.stdout, r.stderr)
		require.Contains(t, r.stderr, tc.want, args)
		require.NotContains(t, r.stderr, "committed", "%v: nothing was committed", args)
		require.Empty(t, r.stdout, args)
		require.Equal(t, before, counts(), "%v wrote nothing", args)
	}
	kept, err := os.ReadFile(existing)
	require.NoError(t, err)
	require.Equal(t, "kept\n", string(kept), "a report is not truncated when another output fails")
	_, err = os.Stat(report)
	require.ErrorIs(t, err, os.ErrNotExist, "a report this run created is removed when another output fails")
	input, err := os.ReadFile(brands)
	require.NoError(t, err)
	require.Contains(t, string(input), "Maison Zyx", "the input named as --report is intact")

	// The same command with a good report path writes brands and fragrances.
	r := run(t, env, "import", "--brands", brands, "--fragrances", good, "--report", report)
	require.Equal(t, ExitOK, r.code, r.stderr)
	after := counts()
	require.Equal(t, before[0]+3, after[0], "two brands from the file, Dior from the fragrance")
	require.Equal(t, before[1]+1, after[1])
	require.Equal(t, before[2]+1, after[2])
}

// TestBrandFileRejectionsNameLineFieldAndRule: a brand record with bad
// UTF-8, an over-long name, a malformed alias list or no name is left out
// whole, and the summary says where and why; the good ones land.
func TestBrandFileRejectionsNameLineFieldAndRule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbURL := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL}
	brands := filepath.Join(dir, "brands.csv")
	long := strings.Repeat("x", 201)
	require.NoError(t, os.WriteFile(brands, []byte("name,aliases,country\n"+
		"Maison Zyx,\"[\"\"MZ\"\"]\",France\n"+ // line 2: good
		"W\xffhouse,,France\n"+ // line 3: not UTF-8
		long+",,Italy\n"+ // line 4: too long
		"Atelier Qwv,\"[\"\"broken\",Italy\n"+ // line 5: alias cell not a list
		",,Spain\n"+ // line 6: no name
		"Casa Lmn,,\"Sp\x00ain\"\n"), 0o644)) // line 7: NUL in country
	good := filepath.Join(dir, "good.csv")
	require.NoError(t, os.WriteFile(good, []byte("name,brand,source_id\nSauvage,Dior,1\n"), 0o644))

	r := run(t, env, "import", "--brands", brands, "--fragrances", good)
	require.Equal(t, ExitOK, r.code, r.stderr)
	for _, want := range []string{
		"5 rejected",
		"brands.csv:3: name: utf8: the value is not valid UTF-8",
		"brands.csv:4: name: length: 201 characters, at most 200 allowed",
		"brands.csv:5: aliases: type:",
		"brands.csv:6: name: required: a brand needs a name",
		"brands.csv:7: country: nul-byte",
	} {
		require.Contains(t, r.stdout, want)
	}

	r = run(t, env, "import", "--brands", brands, "--fragrances", good, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	var out struct {
		Brands importer.BrandSummary `json:"brands"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out))
	require.Equal(t, 6, out.Brands.Records)
	require.Equal(t, 5, out.Brands.Rejected)
	require.Len(t, out.Brands.Rejections, 5)
	require.Equal(t, importer.BrandRejection{Line: 3, Field: "name", Rule: "utf8", Message: "the value is not valid UTF-8"}, out.Brands.Rejections[0])

	ctx := context.Background()
	conn, err := postgres.ConnectOne(ctx, dbURL, postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	var names []string
	rows, err := conn.Query(ctx, `SELECT name FROM brands WHERE name NOT IN ('Dior') ORDER BY name`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	require.Contains(t, names, "Maison Zyx")
	for _, n := range names {
		require.True(t, utf8.ValidString(n), n)
		require.NotEqual(t, "Atelier Qwv", n, "a record with a bad alias cell is left out whole")
		require.NotEqual(t, "Casa Lmn", n)
	}
	var alias int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM brand_aliases WHERE alias = 'MZ'`).Scan(&alias))
	require.Equal(t, 1, alias)
}

// TestImportWithoutRecordsIsBadInput: an empty file, one of blank lines
// only (past the 64 KiB the format sniffing once gave up at) or a CSV
// header alone is not a successful import of nothing: exit 2, the file
// and line named, nothing written.
func TestImportWithoutRecordsIsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	files := map[string]string{
		"empty.jsonl":  "",
		"blank.csv":    strings.Repeat("\n", 70<<10),
		"header.csv":   strings.Repeat("\n", 70<<10) + "brand,name\n",
		"nothing.json": "[]\n",
	}
	wants := map[string]string{
		"empty.jsonl":  "empty.jsonl:1: the file is empty or holds only blank lines",
		"blank.csv":    "blank.csv:1: the file is empty or holds only blank lines",
		"header.csv":   "header.csv:71681: no records: the file has a header row and no data rows",
		"nothing.json": "nothing.json:1: no records: the JSON array is empty",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		r := run(t, env, "import", "--fragrances", path, "--source", "s")
		require.Equal(t, ExitUsage, r.code, "%s: %s", name, r.stdout+r.stderr)
		require.Contains(t, r.stderr, wants[name], name)
		require.Regexp(t, `(?i)nothing was (written|committed)`, r.stderr, name)
		require.NotContains(t, r.stderr, "records 1-0", name)
	}
	require.Equal(t, 0, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM fragrances`))
	require.Equal(t, 0, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM quarantined_records`))
	// A blank-line prefix however long does not turn a CSV into JSON Lines.
	late := filepath.Join(dir, "late.csv")
	require.NoError(t, os.WriteFile(late, []byte(strings.Repeat("\r\n", 70<<10)+"brand,name\nDior,Sauvage\n"), 0o644))
	r := run(t, env, "import", "--fragrances", late, "--source", "s", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	sum := decode[struct {
		Fragrances importer.Summary `json:"fragrances"`
	}](t, r.stdout).Fragrances
	require.Equal(t, "csv", sum.Format)
	require.Equal(t, 1, sum.Counts["inserted"])
	require.Equal(t, 1, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM fragrances`))
}

// countRows runs a count query against the database at url.
func countRows(t *testing.T, url, query string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := postgres.ConnectOne(ctx, url, postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, query, args...).Scan(&n))
	return n
}

// TestImportRefusesAHeaderThatWouldLoseData: a column named twice would
// overwrite one cell with the other in every row, and a header without a
// required column (no name column, a wrong --map, a UTF-16 file) would
// quarantine every row under one rule. Both stop before any write: exit
// 2, the file, line 1 and the column named.
func TestImportRefusesAHeaderThatWouldLoseData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	utf16 := []byte{0xff, 0xfe}
	for _, c := range "brand,name\nDior,Sauvage\n" {
		utf16 = append(utf16, byte(c), 0)
	}
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--fragrances", write("dup.csv", "brand,name,name,source_id\nDior,Sauvage,Fahrenheit,1\n")},
			[]string{"dup.csv:1:", `column "name" appears twice (columns 2 and 3)`}},
		{[]string{"--fragrances", write("noname.csv", "brand,perfume,year\nDior,Sauvage,2015\n")},
			[]string{"noname.csv:1:", "no column for the required field(s) name", `columns found: "brand", "perfume", "year"`}},
		{[]string{"--fragrances", write("wrongmap.csv", "house,perfume\nDior,Sauvage\n"), "--map", "house=brand,parfum=name"},
			[]string{"wrongmap.csv:1:", "required field(s) name;", `"house", "perfume"`}},
		{[]string{"--fragrances", write("clash.csv", "brand,perfume,name\nDior,Sauvage,x\n"), "--map", "perfume=name"},
			[]string{"clash.csv:1:", `columns "perfume" (column 2) and "name" (column 3) both map to field "name"`}},
		{[]string{"--fragrances", write("utf16.csv", string(utf16))},
			[]string{"utf16.csv:1:", "UTF-16", "save it as UTF-8"}},
		{[]string{"--fragrances", write("ok.csv", "brand,name\nDior,Sauvage\n"), "--brands", write("brands.csv", "house,country\nDior,France\n")},
			[]string{"brands.csv:1:", "required field(s) name;"}},
	}
	for _, tc := range cases {
		r := run(t, env, append([]string{"import", "--source", "s"}, tc.args...)...)
		require.Equal(t, ExitUsage, r.code, "%v: %s", tc.args, r.stdout+r.stderr)
		for _, w := range tc.want {
			require.Contains(t, r.stderr, w, "%v", tc.args)
		}
		require.Contains(t, r.stderr, "nothing was written", "%v", tc.args)
	}
	for _, table := range []string{"fragrances", "brands", "quarantined_records", "import_runs"} {
		require.Equal(t, 0, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM `+table), table)
	}
}

// TestImportQuarantinesSelfContainedBadRecords: the reviewer's cases. Invalid
// UTF-8 in JSON Lines is rejected under utf8 (name), as in a CSV, not
// imported with U+FFFD; a broken line or a line [1,2] is one rejected
// record and the import goes on (exit 0). A syntax error inside a JSON
// array still leaves the rest unreadable: exit 2, saying nothing was
// committed rather than "records 1-0".
func TestImportQuarantinesSelfContainedBadRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"DATABASE_URL": dbtest.URL(t)}
	type out struct {
		Fragrances importer.Summary `json:"fragrances"`
	}

	for _, name := range []string{"a.jsonl", "a.csv"} {
		content := "{\"brand\":\"Dior\",\"name\":\"Sauv\xe9ge\",\"source_id\":\"l1\"}\n"
		if name == "a.csv" {
			content = "brand,name,source_id\nDior,Sauv\xe9ge,c1\n"
		}
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		report := filepath.Join(dir, name+".report")
		r := run(t, env, "import", "--fragrances", path, "--source", "s", "--report", report, "--json")
		require.Equal(t, ExitOK, r.code, r.stderr)
		sum := decode[out](t, r.stdout).Fragrances
		require.Equal(t, 1, sum.Counts["rejected"], name)
		require.Equal(t, map[string]int{"utf8": 1}, sum.RejectedByRule, name)
		data, err := os.ReadFile(report)
		require.NoError(t, err)
		require.Contains(t, string(data), `"reasons":["error: utf8 (name): the value is not valid UTF-8"]`, name)
	}
	require.Equal(t, 0, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM fragrances`))

	lines := filepath.Join(dir, "lines.jsonl")
	require.NoError(t, os.WriteFile(lines, []byte(`{"brand": "Dior", "name": "Sauvage", "source_id": "1"}
{"brand": "Chanel", "name": "No 5", "source_id": "2"}
{"brand": "Guerlain", "name": Shalimar, "source_id": "3"}
[1,2]
{"brand": "Hermès", "name": "Terre d'Hermès", "source_id": "5"}
`), 0o644))
	r := run(t, env, "import", "--fragrances", lines, "--source", "s", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	sum := decode[out](t, r.stdout).Fragrances
	require.Equal(t, 5, sum.Records)
	require.Equal(t, 3, sum.Counts["inserted"], "the records before and after the bad lines are imported")
	require.Equal(t, map[string]int{"json": 1, "type": 1}, sum.RejectedByRule)
	require.Equal(t, 3, countRows(t, env["DATABASE_URL"], `SELECT count(*) FROM fragrances`))
	r = run(t, env, "quarantine", "list", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	q := decode[[]importer.Quarantined](t, r.stdout)
	lineRules := map[int]string{}
	for _, row := range q {
		if row.SourceID == nil { // the two lines that held no record to take one from
			lineRules[*row.Line] = row.Rule
		}
	}
	require.Equal(t, map[int]string{3: "json", 4: "type"}, lineRules)
	require.Len(t, q, 4, "two utf8 rows and the two lines")

	arr := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(arr, []byte("[\n{\"brand\": \"Acme\", \"name\": \"A\"},\n{\"brand\" \"Acme\"}\n]\n"), 0o644))
	r = run(t, env, "import", "--fragrances", arr, "--source", "s")
	require.Equal(t, ExitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "broken.json:3:")
	require.Contains(t, r.stderr, "Nothing was committed")
	require.NotContains(t, r.stderr, "records 1-0")
}
