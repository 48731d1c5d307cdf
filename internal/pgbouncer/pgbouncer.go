// Package pgbouncer starts Debian's PgBouncer in transaction mode in front
// of a PostgreSQL server, the way production reaches the database through
// Supavisor, RDS Proxy or PgBouncer: the tests and the Lambda rehearsal run
// the pipeline through it.
//
//	srv, err := pgbouncer.Start(ctx, pgbouncer.Options{UpstreamURL: adminURL, Dir: t.TempDir()})
//	if err != nil { ... }
//	defer srv.Stop()
//	pooledURL := srv.URL("catalog") // same user and password, through the pooler
//
// The server runs pool_mode = transaction with max_prepared_statements
// unset (as Debian's 1.18 ships it): a named prepared statement or any
// session state does not survive from one transaction to the next. With a
// small PoolSize and concurrent clients, consecutive statements of one
// client land on different server connections.
package pgbouncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// Binary is where Debian installs PgBouncer; PATH is searched too.
const Binary = "/usr/sbin/pgbouncer"

// ErrNotInstalled is returned by Start when no pgbouncer binary is found.
var ErrNotInstalled = errors.New("pgbouncer is not installed: run scripts/ensure-pgbouncer.sh (as root it installs Debian's pgbouncer package), or sudo apt-get install pgbouncer")

// Options configure Start.
type Options struct {
	// UpstreamURL is a postgres:// URL of the server to pool, with the
	// user and password clients will use (PgBouncer authenticates them
	// with SCRAM and logs in upstream with the same password). Its
	// database is irrelevant: every database name is passed through.
	UpstreamURL string
	// PoolSize is default_pool_size: server connections per database and
	// user (default 10). 1 or 2 makes a busy pooler.
	PoolSize int
	// Dir holds the configuration, the user list and the log. Required
	// (a test's t.TempDir()).
	Dir string
	// Port to listen on, 127.0.0.1 only (default: a free port).
	Port int
	// RoundRobin hands out the server connections in turn
	// (server_round_robin = 1) and opens PoolSize of them at once
	// (min_pool_size): with PoolSize 2, consecutive transactions (or
	// statements outside one) of a client alternate between two server
	// connections, deterministically. Default: PgBouncer's LIFO reuse.
	RoundRobin bool
}

// Server is a running PgBouncer.
type Server struct {
	opts     Options
	upstream *url.URL
	port     int
	cred     *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start writes the configuration into opts.Dir, starts PgBouncer and waits
// until it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("pgbouncer: Options.Dir is required")
	}
	up, err := url.Parse(opts.UpstreamURL)
	if err != nil || up.User == nil || up.Hostname() == "" {
		return nil, errors.New("pgbouncer: UpstreamURL must be a postgres:// URL with a user, a password and a host")
	}
	if opts.PoolSize == 0 {
		opts.PoolSize = 10
	}
	s := &Server{opts: opts, upstream: up, port: opts.Port}
	if s.port == 0 {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if s.cred, err = runAs(); err != nil {
		return nil, err
	}
	if err := s.writeConfig(); err != nil {
		return nil, err
	}
	if err := s.start(ctx, bin); err != nil {
		return nil, err
	}
	return s, nil
}

func binary() (string, error) {
	if _, err := os.Stat(Binary); err == nil {
		return Binary, nil
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p, nil
	}
	return "", ErrNotInstalled
}

// runAs returns the credential to run PgBouncer as: it refuses root, so
// root hands it to the postgres system user (or nobody).
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgbouncer: running as root, PgBouncer needs an unprivileged user (postgres or nobody) to run as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgbouncer: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (s *Server) writeConfig() error {
	pw, _ := s.upstream.User.Password()
	userName := s.upstream.User.Username()
	port := s.upstream.Port()
	if port == "" {
		port = "5432"
	}
	host := s.upstream.Hostname()
	minPool, rr := 0, 0
	if s.opts.RoundRobin {
		minPool, rr = s.opts.PoolSize, 1
	}
	ini := fmt.Sprintf(`;; written by internal/pgbouncer
[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
admin_users = %s
pool_mode = transaction
default_pool_size = %d
min_pool_size = %d
server_round_robin = %d
reserve_pool_size = 0
max_client_conn = 500
max_db_connections = 0
server_lifetime = 3600
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits,options
log_connections = 0
log_disconnections = 0
`, host, port, s.port, filepath.Join(s.opts.Dir, "userlist.txt"), userName, s.opts.PoolSize, minPool, rr)
	if err := os.MkdirAll(s.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("pgbouncer: %w", err)
	}
	files := map[string]string{
		"pgbouncer.ini": ini,
		"userlist.txt":  quote(userName) + " " + quote(pw) + "\n",
	}
	for name, content := range files {
		path := filepath.Join(s.opts.Dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("pgbouncer: writing %s: %w", name, err)
		}
		if s.cred != nil {
			if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
				return fmt.Errorf("pgbouncer: handing %s to its user: %w", name, err)
			}
		}
	}
	if s.cred != nil {
		// The user must reach the files: a t.TempDir() is 0700 root.
		for d := s.opts.Dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if info, err := os.Stat(d); err == nil && info.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(d, info.Mode().Perm()|0o011)
			}
		}
	}
	return nil
}

// LogFile is where PgBouncer writes its log.
func (s *Server) LogFile() string { return filepath.Join(s.opts.Dir, "pgbouncer.log") }

func (s *Server) start(ctx context.Context, bin string) error {
	logf, err := os.OpenFile(s.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgbouncer: opening its log: %w", err)
	}
	cmd := exec.Command(bin, filepath.Join(s.opts.Dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("pgbouncer: starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("pgbouncer exited at start: %s", s.tail())
		case <-ctx.Done():
			s.Stop()
			return fmt.Errorf("pgbouncer: waiting for it to listen: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("pgbouncer did not listen on %s within 15s: %s", s.Addr(), s.tail())
		}
	}
}

func (s *Server) tail() string {
	data, _ := os.ReadFile(s.LogFile())
	data = bytes.TrimSpace(data)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}

// Addr is host:port of the listener.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the port PgBouncer listens on.
func (s *Server) Port() int { return s.port }

// URL returns the upstream URL pointed at the pooler, for database db (""
// keeps the upstream's database): same user, password and parameters.
func (s *Server) URL(db string) string {
	u := *s.upstream
	u.Host = s.Addr()
	if db != "" {
		u.Path = "/" + db
	}
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// PooledURL rewrites a URL of the upstream server (any database on it) to
// go through the pooler.
func (s *Server) PooledURL(upstreamURL string) string {
	u, err := url.Parse(upstreamURL)
	if err != nil {
		return upstreamURL
	}
	return s.URL(strings.TrimPrefix(u.Path, "/"))
}

// Warm opens the pool's server connections for the database of
// databaseURL (an upstream URL; PgBouncer keeps a pool per database) by
// holding PoolSize transactions at once, so that with RoundRobin the next
// statements alternate between them from the first one.
func (s *Server) Warm(ctx context.Context, databaseURL string) error {
	pooled := s.PooledURL(databaseURL)
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.WithoutCancel(ctx))
		}
	}()
	for range s.opts.PoolSize {
		c, err := postgres.ConnectOne(ctx, pooled, postgres.PoolOptions{Pooling: postgres.PoolingTransaction})
		if err != nil {
			return fmt.Errorf("pgbouncer: warming the pool: %w", err)
		}
		conns = append(conns, c)
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			return fmt.Errorf("pgbouncer: warming the pool: %w", err)
		}
		if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
			return fmt.Errorf("pgbouncer: warming the pool: %w", err)
		}
	}
	for _, c := range conns {
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			return fmt.Errorf("pgbouncer: warming the pool: %w", err)
		}
	}
	return nil
}

// Kill stops PgBouncer at once (SIGKILL), dropping every client and server
// connection mid-flight, as a crashed pooler would.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop shuts PgBouncer down (immediate shutdown: clients are disconnected)
// and waits for it to exit. It is safe to call more than once.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts PgBouncer again on the same port after Kill or Stop (a
// pooler restart); clients reconnect to the same URL.
func (s *Server) Restart(ctx context.Context) error {
	s.Stop()
	bin, err := binary()
	if err != nil {
		return err
	}
	return s.start(ctx, bin)
}
