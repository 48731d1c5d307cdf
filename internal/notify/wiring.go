package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/scentmatch/pipeline/internal/app"
	"github.com/scentmatch/pipeline/internal/settings"
)

// Environment variables the wiring reads.
const (
	// EnvEmail chooses where messages go: "ses" or "outbox". Unset, it is
	// ses in Lambda and the outbox elsewhere.
	EnvEmail = "SCENTMATCH_EMAIL"
	// EnvSenderAddress is the From address (the template's SenderAddress
	// parameter, a verified SES identity); unset, notifications.sender.
	EnvSenderAddress = "SENDER_ADDRESS"
	// EnvConfigurationSet overrides notifications.ses_configuration_set.
	EnvConfigurationSet = "SES_CONFIGURATION_SET"
	// EnvStateMachineARN is the cycle state machine's ARN, for the console
	// link in error alerts.
	EnvStateMachineARN = "STATE_MACHINE_ARN"
)

// SESMaxAttempts is how many times one SendEmail is tried while SES throttles.
const SESMaxAttempts = 6

// Setup is how this process sends e-mail.
type Setup struct {
	Sender          Sender
	From            string
	StateMachineARN string
}

// FromEnv builds the sender the environment asks for: SES v2 (through the
// SDK configuration in env) or the outbox in $SCENTMATCH_HOME/outbox.
func FromEnv(ctx context.Context, env *app.Env, cfg *settings.Config) (Setup, error) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	s := Setup{From: getenv(EnvSenderAddress), StateMachineARN: getenv(EnvStateMachineARN)}
	if s.From == "" {
		s.From = cfg.Monitoring.Notifications.Sender
	}
	mode := getenv(EnvEmail)
	if mode == "" {
		mode = "outbox"
		if env.InLambda() {
			mode = "ses"
		}
	}
	switch mode {
	case "ses":
		awsCfg, err := env.AWS(ctx)
		if err != nil {
			return Setup{}, err
		}
		set := getenv(EnvConfigurationSet)
		if set == "" {
			set = cfg.Monitoring.Notifications.SESConfigurationSet
		}
		client := sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) {
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = SESMaxAttempts
				so.MaxBackoff = 10 * time.Second
			})
		})
		s.Sender = &SES{Client: client, ConfigurationSet: set}
	case "outbox":
		home, err := env.Home()
		if err != nil {
			return Setup{}, err
		}
		s.Sender = &Outbox{Dir: filepath.Join(home, OutboxDir)}
	default:
		return Setup{}, &app.UsageError{Err: fmt.Errorf("%s=%q: use ses or outbox", EnvEmail, mode)}
	}
	return s, nil
}
