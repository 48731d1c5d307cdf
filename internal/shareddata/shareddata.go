// Package shareddata finds the real public catalogs in shared/data (see its
// README), which sits beside the repository's clone: in a developer's
// workspace and in CI alike. SCENTMATCH_SHARED_DATA overrides the place.
package shareddata

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// EnvDir names a directory holding the shared data files.
const EnvDir = "SCENTMATCH_SHARED_DATA"

// Path returns the path of shared/data/name, looking in $SCENTMATCH_SHARED_DATA
// and then in shared/data beside every directory from the working
// directory up.
func Path(name string) (string, error) {
	if dir := os.Getenv(EnvDir); dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", EnvDir, dir, err)
		}
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "data", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("shared/data/%s not found above %s: put shared/ beside the clone or set %s", name, wd, EnvDir)
		}
	}
}

// Head writes the first line (a CSV header) and the next lines of
// shared/data/name, decompressed, to dst: a slice of a real catalog for
// tests. It cuts at line ends, so it suits files whose records are one
// line each (the catalogs' are).
func Head(name string, lines int, dst string) error {
	src, err := Path(name)
	if err != nil {
		return err
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		defer gz.Close()
		r = gz
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i <= lines && sc.Scan(); i++ {
		w.Write(sc.Bytes())
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
