package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"postgres://app:s3cr%40t@db:5432/catalog?sslmode=require": "postgres://app:xxxxx@db:5432/catalog?sslmode=require",
		"postgresql://app@db/catalog":                             "postgresql://app@db/catalog",
		"postgres://db/catalog?password=s3cret&user=app":          "postgres://db/catalog?password=xxxxx&user=app",
		"host=db user=app password=s3cret dbname=catalog":         "host=db user=app password=xxxxx dbname=catalog",
		"host=db password='with space' dbname=catalog":            "host=db password=xxxxx dbname=catalog",
	}
	for in, want := range cases {
		require.Equal(t, want, URL(in), in)
	}
}

func TestSecretsInFreeText(t *testing.T) {
	t.Parallel()
	in := `dial "postgres://app:p@ss:word@db/x" failed; retry postgresql://u:v@h/d`
	out := Secrets(in)
	require.NotContains(t, out, "p@ss")
	require.NotContains(t, out, ":v@")
	require.Contains(t, out, "postgresql://u:xxxxx@h/d")
}
