package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	modulePath = "github.com/scentmatch/pipeline"
	sdkService = "github.com/aws/aws-sdk-go-v2/service/"
)

// Resources as the template spells them: !Ref X is "Ref X", !Sub s is s.
const (
	secret      = "Ref DatabaseSecretArn"
	migSecret   = "Ref DatabaseMigrationSecretArn"
	bucketARN   = "arn:${AWS::Partition}:s3:::${PipelineBucket}"
	configObjs  = "arn:${AWS::Partition}:s3:::${PipelineBucket}/config/*"
	cycleObjs   = "arn:${AWS::Partition}:s3:::${PipelineBucket}/cycles/*"
	importObjs  = "arn:${AWS::Partition}:s3:::${PipelineBucket}/imports/*"
	chunkObjs   = "arn:${AWS::Partition}:s3:::${PipelineBucket}/chunks/*"
	backupObjs  = "arn:${AWS::Partition}:s3:::${PipelineBucket}/backups/*"
	titanModel  = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/amazon.titan-embed-text-v2:0"
	sesIdentity = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderIdentity}"
	sesConfig   = "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${SesConfigurationSet}"
)

// grant is one IAM action on one resource.
type grant struct{ Action, Resource string }

// Every function that opens the database through app.Env reads the
// secret (DATABASE_SECRET_ARN) and, through app.Env.Open, the
// configuration override (ConfigLocation, under the bucket's config/
// prefix): GetObject on each file, ListObjectsV2 to find them.
var (
	connects   = []grant{{"secretsmanager:GetSecretValue", secret}}
	readConfig = []grant{{"s3:GetObject", configObjs}, {"s3:ListBucket", bucketARN}}
)

func grants(groups ...[]grant) []grant { return slices.Concat(groups...) }

// calls is what each function's code calls in AWS, read from the code
// (the comment says where). The test holds it to both sides: every call
// must be one the function's linked code can make (an API input built in
// a package of this module that the main package imports), and the
// function's policy must grant exactly these actions on exactly these
// resources.
var calls = map[string][]grant{
	// postgres.MigrateHandler: env.ConnectMigration only (the direct
	// connection's secret, DATABASE_MIGRATION_SECRET_ARN, else the main
	// one), no configuration.
	"MigrateFunction": grants(connects, []grant{{"secretsmanager:GetSecretValue", migSecret}}),
	// detect.Detector writes a long candidate list to
	// cycles/<id>/detect/candidates.jsonl (bucket.Put); it reads nothing
	// from the bucket.
	"DetectFunction": grants(connects, readConfig, []grant{{"s3:PutObject", cycleObjs}}),
	// importer.CycleStep reads the candidate list and its own stored
	// records, and writes cycles/<id>/import/records.jsonl; ImportObject
	// reads an upload (imports/) or a chunk (chunks/); the Bedrock
	// embedder when monitoring_config.json says so.
	"ImportFunction": grants(connects, readConfig, []grant{
		{"s3:GetObject", importObjs}, {"s3:GetObject", chunkObjs},
		{"s3:GetObject", cycleObjs}, {"s3:PutObject", cycleObjs},
		{"bedrock:InvokeModel", titanModel},
	}),
	// importer.Splitter: reads the upload, writes its chunks. No database.
	"DatasetFunction": {{"s3:GetObject", importObjs}, {"s3:PutObject", chunkObjs}},
	// maintain.Maintainer: the embedding backfill may use Bedrock.
	"MaintainFunction": grants(connects, readConfig, []grant{{"bedrock:InvokeModel", titanModel}}),
	// metrics.Step writes EMF lines to stdout: no CloudWatch API call.
	"MetricsFunction": grants(connects, readConfig),
	// notify.SES sends through the configuration set as the identity.
	"NotifyFunction": grants(connects, readConfig, []grant{{"ses:SendEmail", sesIdentity}, {"ses:SendEmail", sesConfig}}),
	// status.AWS reads the schedule and the state machine's executions;
	// health.SES reads the account's sending status (GetAccount has no
	// resource type, hence "*").
	"StatusFunction": grants(connects, readConfig, []grant{
		{"scheduler:GetSchedule", "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/default/scentmatch-${Stage}-weekly-cycle"},
		{"states:DescribeStateMachine", "Ref CycleStateMachine"},
		{"states:ListExecutions", "Ref CycleStateMachine"},
		{"ses:GetAccount", "*"},
	}),
	// backup.S3Store uploads through the transfer manager (PutObject, or
	// the multipart calls, which s3:PutObject covers, and
	// AbortMultipartUpload on failure) under backups/; backup.Prune lists
	// the backups (ListBucket, granted for the configuration) and deletes
	// those past retention.backups_keep.
	"BackupFunction": grants(connects, readConfig, []grant{{"s3:PutObject", backupObjs}, {"s3:AbortMultipartUpload", backupObjs},
		{"s3:DeleteObject", backupObjs}}),
}

// iamAction maps an SDK operation (service package/operation) to the IAM
// action that authorizes it. An operation missing here fails the test:
// add it with its action from the service authorization reference.
var iamAction = map[string]string{
	"s3/GetObject":                         "s3:GetObject",
	"s3/HeadObject":                        "s3:GetObject",
	"s3/PutObject":                         "s3:PutObject",
	"s3/CreateMultipartUpload":             "s3:PutObject",
	"s3/UploadPart":                        "s3:PutObject",
	"s3/CompleteMultipartUpload":           "s3:PutObject",
	"s3/AbortMultipartUpload":              "s3:AbortMultipartUpload",
	"s3/ListObjectsV2":                     "s3:ListBucket",
	"s3/DeleteObject":                      "s3:DeleteObject",
	"secretsmanager/GetSecretValue":        "secretsmanager:GetSecretValue",
	"sesv2/SendEmail":                      "ses:SendEmail",
	"sesv2/GetAccount":                     "ses:GetAccount",
	"bedrockruntime/InvokeModel":           "bedrock:InvokeModel",
	"scheduler/GetSchedule":                "scheduler:GetSchedule",
	"scheduler/UpdateSchedule":             "scheduler:UpdateSchedule",
	"sfn/StartExecution":                   "states:StartExecution",
	"sfn/StopExecution":                    "states:StopExecution",
	"sfn/DescribeExecution":                "states:DescribeExecution",
	"sfn/DescribeStateMachine":             "states:DescribeStateMachine",
	"sfn/ListExecutions":                   "states:ListExecutions",
	"sfn/GetExecutionHistory":              "states:GetExecutionHistory",
	"transfermanager/UploadObject":         "s3:PutObject", // plus the multipart calls below
	"transfermanager/UploadObject (abort)": "s3:AbortMultipartUpload",
}

// featureOps are the operations an SDK feature package's input stands for.
var featureOps = map[string][]string{
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager.UploadObjectInput": {"transfermanager/UploadObject", "transfermanager/UploadObject (abort)"},
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// buildTargets reads the Makefile's build-<LogicalId> targets: logical id
// to the functions/<dir> it builds.
func buildTargets(t *testing.T, root string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	defer f.Close()
	target := regexp.MustCompile(`^build-([A-Za-z0-9]+):`)
	pkg := regexp.MustCompile(`\./functions/([a-z0-9-]+)\b`)
	out := map[string]string{}
	current := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := target.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if current != "" && strings.HasPrefix(line, "\t") {
			if m := pkg.FindStringSubmatch(line); m != nil {
				out[current] = m[1]
			}
			continue
		}
		current = ""
	}
	require.NoError(t, sc.Err())
	return out
}

type goPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Standard   bool
}

// linkedActions returns the IAM actions of every AWS API request the
// function's main package can build: each <service>.<Op>Input (or a
// feature package's input) named in a non-test file of this module's
// packages that the main package links, mapped through iamAction.
// Requests the SDK builds on its own (credentials from STS or SSO) are
// the runtime's, not the function's, and are not counted.
func linkedActions(t *testing.T, root, dir string) (map[string][]string, []string) {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json", "./functions/"+dir)
	cmd.Dir = root
	out, err := cmd.Output()
	require.NoError(t, err, "go list ./functions/%s", dir)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	actions := map[string][]string{} // action -> where
	var services []string
	for dec.More() {
		var p goPackage
		require.NoError(t, dec.Decode(&p))
		if svc, ok := strings.CutPrefix(p.ImportPath, sdkService); ok && !strings.Contains(svc, "/") {
			services = append(services, svc)
		}
		if p.ImportPath != modulePath && !strings.HasPrefix(p.ImportPath, modulePath+"/") {
			continue
		}
		for _, name := range p.GoFiles {
			path := filepath.Join(p.Dir, name)
			for _, op := range requestsIn(t, path) {
				action, ok := iamAction[op]
				require.True(t, ok, "%s builds a %s request: add its IAM action to iamAction", path, op)
				rel, _ := filepath.Rel(root, path)
				actions[action] = append(actions[action], rel)
			}
		}
	}
	return actions, services
}

// requestsIn lists the SDK operations whose input types a file names.
func requestsIn(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	imports := map[string]string{} // local name -> import path
	for _, im := range f.Imports {
		p, _ := strconv.Unquote(im.Path.Value)
		name := p[strings.LastIndex(p, "/")+1:]
		if im.Name != nil {
			name = im.Name.Name
		}
		imports[name] = p
	}
	var ops []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		p := imports[x.Name]
		if fo, ok := featureOps[p+"."+sel.Sel.Name]; ok {
			ops = append(ops, fo...)
			return true
		}
		svc, ok := strings.CutPrefix(p, sdkService)
		if !ok || strings.Contains(svc, "/") {
			return true
		}
		if op, ok := strings.CutSuffix(sel.Sel.Name, "Input"); ok && op != "" {
			ops = append(ops, svc+"/"+op)
		}
		return true
	})
	return ops
}

// resourceString writes a Resource value as the table spells it.
func resourceString(t *testing.T, v any) string {
	t.Helper()
	switch r := v.(type) {
	case string:
		return r
	case map[string]any:
		if ref, ok := r["Ref"].(string); ok {
			return "Ref " + ref
		}
		if sub, ok := r["Fn::Sub"].(string); ok {
			return sub
		}
	}
	t.Fatalf("resource %v: only strings, !Ref and !Sub strings are understood here", v)
	return ""
}

func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

type statement struct {
	Effect    string
	Actions   []string
	Resources []string
	Condition any
}

// statements returns a resource's inline policy statements; SAM policy
// templates (LambdaInvokePolicy, ...) come back by name in templates.
func statements(t *testing.T, r Resource) (out []statement, templates []string) {
	t.Helper()
	for _, p := range list(r.Properties["Policies"]) {
		m, ok := p.(map[string]any)
		require.True(t, ok, "policy %v", p)
		st, ok := m["Statement"]
		if !ok {
			for name := range m {
				templates = append(templates, name)
			}
			continue
		}
		for _, s := range list(st) {
			sm, ok := conditional(t, s)
			if !ok {
				continue
			}
			var stmt statement
			stmt.Effect, _ = sm["Effect"].(string)
			for _, a := range list(sm["Action"]) {
				stmt.Actions = append(stmt.Actions, a.(string))
			}
			for _, res := range list(sm["Resource"]) {
				stmt.Resources = append(stmt.Resources, resourceString(t, res))
			}
			stmt.Condition = sm["Condition"]
			out = append(out, stmt)
		}
	}
	return out, templates
}

// conditional unwraps a statement written as !If [Cond, statement,
// !Ref AWS::NoValue] (granted when the condition holds; the test reviews
// it as granted). ok is false for a plain !Ref AWS::NoValue.
func conditional(t *testing.T, s any) (map[string]any, bool) {
	t.Helper()
	m, _ := s.(map[string]any)
	if m["Ref"] == "AWS::NoValue" {
		return nil, false
	}
	if arms, ok := m["Fn::If"].([]any); ok {
		require.Len(t, arms, 3, "!If %v", arms)
		require.Equal(t, map[string]any{"Ref": "AWS::NoValue"}, arms[2], "a conditional statement's else is AWS::NoValue")
		return conditional(t, arms[1])
	}
	require.NotNil(t, m, "statement %v", s)
	return m, true
}

func loadTemplate(t *testing.T) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(repoRoot(t), "template.yaml"))
	require.NoError(t, err)
	return tpl
}

// TestFunctionPoliciesGrantWhatTheCodeCalls holds each function's policy
// to the calls its code makes: exactly the table's grants, each backed by
// a request the function's linked code can build.
func TestFunctionPoliciesGrantWhatTheCodeCalls(t *testing.T) {
	root := repoRoot(t)
	tpl := loadTemplate(t)
	targets := buildTargets(t, root)
	var functions []string
	for id, r := range tpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			functions = append(functions, id)
		}
	}
	sort.Strings(functions)
	tabled := make([]string, 0, len(calls))
	for id := range calls {
		tabled = append(tabled, id)
	}
	sort.Strings(tabled)
	require.Equal(t, functions, tabled, "every function in template.yaml has its calls in this test's table, and no other")

	for _, id := range functions {
		t.Run(id, func(t *testing.T) {
			dir, ok := targets[id]
			require.True(t, ok, "Makefile has no build-%s target naming ./functions/<dir>", id)
			linked, services := linkedActions(t, root, dir)
			stmts, templates := statements(t, tpl.Resources[id])
			require.Empty(t, templates, "a function's policies are inline statements, reviewed here (no SAM policy templates)")

			want := map[grant]bool{}
			for _, g := range calls[id] {
				where, ok := linked[g.Action]
				require.True(t, ok, "the table says %s calls %s, but no package linked into functions/%s builds such a request", id, g.Action, dir)
				require.NotEmpty(t, where)
				svc := strings.SplitN(g.Action, ":", 2)[0]
				linkedSvc := map[string]string{"ses": "sesv2", "bedrock": "bedrockruntime", "states": "sfn"}[svc]
				if linkedSvc == "" {
					linkedSvc = svc
				}
				require.Contains(t, services, linkedSvc, "%s: %s needs the %s client linked", id, g.Action, linkedSvc)
				want[g] = true
			}
			got := map[grant]bool{}
			for _, s := range stmts {
				require.Equal(t, "Allow", s.Effect, "%s: a function policy only allows", id)
				require.Nil(t, s.Condition, "%s: conditions are not reviewed by this test; extend it first", id)
				for _, a := range s.Actions {
					require.NotContains(t, a, "*", "%s: wildcard action %s", id, a)
					for _, r := range s.Resources {
						got[grant{a, r}] = true
					}
				}
			}
			var extra, missing []string
			for g := range got {
				if !want[g] {
					extra = append(extra, fmt.Sprintf("%s on %s", g.Action, g.Resource))
				}
			}
			for g := range want {
				if !got[g] {
					missing = append(missing, fmt.Sprintf("%s on %s", g.Action, g.Resource))
				}
			}
			sort.Strings(extra)
			sort.Strings(missing)
			require.Empty(t, extra, "%s: the policy grants what the code does not call", id)
			require.Empty(t, missing, "%s: the code calls what the policy does not grant", id)
		})
	}
}

// TestNoWildcardActionsAnywhere covers the state machines' policies too:
// an allowed action names one API, even where the resource cannot be
// narrowed (log delivery, X-Ray).
func TestNoWildcardActionsAnywhere(t *testing.T) {
	tpl := loadTemplate(t)
	checked := 0
	for id, r := range tpl.Resources {
		stmts, _ := statements(t, r)
		for _, s := range stmts {
			if s.Effect != "Allow" {
				continue
			}
			for _, a := range s.Actions {
				checked++
				require.NotContains(t, a, "*", "%s allows %s", id, a)
			}
		}
	}
	require.Positive(t, checked)
}

// TestBucketsArePrivateAndEncrypted checks every bucket of the stack:
// public access blocked (all four flags), encryption at rest by default,
// ownership enforced (no ACLs), and a bucket policy that refuses every
// request not made over TLS, on the bucket and on its objects.
func TestBucketsArePrivateAndEncrypted(t *testing.T) {
	tpl := loadTemplate(t)
	buckets := 0
	for id, r := range tpl.Resources {
		if r.Type != "AWS::S3::Bucket" {
			continue
		}
		buckets++
		p := r.Properties
		pab, _ := p["PublicAccessBlockConfiguration"].(map[string]any)
		for _, flag := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			require.Equal(t, true, pab[flag], "%s: PublicAccessBlockConfiguration.%s", id, flag)
		}
		enc, _ := p["BucketEncryption"].(map[string]any)
		rules := list(enc["ServerSideEncryptionConfiguration"])
		require.NotEmpty(t, rules, "%s: BucketEncryption", id)
		def, _ := rules[0].(map[string]any)["ServerSideEncryptionByDefault"].(map[string]any)
		require.Contains(t, []any{"aws:kms", "aws:kms:dsse", "AES256"}, def["SSEAlgorithm"], "%s: default encryption", id)
		own, _ := p["OwnershipControls"].(map[string]any)
		require.NotEmpty(t, list(own["Rules"]), "%s: OwnershipControls", id)
		require.Equal(t, "BucketOwnerEnforced", list(own["Rules"])[0].(map[string]any)["ObjectOwnership"], "%s", id)

		// Its policy: a Deny of everything without TLS, bucket and objects.
		var denies []map[string]any
		for _, pr := range tpl.Resources {
			if pr.Type != "AWS::S3::BucketPolicy" || !refersTo(pr.Properties["Bucket"], id) {
				continue
			}
			doc, _ := pr.Properties["PolicyDocument"].(map[string]any)
			for _, s := range list(doc["Statement"]) {
				sm := s.(map[string]any)
				if sm["Sid"] == "DenyInsecureTransport" {
					denies = append(denies, sm)
				}
			}
		}
		require.Len(t, denies, 1, "%s: a bucket policy with one DenyInsecureTransport statement", id)
		d := denies[0]
		require.Equal(t, "Deny", d["Effect"])
		require.Equal(t, "*", d["Principal"])
		require.Equal(t, []any{"s3:*"}, list(d["Action"]), "%s: every action is refused without TLS", id)
		cond, _ := d["Condition"].(map[string]any)
		b, _ := cond["Bool"].(map[string]any)
		require.Contains(t, []any{"false", false}, b["aws:SecureTransport"], "%s: the condition is aws:SecureTransport false", id)
		var res []string
		for _, r := range list(d["Resource"]) {
			res = append(res, resourceString(t, r))
		}
		name := bucketNameOf(t, id, p)
		arn := "arn:${AWS::Partition}:s3:::" + name
		require.ElementsMatch(t, []string{arn, arn + "/*"}, res, "%s: the bucket and its objects", id)
	}
	require.Positive(t, buckets)
}

func refersTo(v any, id string) bool {
	m, ok := v.(map[string]any)
	return ok && m["Ref"] == id
}

// bucketNameOf returns the bucket's name as an ARN would spell it in a
// !Sub string: ${Param} for a !Ref of a parameter, ${LogicalId} for a
// bucket CloudFormation names.
func bucketNameOf(t *testing.T, id string, props map[string]any) string {
	t.Helper()
	switch n := props["BucketName"].(type) {
	case nil:
		return "${" + id + "}"
	case string:
		return n
	case map[string]any:
		if ref, ok := n["Ref"].(string); ok {
			return "${" + ref + "}"
		}
		if sub, ok := n["Fn::Sub"].(string); ok {
			return sub
		}
	}
	t.Fatalf("BucketName %v: give the bucket a name this test can read", props["BucketName"])
	return ""
}
