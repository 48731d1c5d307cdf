// Package synth writes realistic synthetic fragrance datasets of any size
// from a seed, for benchmarks and load tests: real-looking brands, names
// with flankers and concentrations, tiered notes, weighted accords, years,
// ratings and votes, and a small share of messy records (stray spaces,
// alias spellings, repeated rows, invalid years, missing names).
package synth

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

var (
	brands = []string{"Chanel", "Dior", "Christian Dior", "Yves Saint Laurent", "YSL", "Hermès", "Hermes", "Giorgio Armani",
		"Tom Ford", "Guerlain", "Creed", "Dolce & Gabbana", "Lancôme", "Gucci", "Prada", "Versace", "Givenchy", "Paco Rabanne",
		"Jean Paul Gaultier", "Carolina Herrera", "Calvin Klein", "Hugo Boss", "Viktor & Rolf", "Jo Malone London",
		"Maison Francis Kurkdjian", "Parfums de Marly", "Byredo", "Le Labo", "Diptyque", "Burberry", "Valentino",
		"Montblanc", "Azzaro", "Acqua di Parma", "Kenzo", "Issey Miyake", "Narciso Rodriguez", "Mugler", "Lattafa", "Amouage"}
	first  = []string{"Bleu", "Noir", "Rose", "Oud", "Ambre", "Vetiver", "Santal", "Iris", "Musc", "Cuir", "Fleur", "Nuit", "Soleil", "Eau", "Terre", "Ciel", "Black", "White", "Velvet", "Silver", "Golden", "Wild", "Secret", "Royal", "Imperial", "Midnight", "Aqua", "Tobacco", "Vanilla", "Amber"}
	second = []string{"Orchid", "Garden", "Legend", "Code", "Essence", "Spirit", "Dream", "Story", "Journey", "Elixir", "Bloom", "Intense", "Absolu", "Sport", "Night", "Leather", "Wood", "Citrus", "Desire", "Mystery", "Voyage", "Harmony", "Mirage", "Opus", "Reverie", "Signature", "Aura", "Horizon"}
	flank  = []string{"", "", "", "", "Intense", "Sport", "Elixir", "Absolu", "Summer 2019", "Night", "Privé", "Extreme", "Fraîche"}
	concs  = []string{"", "Eau de Parfum", "Eau de Toilette", "Parfum", "EDP", "EDT", "Extrait de Parfum", "Eau de Cologne", "Eau de Parfum Spray"}
	gender = []string{"", "men", "women", "unisex", "for men", "for women", "for women and men"}
	notes  = []string{"Bergamot", "Lemon", "Mandarin", "Pink Pepper", "Cardamom", "Lavender", "Rose", "Jasmine", "Iris", "Orange Blossom",
		"Tuberose", "Violet", "Geranium", "Cinnamon", "Saffron", "Vanilla", "Tonka Bean", "Amber", "Musk", "Sandalwood", "Cedar",
		"Vetiver", "Patchouli", "Oud", "Leather", "Tobacco", "Benzoin", "Incense", "Oakmoss", "Ambroxan", "Apple", "Pear", "Coconut"}
	accords = []string{"woody", "citrus", "floral", "white floral", "fresh spicy", "warm spicy", "sweet", "vanilla", "amber",
		"musky", "powdery", "aromatic", "fruity", "leather", "balsamic", "earthy", "green", "aquatic", "rose", "oud"}
)

// Options control a dataset.
type Options struct {
	Records int
	Seed    uint64
	// Format is "jsonl" or "csv".
	Format string
	// Messy is the share (0-1) of records with realistic faults.
	Messy float64
}

// Columns are the CSV columns, in order (also the plain table's, for the
// psql \copy baseline).
var Columns = []string{"source_id", "brand", "name", "concentration", "gender", "year", "notes", "accords", "rating", "votes"}

// Record is one generated record.
type Record struct {
	SourceID      string              `json:"source_id"`
	Brand         string              `json:"brand"`
	Name          string              `json:"name"`
	Concentration string              `json:"concentration,omitempty"`
	Gender        string              `json:"gender,omitempty"`
	Year          int                 `json:"year,omitempty"`
	Notes         map[string][]string `json:"notes,omitempty"`
	Accords       []map[string]any    `json:"accords,omitempty"`
	Rating        float64             `json:"rating,omitempty"`
	Votes         int                 `json:"votes,omitempty"`
}

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

func sample(r *rand.Rand, list []string, n int) []string {
	idx := r.Perm(len(list))[:n]
	out := make([]string, n)
	for i, j := range idx {
		out[i] = list[j]
	}
	return out
}

// Generate returns the i-th record of the dataset seeded with seed; the
// same arguments always give the same record.
func Generate(seed uint64, i int, messy float64) Record {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	rec := Record{
		SourceID:      "syn-" + strconv.Itoa(i),
		Brand:         pick(r, brands),
		Name:          strings.TrimSpace(pick(r, first) + " " + pick(r, second) + " " + strconv.Itoa(i%997) + " " + pick(r, flank)),
		Concentration: pick(r, concs),
		Gender:        pick(r, gender),
		Year:          1950 + r.IntN(76),
		Notes: map[string][]string{
			"top": sample(r, notes, 1+r.IntN(3)), "middle": sample(r, notes, 1+r.IntN(3)), "base": sample(r, notes, 1+r.IntN(3)),
		},
		Rating: float64(250+r.IntN(251)) / 100,
		Votes:  r.IntN(20000),
	}
	for j, a := range sample(r, accords, 3+r.IntN(3)) {
		rec.Accords = append(rec.Accords, map[string]any{"name": a, "weight": 1 - float64(j)*0.15})
	}
	if r.Float64() < messy {
		switch r.IntN(5) {
		case 0:
			rec.Name = "  " + strings.ToUpper(rec.Name) + "  "
		case 1:
			rec.Year = 1500 // quarantined: out of range
		case 2:
			rec.Name = "" // quarantined: required
		case 3:
			rec.SourceID = "syn-" + strconv.Itoa(i/2) // a repeated identity
		case 4:
			rec.Name = rec.Brand + " " + rec.Name // brand repeated in the title
		}
	}
	return rec
}

// Write streams a dataset to w.
func Write(w io.Writer, opts Options) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	switch opts.Format {
	case "jsonl", "":
		enc := json.NewEncoder(bw)
		for i := 1; i <= opts.Records; i++ {
			if err := enc.Encode(Generate(opts.Seed, i, opts.Messy)); err != nil {
				return fmt.Errorf("writing record %d: %w", i, err)
			}
		}
	case "csv":
		cw := csv.NewWriter(bw)
		if err := cw.Write(Columns); err != nil {
			return err
		}
		for i := 1; i <= opts.Records; i++ {
			rec := Generate(opts.Seed, i, opts.Messy)
			n, _ := json.Marshal(rec.Notes)
			a, _ := json.Marshal(rec.Accords)
			year := ""
			if rec.Year != 0 {
				year = strconv.Itoa(rec.Year)
			}
			if err := cw.Write([]string{rec.SourceID, rec.Brand, rec.Name, rec.Concentration, rec.Gender, year, string(n), string(a),
				strconv.FormatFloat(rec.Rating, 'f', 2, 64), strconv.Itoa(rec.Votes)}); err != nil {
				return fmt.Errorf("writing record %d: %w", i, err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("format %q: use jsonl or csv", opts.Format)
	}
	return bw.Flush()
}
