-- +goose Up
-- Many catalogs list notes without top/middle/base tiers.
ALTER TABLE fragrances ADD COLUMN notes_unsorted text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE fragrances DROP COLUMN notes_unsorted;
