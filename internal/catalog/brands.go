package catalog

import (
	"strings"
	"sync/atomic"
)

// BrandResolver maps brand spellings to one canonical brand: "Christian
// Dior" = "Dior", "YSL" = "Yves Saint Laurent", "Hermes" = "Hermès".
type BrandResolver struct {
	// byKey maps a folded spelling to the canonical brand.
	byKey map[string]*brandEntry
	// gen counts calls to Add, so that caches of resolutions (the
	// validator's) know when to start over.
	gen atomic.Uint64
}

func (b *BrandResolver) generation() uint64 { return b.gen.Load() }

type brandEntry struct {
	name    string
	key     string
	aliases []string
}

// NewBrandResolver returns an empty resolver.
func NewBrandResolver() *BrandResolver {
	return &BrandResolver{byKey: map[string]*brandEntry{}}
}

// Add registers a canonical brand and its aliases. A spelling already
// known keeps its first brand.
func (b *BrandResolver) Add(name string, aliases ...string) {
	b.gen.Add(1)
	key := Fold(name)
	if key == "" {
		return
	}
	e, ok := b.byKey[key]
	if !ok {
		e = &brandEntry{name: strings.TrimSpace(name), key: key}
		b.byKey[key] = e
	}
	for _, a := range aliases {
		ak := Fold(a)
		if ak == "" {
			continue
		}
		if _, taken := b.byKey[ak]; !taken {
			b.byKey[ak] = e
		}
		e.aliases = append(e.aliases, a)
	}
}

// Resolve returns the canonical name, its key and its aliases for a
// spelling; an unknown brand is its own canonical form.
func (b *BrandResolver) Resolve(spelling string) (name, key string, aliases []string) {
	k := Fold(spelling)
	if e, ok := b.byKey[k]; ok {
		return e.name, e.key, e.aliases
	}
	return strings.Join(strings.Fields(spelling), " "), k, nil
}
