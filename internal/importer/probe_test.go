package importer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/importer"
)

func TestProbeTellsPresentFromMissingAndWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := writeFile(t, "cat.jsonl", `{"source": "shop", "source_id": "1", "brand": "Dolce & Gabbana", "name": "Light Blue", "gender": "women"}
{"source": "shop", "source_id": "2", "brand": "Christian Dior", "name": "Sauvage", "concentration": "EDT"}
{"source": "shop", "source_id": "3", "brand": "Chanel", "name": "Coco Noir"}
`)
	_, _, err := b.run(t, path, nil, importer.Options{})
	require.NoError(t, err)
	before := snapshot(t, b.pool)

	got, err := b.im.Probe(context.Background(), "up", []map[string]any{
		{"source": "shop", "source_id": "1", "brand": "Dolce & Gabbana", "name": "Light Blue"}, // same identity
		{"source_id": "77", "brand": "Dior", "name": "Sauvage Eau de Toilette"},                // the matcher: alias and concentration
		{"source_id": "78", "brand": "Dolce & Gabbana", "name": "Light Blue Intense"},          // a flanker
		{"source_id": "79", "brand": "Chanel", "name": "Coco Noir Extrait"},                    // another concentration
		{"source_id": "80", "brand": "", "name": "Nameless"},                                   // invalid
		{"source_id": "81", "brand": "Acme", "name": "Brand New"},                              // missing
	})
	require.NoError(t, err)
	require.Equal(t, importer.PresentByIdentity, got[0].How)
	require.Equal(t, importer.PresentByMatch, got[1].How, got[1].Reason)
	require.Contains(t, []string{importer.Missing, importer.PresentMaybe}, got[2].How, "a flanker is never the same product")
	require.Contains(t, []string{importer.Missing, importer.PresentMaybe}, got[3].How, "another concentration is never merged")
	require.Equal(t, importer.Invalid, got[4].How)
	require.Equal(t, importer.Missing, got[5].How)
	require.NotZero(t, got[0].FragranceID)
	require.False(t, got[0].DataAt.IsZero())
	require.Equal(t, before, snapshot(t, b.pool), "a probe writes nothing")
}
