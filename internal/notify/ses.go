package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"
)

// EmailAPI is the part of the SES v2 client the sender uses.
type EmailAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

var _ EmailAPI = (*sesv2.Client)(nil)

// SES sends through Amazon SES v2 with simple content (a subject, a text
// and an HTML body, UTF-8). Throttling is retried by the client's retryer
// (TooManyRequestsException is a throttle error to the SDK); build the
// client with the attempts you want.
type SES struct {
	Client EmailAPI
	// ConfigurationSet names the SES configuration set (optional).
	ConfigurationSet string
}

// Name implements Sender.
func (s *SES) Name() string { return "ses" }

// Send implements Sender. Its errors are *RejectedError (SES refused the
// message: retrying will not help), *ThrottledError (still throttled after
// the retries) or *SendError.
func (s *SES) Send(ctx context.Context, m Message) (string, error) {
	content := func(v string) *types.Content {
		return &types.Content{Data: aws.String(v), Charset: aws.String("UTF-8")}
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: m.To},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: content(cleanHeader(m.Subject)),
			Body:    &types.Body{Text: content(m.Text), Html: content(m.HTML)},
		}},
	}
	if s.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.ConfigurationSet)
	}
	out, err := s.Client.SendEmail(ctx, in)
	if err != nil {
		return "", translateSESError(err)
	}
	return aws.ToString(out.MessageId), nil
}

// RejectedError is SES refusing a message: MessageRejected (a sandbox
// recipient that is not verified, a bad address, a virus), a sender
// identity that is not verified, sending paused or suspended, a missing
// configuration set. The same message would be refused again.
type RejectedError struct {
	Code    string
	Message string
	// Sandbox is true when SES refused because the account is in the SES
	// sandbox and a recipient is not a verified identity.
	Sandbox bool
	Err     error
}

func (e *RejectedError) Error() string {
	msg := fmt.Sprintf("SES rejected the message (%s): %s", e.Code, e.Message)
	if e.Sandbox {
		msg += " (the SES account is in the sandbox: verify the recipients or request production access)"
	}
	return msg
}

func (e *RejectedError) Unwrap() error { return e.Err }

// ThrottledError is SES still throttling (TooManyRequestsException,
// LimitExceededException) after the client's retries. The message was not
// sent; a later attempt may send it.
type ThrottledError struct {
	Err error
}

func (e *ThrottledError) Error() string { return "SES throttled the send: " + e.Err.Error() }
func (e *ThrottledError) Unwrap() error { return e.Err }

// SendError is any other failure (network, credentials, an SES fault): it
// is not known whether SES accepted the message.
type SendError struct {
	Err error
}

func (e *SendError) Error() string { return "sending e-mail: " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// translateSESError turns an SES client error into one of the typed errors.
func translateSESError(err error) error {
	var (
		throttled *types.TooManyRequestsException
		limit     *types.LimitExceededException
		rejected  *types.MessageRejected
		api       smithy.APIError
	)
	switch {
	case errors.As(err, &throttled), errors.As(err, &limit):
		return &ThrottledError{Err: err}
	case errors.As(err, &rejected):
		msg := rejected.ErrorMessage()
		return &RejectedError{Code: rejected.ErrorCode(), Message: msg, Sandbox: strings.Contains(strings.ToLower(msg), "not verified"), Err: err}
	case errors.As(err, &api):
		switch api.(type) {
		case *types.MailFromDomainNotVerifiedException, *types.AccountSuspendedException, *types.SendingPausedException,
			*types.NotFoundException, *types.BadRequestException:
			return &RejectedError{Code: api.ErrorCode(), Message: api.ErrorMessage(), Err: err}
		}
	}
	return &SendError{Err: err}
}

// errorKind is how a send failure is recorded (notifications.error_kind).
func errorKind(err error) string {
	var rejected *RejectedError
	var throttled *ThrottledError
	switch {
	case errors.As(err, &rejected) && rejected.Sandbox:
		return "sandbox"
	case errors.As(err, &rejected):
		return "rejected"
	case errors.As(err, &throttled):
		return "throttled"
	}
	return "failed"
}
