package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/scentmatch/pipeline/internal/redact"
)

// ApplicationName is set on every connection, so that pg_stat_activity
// can count the pipeline's connections.
const ApplicationName = "scentmatch"

// PoolOptions tune Connect.
type PoolOptions struct {
	// MaxConns caps the pool (default 4: the import's budget).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (default 4s, so that a
	// health check against an unreachable server answers within 5s).
	ConnectTimeout time.Duration
	// TransactionPooling is for RDS Proxy or PgBouncer in transaction mode:
	// no named prepared statements survive from one transaction to the
	// next there, so queries use the extended protocol without them.
	TransactionPooling bool
}

// Connect opens a pool to databaseURL and checks that the server answers.
// Errors never contain the password.
func Connect(ctx context.Context, databaseURL string, opts PoolOptions) (*pgxpool.Pool, error) {
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 4 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors can quote the URL: mask it.
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: errors.New(redact.Secrets(err.Error()))}
	}
	cfg.MaxConns = opts.MaxConns
	if opts.TransactionPooling {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
		cfg.ConnConfig.StatementCacheCapacity = 0
		cfg.ConnConfig.DescriptionCacheCapacity = 0
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: err}
	}
	pingCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: err}
	}
	return pool, nil
}

// ConnectError reports a database that cannot be reached. URL is masked.
type ConnectError struct {
	URL string
	Err error
}

func (e *ConnectError) Error() string {
	// pgx lists one line per address tried; keep the message on one line.
	msg := strings.ReplaceAll(redact.Secrets(e.Err.Error()), "\n\t", "; ")
	return fmt.Sprintf("connecting to %s: %s", e.URL, msg)
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Transient reports whether the connection failure may go away on a retry
// (network errors and timeouts, a server starting or shutting down), as
// opposed to bad credentials or a missing database.
func (e *ConnectError) Transient() bool { return IsTransient(e.Err) }

// IsTransient reports whether err is a database failure that a retry may
// cure: a lost or refused connection, a timeout, a server shutting down or
// starting, or a serialization failure or deadlock.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", // serialization failure, deadlock
			"57P01", "57P02", "57P03", // admin shutdown, crash shutdown, cannot connect now
			"57P05", // idle session timeout
			"53300": // too many connections
			return true
		}
		// Class 08: connection exception (08000, 08003, 08006, ...).
		return strings.HasPrefix(pgErr.Code, "08")
	}
	// A connection the server dropped mid-request (a backend killed, the
	// server restarted after a crash): pgx closes it and says "conn
	// closed", or returns the reader's io.ErrUnexpectedEOF as it is. (A
	// truncated dataset file is a dataset.SyntaxError, which does not wrap
	// io.ErrUnexpectedEOF.)
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var fromConn interface{ SafeToRetry() bool }
	if errors.As(err, &fromConn) && errors.Is(err, io.EOF) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	return pgconn.SafeToRetry(err)
}

// IsAuthFailure reports a rejected password: after a secret rotation the
// cached URL is stale and must be read again.
func IsAuthFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000")
}
