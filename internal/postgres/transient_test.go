package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// TestIsTransientNamesWhatARetryCures covers the errors a restarted or
// crashed server produces (the fault-injection suite, internal/faultinject,
// produces them for real) and those no retry cures.
func TestIsTransientNamesWhatARetryCures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"crash shutdown", &pgconn.PgError{Severity: "FATAL", Code: "57P02"}, true},
		{"cannot connect now", &pgconn.PgError{Severity: "FATAL", Code: "57P03"}, true},
		{"idle session timeout", &pgconn.PgError{Severity: "FATAL", Code: "57P05"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"protocol-level connection exception", &pgconn.PgError{Code: "08P01"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"wrapped serialization failure", fmt.Errorf("batch 3: %w", &pgconn.PgError{Code: "40001"}), true},
		{"conn closed after the server dropped it", fmt.Errorf("inserting fragrances: %w", pgconn.ErrConnClosed), true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"database dropped", &pgconn.PgError{Code: "57P04"}, false},
		{"bad password", &pgconn.PgError{Code: "28P01"}, false},
		{"a stream cut short: the backend was killed mid-query", fmt.Errorf("looking up source identities: %w", io.ErrUnexpectedEOF), true},
		{"end of input is no failure", io.EOF, false},
		{"plain", errors.New("plain"), false},
		{"too many connections", &pgconn.PgError{Severity: "FATAL", Code: "53300", Message: "too many connections for role \"app\""}, true},
		{"PgBouncer lost its server connection", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "server conn crashed?"}, true},
		{"PgBouncer cannot reach the server", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "pgbouncer cannot connect to server"}, true},
		{"PgBouncer: unknown database is configuration", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "no such database: scentmatch"}, false},
		{"PgBouncer: unsupported startup parameter is configuration", &pgconn.PgError{Severity: "FATAL", Code: "08P01", Message: "unsupported startup parameter: search_path"}, false},
		{"libpq text, type lost", fmt.Errorf("pg_dump: %v", errors.New("server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally")), true},
		{"too many clients, type lost", errors.New("FATAL: sorry, too many clients already"), true},
	} {
		require.Equal(t, tc.want, postgres.IsTransient(tc.err), tc.name)
	}
}
