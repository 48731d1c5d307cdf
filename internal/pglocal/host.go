package pglocal

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// BinDirEnv overrides where the server binaries are looked up.
const BinDirEnv = "SCENTMATCH_PG_BINDIR"

// ServerMissingError says that no PostgreSQL server binaries were found.
type ServerMissingError struct {
	Searched []string
}

func (e *ServerMissingError) Error() string {
	return fmt.Sprintf("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in %s: "+
		"install them (Debian/Ubuntu: apt-get install postgresql; `make run` and `make test` do this when run as root), "+
		"point %s at their directory, or set DATABASE_URL to use an existing server",
		strings.Join(e.Searched, ", "), BinDirEnv)
}

// FindBinDir locates a directory holding initdb, pg_ctl and postgres:
// $SCENTMATCH_PG_BINDIR, then `pg_config --bindir`, then the newest
// /usr/lib/postgresql/*/bin and the other usual places.
func FindBinDir() (string, error) {
	var candidates []string
	if dir := os.Getenv(BinDirEnv); dir != "" {
		candidates = append(candidates, dir)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql*/bin"} {
		matches, _ := filepath.Glob(pattern)
		sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
		candidates = append(candidates, matches...)
	}
	for _, dir := range candidates {
		if hasServer(dir) {
			return dir, nil
		}
	}
	if len(candidates) == 0 {
		candidates = []string{"/usr/lib/postgresql/*/bin"}
	}
	return "", &ServerMissingError{Searched: candidates}
}

func versionOf(dir string) int {
	for _, part := range strings.Split(dir, string(filepath.Separator)) {
		part = strings.TrimPrefix(part, "pgsql-")
		if n, err := strconv.Atoi(part); err == nil {
			return n
		}
	}
	return 0
}

func hasServer(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// serverUser picks who runs the server. PostgreSQL refuses root, so root
// hands it to the postgres system user, or nobody when there is none.
func serverUser() (string, *syscall.Credential, error) {
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return "", nil, fmt.Errorf("looking up the current user: %w", err)
		}
		return u.Username, nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		if _, err := user.Lookup(name); err == nil {
			cred, err := credentialFor(name)
			return name, cred, err
		}
	}
	return "", nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user to run as and neither postgres nor nobody exists: " +
		"create one (useradd --system postgres) or run as a regular user")
}

// credentialFor returns the credential to run the server as name, or nil
// when name is the current user.
func credentialFor(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("looking up database user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if groups, err := u.GroupIds(); err == nil {
		for _, g := range groups {
			if n, err := strconv.Atoi(g); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// canTraverse reports whether the user of cred may reach dir: every
// directory from / down to dir must grant it search permission.
func canTraverse(dir string, cred *syscall.Credential) bool {
	inGroup := func(gid uint32) bool {
		if gid == cred.Gid {
			return true
		}
		for _, g := range cred.Groups {
			if g == gid {
				return true
			}
		}
		return false
	}
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err != nil {
			return false
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return false
		}
		mode := info.Mode().Perm()
		var bit os.FileMode
		switch {
		case st.Uid == cred.Uid:
			bit = 0o100
		case inGroup(st.Gid):
			bit = 0o010
		default:
			bit = 0o001
		}
		if mode&bit == 0 {
			return false
		}
		if p == "/" || p == filepath.Dir(p) {
			return true
		}
	}
}

// lockFile takes an exclusive advisory lock on path, blocking until it is
// free; the returned function releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
