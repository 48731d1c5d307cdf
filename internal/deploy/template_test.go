package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/metrics"
	"github.com/scentmatch/pipeline/internal/statemachine"
)

const root = "../.."

func load(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	return tpl
}

func ofType(tpl *Template, typ string) []string {
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// makeTargets maps build-<LogicalId> targets to the package they build.
func makeTargets(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^build-([A-Za-z0-9]+):\n\t.*-o \$\(ARTIFACTS_DIR\)/bootstrap (\./functions/[a-z0-9-]+)\s*$`)
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = m[2]
	}
	return out
}

func TestEveryFunctionBuildsFromAMainPackage(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	targets := makeTargets(t)
	globalCode, _ := tpl.Globals("Function")["CodeUri"].(string)
	fns := ofType(tpl, "AWS::Serverless::Function")
	require.NotEmpty(t, fns)
	for _, id := range fns {
		r := tpl.Resources[id]
		require.Equal(t, "makefile", r.Metadata["BuildMethod"], "%s: Metadata.BuildMethod", id)
		code, _ := r.Properties["CodeUri"].(string)
		if code == "" {
			code = globalCode
		}
		require.Equal(t, ".", code, "%s: CodeUri is the repository (the Makefile builds it)", id)
		pkg, ok := targets[id]
		require.True(t, ok, "%s: no build-%s target in the Makefile", id, id)
		main, err := os.ReadFile(filepath.Join(root, pkg, "main.go"))
		require.NoError(t, err, "%s builds %s", id, pkg)
		require.Regexp(t, `(?m)^package main$`, string(main), "%s: %s is not a main package", id, pkg)
		require.Contains(t, string(main), "lambda.Start(event.Strict(", "%s: %s does not start its handler through event.Strict (events are decoded strictly at the door)", id, pkg)
	}
	// And no function directory is left out of the template.
	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	require.NoError(t, err)
	built := map[string]bool{}
	for _, pkg := range targets {
		built[pkg] = true
	}
	for _, d := range dirs {
		require.True(t, built["./functions/"+d.Name()], "functions/%s has no build target used by template.yaml", d.Name())
	}
}

func TestStateMachineSubstitutionsResolve(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	sms := ofType(tpl, "AWS::Serverless::StateMachine")
	require.Len(t, sms, 2)
	ref := regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)
	for _, id := range sms {
		props := tpl.Resources[id].Properties
		uri, _ := props["DefinitionUri"].(string)
		def, err := os.ReadFile(filepath.Join(root, uri))
		require.NoError(t, err, "%s: DefinitionUri", id)
		subs, _ := props["DefinitionSubstitutions"].(map[string]any)
		used := map[string]bool{}
		for _, m := range ref.FindAllStringSubmatch(string(def), -1) {
			used[m[1]] = true
			require.Contains(t, subs, m[1], "%s: ${%s} in %s has no DefinitionSubstitution", id, m[1], uri)
		}
		local := map[string]string{}
		for name, v := range subs {
			require.True(t, used[name], "%s: substitution %s is not used by %s", id, name, uri)
			att, ok := v.(map[string]any)["Fn::GetAtt"].(string)
			require.True(t, ok, "%s: %s should be !GetAtt <Function>.Arn", id, name)
			fn := strings.TrimSuffix(att, ".Arn")
			require.Equal(t, "AWS::Serverless::Function", tpl.Resources[fn].Type, "%s: %s names %s", id, name, att)
			local[name] = "arn:aws:lambda:us-east-1:123456789012:function:" + fn
		}
		require.NoError(t, statemachine.Validate(def, local), "%s: %s", id, uri)
	}
}

func TestWeeklyScheduleDefaultsToSunday0200(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	p, _ := tpl.Parameters["ScheduleExpression"].(map[string]any)
	require.Equal(t, "cron(0 2 ? * SUN *)", p["Default"])
	tz, _ := tpl.Parameters["ScheduleTimezone"].(map[string]any)
	require.Equal(t, "UTC", tz["Default"])
	events, _ := tpl.Resources["CycleStateMachine"].Properties["Events"].(map[string]any)
	weekly, _ := events["Weekly"].(map[string]any)
	require.Equal(t, "ScheduleV2", weekly["Type"])
	props, _ := weekly["Properties"].(map[string]any)
	require.Equal(t, map[string]any{"Ref": "ScheduleExpression"}, props["ScheduleExpression"])
	require.Equal(t, map[string]any{"Ref": "ScheduleTimezone"}, props["ScheduleExpressionTimezone"])
}

// actions collects every action an Allow statement grants in the template
// (policies and bucket policies; SAM policy templates excepted). A Deny
// may name a wildcard: denying everything over plain HTTP is the point.
func actions(v any, where string, out map[string][]string) {
	switch x := v.(type) {
	case map[string]any:
		if x["Effect"] == "Deny" || accountAdministersKey(x) {
			return
		}
		for k, val := range x {
			if k == "Action" || k == "NotAction" {
				switch a := val.(type) {
				case string:
					out[where] = append(out[where], a)
				case []any:
					for _, s := range a {
						out[where] = append(out[where], fmt.Sprint(s))
					}
				}
				continue
			}
			actions(val, where, out)
		}
	case []any:
		for _, val := range x {
			actions(val, where, out)
		}
	}
}

// accountRoot is the principal of a key policy's administration statement.
var accountRoot = map[string]any{"AWS": map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}

// accountAdministersKey tells the one statement every KMS key policy needs
// (AWS's default key policy): the account itself may do anything with the
// key, which lets IAM policies in the account grant its use; without it
// nobody could manage the key. It is the one kms:* allowed.
func accountAdministersKey(st map[string]any) bool {
	return st["Effect"] == "Allow" && st["Action"] == "kms:*" && fmt.Sprint(st["Principal"]) == fmt.Sprint(accountRoot)
}

func TestNoWildcardActions(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	all := map[string][]string{}
	for id, r := range tpl.Resources {
		actions(r.Properties, id, all)
	}
	require.NotEmpty(t, all)
	for id, acts := range all {
		for _, a := range acts {
			require.NotContains(t, a, "*", "%s grants the wildcard action %q", id, a)
			require.Regexp(t, `^[a-z0-9-]+:[A-Za-z0-9]+$`, a, "%s: action %q", id, a)
		}
	}
}

func TestEveryAlarmWatchesAMetricTheCodeEmits(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	emitted := map[string]bool{}
	for _, m := range metrics.EMFMetrics(&metrics.Report{}) {
		emitted[m.Name] = true
	}
	alarms := ofType(tpl, "AWS::CloudWatch::Alarm")
	require.NotEmpty(t, alarms)
	names := map[string]bool{}
	for _, id := range alarms {
		p := tpl.Resources[id].Properties
		require.NotEmpty(t, p["AlarmActions"], "%s has no action", id)
		check := func(ns, name string) {
			switch ns {
			case "ScentMatch/Pipeline":
				require.True(t, emitted[name], "%s watches %s, which the metrics step does not emit", id, name)
			case "AWS/States", "AWS/Lambda", "AWS/SQS":
				// emitted by AWS itself
			default:
				t.Fatalf("%s watches %s/%s: an unknown namespace", id, ns, name)
			}
			names[name] = true
		}
		if ns, ok := p["Namespace"].(string); ok {
			check(ns, p["MetricName"].(string))
			continue
		}
		qs, _ := p["Metrics"].([]any)
		require.NotEmpty(t, qs, "%s has neither a metric nor metric queries", id)
		for _, q := range qs {
			ms, _ := q.(map[string]any)["MetricStat"].(map[string]any)
			if ms == nil {
				continue
			}
			m := ms["Metric"].(map[string]any)
			check(m["Namespace"].(string), m["MetricName"].(string))
		}
	}
	// The alarms the issue asks for.
	for _, want := range []string{"ExecutionsFailed", "CycleDurationSeconds", "SystemHealthScore", "ErrorRate", "Errors", "Throttles"} {
		require.True(t, names[want], "no alarm on %s", want)
	}
}

func TestBucketIsPrivateAndEncrypted(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	b := tpl.Resources["PipelineBucket"].Properties
	pab := b["PublicAccessBlockConfiguration"].(map[string]any)
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		require.Equal(t, true, pab[k], k)
	}
	enc := b["BucketEncryption"].(map[string]any)["ServerSideEncryptionConfiguration"].([]any)
	require.NotEmpty(t, enc)
	require.Equal(t, "Enabled", b["VersioningConfiguration"].(map[string]any)["Status"])
}

// TestTaskTimeoutsOutlastTheirFunctions: every Task state that invokes one
// of our functions waits longer than the function may run. With a state
// timeout at or under the function's, States.Timeout can fire first (the
// state's clock includes the invoke) while the function goes on running:
// it could still write after RecordFailure closed the cycle. Longer, the
// function's own timeout ends it first and reaches Catch as its error.
func TestTaskTimeoutsOutlastTheirFunctions(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	vals := Values{Region: "eu-west-1", AccountID: "111122223333",
		Parameters: map[string]string{"Stage": "prod", "DatabaseSecretArn": "arn:secret"},
		Resources: map[string]string{"PipelineBucket": "b",
			"CycleStateMachine": "arn:aws:states:eu-west-1:111122223333:stateMachine:scentmatch-prod-cycle"}}
	const margin = 30
	tasks := 0
	for _, id := range ofType(tpl, "AWS::Serverless::StateMachine") {
		props := tpl.Resources[id].Properties
		uri, _ := props["DefinitionUri"].(string)
		raw, err := os.ReadFile(filepath.Join(root, uri))
		require.NoError(t, err)
		var def map[string]any
		require.NoError(t, json.Unmarshal(raw, &def))
		subs, _ := props["DefinitionSubstitutions"].(map[string]any)
		var walk func(states map[string]any)
		walk = func(states map[string]any) {
			for name, v := range states {
				st, _ := v.(map[string]any)
				for _, key := range []string{"ItemProcessor", "Iterator"} {
					if sub, ok := st[key].(map[string]any); ok {
						inner, _ := sub["States"].(map[string]any)
						walk(inner)
					}
				}
				if branches, ok := st["Branches"].([]any); ok {
					for _, b := range branches {
						inner, _ := b.(map[string]any)["States"].(map[string]any)
						walk(inner)
					}
				}
				if st["Type"] != "Task" {
					continue
				}
				res, _ := st["Resource"].(string)
				m := regexp.MustCompile(`^\$\{([A-Za-z0-9_]+)\}$`).FindStringSubmatch(res)
				if m == nil {
					continue
				}
				att, _ := subs[m[1]].(map[string]any)["Fn::GetAtt"].(string)
				fn, err := tpl.Function(strings.TrimSuffix(att, ".Arn"), vals)
				require.NoError(t, err, "%s: %s", uri, name)
				timeout, ok := st["TimeoutSeconds"].(float64)
				require.True(t, ok, "%s: state %s sets no TimeoutSeconds", uri, name)
				require.GreaterOrEqual(t, int(timeout), fn.TimeoutS+margin,
					"%s: state %s waits %d s for %s, whose timeout is %d s: give the state at least %d s",
					uri, name, int(timeout), fn.ID, fn.TimeoutS, fn.TimeoutS+margin)
				tasks++
			}
		}
		states, _ := def["States"].(map[string]any)
		walk(states)
	}
	require.GreaterOrEqual(t, tasks, 10, "every Task state of both definitions was checked")
}
