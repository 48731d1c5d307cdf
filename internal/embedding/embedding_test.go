package embedding

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
)

func TestLocalEmbedderIsDeterministicNormalizedAndNeverZero(t *testing.T) {
	t.Parallel()
	e := Local{ModelName: "scent-profile-v1", Dim: 384}
	w := 0.9
	oud := &catalog.Fragrance{NotesBase: []string{"Oud", "Sandalwood"}, Accords: []catalog.Accord{{Name: "oud", Weight: &w}, {Name: "woody"}}, Gender: "men"}
	oud2 := &catalog.Fragrance{NotesBase: []string{"Oud", "Cedar"}, Accords: []catalog.Accord{{Name: "oud"}, {Name: "woody"}, {Name: "smoky"}}}
	citrus := &catalog.Fragrance{NotesTop: []string{"Lemon", "Bergamot"}, Accords: []catalog.Accord{{Name: "citrus"}, {Name: "fresh"}}, Gender: "women"}
	bare := &catalog.Fragrance{Name: "Nothing to go on", Gender: "men"}

	v1, errs, err := e.Embed(context.Background(), []*catalog.Fragrance{oud, oud2, citrus, bare})
	require.NoError(t, err)
	v2, _, _ := e.Embed(context.Background(), []*catalog.Fragrance{oud})
	require.Equal(t, v1[0], v2[0], "the same input gives the same vector")
	for i := 0; i < 3; i++ {
		require.NoError(t, errs[i])
		require.Len(t, v1[i], 384)
		require.InDelta(t, 1.0, Cosine(v1[i], v1[i]), 1e-5, "L2-normalized")
	}
	require.ErrorIs(t, errs[3], ErrNotEmbeddable)
	require.Nil(t, v1[3], "never a zero vector")
	require.Greater(t, Cosine(v1[0], v1[1]), Cosine(v1[0], v1[2])+0.3, "two oud scents are closer than oud and citrus")
	require.False(t, math.IsNaN(Cosine(v1[0], v1[2])))
}
