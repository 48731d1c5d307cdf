//go:build democatalog

// This file regenerates data/demo-catalog.jsonl.gz, the sandbox upstream's
// catalog, from shared/data/catalog-37k.csv.gz, keeping factual fields
// only (data/README.md). The output is committed.
//
//	go test -tags democatalog -run TestGenerateDemoCatalog ./internal/sandbox/
package sandbox

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

var imageID = regexp.MustCompile(`^o\.(\d+)\.jpg$`)

func TestGenerateDemoCatalog(t *testing.T) {
	path, err := shareddata.Path("catalog-37k.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	r, err := dataset.Open(path, []string{"brand", "name", "source_id", "year", "accords", "notes"},
		dataset.Options{Map: map[string]string{"perfume": "name", "image": "source_id", "launch_year": "year", "main_accords": "accords"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Fragrance
	seen := map[string]bool{}
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		str := func(k string) string {
			s, _ := raw.Fields[k].(string)
			s = strings.Join(strings.Fields(s), " ")
			if strings.EqualFold(s, "null") {
				return ""
			}
			return s
		}
		m := imageID.FindStringSubmatch(str("source_id"))
		if m == nil || seen[m[1]] || str("brand") == "" || str("name") == "" {
			continue
		}
		seen[m[1]] = true
		f := Fragrance{SourceID: m[1], Brand: str("brand"), Name: str("name")}
		if y, err := strconv.Atoi(str("year")); err == nil && y >= 1700 && y <= 2030 {
			f.Year = y
		}
		if accords, err := catalog.ParseList(raw.Fields["accords"]); err == nil {
			f.Accords = accords
		}
		if s := str("notes"); strings.HasPrefix(s, "{") {
			var tiers map[string][]string
			if json.Unmarshal([]byte(s), &tiers) == nil {
				f.Notes = map[string][]string{}
				for _, k := range []string{"top", "middle", "base"} {
					if len(tiers[k]) > 0 {
						f.Notes[k] = tiers[k]
					}
				}
			}
		} else if list, err := catalog.ParseList(raw.Fields["notes"]); err == nil && len(list) > 0 {
			f.NotesFlat = list
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].SourceID)
		b, _ := strconv.Atoi(out[j].SourceID)
		return a < b
	})
	file, err := os.Create("data/demo-catalog.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := gzip.NewWriterLevel(file, gzip.BestCompression)
	enc := json.NewEncoder(gz)
	for _, f := range out {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d fragrances written", len(out))
}
