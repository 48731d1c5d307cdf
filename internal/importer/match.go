package importer

import (
	"github.com/scentmatch/pipeline/internal/catalog"
)

// fill copies into dst what it lacks from src (and a rating backed by
// more votes), returning the replaced values by field.
func fill(dst, src *catalog.Fragrance) map[string]any {
	replaced := map[string]any{}
	str := func(field string, d *string, s string) {
		if *d == "" && s != "" {
			replaced[field] = nil
			*d = s
		}
	}
	lst := func(field string, d *[]string, s []string) {
		if len(*d) == 0 && len(s) > 0 {
			replaced[field] = []string{}
			*d = append([]string(nil), s...)
		}
	}
	str("concentration", &dst.Concentration, src.Concentration)
	str("gender", &dst.Gender, src.Gender)
	str("url", &dst.URL, src.URL)
	str("description", &dst.Description, src.Description)
	if dst.Year == nil && src.Year != nil {
		replaced["year"] = nil
		y := *src.Year
		dst.Year = &y
	}
	lst("notes_top", &dst.NotesTop, src.NotesTop)
	lst("notes_middle", &dst.NotesMiddle, src.NotesMiddle)
	lst("notes_base", &dst.NotesBase, src.NotesBase)
	lst("notes_unsorted", &dst.NotesUnsorted, src.NotesUnsorted)
	lst("perfumers", &dst.Perfumers, src.Perfumers)
	if len(dst.Accords) == 0 && len(src.Accords) > 0 {
		replaced["accords"] = []catalog.Accord{}
		dst.Accords = append([]catalog.Accord(nil), src.Accords...)
	}
	if src.Rating != nil && (dst.Rating == nil || (src.Votes != nil && (dst.Votes == nil || *src.Votes > *dst.Votes))) {
		replaced["rating"], replaced["votes"] = dst.Rating, dst.Votes
		r := *src.Rating
		dst.Rating = &r
		if src.Votes != nil {
			v := *src.Votes
			dst.Votes = &v
		}
	} else if dst.Votes == nil && src.Votes != nil {
		replaced["votes"] = nil
		v := *src.Votes
		dst.Votes = &v
	}
	dst.MatchKey = catalog.MatchKey(dst.BrandKey, dst.Name, dst.Concentration, dst.Gender)
	return replaced
}

// overwrite applies a source's newer view of its own record: every field
// the record has replaces the stored one; fields it lacks are kept.
func overwrite(dst, src *catalog.Fragrance) {
	keepBrand, keepKey := dst.Brand, dst.BrandKey
	merged := *src
	if merged.Concentration == "" {
		merged.Concentration = dst.Concentration
	}
	if merged.Gender == "" {
		merged.Gender = dst.Gender
	}
	if merged.URL == "" {
		merged.URL = dst.URL
	}
	if merged.Description == "" {
		merged.Description = dst.Description
	}
	if merged.Year == nil {
		merged.Year = dst.Year
	}
	for _, p := range []struct{ m, d *[]string }{{&merged.NotesTop, &dst.NotesTop}, {&merged.NotesMiddle, &dst.NotesMiddle},
		{&merged.NotesBase, &dst.NotesBase}, {&merged.NotesUnsorted, &dst.NotesUnsorted}, {&merged.Perfumers, &dst.Perfumers}} {
		if len(*p.m) == 0 {
			*p.m = *p.d
		}
	}
	if len(merged.Accords) == 0 {
		merged.Accords = dst.Accords
	}
	if merged.Rating == nil {
		merged.Rating = dst.Rating
	}
	if merged.Votes == nil {
		merged.Votes = dst.Votes
	}
	if merged.BrandKey != keepKey {
		// A source may not move its record to another brand silently: keep it.
		merged.Brand, merged.BrandKey = keepBrand, keepKey
	}
	merged.MatchKey = catalog.MatchKey(merged.BrandKey, merged.Name, merged.Concentration, merged.Gender)
	*dst = merged
}
