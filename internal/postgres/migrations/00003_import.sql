-- +goose Up
-- Many catalogs list notes without top/middle/base tiers.
ALTER TABLE fragrances ADD COLUMN notes_unsorted text[] NOT NULL DEFAULT '{}';
-- The accepted year range is configuration (quality_thresholds.min_year,
-- 1000-3000); the table only guards against nonsense.
ALTER TABLE fragrances DROP CONSTRAINT fragrances_year_check;
ALTER TABLE fragrances ADD CONSTRAINT fragrances_year_check CHECK (year BETWEEN 1000 AND 3000);

-- +goose Down
ALTER TABLE fragrances DROP CONSTRAINT fragrances_year_check;
ALTER TABLE fragrances ADD CONSTRAINT fragrances_year_check CHECK (year BETWEEN 1700 AND 2200);
ALTER TABLE fragrances DROP COLUMN notes_unsorted;
