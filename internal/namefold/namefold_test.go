package namefold

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBrandKey(t *testing.T) {
	for _, same := range [][]string{
		{"Hermès", "Hermes", "HERMES"},
		{"Dolce & Gabbana", "Dolce and Gabbana", "Dolce Gabbana", "dolce&gabbana"},
	} {
		for _, s := range same[1:] {
			require.Equal(t, BrandKey(same[0]), BrandKey(s), "%q vs %q", same[0], s)
		}
	}
	require.NotEqual(t, BrandKey("Chanel"), BrandKey("Chanelle"))
}
