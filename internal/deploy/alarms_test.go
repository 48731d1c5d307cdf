package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/metrics"
)

// These tests hold template.yaml to what the SAM translator and cfn-lint
// (scripts/check-template.sh) do not check but a deploy or an operator
// needs: CloudWatch's limits, alarms that can deliver, every ending and
// every function covered, schedules whose failures are noticed, and ARNs
// that work in every partition.

// maxAlarmWindow is the longest an alarm may evaluate: CloudWatch refuses
// Period × EvaluationPeriods above 7 days (stack creation fails).
const maxAlarmWindow = 7 * 24 * 3600

func num(t *testing.T, v any, what string) int {
	t.Helper()
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	t.Fatalf("%s: %v is not a number", what, v)
	return 0
}

// alarmPeriod is an alarm's period: its own, or its metric queries'
// (which must then agree).
func alarmPeriod(t *testing.T, id string, p map[string]any) int {
	t.Helper()
	if v, ok := p["Period"]; ok {
		return num(t, v, id+".Period")
	}
	period := 0
	for _, q := range list(p["Metrics"]) {
		ms, _ := q.(map[string]any)["MetricStat"].(map[string]any)
		if ms == nil {
			continue
		}
		got := num(t, ms["Period"], id+" MetricStat.Period")
		require.True(t, period == 0 || period == got, "%s: its metric queries disagree on the period", id)
		period = got
	}
	require.Positive(t, period, "%s has no period", id)
	return period
}

func TestAlarmWindowsWithinCloudWatchLimit(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		period := alarmPeriod(t, id, p)
		evals := num(t, p["EvaluationPeriods"], id+".EvaluationPeriods")
		require.LessOrEqual(t, period*evals, maxAlarmWindow,
			"%s: Period %d × EvaluationPeriods %d = %d s; CloudWatch evaluates at most 7 days (604800 s) and stack creation would fail", id, period, evals, period*evals)
		if d, ok := p["DatapointsToAlarm"]; ok {
			require.LessOrEqual(t, num(t, d, id+".DatapointsToAlarm"), evals, "%s: DatapointsToAlarm above EvaluationPeriods", id)
		}
	}
}

// topicsUsedByServices returns each SNS topic a service publishes to:
// alarm actions (cloudwatch.amazonaws.com) and SES event destinations
// (ses.amazonaws.com).
func topicsUsedByServices(t *testing.T, tpl *Template) map[string][]string {
	t.Helper()
	uses := map[string][]string{}
	add := func(v any, svc string) {
		ref, _ := v.(map[string]any)["Ref"].(string)
		require.NotEmpty(t, ref, "a topic named by !Ref, got %v", v)
		require.Equal(t, "AWS::SNS::Topic", tpl.Resources[ref].Type, "%s is not a topic of the stack", ref)
		if !slices.Contains(uses[ref], svc) {
			uses[ref] = append(uses[ref], svc)
		}
	}
	for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		for _, k := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
			for _, a := range list(p[k]) {
				add(a, "cloudwatch.amazonaws.com")
			}
		}
	}
	for _, id := range ofType(tpl, "AWS::SES::ConfigurationSetEventDestination") {
		dest, _ := tpl.Resources[id].Properties["EventDestination"].(map[string]any)
		if sns, ok := dest["SnsDestination"].(map[string]any); ok {
			add(sns["TopicARN"], "ses.amazonaws.com")
		}
	}
	return uses
}

// TestServicesCanPublishToTheirTopics: a topic CloudWatch alarms or SES
// publish to is unencrypted or under a customer-managed key of the stack
// whose policy lets that service use it. The AWS managed alias/aws/sns
// key's policy cannot, so an alarm on such a topic is never delivered.
func TestServicesCanPublishToTheirTopics(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	uses := topicsUsedByServices(t, tpl)
	require.NotEmpty(t, uses)
	for topic, services := range uses {
		key, encrypted := tpl.Resources[topic].Properties["KmsMasterKeyId"]
		if !encrypted {
			continue
		}
		ref, _ := key.(map[string]any)["Ref"].(string)
		require.NotEmpty(t, ref, "%s is encrypted with %v: an AWS managed key's policy cannot let %v use it; use a customer-managed key of the stack or none", topic, key, services)
		k := tpl.Resources[ref]
		require.Equal(t, "AWS::KMS::Key", k.Type, "%s: KmsMasterKeyId names %s", topic, ref)
		policy, _ := k.Properties["KeyPolicy"].(map[string]any)
		for _, svc := range services {
			allowed := map[string]bool{}
			for _, s := range list(policy["Statement"]) {
				st := s.(map[string]any)
				p, _ := st["Principal"].(map[string]any)
				if st["Effect"] != "Allow" || !slices.Contains(list(p["Service"]), any(svc)) {
					continue
				}
				for _, a := range list(st["Action"]) {
					allowed[a.(string)] = true
				}
			}
			require.True(t, allowed["kms:Decrypt"], "%s: key %s does not let %s decrypt (it publishes to the topic)", topic, ref, svc)
			require.True(t, allowed["kms:GenerateDataKey"] || allowed["kms:GenerateDataKey*"], "%s: key %s does not let %s generate data keys", topic, ref, svc)
		}
	}
}

// TestEveryARNNamesThePartition: an ARN written in the template (or in
// the ASL it inlines) says ${AWS::Partition}, so the stack deploys in
// aws-cn and aws-us-gov as well.
func TestEveryARNNamesThePartition(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	require.NoError(t, err)
	hard := regexp.MustCompile(`arn:aws(-[a-z-]+)?:`)
	for i, line := range strings.Split(string(b), "\n") {
		require.False(t, hard.MatchString(line), "template.yaml:%d hard-codes the partition (write arn:${AWS::Partition}:): %s", i+1, strings.TrimSpace(line))
	}
	asl, err := filepath.Glob(filepath.Join(root, "statemachine", "*.asl.json"))
	require.NoError(t, err)
	require.NotEmpty(t, asl)
	for _, f := range asl {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.False(t, hard.Match(b), "%s hard-codes an ARN's partition: use a DefinitionSubstitution", f)
	}
	require.Contains(t, string(b), "arn:${AWS::Partition}:", "the ARNs the template builds name the partition")
}

// metricQueries returns an alarm's metric queries by id.
func metricQueries(p map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, q := range list(p["Metrics"]) {
		m := q.(map[string]any)
		out[fmt.Sprint(m["Id"])] = m
	}
	return out
}

// watched returns, for each metric name an alarm reads, the dimension
// values (as written) it reads it with.
func watched(p map[string]any) map[string][]string {
	out := map[string][]string{}
	addDims := func(name string, dims any) {
		for _, d := range list(dims) {
			out[name] = append(out[name], fmt.Sprint(d.(map[string]any)["Value"]))
		}
		if len(list(dims)) == 0 {
			out[name] = append(out[name], "")
		}
	}
	if n, ok := p["MetricName"].(string); ok {
		addDims(n, p["Dimensions"])
	}
	for _, q := range metricQueries(p) {
		ms, _ := q["MetricStat"].(map[string]any)
		if ms == nil {
			continue
		}
		m := ms["Metric"].(map[string]any)
		addDims(m["MetricName"].(string), m["Dimensions"])
	}
	return out
}

// TestEveryExecutionEndingAlarms: for both state machines, one alarm adds
// failed, timed-out and aborted executions (metric math), and its
// expression uses all three.
func TestEveryExecutionEndingAlarms(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	machines := ofType(tpl, "AWS::Serverless::StateMachine")
	require.Len(t, machines, 2)
	for _, sm := range machines {
		ref := fmt.Sprint(map[string]any{"Ref": sm})
		found := false
		for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
			p := tpl.Resources[id].Properties
			w := watched(p)
			ids := map[string]string{}
			for qid, q := range metricQueries(p) {
				if ms, ok := q["MetricStat"].(map[string]any); ok {
					ids[ms["Metric"].(map[string]any)["MetricName"].(string)] = qid
				}
			}
			ok := true
			for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
				ok = ok && slices.Contains(w[m], ref)
			}
			if !ok {
				continue
			}
			found = true
			var expr string
			for _, q := range metricQueries(p) {
				if q["ReturnData"] == true {
					expr, _ = q["Expression"].(string)
				}
			}
			for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
				require.Contains(t, expr, ids[m], "%s: the expression %q leaves out %s", id, expr, m)
			}
			require.NotEmpty(t, p["AlarmActions"], id)
		}
		require.True(t, found, "no alarm counts %s's failed, timed-out and aborted executions", sm)
	}
}

// TestEveryFunctionsErrorsAndThrottlesAlarm: the Lambda errors and
// throttles alarms read every function of the stack.
func TestEveryFunctionsErrorsAndThrottlesAlarm(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	fns := ofType(tpl, "AWS::Serverless::Function")
	require.Len(t, fns, 9)
	for _, metric := range []string{"Errors", "Throttles"} {
		covered := map[string]bool{}
		for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
			for _, v := range watched(tpl.Resources[id].Properties)[metric] {
				covered[v] = true
			}
		}
		for _, fn := range fns {
			require.True(t, covered[fmt.Sprint(map[string]any{"Ref": fn})], "no alarm reads the %s of %s", metric, fn)
		}
	}
}

// TestSchedulesHaveDeadLetterQueuesWithAlarms: a schedule whose start
// fails after its retries sends the event to a queue of the stack, and an
// alarm watches that queue.
func TestSchedulesHaveDeadLetterQueuesWithAlarms(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	schedules := 0
	for id, r := range tpl.Resources {
		events, _ := r.Properties["Events"].(map[string]any)
		for name, e := range events {
			ev := e.(map[string]any)
			if ev["Type"] != "ScheduleV2" && ev["Type"] != "Schedule" {
				continue
			}
			schedules++
			props, _ := ev["Properties"].(map[string]any)
			dlc, _ := props["DeadLetterConfig"].(map[string]any)
			require.NotNil(t, dlc, "%s.%s has no DeadLetterConfig: a start that fails goes unnoticed", id, name)
			att, _ := dlc["Arn"].(map[string]any)["Fn::GetAtt"].(string)
			queue := strings.TrimSuffix(att, ".Arn")
			require.Equal(t, "AWS::SQS::Queue", tpl.Resources[queue].Type, "%s.%s: DeadLetterConfig.Arn is !GetAtt <queue>.Arn", id, name)
			alarmed := false
			for _, a := range ofType(tpl, "AWS::CloudWatch::Alarm") {
				for _, v := range watched(tpl.Resources[a].Properties)["ApproximateNumberOfMessagesVisible"] {
					alarmed = alarmed || v == fmt.Sprint(map[string]any{"Fn::GetAtt": queue + ".QueueName"})
				}
			}
			require.True(t, alarmed, "no alarm on %s, the dead-letter queue of %s.%s", queue, id, name)
		}
	}
	require.Equal(t, 2, schedules, "the weekly cycle and the monthly backup")
}

// TestMissedWeeklyCycleNoticedWithinADay: an alarm treats a missing health
// score as breaching over enough periods that a week with its one cycle
// never fires it, and few enough that a missed cycle fires it less than a
// day after it was due. The cycle runs once every 7 days, so with N
// periods of P seconds: no false alarm needs N×P ≥ 7 days (any N periods
// hold a run), and the alarm fires at the latest (N+1)×P after the last
// run, at most 1 day after the missed one.
func TestMissedWeeklyCycleNoticedWithinADay(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	const week, day = 7 * 24 * 3600, 24 * 3600
	found := false
	for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if p["MetricName"] != metrics.MetricSystemHealthScore || p["TreatMissingData"] != "breaching" {
			continue
		}
		found = true
		require.Equal(t, "SampleCount", p["Statistic"], id)
		require.Equal(t, "LessThanThreshold", p["ComparisonOperator"], id)
		period := num(t, p["Period"], id)
		n := num(t, p["EvaluationPeriods"], id)
		if d, ok := p["DatapointsToAlarm"]; ok {
			require.Equal(t, n, num(t, d, id), "%s: every period of the window must be empty", id)
		}
		require.GreaterOrEqual(t, n*period, week, "%s: %d periods of %d s are shorter than the week between cycles: it would fire every week", id, n, period)
		require.LessOrEqual(t, (n+1)*period-week, day, "%s: a missed cycle is noticed %d s after it was due, more than a day", id, (n+1)*period-week)
	}
	require.True(t, found, "no alarm notices a missed weekly cycle")
}

func TestNoReservedConcurrency(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	for _, id := range ofType(tpl, "AWS::Serverless::Function") {
		// Reserved concurrency fails to deploy on accounts with the default
		// quota of 10 (AWS keeps 10 unreserved); migrate and backup are
		// single-flight by other means (docs/operations.md).
		require.NotContains(t, tpl.Resources[id].Properties, "ReservedConcurrentExecutions", id)
	}
	require.NotContains(t, tpl.Globals("Function"), "ReservedConcurrentExecutions")
}

// TestRetainedResourcesHaveNoFixedName: a resource the stack leaves
// behind when deleted must not have a fixed name, or deploying the stack
// again fails with "already exists".
func TestRetainedResourcesHaveNoFixedName(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	names := map[string]string{"AWS::S3::Bucket": "BucketName", "AWS::Logs::LogGroup": "LogGroupName", "AWS::SQS::Queue": "QueueName", "AWS::KMS::Key": ""}
	retained := 0
	for id, r := range tpl.Resources {
		if r.DeletionPolicy != "Retain" && r.DeletionPolicy != "RetainExceptOnCreate" {
			continue
		}
		retained++
		prop, known := names[r.Type]
		require.True(t, known, "%s (%s) is retained: add its name property to this test", id, r.Type)
		if prop != "" {
			require.NotContains(t, r.Properties, prop, "%s is retained on stack deletion and has a fixed %s: a new stack could not create it", id, prop)
		}
	}
	require.Positive(t, retained, "the pipeline bucket is retained")
}

func TestOutputsForTheOperator(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	value := func(name string) string {
		o, ok := tpl.Outputs[name].(map[string]any)
		require.True(t, ok, "no output %s", name)
		return fmt.Sprint(o["Value"])
	}
	require.Equal(t, fmt.Sprint(map[string]any{"Ref": "ImportDatasetStateMachine"}), value("ImportDatasetStateMachineArn"))
	require.Equal(t, fmt.Sprint(map[string]any{"Ref": "CycleStateMachine"}), value("CycleStateMachineArn"))
	require.Equal(t, fmt.Sprint(map[string]any{"Ref": "EmailEventsTopic"}), value("EmailEventsTopicArn"))
	require.Equal(t, fmt.Sprint(map[string]any{"Ref": "PipelineBucket"}), value("BucketName"))
	dkim := value("DkimRecords")
	for i := 1; i <= 3; i++ {
		require.Contains(t, dkim, fmt.Sprintf("SenderEmailIdentity.DkimDNSTokenName%d", i))
		require.Contains(t, dkim, fmt.Sprintf("SenderEmailIdentity.DkimDNSTokenValue%d", i))
	}
}

// TestDashboardShowsWhatTheCodeEmits parses the dashboard body and checks
// it shows the weekly trend an operator asks for, from metrics that exist:
// every ScentMatch/Pipeline metric is one the metrics step emits, and
// every ${X} names a resource or parameter.
func TestDashboardShowsWhatTheCodeEmits(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	dashboards := ofType(tpl, "AWS::CloudWatch::Dashboard")
	require.Len(t, dashboards, 1)
	body, _ := tpl.Resources[dashboards[0]].Properties["DashboardBody"].(map[string]any)["Fn::Sub"].(string)
	require.NotEmpty(t, body, "DashboardBody is a !Sub string")
	sub := regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)
	body = sub.ReplaceAllStringFunc(body, func(m string) string {
		name := sub.FindStringSubmatch(m)[1]
		_, res := tpl.Resources[name]
		_, par := tpl.Parameters[name]
		require.True(t, res || par || strings.HasPrefix(name, "AWS::"), "the dashboard names ${%s}, neither a resource nor a parameter", name)
		return "x"
	})
	var d struct {
		Widgets []struct {
			Properties struct {
				Title   string  `json:"title"`
				Metrics [][]any `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &d), "the dashboard body is JSON")
	emitted := map[string]bool{}
	for _, m := range metrics.EMFMetrics(&metrics.Report{}) {
		emitted[m.Name] = true
	}
	shown := map[string]bool{}
	for _, w := range d.Widgets {
		require.NotEmpty(t, w.Properties.Metrics, "widget %q shows nothing", w.Properties.Title)
		for _, m := range w.Properties.Metrics {
			ns, name := m[0].(string), m[1].(string)
			if ns == "ScentMatch/Pipeline" {
				require.True(t, emitted[name], "the dashboard shows %s, which the metrics step does not emit", name)
			}
			shown[ns+"/"+name] = true
		}
	}
	for _, want := range []string{
		"ScentMatch/Pipeline/SystemHealthScore", "ScentMatch/Pipeline/CatalogSize", "ScentMatch/Pipeline/NewFragrancesImported",
		"AWS/Lambda/Duration", "ScentMatch/Pipeline/CycleDurationSeconds", "AWS/Lambda/Errors", "ScentMatch/Pipeline/ErrorRate",
		"ScentMatch/Pipeline/CrawlRequests", "ScentMatch/Pipeline/CrawlRefusals",
	} {
		require.True(t, shown[want], "the dashboard does not show %s", want)
	}
}

// TestAlarmsWithAnOKNoticeHoldTheirStateWithoutData: an alarm that tells
// the topic when it recovers watches a metric written once a cycle; an
// hour without a point must not read as recovered.
func TestAlarmsWithAnOKNoticeHoldTheirStateWithoutData(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	n := 0
	for _, id := range ofType(tpl, "AWS::CloudWatch::Alarm") {
		p := tpl.Resources[id].Properties
		if _, ok := p["OKActions"]; !ok {
			continue
		}
		n++
		require.Equal(t, "ignore", p["TreatMissingData"], "%s sends OK notices: missing data must keep its state", id)
	}
	require.Positive(t, n)
}
