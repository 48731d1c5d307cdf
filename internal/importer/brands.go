package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
)

// BrandSummary is what a brand file import did.
type BrandSummary struct {
	File     string `json:"file"`
	Records  int    `json:"records"`
	Brands   int    `json:"brands_added"`
	Aliases  int    `json:"aliases_added"`
	Rejected int    `json:"rejected"`
	// Rejections says, for each record left out, where and why.
	Rejections []BrandRejection `json:"rejections,omitempty"`
}

// BrandRejection is a brand record left out: its line in the file, the
// field and the rule it broke (the rule names of fragrance validation).
type BrandRejection struct {
	Line    int    `json:"line"`
	Field   string `json:"field,omitempty"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Longest brand fields, in characters (the brands table's checks).
const (
	maxBrandName    = 200
	maxBrandCountry = 100
	maxBrandWebsite = 500
)

// brandText checks one text field of a brand record and returns it with
// its runs of white space collapsed. A field that is absent or null is "".
func brandText(raw *dataset.Raw, field string, max int) (string, *BrandRejection) {
	v, ok := raw.Fields[field]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", &BrandRejection{Line: raw.Line, Field: field, Rule: "type", Message: fmt.Sprintf("expected text, got %v", v)}
	}
	return checkBrandText(raw.Line, field, s, max)
}

func checkBrandText(line int, field, s string, max int) (string, *BrandRejection) {
	switch {
	case !utf8.ValidString(s):
		return "", &BrandRejection{Line: line, Field: field, Rule: "utf8", Message: "the value is not valid UTF-8"}
	case strings.ContainsRune(s, 0):
		return "", &BrandRejection{Line: line, Field: field, Rule: "nul-byte", Message: "the value contains a NUL byte"}
	}
	s = collapse(s)
	if n := utf8.RuneCountInString(s); n > max {
		return "", &BrandRejection{Line: line, Field: field, Rule: "length", Message: fmt.Sprintf("%d characters, at most %d allowed", n, max)}
	}
	return s, nil
}

// checkBrand validates one brand record: a name, text fields within their
// lengths, aliases a list of such names. The first problem rejects the
// record whole, so that a brand never lands without the aliases its file
// gave it.
func checkBrand(raw *dataset.Raw) (name, country, website string, aliases []string, rej *BrandRejection) {
	if raw.TooLarge {
		return "", "", "", nil, &BrandRejection{Line: raw.Line, Rule: "too-large", Message: fmt.Sprintf("the record is larger than %d MiB", dataset.MaxRecordBytes>>20)}
	}
	if name, rej = brandText(raw, "name", maxBrandName); rej != nil {
		return
	}
	if catalog.Fold(name) == "" {
		return "", "", "", nil, &BrandRejection{Line: raw.Line, Field: "name", Rule: "required", Message: "a brand needs a name"}
	}
	if country, rej = brandText(raw, "country", maxBrandCountry); rej != nil {
		return
	}
	if website, rej = brandText(raw, "website", maxBrandWebsite); rej != nil {
		return
	}
	if v, ok := raw.Fields["aliases"]; ok && v != nil {
		list, err := catalog.ParseList(v)
		if err != nil {
			return "", "", "", nil, &BrandRejection{Line: raw.Line, Field: "aliases", Rule: "type", Message: err.Error()}
		}
		for _, a := range list {
			a, rej = checkBrandText(raw.Line, "aliases", a, maxBrandName)
			if rej != nil {
				return "", "", "", nil, rej
			}
			aliases = append(aliases, a)
		}
	}
	return name, country, website, aliases, nil
}

// ImportBrands reads brand records (name, aliases, country, website) and
// adds the brands and aliases the catalog lacks, in one transaction. A
// name that is a known alias adds nothing; existing brands keep their data.
func (im *Importer) ImportBrands(ctx context.Context, r *dataset.Reader, dryRun bool) (*BrandSummary, error) {
	sum := &BrandSummary{File: r.Name()}
	var names, keys, countries, websites, aliasNames, aliasKeys, aliasOf []string
	seen := map[string]bool{}
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sum, err
		}
		sum.Records++
		name, country, website, aliases, rej := checkBrand(raw)
		if rej != nil {
			sum.Rejected++
			sum.Rejections = append(sum.Rejections, *rej)
			continue
		}
		key := catalog.Fold(name)
		if !seen[key] {
			seen[key] = true
			names, keys = append(names, name), append(keys, key)
			countries, websites = append(countries, country), append(websites, website)
		}
		for _, a := range aliases {
			if ak := catalog.Fold(a); ak != "" && ak != key {
				aliasNames, aliasKeys, aliasOf = append(aliasNames, a), append(aliasKeys, ak), append(aliasOf, key)
			}
		}
	}
	tx, err := im.Pool.Begin(ctx)
	if err != nil {
		return sum, fmt.Errorf("starting transaction: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, importLockID); err != nil {
		return sum, fmt.Errorf("waiting for other imports: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO brands (name, match_key, country, website)
		SELECT n, k, nullif(c, ''), nullif(w, '') FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS q(n, k, c, w)
		WHERE NOT EXISTS (SELECT 1 FROM brand_aliases a WHERE a.alias_key = q.k)
		ORDER BY k ON CONFLICT (match_key) DO NOTHING`, names, keys, countries, websites)
	if err != nil {
		return sum, fmt.Errorf("adding brands: %w", err)
	}
	sum.Brands = int(tag.RowsAffected())
	tag, err = tx.Exec(ctx, `INSERT INTO brand_aliases (alias_key, alias, brand_id)
		SELECT q.ak, q.a, b.id FROM unnest($1::text[], $2::text[], $3::text[]) AS q(a, ak, k)
		JOIN brands b ON b.match_key = q.k
		WHERE NOT EXISTS (SELECT 1 FROM brands x WHERE x.match_key = q.ak)
		ORDER BY q.ak ON CONFLICT (alias_key) DO NOTHING`, aliasNames, aliasKeys, aliasOf)
	if err != nil {
		return sum, fmt.Errorf("adding brand aliases: %w", err)
	}
	sum.Aliases = int(tag.RowsAffected())
	if dryRun {
		return sum, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return sum, fmt.Errorf("committing brands: %w", err)
	}
	return sum, nil
}

func collapse(s string) string {
	out := []rune{}
	space := false
	for _, r := range s {
		if r == ' ' || r == '\n' || r == '\t' || r == '\r' {
			if !space && len(out) > 0 {
				out = append(out, ' ')
			}
			space = true
			continue
		}
		space = false
		out = append(out, r)
	}
	if n := len(out); n > 0 && out[n-1] == ' ' {
		out = out[:n-1]
	}
	return string(out)
}
