// Package home resolves $SCENTMATCH_HOME, the directory that holds the
// pipeline's local state: the embedded database, the outbox, the local bucket
// and backups.
package home

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvVar names the environment variable that overrides the home directory.
const EnvVar = "SCENTMATCH_HOME"

// LambdaDir is the home used inside AWS Lambda, where only /tmp is writable.
const LambdaDir = "/tmp/scentmatch"

// Resolve returns the home directory as an absolute path, without creating it.
// The order is: $SCENTMATCH_HOME; /tmp/scentmatch in Lambda; .scentmatch/ at
// the root of the repository containing the working directory (a directory
// holding go.mod for this module); ~/.scentmatch otherwise.
func Resolve(getenv func(string) string) (string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if dir := getenv(EnvVar); dir != "" {
		return filepath.Abs(dir)
	}
	if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return LambdaDir, nil
	}
	if wd, err := os.Getwd(); err == nil {
		if root, ok := repoRoot(wd); ok {
			return filepath.Join(root, ".scentmatch"), nil
		}
	}
	userHome, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory (set %s to choose one): %w", EnvVar, err)
	}
	return filepath.Join(userHome, ".scentmatch"), nil
}

// modulePath is the first line of this project's go.mod.
const modulePath = "module github.com/scentmatch/pipeline"

// repoRoot walks up from dir looking for this project's go.mod.
func repoRoot(dir string) (string, bool) {
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && len(data) >= len(modulePath) && string(data[:len(modulePath)]) == modulePath {
			return dir, true
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Ensure creates dir (and its parents) if missing and returns it.
func Ensure(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating home directory %s: %w", dir, err)
	}
	return dir, nil
}
