-- +goose Up
-- Many catalogs list notes without top/middle/base tiers.
ALTER TABLE fragrances ADD COLUMN notes_unsorted text[] NOT NULL DEFAULT '{}';
-- The accepted year range is configuration (quality_thresholds.min_year,
-- 1000-3000); the table only guards against nonsense.
ALTER TABLE fragrances DROP CONSTRAINT fragrances_year_check;
ALTER TABLE fragrances ADD CONSTRAINT fragrances_year_check CHECK (year BETWEEN 1000 AND 3000);

-- No lookup uses a trigram index on fragrance keys yet, and keeping one
-- costs a third of the import's write time; fuzzy matching adds what it uses.
DROP INDEX fragrances_match_key_trgm;

-- +goose Down
CREATE INDEX fragrances_match_key_trgm ON fragrances USING gin (match_key gin_trgm_ops);
ALTER TABLE fragrances DROP CONSTRAINT fragrances_year_check;
ALTER TABLE fragrances ADD CONSTRAINT fragrances_year_check CHECK (year BETWEEN 1700 AND 2200);
ALTER TABLE fragrances DROP COLUMN notes_unsorted;
