package rehearse

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	schedtypes "github.com/aws/aws-sdk-go-v2/service/scheduler/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scentmatch/pipeline/internal/deploy"
	definitions "github.com/scentmatch/pipeline/statemachine"
)

// Moto's default account and the rehearsal's region.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
	Stage     = "dev"
	// Bucket is the pipeline bucket the sample events name.
	Bucket = "scentmatch-dev-bucket"
	// BackupBucket is the bucket events/backup-to.json names.
	BackupBucket = "scentmatch-dev-backups"
)

// Stack is what the rehearsal "deployed" into moto: the resources the
// pipeline's code calls at run time, named as template.yaml names them.
type Stack struct {
	AWS       aws.Config
	Values    deploy.Values
	SecretARN string
	// MigrationSecretARN holds the direct URL (DatabaseMigrationSecretArn).
	MigrationSecretARN string
	CycleARN           string
	DatasetARN         string
	ScheduleName       string
	// FunctionARNs are the Lambda ARNs substituted into the definitions.
	FunctionARNs map[string]string
}

// AWSConfig is an SDK configuration pointed at endpoint.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{Region: Region, BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("rehearsal", "rehearsal", "rehearsal")}
}

// S3 is an S3 client on cfg (path-style, as moto on loopback wants).
func S3(cfg aws.Config) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
}

// DeployToMoto creates in moto what the template creates and the code
// calls: the buckets, the database secret (dbURL), the SES identity and
// configuration set, both state machines (their definitions with the
// functions' ARNs substituted) and the weekly schedule. config holds
// configuration files put under s3://<bucket>/config/ (ConfigLocation).
func DeployToMoto(ctx context.Context, tpl *deploy.Template, endpoint, dbURL, directURL string, config map[string][]byte) (*Stack, error) {
	cfg := AWSConfig(endpoint)
	st := &Stack{AWS: cfg, FunctionARNs: map[string]string{}}
	st.Values = deploy.Values{Region: Region, AccountID: AccountID, Partition: "aws",
		Resources: map[string]string{"PipelineBucket": Bucket}, Parameters: map[string]string{"Stage": Stage}}
	s3c := S3(cfg)
	for _, b := range []string{Bucket, BackupBucket} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return nil, fmt.Errorf("creating bucket %s: %w", b, err)
		}
	}
	if len(config) > 0 {
		for name, body := range config {
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(Bucket), Key: aws.String("config/" + name), Body: bytes.NewReader(body)}); err != nil {
				return nil, fmt.Errorf("putting config/%s: %w", name, err)
			}
		}
		st.Values.Parameters["ConfigLocation"] = "s3://" + Bucket + "/config/"
	}
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("scentmatch-" + Stage + "-database"), SecretString: aws.String(dbURL)})
	if err != nil {
		return nil, fmt.Errorf("creating the database secret: %w", err)
	}
	st.SecretARN = aws.ToString(sec.ARN)
	st.Values.Parameters["DatabaseSecretArn"] = st.SecretARN
	// The migrate function's direct (session) connection, as Supabase
	// documents it: the pooler for the application, port 5432 for
	// migrations.
	mig, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("scentmatch-" + Stage + "-database-direct"), SecretString: aws.String(directURL)})
	if err != nil {
		return nil, fmt.Errorf("creating the direct database secret: %w", err)
	}
	st.MigrationSecretARN = aws.ToString(mig.ARN)
	st.Values.Parameters["DatabaseMigrationSecretArn"] = st.MigrationSecretARN

	param := func(name string) (string, error) { return tpl.Parameter(name, st.Values) }
	identity, err := param("SenderIdentity")
	if err != nil {
		return nil, err
	}
	configSet, err := param("SesConfigurationSet")
	if err != nil {
		return nil, err
	}
	ses := sesv2.NewFromConfig(cfg)
	if _, err := ses.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(configSet)}); err != nil {
		return nil, fmt.Errorf("creating the SES configuration set: %w", err)
	}
	if _, err := ses.CreateEmailIdentity(ctx, &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(identity), ConfigurationSetName: aws.String(configSet)}); err != nil {
		return nil, fmt.Errorf("creating the SES identity: %w", err)
	}

	for _, id := range tpl.Functions() {
		name, err := tpl.Resolve(tpl.Resources[id].Properties["FunctionName"], st.Values)
		if err != nil {
			return nil, fmt.Errorf("%s: FunctionName: %w", id, err)
		}
		arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", Region, AccountID, name)
		st.FunctionARNs[id] = arn
		st.Values.Resources[id] = name
		st.Values.Resources[id+".Arn"] = arn
	}
	role := fmt.Sprintf("arn:aws:iam::%s:role/scentmatch-rehearsal", AccountID)
	sf := sfn.NewFromConfig(cfg)
	for _, m := range []struct {
		id  string
		def []byte
		arn *string
	}{{"CycleStateMachine", definitions.Cycle, &st.CycleARN}, {"ImportDatasetStateMachine", definitions.ImportDataset, &st.DatasetARN}} {
		props := tpl.Resources[m.id].Properties
		name, err := tpl.Resolve(props["Name"], st.Values)
		if err != nil {
			return nil, fmt.Errorf("%s: Name: %w", m.id, err)
		}
		def := string(m.def)
		ds, _ := props["DefinitionSubstitutions"].(map[string]any)
		for k, v := range ds {
			s, err := tpl.Resolve(v, st.Values)
			if err != nil {
				return nil, fmt.Errorf("%s: DefinitionSubstitutions.%s: %w", m.id, k, err)
			}
			def = strings.ReplaceAll(def, "${"+k+"}", s)
		}
		out, err := sf.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(def), RoleArn: aws.String(role)})
		if err != nil {
			return nil, fmt.Errorf("creating state machine %s: %w", name, err)
		}
		*m.arn = aws.ToString(out.StateMachineArn)
		st.Values.Resources[m.id] = *m.arn
	}

	weekly, _ := tpl.Resources["CycleStateMachine"].Properties["Events"].(map[string]any)["Weekly"].(map[string]any)["Properties"].(map[string]any)
	if st.ScheduleName, err = tpl.Resolve(weekly["Name"], st.Values); err != nil {
		return nil, fmt.Errorf("the weekly schedule's name: %w", err)
	}
	expr, err := tpl.Resolve(weekly["ScheduleExpression"], st.Values)
	if err != nil {
		return nil, err
	}
	input, _ := weekly["Input"].(string)
	if _, err := scheduler.NewFromConfig(cfg).CreateSchedule(ctx, &scheduler.CreateScheduleInput{
		Name: aws.String(st.ScheduleName), ScheduleExpression: aws.String(expr), State: schedtypes.ScheduleStateEnabled,
		FlexibleTimeWindow: &schedtypes.FlexibleTimeWindow{Mode: schedtypes.FlexibleTimeWindowModeOff},
		Target:             &schedtypes.Target{Arn: aws.String(st.CycleARN), RoleArn: aws.String(role), Input: aws.String(input)},
	}); err != nil {
		return nil, fmt.Errorf("creating schedule %s: %w", st.ScheduleName, err)
	}
	return st, nil
}
