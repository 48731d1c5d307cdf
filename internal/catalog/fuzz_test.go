package catalog

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

// FuzzNormalize checks the properties matching relies on: folding is
// idempotent, canonical concentrations and genders map to themselves,
// match keys are deterministic and never empty for an accepted record,
// and validation never panics on hostile values.
func FuzzNormalize(f *testing.F) {
	f.Add("Dior", "Sauvage Eau de Parfum", "Eau de Parfum Spray", "for men", "2015")
	f.Add("Hermès", "Terre d'Hermès (Vintage)", "EDT", "Men", "2006")
	f.Add("Jean Paul Gaultier", "Le Male Le Parfum", "", "for women and men", "")
	f.Add("<script>alert(1)</script>", "Eau & \"Fraîche\"", "parfum", "unisex", "1999")
	f.Add("ＡＢＣ", "ﬁne ß İstanbul", "extrait de parfum", "women", "x")
	f.Add("", "\x00", "\xff", "", "-1")
	v := &Validator{Quality: settings.Default().Monitoring.Quality}
	f.Fuzz(func(t *testing.T, brand, name, conc, gender, year string) {
		folded := Fold(name)
		if again := Fold(folded); again != folded {
			t.Fatalf("Fold is not idempotent: %q -> %q -> %q", name, folded, again)
		}
		if c, ok := NormalizeConcentration(conc); ok {
			if c2, ok2 := NormalizeConcentration(c); !ok2 || c2 != c {
				t.Fatalf("concentration %q -> %q -> %q (%v)", conc, c, c2, ok2)
			}
		}
		if g, ok := NormalizeGender(gender); ok {
			if g2, ok2 := NormalizeGender(g); !ok2 || g2 != g {
				t.Fatalf("gender %q -> %q -> %q", gender, g, g2)
			}
		}
		base, c := SplitConcentration(name)
		if c != "" && strings.TrimSpace(base) == "" {
			t.Fatalf("SplitConcentration(%q) emptied the name", name)
		}
		raw := &dataset.Raw{Index: 1, Line: 1, Fields: map[string]any{
			"brand": brand, "name": name, "concentration": conc, "gender": gender, "year": year,
			"notes": name + "|" + brand, "accords": []any{conc, map[string]any{"name": gender, "weight": year}},
		}}
		rec, issues := v.Check(raw)
		if rec == nil {
			if len(issues) == 0 {
				t.Fatal("a rejected record must say why")
			}
			return
		}
		if _, bad := FirstError(issues); bad {
			return
		}
		if rec.MatchKey == "" || !utf8.ValidString(rec.MatchKey) {
			t.Fatalf("accepted record with match key %q", rec.MatchKey)
		}
		rec2, _ := v.Check(raw)
		if rec2.MatchKey != rec.MatchKey || ContentHash(rec2) != ContentHash(rec) {
			t.Fatalf("validation is not deterministic for %q", name)
		}
	})
}
