//go:build labelgen

// This file regenerates testdata/labeled_pairs.jsonl from shared/data with
// the labelling rule of docs/matching.md. The output is committed: labels
// are fixed before any matcher is tuned against them.
//
//	go test -tags labelgen -run TestGenerateLabels ./internal/matching/
package matching

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
)

type rec = map[string]any

func readAll(t *testing.T, name string, m map[string]string) []rec {
	path, err := shareddata.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := dataset.Open(path, catalog.Fields, dataset.Options{Map: m})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []rec
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw.Fields)
	}
}

func str(r rec, k string) string {
	s, _ := r[k].(string)
	return strings.TrimSpace(s)
}

// keep copies the fields the matcher may use as evidence.
func keep(r rec) rec {
	out := rec{}
	for _, k := range []string{"brand", "name", "year", "notes", "accords", "concentration", "gender"} {
		if v, ok := r[k]; ok && v != nil && v != "" && v != "null" {
			out[k] = v
		}
	}
	return out
}

func clone(r rec) rec {
	out := rec{}
	for k, v := range r {
		out[k] = v
	}
	return out
}

var yearRe = regexp.MustCompile(`^(1[7-9]|20)\d\d$`)
var digitsRe = regexp.MustCompile(`\d+`)

// noiseOnly reports whether extra tokens are only a year, "vintage" or
// concentration words: by the rule those do not make another product.
func noiseOnly(extra []string) bool {
	for _, t := range extra {
		if yearRe.MatchString(t) || t == "vintage" || t == "edt" || t == "edp" || t == "eau" || t == "de" || t == "parfum" || t == "toilette" {
			continue
		}
		return false
	}
	return true
}

func split(brandKey string) string {
	h := fnv.New32a()
	h.Write([]byte(brandKey))
	if h.Sum32()%2 == 0 {
		return "tune"
	}
	return "heldout"
}

type pair struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Label bool   `json:"same"`
	Split string `json:"split"`
	A     rec    `json:"a"`
	B     rec    `json:"b"`
}

func TestGenerateLabels(t *testing.T) {
	cfg := settings.Default()
	brands := catalog.NewBrandResolver()
	aliases := map[string][]string{}
	for _, b := range cfg.Brands.Brands {
		brands.Add(b.Name, b.Aliases...)
		_, key, _ := brands.Resolve(b.Name)
		aliases[key] = append([]string{b.Name}, b.Aliases...)
	}
	brandKey := func(b string) string { _, k, _ := brands.Resolve(b); return k }
	// The name without the brand in any of its spellings (a brand repeated
	// in the title is not another product).
	nameKey := func(r rec) string {
		name, _, aliases := brands.Resolve(str(r, "brand"))
		return catalog.Fold(catalog.StripBrand(str(r, "name"), append([]string{str(r, "brand"), name}, aliases...)...))
	}
	cat := readAll(t, "catalog-37k.csv.gz", map[string]string{"perfume": "name", "launch_year": "year", "main_accords": "accords", "image": "source_id"})
	retail := readAll(t, "retail-3k.csv", map[string]string{"name_1": "name", "category": "concentration", "top_note": "notes_top", "heart_note": "notes_middle", "base_note": "notes_base"})
	rng := rand.New(rand.NewPCG(20261128, 1))

	byBrand := map[string][]rec{}
	nameCount := map[string]int{}
	for _, r := range cat {
		if str(r, "name") == "" || str(r, "brand") == "" {
			continue
		}
		bk := brandKey(str(r, "brand"))
		byBrand[bk] = append(byBrand[bk], r)
		nameCount[bk+"|"+nameKey(r)]++
	}
	brandKeys := make([]string, 0, len(byBrand))
	for k := range byBrand {
		brandKeys = append(brandKeys, k)
	}
	sort.Strings(brandKeys)

	var pairs []pair
	add := func(kind string, same bool, a, b rec) {
		pairs = append(pairs, pair{ID: fmt.Sprintf("%s-%05d", kind, len(pairs)+1), Kind: kind, Label: same, Split: split(brandKey(str(a, "brand"))), A: keep(a), B: keep(b)})
	}

	// P1: perturbations of real catalog records (unique name within brand).
	var singles []rec
	for _, bk := range brandKeys {
		for _, r := range byBrand[bk] {
			if nameCount[bk+"|"+nameKey(r)] == 1 && len(nameKey(r)) >= 3 {
				singles = append(singles, r)
			}
		}
	}
	rng.Shuffle(len(singles), func(i, j int) { singles[i], singles[j] = singles[j], singles[i] })
	perturbations := []struct {
		kind string
		fn   func(r rec) (rec, bool)
	}{
		{"word-order", func(r rec) (rec, bool) {
			w := strings.Fields(str(r, "name"))
			if len(w) != 2 {
				return nil, false
			}
			b := clone(r)
			b["name"] = w[1] + " " + w[0]
			return b, true
		}},
		{"case-and-spaces", func(r rec) (rec, bool) {
			b := clone(r)
			b["name"] = "  " + strings.ToUpper(str(r, "name")) + " "
			return b, true
		}},
		{"apostrophe", func(r rec) (rec, bool) {
			n := str(r, "name")
			for _, p := range []string{" d ", " l ", " D ", " L "} {
				if i := strings.Index(n, p); i >= 0 {
					b := clone(r)
					b["name"] = n[:i+2] + "’" + n[i+3:]
					return b, true
				}
			}
			return nil, false
		}},
		{"trailing-year", func(r rec) (rec, bool) {
			y := str(r, "year")
			if y == "" {
				return nil, false
			}
			b := clone(r)
			b["name"] = str(r, "name") + " (" + y + ")"
			return b, true
		}},
		{"vintage", func(r rec) (rec, bool) {
			b := clone(r)
			b["name"] = str(r, "name") + " (Vintage)"
			return b, true
		}},
		{"brand-in-title", func(r rec) (rec, bool) {
			b := clone(r)
			b["name"] = str(r, "brand") + " " + str(r, "name")
			return b, true
		}},
		{"brand-alias", func(r rec) (rec, bool) {
			list := aliases[brandKey(str(r, "brand"))]
			if len(list) < 2 {
				return nil, false
			}
			b := clone(r)
			b["brand"] = list[rng.IntN(len(list))]
			if b["brand"] == r["brand"] {
				return nil, false
			}
			return b, true
		}},
		{"typo", func(r rec) (rec, bool) {
			w := strings.Fields(str(r, "name"))
			for i, word := range w {
				if len(word) >= 7 && strings.IndexFunc(word, func(c rune) bool { return c > 127 }) < 0 {
					k := 2 + rng.IntN(len(word)-4)
					ws := []byte(word)
					ws[k], ws[k+1] = ws[k+1], ws[k]
					if string(ws) == word {
						return nil, false
					}
					w[i] = string(ws)
					b := clone(r)
					b["name"] = strings.Join(w, " ")
					return b, true
				}
			}
			return nil, false
		}},
	}
	perKind := map[string]int{}
	for _, r := range singles {
		p := perturbations[rng.IntN(len(perturbations))]
		if perKind[p.kind] >= 90 {
			continue
		}
		if b, ok := p.fn(r); ok {
			add("same-"+p.kind, true, r, b)
			perKind[p.kind]++
		}
	}

	// P2: retail records whose brand and name (brand words and a trailing
	// concentration removed, folded) equal exactly one catalog record's.
	catByName := map[string][]rec{}
	for _, bk := range brandKeys {
		for _, r := range byBrand[bk] {
			catByName[bk+"|"+nameKey(r)] = append(catByName[bk+"|"+nameKey(r)], r)
		}
	}
	seenRetail := map[string]bool{}
	retailPairs := 0
	for _, r := range retail {
		if str(r, "name_2") != "" {
			continue
		}
		bk := brandKey(str(r, "brand"))
		n, _ := catalog.SplitConcentration(catalog.StripBrand(str(r, "name"), str(r, "brand")))
		key := bk + "|" + catalog.Fold(n)
		c := catByName[key]
		if len(c) != 1 || seenRetail[key] || len(catalog.Fold(n)) < 2 {
			continue
		}
		seenRetail[key] = true
		b := keep(r)
		if g := str(r, "gender"); g != "" {
			b["gender"] = g
		}
		add("same-retail-listing", true, c[0], b)
		retailPairs++
	}

	// N1 flankers, N2 numbers, N5 other brand.
	flankers, numbers := 0, 0
	for _, bk := range brandKeys {
		names := map[string]rec{}
		var keys []string
		for _, r := range byBrand[bk] {
			k := nameKey(r)
			if _, ok := names[k]; !ok && k != "" {
				names[k] = r
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, a := range keys {
			for _, b := range keys {
				if a == b {
					continue
				}
				if strings.HasPrefix(b, a+" ") && flankers < 400 && rng.IntN(8) == 0 {
					if !noiseOnly(strings.Fields(strings.TrimPrefix(b, a+" "))) {
						add("diff-flanker", false, names[a], names[b])
						flankers++
					}
				}
				if a < b && digitsRe.MatchString(a) && digitsRe.ReplaceAllString(a, "#") == digitsRe.ReplaceAllString(b, "#") && numbers < 200 {
					add("diff-number", false, names[a], names[b])
					numbers++
				}
			}
		}
	}
	otherBrand := 0
	byName := map[string][]rec{}
	for _, bk := range brandKeys {
		for _, r := range byBrand[bk] {
			byName[nameKey(r)] = append(byName[nameKey(r)], r)
		}
	}
	var shared []string
	for n, rs := range byName {
		if len(rs) > 1 && len(n) >= 4 {
			shared = append(shared, n)
		}
	}
	sort.Strings(shared)
	for _, n := range shared {
		rs := byName[n]
		if brandKey(str(rs[0], "brand")) != brandKey(str(rs[1], "brand")) && otherBrand < 150 {
			add("diff-brand", false, rs[0], rs[1])
			otherBrand++
		}
	}

	// N3 other gender, N4 other concentration: a real record and the same
	// record stated for another gender or concentration.
	gender, conc := 0, 0
	concs := []string{"Eau de Toilette", "Eau de Parfum", "Parfum", "Eau de Cologne", "Extrait de Parfum"}
	for i, r := range singles {
		if i%2 == 0 && gender < 150 {
			a, b := clone(r), clone(r)
			a["gender"], b["gender"] = "men", "women"
			add("diff-gender", false, a, b)
			gender++
		} else if conc < 150 {
			a, b := clone(r), clone(r)
			j := rng.IntN(len(concs))
			a["concentration"], b["concentration"] = concs[j], concs[(j+1+rng.IntN(len(concs)-1))%len(concs)]
			add("diff-concentration", false, a, b)
			conc++
		}
		if gender >= 150 && conc >= 150 {
			break
		}
	}

	f, err := os.Create("testdata/labeled_pairs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	counts := map[string]int{}
	for _, p := range pairs {
		if err := enc.Encode(p); err != nil {
			t.Fatal(err)
		}
		counts[p.Kind+"/"+p.Split]++
	}
	t.Logf("%d pairs (retail %d, flankers %d, numbers %d, other brand %d): %v", len(pairs), retailPairs, flankers, numbers, otherBrand, counts)
}
