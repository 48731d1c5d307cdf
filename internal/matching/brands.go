package matching

import (
	"github.com/scentmatch/pipeline/internal/catalog"
)

// BrandIndex resolves a source's brand spelling to a catalog brand.
type BrandIndex struct {
	byKey map[string]string
}

// NewBrandIndex returns an empty index.
func NewBrandIndex() *BrandIndex { return &BrandIndex{byKey: map[string]string{}} }

// Add registers a catalog brand and its aliases.
func (x *BrandIndex) Add(name string, aliases ...string) {
	key := catalog.Fold(name)
	if key == "" {
		return
	}
	if _, ok := x.byKey[key]; !ok {
		x.byKey[key] = key
	}
	for _, a := range aliases {
		if ak := catalog.Fold(a); ak != "" {
			if _, ok := x.byKey[ak]; !ok {
				x.byKey[ak] = key
			}
		}
	}
}

// Resolve returns the catalog brand key a spelling resolves to.
func (x *BrandIndex) Resolve(spelling string) (string, bool) {
	k, ok := x.byKey[catalog.Fold(spelling)]
	return k, ok
}
