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

// Pooling says how the pipeline reaches PostgreSQL: directly (a session
// per connection) or through a pooler in transaction mode (Supavisor on
// port 6543, RDS Proxy, PgBouncer with pool_mode = transaction), where each
// transaction, or each statement outside one, may run on a different
// server connection.
type Pooling string

const (
	// PoolingDirect is a plain server, or a pooler in session mode: named
	// prepared statements are cached per connection (pgx's default).
	PoolingDirect Pooling = "direct"
	// PoolingTransaction is a transaction pooler. Queries use
	// pgx.QueryExecModeExec; see TransactionExecMode.
	PoolingTransaction Pooling = "transaction"
)

// TransactionExecMode is the pgx execution mode used through a transaction
// pooler. Each query is one Parse/Bind/Describe/Execute/Sync exchange on
// the unnamed statement, so it never depends on what an earlier exchange
// left on a server connection:
//
//   - QueryExecModeCacheStatement (pgx's default) prepares named
//     statements, which a pooler without prepared-statement support
//     (PgBouncer 1.18 as Debian ships it, max_prepared_statements unset)
//     hands to other clients: "prepared statement stmtcache_... already
//     exists" (42P05) or "does not exist" (26000).
//   - QueryExecModeDescribeExec describes the unnamed statement in one
//     exchange (ending with Sync) and executes it in a second: between the
//     two, a transaction pooler may move the client to another server
//     connection, where the unnamed statement is not there.
//   - QueryExecModeCacheDescribe is safe on a pooler, but it trusts a
//     per-process cache of parameter and result types that a migration run
//     by another process invalidates silently.
//   - QueryExecModeSimpleProtocol interpolates the arguments into the SQL
//     text on the client; it works, but gives up server-side parameters.
//
// Exec sends the parameters as text with no declared type, so the server
// infers each one from the SQL: every query states the type where the
// inference could be wrong (JSON as text with an explicit ::jsonb cast,
// see JSONArg). Supavisor, RDS Proxy (no pinning: no named statement) and
// every PgBouncer version in transaction mode accept it.
const TransactionExecMode = pgx.QueryExecModeExec

// ParsePooling reads the value of SCENTMATCH_DB_POOLING: "" or "direct"
// (also "session") for a direct connection, "transaction" for a
// transaction pooler.
func ParsePooling(s string) (Pooling, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "direct", "session":
		return PoolingDirect, nil
	case "transaction":
		return PoolingTransaction, nil
	}
	return "", fmt.Errorf("%s=%q: want \"direct\" or \"transaction\"", EnvPooling, s)
}

// PoolOptions tune Connect.
type PoolOptions struct {
	// MaxConns caps the pool (default 4: the import's budget).
	MaxConns int32
	// ConnectTimeout bounds each connection attempt (default 4s, so that a
	// health check against an unreachable server answers within 5s).
	ConnectTimeout time.Duration
	// Pooling is how the server is reached (default PoolingDirect). The
	// callers outside this package get it from app.Database, which reads
	// SCENTMATCH_DB_POOLING once.
	Pooling Pooling
	// ExecMode overrides the pgx execution mode that Pooling chooses; the
	// tests use it to run the queries in every mode.
	ExecMode pgx.QueryExecMode
}

// config builds the pgx configuration of a connection to databaseURL.
func (opts PoolOptions) config(databaseURL string) (*pgxpool.Config, error) {
	if err := checkUserinfo(databaseURL); err != nil {
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: err}
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors can quote the URL: mask it.
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: errors.New(redact.Secrets(err.Error()))}
	}
	cfg.MaxConns = opts.MaxConns
	mode := opts.ExecMode
	if mode == 0 && opts.Pooling == PoolingTransaction {
		mode = TransactionExecMode
	}
	if mode != 0 {
		cfg.ConnConfig.DefaultQueryExecMode = mode
		if mode != pgx.QueryExecModeCacheStatement {
			cfg.ConnConfig.StatementCacheCapacity = 0
		}
		if mode != pgx.QueryExecModeCacheDescribe {
			cfg.ConnConfig.DescriptionCacheCapacity = 0
		}
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

func (opts PoolOptions) withDefaults() PoolOptions {
	if opts.MaxConns == 0 {
		opts.MaxConns = 4
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 4 * time.Second
	}
	return opts
}

// Connect opens a pool to databaseURL and checks that the server answers.
// Errors never contain the password. It is the only place a pool is
// created (TestOneWayToConnect keeps it so): application code reaches it
// through app.Database.Connect, which applies the configured pooling.
func Connect(ctx context.Context, databaseURL string, opts PoolOptions) (*pgxpool.Pool, error) {
	opts = opts.withDefaults()
	cfg, err := opts.config(databaseURL)
	if err != nil {
		return nil, err
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

// ConnectOne opens a single connection, for administration that must not
// share a pool (creating and dropping databases). The same options apply.
func ConnectOne(ctx context.Context, databaseURL string, opts PoolOptions) (*pgx.Conn, error) {
	opts = opts.withDefaults()
	cfg, err := opts.config(databaseURL)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, &ConnectError{URL: redact.URL(databaseURL), Err: err}
	}
	return conn, nil
}

// JSONArg passes JSON held as bytes as a query argument that is valid in
// every pgx execution mode: a string (nil stays SQL NULL). A []byte or
// json.RawMessage argument is sent as bytea ("\x7b...") when pgx does not
// know the parameter's type (QueryExecModeExec, the simple protocol), which
// a jsonb column refuses (22P02). The SQL must cast it: $1::jsonb.
func JSONArg(data []byte) any {
	if data == nil {
		return nil
	}
	return string(data)
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
		// Class 08: connection exception (08000, 08003, 08006, ...),
		// including PgBouncer's own ErrorResponses, which all carry 08P01:
		// "server conn crashed?", "pgbouncer cannot connect to server",
		// "query_wait_timeout", a client closed at shutdown. A few of its
		// 08P01 refusals are configuration a retry never cures.
		if !strings.HasPrefix(pgErr.Code, "08") {
			return false
		}
		return !poolerRefusal(pgErr.Message)
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
	if pgconn.SafeToRetry(err) {
		return true
	}
	// An error that lost its type on the way (flattened with %v, or read
	// back from a log or a step result) still names what happened.
	return transientText(err.Error())
}

// poolerRefusal reports a PgBouncer 08P01 that names a configuration
// problem (an unknown database or user, a startup parameter the pooler
// does not pass through) rather than a connection that went away.
func poolerRefusal(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range []string{"no such database", "no such user", "unsupported startup parameter"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// transientTexts are the messages of connection failures, as libpq,
// PgBouncer, PostgreSQL and the kernel word them.
var transientTexts = []string{
	"server closed the connection unexpectedly", // libpq, psql, pg_dump
	"server conn crashed",                       // PgBouncer
	"pgbouncer cannot connect to server",
	"terminating connection due to administrator command", // 57P01
	"the database system is shutting down",                // 57P03
	"the database system is starting up",                  // 57P03
	"sorry, too many clients already",                     // 53300
	"remaining connection slots are reserved",             // 53300
	"connection reset by peer",
	"broken pipe",
}

func transientText(msg string) bool {
	msg = strings.ToLower(msg)
	for _, s := range transientTexts {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// IsAuthFailure reports a rejected password: after a secret rotation the
// cached URL is stale and must be read again.
func IsAuthFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000")
}
