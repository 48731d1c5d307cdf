package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSamLocalInvokeCanPointAtALocalRun: sam local invoke --env-vars
// overrides only the variables the template declares, so everything a
// local run sets (events/env.json) is declared, for every function or for
// the one it names; the database URL comes from the NoEcho DatabaseUrl
// parameter, used only when set; a deploy needs no secret parameter to
// translate; samconfig.toml's local_invoke section uses events/env.json.
func TestSamLocalInvokeCanPointAtALocalRun(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	envOf := func(props map[string]any) map[string]any {
		e, _ := props["Environment"].(map[string]any)
		v, _ := e["Variables"].(map[string]any)
		return v
	}
	global := envOf(tpl.Globals("Function"))
	for _, v := range []string{"DATABASE_URL", "DATABASE_SECRET_ARN", "SCENTMATCH_HOME", "AWS_ENDPOINT_URL"} {
		require.Contains(t, global, v, "Globals.Function.Environment declares %s so a local run can override it", v)
	}
	require.Equal(t, map[string]any{"Ref": "DatabaseUrl"}, global["DATABASE_URL"])
	p, _ := tpl.Parameters["DatabaseUrl"].(map[string]any)
	require.Equal(t, true, p["NoEcho"], "DatabaseUrl holds a password")
	require.Equal(t, "", p["Default"], "DatabaseUrl is used only when set")
	s, _ := tpl.Parameters["DatabaseSecretArn"].(map[string]any)
	require.Contains(t, s, "Default", "DatabaseSecretArn has a default, so sam local invoke needs no secret")

	b, err := os.ReadFile(filepath.Join(root, "events", "env.json"))
	require.NoError(t, err)
	var env map[string]map[string]string
	require.NoError(t, json.Unmarshal(b, &env), "events/env.json: {\"Parameters\": {...}, \"<LogicalId>\": {...}}")
	require.Contains(t, env, "Parameters")
	for scope, vars := range env {
		declared := global
		if scope != "Parameters" {
			r, ok := tpl.Resources[scope]
			require.True(t, ok && r.Type == "AWS::Serverless::Function", "events/env.json: %s is not a function of the template", scope)
			declared = map[string]any{}
			for k, v := range global {
				declared[k] = v
			}
			for k, v := range envOf(r.Properties) {
				declared[k] = v
			}
		}
		for k := range vars {
			require.Contains(t, declared, k, "events/env.json sets %s for %s, which the template does not declare: sam local invoke would ignore it", k, scope)
		}
	}
	require.NotContains(t, env["Parameters"], "DATABASE_URL", "the URL comes from the DatabaseUrl parameter; an env.json value would hide it")

	cfg, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^\[default\.local_invoke\.parameters\]\nenv_vars = "events/env\.json"$`, string(cfg))
}

// TestEveryFunctionHasADefaultInvokeEvent: make invoke-<fn> with no EVENT
// uses events/<fn>.json or the Makefile's INVOKE_EVENT_<fn>; for each of
// the nine functions that file exists and is JSON.
func TestEveryFunctionHasADefaultInvokeEvent(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	named := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^INVOKE_EVENT_([a-z0-9-]+)\s*:=\s*(\S+)\s*$`).FindAllStringSubmatch(string(mk), -1) {
		named[m[1]] = m[2]
	}
	require.Contains(t, string(mk), "$(or $(INVOKE_EVENT_$*),events/$*.json)", "the invoke-% rule picks the default event this test checks")
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	require.Len(t, dirs, 9)
	for _, d := range dirs {
		ev := named[d.Name()]
		if ev == "" {
			ev = fmt.Sprintf("events/%s.json", d.Name())
		}
		b, err := os.ReadFile(filepath.Join(root, ev))
		require.NoError(t, err, "make invoke-%s defaults to %s", d.Name(), ev)
		require.True(t, json.Valid(b), "%s is not JSON", ev)
	}
}
