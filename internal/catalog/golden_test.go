package catalog

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
	"github.com/scentmatch/pipeline/internal/shareddata"
	"github.com/scentmatch/pipeline/internal/synth"
)

// The golden digests pin what validation produces on real and synthetic
// catalogs: every record's normalized fields (the unexported-in-JSON ones
// too: brand key, match key, concentration-from-name), its content hash,
// every issue with its message and excerpt, and Fold of every raw text
// value. They were recorded with the validator as it was before it was made
// faster (commit 580537a), so a speed change that alters one byte of output
// fails here. SCENTMATCH_GOLDEN_DUMP=dir writes the full text behind each
// digest, to diff against a dump of the older code; SCENTMATCH_GOLDEN_UPDATE=1
// rewrites testdata/golden.json (only for an intended change of output).
var goldenSets = []struct {
	name string
	open func(t *testing.T, dir string) (*dataset.Reader, error)
}{
	{"catalog-37k", sharedSet("catalog-37k.csv.gz", realCatalogMap)},
	{"retail-3k", sharedSet("retail-3k.csv", map[string]string{"name_1": "name", "category": "concentration",
		"top_note": "notes_top", "heart_note": "notes_middle", "base_note": "notes_base", "customer_rating": "rating", "review_count": "votes"})},
	{"catalog2026-13k", sharedSet("catalog2026-13k.csv.gz", map[string]string{"category": "concentration"})},
	{"synth-jsonl-messy", synthSet("jsonl")},
	{"synth-csv-messy", synthSet("csv")},
	{"hostile", hostileSet},
}

func sharedSet(file string, m map[string]string) func(t *testing.T, dir string) (*dataset.Reader, error) {
	return func(t *testing.T, _ string) (*dataset.Reader, error) {
		p, err := shareddata.Path(file)
		if err != nil {
			t.Skipf("shared data not available: %v", err)
		}
		return dataset.Open(p, Fields, dataset.Options{Map: m})
	}
}

func synthSet(format string) func(t *testing.T, dir string) (*dataset.Reader, error) {
	return func(t *testing.T, dir string) (*dataset.Reader, error) {
		p := filepath.Join(dir, "synth."+format)
		fh, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		if err := synth.Write(fh, synth.Options{Records: 20000, Seed: 7, Format: format, Messy: 0.3}); err != nil {
			return nil, err
		}
		if err := fh.Close(); err != nil {
			return nil, err
		}
		return dataset.Open(p, Fields, dataset.Options{})
	}
}

// hostileSet is a JSON Lines file of values every rule has to handle.
func hostileSet(t *testing.T, dir string) (*dataset.Reader, error) {
	lines := []string{
		`{"brand":"Dior","name":"Sauvage Eau de Parfum","concentration":"Eau de Parfum Spray","gender":"for men","year":"2015","notes":{"top":["Bergamot","bergamot"," Pepper "],"middle":"Lavender|Geranium","base":"[\"Ambroxan\",null,{\"name\":\"Cedar\"}]"},"accords":[{"name":"Fresh Spicy","weight":"1,0"},"Amber",null,{"name":"amber","weight":0.5}]}`,
		`{"brand":"Hermès","name":"Terre d'Hermès (Vintage)","concentration":"EDT","gender":"Men","year":2006,"rating":"4,25","votes":"1,234"}`,
		`{"brand":"Jean Paul Gaultier","name":"Le Male Le Parfum","gender":"for women and men","notes":"[\"A\",\"b\",\"a\"]","accords":"[\"Woody\",{\"name\":\"warm spicy\",\"weight\":null}]"}`,
		`{"brand":"<script>alert(1)</script>","name":"Eau & \"Fraîche\" + N° 5","concentration":"parfum","gender":"unisex","year":"1999.0"}`,
		`{"brand":"ＡＢＣ","name":"ﬁne ß İstanbul Œuvre Æther Łódź đ ø","concentration":"extrait de parfum","gender":"women","year":"x"}`,
		`{"brand":"","name":"\u0000","concentration":"bad","gender":"robot","year":"-1"}`,
		`{"brand":"Chanel","name":"No 5","year":1500,"rating":6,"votes":-3}`,
		`{"brand":"Chanel","name":"Coco","rating":"abc","votes":"1.5","url":"ftp://x"}`,
		`{"brand":"Chanel","name":"Coco Noir Extrait","concentration":"Parfum","url":"https://chanel.com/x","description":"  A text  "}`,
		`{"brand":"Chanel","name":"Coco Noir Extrait","concentration":"Extrait"}`,
		`{"brand":["Chanel"],"name":{"x":1},"notes":{"top":["a"],"heart":["b"]},"accords":[1,[2]]}`,
		`{"brand":"Chanel","name":"Bleu de Chanel","notes":[["x"]],"perfumers":"Jacques Polge, Olivier Polge"}`,
		`{"brand":"Chanel","name":"Allure","notes":"{bad json","accords":"[bad"}`,
		`{"brand":"Chanel","name":"Allure","notes":"[bad","accords":[{"name":"x","weight":"heavy"}]}`,
		`{"brand":"null","name":"N/A"}`,
		`{"brand":"Christian Dior","name":"Dior Homme by Dior","source":"other","source_id":"  42 ","gender":"M","year":" 2020 ","rating":4.333,"votes":12345678901}`,
		`{"brand":"YSL","name":"Y Eau de Parfum","concentration":"Eau de Parfum","notes":"Bergamot, Ginger,,null, Sage","accords":"woody|fresh|woody"}`,
		`{"brand":"Tom Ford","name":"Tobacco Vanille (2007)","notes":{"top":null,"middle":[],"base":["Tonka   Bean","Tonka Bean","Vanilla"]}}`,
		`{"brand":"Guerlain","name":"Shalimar – Eau de Toilette","concentration":"Eau de Toilette","notes":[{"name":"Bergamot"},"Iris",true,3.5]}`,
		`{"brand":"Guerlain","name":"L’Homme Idéal","accords":"Woody, Amber","votes":"1 000","year":2030}`,
		`{"brand":"Montblanc","name":"Legend","rating":"NaN","votes":"1e3"}`,
		`{"brand":"Montblanc","name":"` + strings.Repeat("é", 300) + `","notes":["` + strings.Repeat("x", 300) + `"]}`,
		`{"brand":"Montblanc","name":"Explorer","notes":[` + strings.TrimSuffix(strings.Repeat(`"n",`, 5)+strings.Repeat(`"m`, 1), `,`) + `"]}`,
		`{"brand":"Montblanc","name":"Explorer Ultra","accords":["` + strings.Join(strings.Fields(strings.Repeat("a b c d e f g h i j k l m n o p q r s t u v w x y z ", 3)), `","`) + `"]}`,
		`{"brand":"Mugler","name":"Alien","notes":"[\"a\\u0000b\",\"ok\"]","accords":["\u00ff\u0000"]}`,
		`{"brand":"Mugler","name":"Angel","accords":"[{\"name\":\"Sweet\",\"weight\":\"0.9\"},{\"name\":\"Sweet\",\"weight\":0.1},{\"weight\":2}]"}`,
		`{"brand":"Mugler","name":"A*Men","accords":{"x":1},"notes":5}`,
		`{"brand":"Mugler","name":"Angel Elixir","notes":{"top":"[\"a\",\"b\"]","middle":"c|d","base":[{"name":"e"},{"id":1}]}}`,
		`{"brand":"Mugler","name":"Angel Nova","notes":"{\"top\":\"x, y\",\"middle\":{\"a\":1}}"}`,
		`{"brand":"Mugler","name":"Cologne","concentration":"Cologne","gender":"all","notes":"  ","accords":"null"}`,
		`{"brand":"Mugler","name":"  Aura   Eau de Parfum  ","concentration":"edp","gender":"Her","year":"2017","rating":"4","votes":"10_000"}`,
		`{"brand":"Dolce & Gabbana","name":"Light Blue pour homme Dolce&Gabbana","gender":"pour homme","accords":["Citrus","CITRUS","citrus "]}`,
	}
	p := filepath.Join(dir, "hostile.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return dataset.Open(p, Fields, dataset.Options{})
}

// dumpValue writes v in a form that shows nil against empty and derefs
// pointers, for every field exported or not in JSON.
func dumpValue(w *bytes.Buffer, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			w.WriteString("nil")
			return
		}
		w.WriteString("&")
		dumpValue(w, v.Elem())
	case reflect.Slice:
		if v.IsNil() {
			w.WriteString("nil")
			return
		}
		w.WriteString("[")
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				w.WriteString(",")
			}
			dumpValue(w, v.Index(i))
		}
		w.WriteString("]")
	case reflect.Struct:
		w.WriteString("{")
		for i := 0; i < v.NumField(); i++ {
			if i > 0 {
				w.WriteString(" ")
			}
			w.WriteString(v.Type().Field(i).Name + ":")
			dumpValue(w, v.Field(i))
		}
		w.WriteString("}")
	case reflect.String:
		fmt.Fprintf(w, "%q", v.String())
	default:
		fmt.Fprintf(w, "%v", v.Interface())
	}
}

// goldenText validates every record of r and writes what came out.
func goldenText(t *testing.T, r *dataset.Reader, v *Validator, w io.Writer) {
	var buf bytes.Buffer
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fmt.Fprintf(w, "read error: %v\n", err)
			return
		}
		buf.Reset()
		keys := make([]string, 0, len(raw.Fields))
		for k := range raw.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&buf, "#%d line %d\nfold:", raw.Index, raw.Line)
		for _, k := range keys {
			if s, ok := raw.Fields[k].(string); ok {
				fmt.Fprintf(&buf, " %s=%q", k, Fold(s))
			}
		}
		buf.WriteString("\n")
		f, issues := v.Check(raw)
		buf.WriteString("record: ")
		dumpValue(&buf, reflect.ValueOf(f))
		if f != nil {
			fmt.Fprintf(&buf, "\nhash: %s", ContentHash(f))
		}
		buf.WriteString("\nissues: ")
		dumpValue(&buf, reflect.ValueOf(issues))
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
}

func goldenValidator() *Validator {
	cfg := settings.Default()
	brands := NewBrandResolver()
	for _, br := range cfg.Brands.Brands {
		brands.Add(br.Name, br.Aliases...)
	}
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	return &Validator{Quality: cfg.Monitoring.Quality, Brands: brands, Source: "golden", Now: func() time.Time { return now }}
}

// TestValidationMatchesGolden checks validation's output, byte for byte,
// against digests recorded before validation was rewritten for speed.
func TestValidationMatchesGolden(t *testing.T) {
	t.Parallel()
	goldenFile := filepath.Join("testdata", "golden.json")
	want := map[string]string{}
	if b, err := os.ReadFile(goldenFile); err == nil {
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
	}
	update := os.Getenv("SCENTMATCH_GOLDEN_UPDATE") == "1"
	dumpDir := os.Getenv("SCENTMATCH_GOLDEN_DUMP")
	got := map[string]string{}
	dir := t.TempDir()
	for _, set := range goldenSets {
		t.Run(set.name, func(t *testing.T) {
			r, err := set.open(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h := sha256.New()
			var w io.Writer = h
			if dumpDir != "" {
				fh, err := os.Create(filepath.Join(dumpDir, set.name+".txt"))
				if err != nil {
					t.Fatal(err)
				}
				bw := bufio.NewWriter(fh)
				defer func() { bw.Flush(); fh.Close() }()
				w = io.MultiWriter(h, bw)
			}
			goldenText(t, r, goldenValidator(), w)
			got[set.name] = hex.EncodeToString(h.Sum(nil))
			if !update && got[set.name] != want[set.name] {
				t.Errorf("validation output of %s changed: digest %s, golden %s (SCENTMATCH_GOLDEN_DUMP=dir writes the text to diff)", set.name, got[set.name], want[set.name])
			}
		})
	}
	if update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(goldenFile, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
