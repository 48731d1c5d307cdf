// Package synth writes realistic synthetic fragrance datasets of any size
// from a seed, for benchmarks and load tests: real-looking brands, names
// with flankers and concentrations, tiered notes, weighted accords, years,
// ratings and votes, and a small share of messy records (stray spaces,
// alias spellings, repeated rows, invalid years, missing names).
//
// Brands and name words follow the frequencies of a real catalog
// (shared/data/catalog-37k: 2,571 brands, the 10 largest holding 8% of the
// records and the 100 largest 31%; 16,000 distinct name words, the 100
// most common making up a third of all name words; one to six words a
// name), so that fuzzy matching, which looks up records sharing a brand
// and name words, costs what it costs on real data. TestVocabularyLooksReal
// compares them.
package synth

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

var (
	brands = []string{"Chanel", "Dior", "Christian Dior", "Yves Saint Laurent", "YSL", "Hermès", "Hermes", "Giorgio Armani",
		"Tom Ford", "Guerlain", "Creed", "Dolce & Gabbana", "Lancôme", "Gucci", "Prada", "Versace", "Givenchy", "Paco Rabanne",
		"Jean Paul Gaultier", "Carolina Herrera", "Calvin Klein", "Hugo Boss", "Viktor & Rolf", "Jo Malone London",
		"Maison Francis Kurkdjian", "Parfums de Marly", "Byredo", "Le Labo", "Diptyque", "Burberry", "Valentino",
		"Montblanc", "Azzaro", "Acqua di Parma", "Kenzo", "Issey Miyake", "Narciso Rodriguez", "Mugler", "Lattafa", "Amouage"}
	// first and second were the only name words before the vocabulary
	// followed a real catalog's; they lead the name-word ranking now.
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

// realWords are common words of real fragrance names, most common first
// (after catalog-37k's ranking); names draw from them and then from made-up
// words, by a Zipf law fitted to that catalog.
var realWords = []string{"de", "eau", "for", "d", "rose", "l", "men", "no", "homme", "edition", "pour", "the", "love", "black",
	"of", "la", "man", "summer", "oud", "white", "blue", "a", "woman", "s", "di", "gold", "le", "women", "musk", "night", "pink",
	"red", "collection", "limited", "fresh", "green", "sweet", "her", "him", "pure", "sun", "light", "edp", "one", "wood", "flower",
	"water", "my", "classic", "orange", "garden", "angel", "extreme", "sport", "spring", "cherry", "paris", "lady", "girl", "boy"}

// Vocabulary sizes and Zipf parameters (weight of rank r: 1/(r+q)^s),
// fitted to catalog-37k's top-k shares.
const (
	brandCount = 2600
	brandS     = 0.92
	brandQ     = 20
	wordCount  = 16000
	wordS      = 1.0
	wordQ      = 8
)

// nameLengths is the share of names with 1, 2, ... 7 words in catalog-37k.
var nameLengths = []float64{0.254, 0.332, 0.207, 0.109, 0.055, 0.024, 0.019}

// vocab is the brand and name-word vocabulary, built once from a fixed
// seed (the same for every dataset).
type vocab struct {
	brands, words           []string
	brandCum, wordCum, lens []float64
}

var vocabulary = sync.OnceValue(buildVocab)

func buildVocab() *vocab {
	r := rand.New(rand.NewPCG(20261202, 19))
	v := &vocab{}
	seen := map[string]bool{}
	add := func(list *[]string, w string) {
		if k := strings.ToLower(w); !seen[k] {
			seen[k] = true
			*list = append(*list, w)
		}
	}
	for _, b := range brands {
		add(&v.brands, b)
	}
	suffixes := []string{"", "", "", "", " Parfums", " Perfumes", " Fragrances", " Paris", " London", " Milano", " Cosmetics", " Perfume"}
	for len(v.brands) < brandCount {
		name := madeUpWord(r)
		if r.IntN(3) == 0 {
			name += " " + madeUpWord(r)
		}
		add(&v.brands, name+pick(r, suffixes))
	}
	seen = map[string]bool{}
	for _, w := range realWords {
		add(&v.words, w)
	}
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			add(&v.words, strings.ToLower(first[i]))
		}
		if i < len(second) {
			add(&v.words, strings.ToLower(second[i]))
		}
	}
	for len(v.words) < wordCount {
		add(&v.words, strings.ToLower(madeUpWord(r)))
	}
	v.brandCum = zipfCum(len(v.brands), brandS, brandQ)
	v.wordCum = zipfCum(len(v.words), wordS, wordQ)
	total := 0.0
	for _, p := range nameLengths {
		total += p
		v.lens = append(v.lens, total)
	}
	return v
}

// madeUpWord is a capitalised pronounceable word of two to four syllables.
func madeUpWord(r *rand.Rand) string {
	cons := []string{"b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "br", "tr", "st", "gr", "fl"}
	vows := []string{"a", "e", "i", "o", "u", "ou", "ai", "ia", "y"}
	var b strings.Builder
	for n := 1 + r.IntN(3); n > 0; n-- {
		b.WriteString(pick(r, cons))
		b.WriteString(pick(r, vows))
	}
	if r.IntN(2) == 0 {
		b.WriteString(pick(r, []string{"n", "r", "s", "l", "x", "t"}))
	}
	w := b.String()
	return strings.ToUpper(w[:1]) + w[1:]
}

func zipfCum(n int, s, q float64) []float64 {
	cum := make([]float64, n)
	total := 0.0
	for i := range cum {
		total += 1 / math.Pow(float64(i+1)+q, s)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}

// draw picks an index by cumulative weights.
func draw(r *rand.Rand, cum []float64) int {
	i, _ := slices.BinarySearch(cum, r.Float64())
	return min(i, len(cum)-1)
}

// title capitalises each word of a name.
func title(words []string) string {
	for i, w := range words {
		if len(w) > 1 || i == 0 {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

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
	v := vocabulary()
	words := make([]string, 1+draw(r, v.lens))
	for j := range words {
		words[j] = v.words[draw(r, v.wordCum)]
	}
	rec := Record{
		SourceID: "syn-" + strconv.Itoa(i),
		Brand:    v.brands[draw(r, v.brandCum)],
		// The number keeps names of one brand apart, as real catalogs'
		// are (a few hundred records per brand at most share no name).
		Name:          title(words) + " " + strconv.Itoa(i%997),
		Concentration: pick(r, concs),
		Gender:        pick(r, gender),
		Year:          1950 + r.IntN(76),
		Notes: map[string][]string{
			"top": sample(r, notes, 1+r.IntN(3)), "middle": sample(r, notes, 1+r.IntN(3)), "base": sample(r, notes, 1+r.IntN(3)),
		},
		Rating: float64(250+r.IntN(251)) / 100,
		Votes:  r.IntN(20000),
	}
	// One name in five is a flanker ("... Intense", "... Summer 2019").
	if r.IntN(5) == 0 {
		rec.Name += " " + pick(r, flank[4:])
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
