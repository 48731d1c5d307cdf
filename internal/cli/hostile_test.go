package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/importer"
	"github.com/scentmatch/pipeline/internal/postgres"
)

// Strings that break SQL built by concatenation, HTML, CSV and naive
// escaping. Each is stored and read back byte for byte.
var hostile = []string{
	`'; DROP TABLE fragrances; --`,
	`Robert'); DELETE FROM brands;--`,
	`<script>alert(1)</script>`,
	`Eau & "Fraîche"`,
	`1' OR '1'='1`,
	`$1 $$ %s %d {{.}} \N \. back\slash`,
	"Zoë Ünïcødé 香水 🌹 \u200b zero-width",
	`x"); DROP TABLE source_identities; --`,
}

// TestHostileStringsAreStoredVerbatim imports records made of hostile
// strings through the CLI (JSON Lines and CSV), reads them back and finds
// them unchanged, with every table still there and the rows counted right.
// A NUL byte is refused by validation (PostgreSQL text cannot hold it),
// naming the rule, and the rest of the file imports.
func TestHostileStringsAreStoredVerbatim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "SCENTMATCH_HOME": t.TempDir()}
	dir := t.TempDir()

	type rec struct {
		SourceID    string   `json:"source_id"`
		Brand       string   `json:"brand"`
		Name        string   `json:"name"`
		Description string   `json:"description,omitempty"`
		Perfumers   []string `json:"perfumers,omitempty"`
		NotesTop    []string `json:"notes_top,omitempty"`
		URL         string   `json:"url,omitempty"`
	}
	var recs []rec
	for i, h := range hostile {
		recs = append(recs, rec{
			SourceID:    h + " #" + string(rune('a'+i)),
			Brand:       hostile[(i+1)%len(hostile)],
			Name:        h,
			Description: strings.Join(hostile, " | "),
			Perfumers:   []string{h, "O'Brien"},
			NotesTop:    []string{hostile[(i+2)%len(hostile)]},
			URL:         "https://example.test/?q=" + "%27%3B%20DROP%20TABLE%20brands%3B--",
		})
	}
	var lines []string
	for _, r := range recs {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		lines = append(lines, string(b))
	}
	// A NUL byte in a name (JSON escapes it): refused by validation.
	lines = append(lines, `{"source_id": "nul", "brand": "Acme", "name": "Bad\u0000Name"}`)
	jsonl := filepath.Join(dir, "hostile.jsonl")
	require.NoError(t, os.WriteFile(jsonl, []byte(strings.Join(lines, "\n")+"\n"), 0o644))

	source := `src'); DROP TABLE import_runs;--`
	r := run(t, env, "import", "--fragrances", jsonl, "--source", source, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	sum := decode[struct {
		Fragrances importer.Summary `json:"fragrances"`
	}](t, r.stdout).Fragrances
	require.Equal(t, len(recs)+1, sum.Records)
	require.Equal(t, len(recs), sum.Counts["inserted"], "%+v", sum.Counts)
	require.Equal(t, 1, sum.Counts["rejected"])

	r = run(t, env, "quarantine", "list", "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	q := decode[[]importer.Quarantined](t, r.stdout)
	require.Len(t, q, 1)
	require.Equal(t, "nul-byte", q[0].Rule)

	conn, err := postgres.ConnectOne(ctx, dbURL, postgres.PoolOptions{})
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, want := range recs {
		var got rec
		err := conn.QueryRow(ctx, `
			SELECT si.source_id, b.name, f.name, f.description, f.perfumers, f.notes_top, f.url
			FROM source_identities si JOIN fragrances f ON f.id = si.fragrance_id JOIN brands b ON b.id = f.brand_id
			WHERE si.source = $1 AND si.source_id = $2`, source, want.SourceID).
			Scan(&got.SourceID, &got.Brand, &got.Name, &got.Description, &got.Perfumers, &got.NotesTop, &got.URL)
		require.NoError(t, err, "record %q", want.SourceID)
		require.Equal(t, want, got)
	}

	// CSV, where quotes and commas are the format's own: the same strings.
	csvPath := filepath.Join(dir, "hostile.csv")
	var csv strings.Builder
	csv.WriteString("source_id,brand,name\n")
	quote := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	for i, h := range hostile {
		csv.WriteString(quote("csv "+h) + "," + quote(hostile[(i+3)%len(hostile)]) + "," + quote(h+" Intense") + "\n")
	}
	require.NoError(t, os.WriteFile(csvPath, []byte(csv.String()), 0o644))
	r = run(t, env, "import", "--fragrances", csvPath, "--source", source, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	for i, h := range hostile {
		var brand, name string
		require.NoError(t, conn.QueryRow(ctx, `
			SELECT b.name, f.name FROM source_identities si JOIN fragrances f ON f.id = si.fragrance_id JOIN brands b ON b.id = f.brand_id
			WHERE si.source = $1 AND si.source_id = $2`, source, "csv "+h).Scan(&brand, &name))
		require.Equal(t, hostile[(i+3)%len(hostile)], brand)
		require.Equal(t, h+" Intense", name)
	}

	// Every table is still there and holds what the imports wrote.
	for _, table := range []string{"fragrances", "brands", "source_identities", "import_runs", "quarantined_records", "embeddings"} {
		var exists bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+table).Scan(&exists))
		require.True(t, exists, table)
	}
	var fragrances, brands, runs int
	require.NoError(t, conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM fragrances), (SELECT count(*) FROM brands), (SELECT count(*) FROM import_runs)`).
		Scan(&fragrances, &brands, &runs))
	require.Equal(t, 2*len(hostile), fragrances)
	require.Equal(t, len(hostile), brands, "each hostile brand once, shared by both files")
	require.Equal(t, 2, runs)

	// A rerun changes nothing: the hostile keys match themselves.
	r = run(t, env, "import", "--fragrances", jsonl, "--source", source, "--json")
	require.Equal(t, ExitOK, r.code, r.stderr)
	again := decode[struct {
		Fragrances importer.Summary `json:"fragrances"`
	}](t, r.stdout).Fragrances
	require.Equal(t, len(recs), again.Counts["unchanged"], "%+v", again.Counts)
}
