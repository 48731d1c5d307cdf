// Package shareddata finds the real public catalogs in shared/data (see its
// README), which sits beside the repository's clone: in a developer's
// workspace and in CI alike. SCENTMATCH_SHARED_DATA overrides the place.
package shareddata

import (
	"fmt"
	"os"
	"path/filepath"
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
