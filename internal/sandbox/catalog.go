package sandbox

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// demoCatalog is the bundled demo catalog (data/README.md says where it
// comes from and what it keeps).
//
//go:embed data/demo-catalog.jsonl.gz
var demoCatalog []byte

// Fragrance is one demo catalog entry: factual fields only. Popularity is
// synthesized per week (popularity.go).
type Fragrance struct {
	SourceID  string              `json:"source_id"`
	Brand     string              `json:"brand"`
	Name      string              `json:"name"`
	Year      int                 `json:"year,omitempty"`
	Accords   []string            `json:"accords,omitempty"`
	Notes     map[string][]string `json:"notes,omitempty"`
	NotesFlat []string            `json:"notes_flat,omitempty"`
}

// Catalog is a loaded demo catalog, ordered for listing (brand, name, id).
type Catalog struct {
	Fragrances []Fragrance
	byID       map[string]int
	byBrand    map[string][]int // brandKey -> indexes, in listing order
	brandSize  []int            // per fragrance, its brand's size
}

var (
	demoOnce sync.Once
	demo     *Catalog
	demoErr  error
)

// Demo returns the bundled demo catalog, decoded once per process.
func Demo() (*Catalog, error) {
	demoOnce.Do(func() {
		gz, err := gzip.NewReader(bytes.NewReader(demoCatalog))
		if err != nil {
			demoErr = fmt.Errorf("reading the demo catalog: %w", err)
			return
		}
		var list []Fragrance
		sc := bufio.NewScanner(gz)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var f Fragrance
			if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
				demoErr = fmt.Errorf("reading the demo catalog, line %d: %w", len(list)+1, err)
				return
			}
			list = append(list, f)
		}
		if err := sc.Err(); err != nil {
			demoErr = fmt.Errorf("reading the demo catalog: %w", err)
			return
		}
		demo = NewCatalog(list)
	})
	return demo, demoErr
}

// NewCatalog indexes fragrances for the API (tests build small ones).
func NewCatalog(list []Fragrance) *Catalog {
	c := &Catalog{Fragrances: append([]Fragrance(nil), list...), byID: map[string]int{}, byBrand: map[string][]int{}}
	keys := make([]string, len(c.Fragrances))
	names := make([]string, len(c.Fragrances))
	for i, f := range c.Fragrances {
		keys[i], names[i] = catalog.Fold(f.Brand), catalog.Fold(f.Name)
	}
	order := make([]int, len(c.Fragrances))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if keys[i] != keys[j] {
			return keys[i] < keys[j]
		}
		if names[i] != names[j] {
			return names[i] < names[j]
		}
		return c.Fragrances[i].SourceID < c.Fragrances[j].SourceID
	})
	sorted := make([]Fragrance, len(order))
	for n, i := range order {
		sorted[n] = c.Fragrances[i]
	}
	c.Fragrances = sorted
	for i, f := range c.Fragrances {
		c.byID[f.SourceID] = i
		k := brandKey(f.Brand)
		c.byBrand[k] = append(c.byBrand[k], i)
	}
	c.brandSize = make([]int, len(c.Fragrances))
	for _, list := range c.byBrand {
		for _, i := range list {
			c.brandSize[i] = len(list)
		}
	}
	return c
}

// Brand returns the indexes of a brand's fragrances, compared loosely as
// a site search would: folded, and "and" ignored ("Dolce & Gabbana" finds
// "Dolce Gabbana").
func (c *Catalog) Brand(name string) []int { return c.byBrand[brandKey(name)] }

func brandKey(s string) string {
	var out []string
	for _, t := range strings.Fields(catalog.Fold(s)) {
		if t != "and" {
			out = append(out, t)
		}
	}
	return strings.Join(out, " ")
}
