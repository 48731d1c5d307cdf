package matching

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/shareddata"
	"github.com/scentmatch/pipeline/internal/synth"
)

// blockKeysReference is BlockKeys as it was written first (a map for the
// keys seen, EditionKeys, one string per key): BlockKeys must return what
// it returns, key for key and in its order.
func blockKeysReference(f *catalog.Fragrance) []string {
	keys := []string{f.MatchKey}
	seen := map[string]bool{f.MatchKey: true}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, k := range EditionKeys(f) {
		add(k)
	}
	tokens := strings.Fields(catalog.Fold(f.Name))
	if lossy := LossyFold(f.Name); lossy != "" {
		tokens = append(tokens, strings.Fields(lossy)...)
	}
	for _, t := range tokens {
		if stopwords[t] || isYear(t) {
			continue
		}
		add(f.BrandKey + "|t:" + t)
		if r := []rune(t); len(r) >= 6 {
			add(f.BrandKey + "|p:" + string(r[:5]))
		}
	}
	return keys
}

// TestBlockKeysAsReference compares BlockKeys with the reference on every
// record of the shared catalogs, a messy synthetic set and names built to
// reach its corners (many words, repeated words, accents, other scripts,
// every concentration and gender, text that is not UTF-8).
func TestBlockKeysAsReference(t *testing.T) {
	t.Parallel()
	v := validator()
	checked := 0
	check := func(f *catalog.Fragrance) {
		t.Helper()
		require.Equal(t, blockKeysReference(f), BlockKeys(f), "brand %q name %q concentration %q gender %q", f.Brand, f.Name, f.Concentration, f.Gender)
		checked++
	}
	readAll := func(path string, m map[string]string) {
		r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: m})
		require.NoError(t, err)
		defer r.Close()
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			require.NoError(t, err)
			if f, _ := v.Check(raw); f != nil {
				check(f)
			}
		}
	}
	shared := []struct {
		file string
		m    map[string]string
	}{
		{"catalog-37k.csv.gz", map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}},
		{"catalog2026-13k.csv.gz", map[string]string{"category": "concentration"}},
		{"retail-3k.csv", map[string]string{"name_1": "name", "category": "concentration"}},
	}
	for _, s := range shared {
		p, err := shareddata.Path(s.file)
		if err != nil {
			t.Logf("shared data not available, synthetic and built names only: %v", err)
			continue
		}
		readAll(p, s.m)
	}
	p := filepath.Join(t.TempDir(), "synth.jsonl")
	fh, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, synth.Write(fh, synth.Options{Records: 5000, Seed: 11, Format: "jsonl", Messy: 0.3}))
	require.NoError(t, fh.Close())
	readAll(p, nil)

	long := strings.Repeat("Alpha Beta Gamma Délice Ωmega Straße ", 6)
	names := []string{"Trésor", "Eau de Parfum", "La Vie Est Belle L'Éclat", "Numéro Cinq Cinq Cinq", "No 5 1921 2020",
		"香水香水香水", "Парфюмерная вода", "ab香水香水", "Zoë Ünïcødé 🌹", long, "Bois d'Argent Bois d'Argent",
		"\xff\xfe invalid \xc3", "Façade Façade Façade Façade", "x"}
	for _, name := range names {
		for _, conc := range []string{"", catalog.ConcEDT, catalog.ConcEDP, catalog.ConcParfum, catalog.ConcExtrait,
			catalog.ConcEDC, catalog.ConcCologne, catalog.ConcEauFraiche, "Élixir"} {
			for _, gender := range []string{"", "men", "women", "unisex"} {
				f := &catalog.Fragrance{Brand: "Maison Étoile", BrandKey: "maison etoile", Name: name, Concentration: conc, Gender: gender}
				f.MatchKey = catalog.MatchKey(f.BrandKey, f.Name, f.Concentration, f.Gender)
				check(f)
			}
		}
	}
	// The match key among the other keys, once.
	f := &catalog.Fragrance{BrandKey: "b", Name: "Trésor", Gender: "men"}
	f.MatchKey = "b|tr sor||men"
	check(f)
	t.Logf("%d fragrances' keys compared", checked)
}

// TestKeyFieldsAreWhatBlockKeysReads changes every field of a fragrance but
// KeyFields: the keys stay the same (what lets the importer reuse them).
func TestKeyFieldsAreWhatBlockKeysReads(t *testing.T) {
	t.Parallel()
	year, rating, votes := 2001, 4.5, int64(10)
	a := &catalog.Fragrance{Brand: "Dior", BrandKey: "dior", Name: "Fahrenheit Le Parfum", Concentration: catalog.ConcParfum, Gender: "men"}
	a.MatchKey = catalog.MatchKey(a.BrandKey, a.Name, a.Concentration, a.Gender)
	b := *a
	b.Index, b.Line, b.Brand, b.Source, b.SourceID, b.ConcentrationFromName = 7, 8, "DIOR", "s", "1", true
	b.Year, b.Rating, b.Votes, b.URL, b.Description = &year, &rating, &votes, "https://x", "text"
	b.NotesTop, b.NotesMiddle, b.NotesBase, b.NotesUnsorted, b.Perfumers = []string{"a"}, []string{"b"}, []string{"c"}, []string{"d"}, []string{"e"}
	b.Accords = []catalog.Accord{{Name: "woody"}}
	require.Equal(t, KeyFieldsOf(a), KeyFieldsOf(&b))
	require.Equal(t, BlockKeys(a), BlockKeys(&b))
}

// BenchmarkBlockKeys computes the keys of the real catalog's fragrances,
// with BlockKeys and with the reference it replaced.
func BenchmarkBlockKeys(b *testing.B) {
	p, err := shareddata.Path("catalog-37k.csv.gz")
	if err != nil {
		b.Skipf("real catalog not available: %v", err)
	}
	r, err := dataset.Open(p, catalog.Fields, dataset.Options{Map: map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"}})
	require.NoError(b, err)
	defer r.Close()
	v := validator()
	var fs []*catalog.Fragrance
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(b, err)
		if f, _ := v.Check(raw); f != nil {
			fs = append(fs, f)
		}
	}
	for _, bc := range []struct {
		name string
		keys func(*catalog.Fragrance) []string
	}{{"BlockKeys", BlockKeys}, {"reference", blockKeysReference}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, f := range fs {
					bc.keys(f)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(fs)), "ns/fragrance")
		})
	}
}
