package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
		secret         string // must not survive; "" when there is none
	}{
		{"percent-escaped", "postgres://app:s3cr%40t@db:5432/catalog?sslmode=require", "postgres://app:xxxxx@db:5432/catalog?sslmode=require", "s3cr"},
		{"no password", "postgresql://app@db/catalog", "postgresql://app@db/catalog", ""},
		{"host and port only", "postgres://db:5432/catalog?sslmode=disable", "postgres://db:5432/catalog?sslmode=disable", ""},
		{"base64 with / + =", "postgres://bob:Ab/Cd+Ef=@127.0.0.1:1/db", "postgres://bob:xxxxx@127.0.0.1:1/db", "Ab/Cd"},
		{"/ that url.Parse takes for a port", "postgres://bob:12/Cd@127.0.0.1:1/db", "postgres://bob:xxxxx@127.0.0.1:1/db", "12/Cd"},
		{"@ and :", "postgres://app:p@ss:wo/rd@db/x?sslmode=require", "postgres://app:xxxxx@db/x?sslmode=require", "p@ss"},
		{"@ that url.Parse ends the host at", "postgres://app:a@b/c@db/x", "postgres://app:xxxxx@db/x", "b/c"},
		{"space", "postgres://bob:Ab Cd@127.0.0.1:1/db", "postgres://bob:xxxxx@127.0.0.1:1/db", "Ab Cd"},
		{"? and #", "postgres://bob:a?b#c@db/x", "postgres://bob:xxxxx@db/x", "a?b#c"},
		{"percent-escaped / and space", "postgres://bob:Ab%2FCd%20Ef@db/x", "postgres://bob:xxxxx@db/x", "Ab%2F"},
		{"upper-case scheme", "POSTGRES://bob:Zz9/q@db/x", "POSTGRES://bob:xxxxx@db/x", "Zz9"},
		{"several hosts", "postgres://bob:Ab/Cd@h1:5432,h2:5433/db", "postgres://bob:xxxxx@h1:5432,h2:5433/db", "Ab/Cd"},
		{"query", "postgres://db/catalog?password=s3cret&user=app", "postgres://db/catalog?password=xxxxx&user=app", "s3cret"},
		{"query, order kept, base64", "postgres://db/c?sslmode=disable&password=Ab/Cd+Ef=&user=app", "postgres://db/c?sslmode=disable&password=xxxxx&user=app", "Ab/Cd"},
		{"query with a space", "postgres://db/c?user=app&password=a b", "postgres://db/c?user=app&password=xxxxx", "a b"},
		{"query sslpassword", "postgres://db/c?sslpassword=k3y&sslmode=verify-full", "postgres://db/c?sslpassword=xxxxx&sslmode=verify-full", "k3y"},
		{"both forms", "postgres://bob:Ab/Cd@db/c?password=Ef/Gh", "postgres://bob:xxxxx@db/c?password=xxxxx", "Ef/Gh"},
		{"keyword/value", "host=db user=app password=s3cret dbname=catalog", "host=db user=app password=xxxxx dbname=catalog", "s3cret"},
		{"keyword/value quoted", "host=db password='with space' dbname=catalog", "host=db password=xxxxx dbname=catalog", "with space"},
		{"keyword/value escaped quote", `host=db password='it\'s / me' dbname=c`, "host=db password=xxxxx dbname=c", "s / me"},
		{"keyword/value escaped space", `host=db password=a\ b/c dbname=c`, "host=db password=xxxxx dbname=c", "b/c"},
		{"keyword/value spaced =", "host=db password = 'a b' dbname=c", "host=db password = xxxxx dbname=c", "a b"},
		{"keyword/value unterminated quote", "host=db password='a b dbname=c", "host=db password=xxxxx", "a b"},
		{"keyword/value & and @", "password=a&b@c host=db", "password=xxxxx host=db", "a&b@c"},
		{"keyword/value first", "password=Ab/Cd+Ef= host=db", "password=xxxxx host=db", "Ab/Cd"},
		{"no password keyword", "host=db user=app dbname=catalog", "host=db user=app dbname=catalog", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := URL(tc.in)
			require.Equal(t, tc.want, got, tc.in)
			if tc.secret != "" {
				require.NotContains(t, got, tc.secret)
			}
		})
	}
}

func TestSecretsInFreeText(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"quoted then bare", `dial "postgres://app:p@ss:word@db/x" failed; retry postgresql://u:v@h/d`,
			`dial "postgres://app:xxxxx@db/x" failed; retry postgresql://u:xxxxx@h/d`},
		{"base64 in an error", "connecting to postgres://bob:Ab/Cd+Ef=@127.0.0.1:1/db: invalid port",
			"connecting to postgres://bob:xxxxx@127.0.0.1:1/db: invalid port"},
		{"space in an error", "connecting to postgres://bob:Ab Cd@127.0.0.1:1/db: cannot parse `postgres://bob:xxxxx@127.0.0.1:1/db`",
			"connecting to postgres://bob:xxxxx@127.0.0.1:1/db: cannot parse `postgres://bob:xxxxx@127.0.0.1:1/db`"},
		{"quoted with a space and @", "cannot parse `postgres://bob:a b@c d@db/x`: bad",
			"cannot parse `postgres://bob:xxxxx@db/x`: bad"},
		{"one URL a line", "a postgres://u:Ab/Cd@h1/d\nb postgres://u:Ef Gh@h2/d",
			"a postgres://u:xxxxx@h1/d\nb postgres://u:xxxxx@h2/d"},
		{"no password, a later @", "postgres://app@db/x failed for bob@example.com",
			"postgres://app@db/x failed for bob@example.com"},
		{"query", "opening postgres://db/c?password=Ab/Cd+Ef=&user=u: refused",
			"opening postgres://db/c?password=xxxxx&user=u: refused"},
		{"keyword/value in backquotes", "cannot parse `host=db password='a b' user=u`: x",
			"cannot parse `host=db password=xxxxx user=u`: x"},
		{"environment", "PGPASSWORD=Ab/Cd psql", "PGPASSWORD=xxxxx psql"},
		{"nothing secret", "import of x.csv failed at line 3", "import of x.csv failed at line 3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Secrets(tc.in))
		})
	}
}

// TestMaskedTwiceIsStable: logging masks text that may already be masked.
func TestMaskedTwiceIsStable(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"postgres://bob:Ab/Cd+Ef=@127.0.0.1:1/db", "host=db password='a b'", "postgres://db/c?password=a"} {
		once := URL(in)
		require.Equal(t, once, URL(once))
		require.Equal(t, once, Secrets(once))
	}
}
