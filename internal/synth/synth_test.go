package synth

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/dataset"
	"github.com/scentmatch/pipeline/internal/settings"
)

func TestDatasetsAreReproducibleAndReadable(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"jsonl", "csv"} {
		var a, b bytes.Buffer
		require.NoError(t, Write(&a, Options{Records: 500, Seed: 7, Format: format, Messy: 0.1}))
		require.NoError(t, Write(&b, Options{Records: 500, Seed: 7, Format: format, Messy: 0.1}))
		require.Equal(t, a.String(), b.String(), "same seed, same bytes")

		r, err := dataset.NewReader("gen."+format, &a, catalog.Fields, dataset.Options{})
		require.NoError(t, err)
		v := &catalog.Validator{Quality: settings.Default().Monitoring.Quality}
		total, valid := 0, 0
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			total++
			if f, _ := v.Check(raw); f != nil {
				valid++
			}
		}
		require.Equal(t, 500, total)
		require.Greater(t, valid, 450, "most records are valid")
		require.Less(t, valid, 500, "some are messy on purpose")
	}
}
