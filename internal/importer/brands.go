package importer

import (
	"context"
	"errors"
	"fmt"
	"io"

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
		name, _ := raw.Fields["name"].(string)
		key := catalog.Fold(name)
		if raw.TooLarge || key == "" {
			sum.Rejected++
			continue
		}
		if !seen[key] {
			seen[key] = true
			country, _ := raw.Fields["country"].(string)
			website, _ := raw.Fields["website"].(string)
			names, keys = append(names, sanitizeText(collapse(name), 200)), append(keys, key)
			countries, websites = append(countries, sanitizeText(collapse(country), 100)), append(websites, sanitizeText(collapse(website), 500))
		}
		if v, ok := raw.Fields["aliases"]; ok && v != nil {
			list, _ := catalog.ParseList(v)
			for _, a := range list {
				if ak := catalog.Fold(a); ak != "" && ak != key {
					aliasNames, aliasKeys, aliasOf = append(aliasNames, sanitizeText(collapse(a), 200)), append(aliasKeys, ak), append(aliasOf, key)
				}
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
