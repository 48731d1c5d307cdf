package home

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestResolveOrder(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	env[EnvVar] = "relative/home"
	got, err := Resolve(getenv)
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(got))
	require.Equal(t, "home", filepath.Base(got))

	delete(env, EnvVar)
	env["AWS_LAMBDA_FUNCTION_NAME"] = "scentmatch-dev-detect"
	got, err = Resolve(getenv)
	require.NoError(t, err)
	require.Equal(t, LambdaDir, got)

	// Inside the repository (this test runs in internal/home): .scentmatch at its root.
	delete(env, "AWS_LAMBDA_FUNCTION_NAME")
	got, err = Resolve(getenv)
	require.NoError(t, err)
	wd, _ := os.Getwd()
	require.Equal(t, filepath.Join(filepath.Dir(filepath.Dir(wd)), ".scentmatch"), got)

	// Elsewhere: ~/.scentmatch.
	t.Chdir(t.TempDir())
	got, err = Resolve(getenv)
	require.NoError(t, err)
	userHome, _ := os.UserHomeDir()
	require.Equal(t, filepath.Join(userHome, ".scentmatch"), got)
}
