// Package pglocal runs the private PostgreSQL cluster that the CLI and the
// tests use when no DATABASE_URL is set.
//
// The cluster is built from the machine's server binaries (pg_config
// --bindir, or /usr/lib/postgresql/*/bin), listens on a free loopback port
// with a generated password, and keeps its state in $SCENTMATCH_HOME/db.
// PostgreSQL refuses to run as root, so under root the server runs as the
// postgres system user (or nobody), and the data directory moves under /tmp,
// keyed by the home path, whenever that user cannot reach the home directory.
// Concurrent callers serialise on a file lock: the second one reuses the
// cluster the first one started.
package pglocal

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scentmatch/pipeline/internal/postgres"
)

// Superuser is the name of the cluster's bootstrap superuser.
const Superuser = "scentmatch"

// ErrNotInitialized is returned by Open when the home holds no cluster yet.
var ErrNotInitialized = errors.New("no local database has been created in this home yet")

// Options configure Ensure.
type Options struct {
	// Home is $SCENTMATCH_HOME; the cluster's state lives in Home/db.
	Home string
	// Ephemeral turns off fsync, full_page_writes and synchronous_commit:
	// faster, and safe only for data that may be lost (tests).
	Ephemeral bool
	// Logger receives one line per action taken (initdb, start, stop).
	Logger *slog.Logger
	// StartTimeout bounds the wait for the server to accept connections.
	StartTimeout time.Duration
}

// State is what the cluster's state file records.
type State struct {
	BinDir    string `json:"bin_dir"`
	DataDir   string `json:"data_dir"`
	SocketDir string `json:"socket_dir"`
	LogFile   string `json:"log_file"`
	OSUser    string `json:"os_user"`
	Port      int    `json:"port"`
	Password  string `json:"password"`
	Ephemeral bool   `json:"ephemeral"`
}

// Cluster is a local PostgreSQL cluster owned by one home directory.
type Cluster struct {
	State
	home     string
	stateDir string
	cred     *syscall.Credential
	logger   *slog.Logger
}

// Home returns the home directory the cluster belongs to.
func (c *Cluster) Home() string { return c.home }

// URL returns a connection string for database db (password included).
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, c.Password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func stateDir(home string) string { return filepath.Join(home, "db") }

func statePath(home string) string { return filepath.Join(stateDir(home), "cluster.json") }

// Open loads the cluster recorded in home without starting it.
func Open(home string, logger *slog.Logger) (*Cluster, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	data, err := os.ReadFile(statePath(home))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotInitialized
	}
	if err != nil {
		return nil, fmt.Errorf("reading local database state: %w", err)
	}
	c := &Cluster{home: home, stateDir: stateDir(home), logger: logger}
	if err := json.Unmarshal(data, &c.State); err != nil {
		return nil, fmt.Errorf("reading local database state %s: %w (delete the file to start afresh)", statePath(home), err)
	}
	if c.cred, err = credentialFor(c.OSUser); err != nil {
		return nil, err
	}
	return c, nil
}

// Ensure starts the cluster in opts.Home, creating it first if needed, or
// reuses it when it is already running. It is safe to call from several
// processes at once.
func Ensure(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	home, err := filepath.Abs(opts.Home)
	if err != nil {
		return nil, fmt.Errorf("resolving home %q: %w", opts.Home, err)
	}
	if err := os.MkdirAll(stateDir(home), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stateDir(home), err)
	}
	unlock, err := lockFile(filepath.Join(stateDir(home), "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	c, err := Open(home, opts.Logger)
	switch {
	case errors.Is(err, ErrNotInitialized):
		c, err = initCluster(ctx, home, opts)
		if err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if !c.initialized() {
			opts.Logger.Warn("local database data directory is missing; creating a new cluster", "data_dir", c.DataDir)
			if c, err = initCluster(ctx, home, opts); err != nil {
				return nil, err
			}
		}
	}

	if c.alive() {
		if err := c.waitReady(ctx, opts.StartTimeout); err != nil {
			return nil, fmt.Errorf("the local database is running (pid file in %s) but does not accept connections: %w; see %s", c.DataDir, err, c.LogFile)
		}
		return c, nil
	}
	if err := c.start(ctx, opts.StartTimeout); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) initialized() bool {
	_, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION"))
	return err == nil
}

// Running reports whether the server process is alive.
func (c *Cluster) Running() bool { return c.alive() }

// alive reads postmaster.pid and checks that its process exists.
func (c *Cluster) alive() bool {
	data, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func initCluster(ctx context.Context, home string, opts Options) (*Cluster, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	osUser, cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	hash := sha256.Sum256([]byte(home))
	runtimeDir := filepath.Join(shortTempDir(), "scentmatch-pg-"+hex.EncodeToString(hash[:6]))
	dataParent := stateDir(home)
	if cred != nil && !canTraverse(dataParent, cred) {
		// The server user cannot reach the home (e.g. it sits under a 0700
		// /root): keep the data next to the socket, under /tmp.
		dataParent = runtimeDir
	}
	c := &Cluster{
		home:     home,
		stateDir: stateDir(home),
		cred:     cred,
		logger:   opts.Logger,
		State: State{
			BinDir:    binDir,
			DataDir:   filepath.Join(dataParent, "data"),
			SocketDir: runtimeDir,
			LogFile:   filepath.Join(dataParent, "postgres.log"),
			OSUser:    osUser,
			Password:  randomPassword(),
			Ephemeral: opts.Ephemeral,
		},
	}
	if err := os.RemoveAll(c.DataDir); err != nil {
		return nil, fmt.Errorf("clearing %s: %w", c.DataDir, err)
	}
	for _, dir := range []string{runtimeDir, c.DataDir} {
		if err := c.mkdirOwned(dir); err != nil {
			return nil, err
		}
	}
	if err := c.createOwnedFile(c.LogFile, nil); err != nil {
		return nil, err
	}
	pwfile := filepath.Join(runtimeDir, "initdb.pw")
	if err := c.createOwnedFile(pwfile, []byte(c.Password+"\n")); err != nil {
		return nil, err
	}
	defer os.Remove(pwfile)

	args := []string{"-D", c.DataDir, "-U", Superuser, "--pwfile=" + pwfile, "-A", "scram-sha-256",
		"-E", "UTF8", "--no-sync", "--no-instructions"}
	if _, err := os.Stat("/usr/lib/locale/C.utf8"); err == nil {
		args = append(args, "--locale=C.UTF-8")
	} else {
		args = append(args, "--locale=C")
	}
	opts.Logger.Info("creating the local database cluster", "data_dir", c.DataDir, "os_user", osUser, "bin_dir", binDir)
	if out, err := c.run(ctx, "initdb", args...); err != nil {
		return nil, fmt.Errorf("initdb failed: %w\n%s", err, out)
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding local database state: %w", err)
	}
	tmp := statePath(c.home) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing local database state: %w", err)
	}
	if err := os.Rename(tmp, statePath(c.home)); err != nil {
		return fmt.Errorf("writing local database state: %w", err)
	}
	return nil
}

// start launches the server with pg_ctl, picking a free port when the
// recorded one is taken, and waits until it accepts connections.
func (c *Cluster) start(ctx context.Context, timeout time.Duration) error {
	if err := c.mkdirOwned(c.SocketDir); err != nil {
		return err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if c.Port == 0 || !portFree(c.Port) {
			port, err := freePort()
			if err != nil {
				return err
			}
			c.Port = port
		}
		settings := []string{
			"-c listen_addresses=127.0.0.1",
			"-c port=" + strconv.Itoa(c.Port),
			"-c unix_socket_directories=" + c.SocketDir,
			"-c max_connections=200",
			"-c application_name=scentmatch-local",
		}
		if c.Ephemeral {
			settings = append(settings, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
		}
		c.logger.Info("starting the local database", "port", c.Port, "data_dir", c.DataDir)
		out, err := c.run(ctx, "pg_ctl", "start", "-D", c.DataDir, "-l", c.LogFile, "-w",
			"-t", strconv.Itoa(int(timeout.Seconds())), "-o", strings.Join(settings, " "))
		if err == nil {
			if err := c.save(); err != nil {
				return err
			}
			return c.waitReady(ctx, timeout)
		}
		lastErr = fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, tail(c.LogFile, 20))
		c.Port = 0 // a port taken between the check and the bind: try another
	}
	return fmt.Errorf("starting the local database failed (log: %s): %w", c.LogFile, lastErr)
}

// waitReady polls until a connection succeeds or the timeout passes.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := c.ping(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := postgres.ConnectOne(ctx, c.URL("postgres"), postgres.PoolOptions{})
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// Stop shuts the server down (fast mode: open sessions are ended). Stopping
// a stopped cluster is not an error.
func (c *Cluster) Stop(ctx context.Context) error {
	unlock, err := lockFile(filepath.Join(c.stateDir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	if !c.alive() {
		return nil
	}
	c.logger.Info("stopping the local database", "data_dir", c.DataDir)
	if out, err := c.run(ctx, "pg_ctl", "stop", "-D", c.DataDir, "-m", "fast", "-w", "-t", "60"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Destroy stops the cluster and deletes its data, socket directory and state.
func (c *Cluster) Destroy(ctx context.Context) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	for _, dir := range []string{filepath.Dir(c.DataDir), c.SocketDir, c.stateDir} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("removing %s: %w", dir, err)
		}
	}
	return nil
}

// EnsureDatabase creates database name when it does not exist yet.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := postgres.ConnectOne(ctx, c.URL("postgres"), postgres.PoolOptions{})
	if err != nil {
		return fmt.Errorf("connecting to the local database: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("looking up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) && (pgErr.SQLState() == "42P04" || pgErr.SQLState() == "23505") { // created concurrently
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// run executes one of the server binaries as the server user. Output goes to
// a file rather than a pipe so that a daemon the command leaves behind never
// holds our pipe open.
func (c *Cluster) run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := os.CreateTemp("", "scentmatch-pg-*.out")
	if err != nil {
		return "", fmt.Errorf("creating output file: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	// The server user must be able to enter the working directory.
	cmd.Dir = filepath.Dir(c.DataDir)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "LANG=C", "HOME=" + cmd.Dir, "TZ=UTC"}
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	runErr := cmd.Run()
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	data, _ := io.ReadAll(io.LimitReader(out, 64<<10))
	return strings.TrimSpace(string(data)), runErr
}

func (c *Cluster) mkdirOwned(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing %s: %w", dir, err)
	}
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("handing %s to the database user %s: %w", dir, c.OSUser, err)
		}
	}
	return nil
}

func (c *Cluster) createOwnedFile(path string, content []byte) error {
	if err := os.WriteFile(path, content, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if c.cred != nil {
		if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("handing %s to the database user %s: %w", path, c.OSUser, err)
		}
	}
	return nil
}

func randomPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// shortTempDir keeps the socket path well under the 107-byte limit of
// sun_path even when TMPDIR is long.
func shortTempDir() string {
	if dir := os.TempDir(); len(dir) <= 40 {
		return dir
	}
	return "/tmp"
}

func tail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
