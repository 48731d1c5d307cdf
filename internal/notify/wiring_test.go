package notify

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/dbtest"
	"github.com/scentmatch/pipeline/internal/logging"
	"github.com/scentmatch/pipeline/internal/postgres"
	"github.com/scentmatch/pipeline/internal/settings"
)

func envOf(vars map[string]string) *app.Env {
	return &app.Env{Getenv: func(k string) string { return vars[k] }, Logger: logging.Discard()}
}

func TestFromEnvChoosesTheSender(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := settings.Default()
	home := t.TempDir()

	s, err := FromEnv(ctx, envOf(map[string]string{"SCENTMATCH_HOME": home}), cfg)
	require.NoError(t, err)
	require.Equal(t, &Outbox{Dir: filepath.Join(home, "outbox")}, s.Sender)
	require.Equal(t, "ScentMatch Pipeline <pipeline@scentmatch.local>", s.From)
	require.Empty(t, s.StateMachineARN)

	s, err = FromEnv(ctx, envOf(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "scentmatch-dev-notify", "SENDER_ADDRESS": "ScentMatch <pipeline@scentmatch.example>",
		"STATE_MACHINE_ARN": testStateMachine}), cfg)
	require.NoError(t, err)
	ses, ok := s.Sender.(*SES)
	require.True(t, ok, "SES in Lambda: %T", s.Sender)
	require.Equal(t, "scentmatch-pipeline", ses.ConfigurationSet, "from notifications.ses_configuration_set")
	require.Equal(t, "ScentMatch <pipeline@scentmatch.example>", s.From)
	require.Equal(t, testStateMachine, s.StateMachineARN)

	s, err = FromEnv(ctx, envOf(map[string]string{"SCENTMATCH_EMAIL": "ses", "SES_CONFIGURATION_SET": "other-set"}), cfg)
	require.NoError(t, err)
	require.Equal(t, "other-set", s.Sender.(*SES).ConfigurationSet)

	s, err = FromEnv(ctx, envOf(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "f", "SCENTMATCH_EMAIL": "outbox"}), cfg)
	require.NoError(t, err)
	require.Equal(t, &Outbox{Dir: "/tmp/scentmatch/outbox"}, s.Sender, "SCENTMATCH_EMAIL wins; the Lambda home is /tmp/scentmatch")

	_, err = FromEnv(ctx, envOf(map[string]string{"SCENTMATCH_EMAIL": "smtp"}), cfg)
	var ue *app.UsageError
	require.ErrorAs(t, err, &ue)
}

func TestLambdaHandlerOpensItsDependenciesOnce(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := envOf(map[string]string{"DATABASE_URL": dbtest.URL(t), "SCENTMATCH_HOME": home, "SCENTMATCH_EMAIL": "outbox", "STATE_MACHINE_ARN": testStateMachine})
	l := &Lambda{Env: env, Deps: &app.Lazy{Env: env, Pool: postgres.PoolOptions{MaxConns: 2}}}
	h := lambda.NewHandler(l.Handle)
	payload, err := os.ReadFile("../../events/notify-failure.json")
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		out, err := h.Invoke(context.Background(), payload)
		require.NoError(t, err)
		var res Result
		require.NoError(t, json.Unmarshal(out, &res))
		require.Len(t, res.Sent, 1)
		require.Equal(t, ErrorAlert, res.Sent[0].Kind)
		require.Equal(t, i == 1, res.Sent[0].AlreadySent)
	}
	d, err := l.Deps.Get(context.Background())
	require.NoError(t, err)
	t.Cleanup(d.Pool.Close)
	files, err := filepath.Glob(filepath.Join(home, "outbox", "*.eml"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	m := parseEML(t, files[0])
	require.Contains(t, m.Text, "execution:scentmatch-dev-cycle:manual-20261202T0930")
}
