package health

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"golang.org/x/sys/unix"
)

// EmailChecker checks that e-mail can be sent.
type EmailChecker interface {
	CheckEmail(ctx context.Context) Component
}

// AccountGetter is the part of the SES v2 client the check uses.
type AccountGetter interface {
	GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error)
}

var _ AccountGetter = (*sesv2.Client)(nil)

// SES checks the SES account: sending enabled and out of the sandbox
// (ProductionAccessEnabled), so mail reaches any recipient.
type SES struct {
	Client AccountGetter
}

// CheckEmail implements EmailChecker.
func (s SES) CheckEmail(ctx context.Context) Component {
	start := time.Now()
	out, err := s.Client.GetAccount(ctx, &sesv2.GetAccountInput{})
	ms := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		return Component{Healthy: false, LatencyMS: &ms, Detail: "SES GetAccount: " + err.Error()}
	}
	switch {
	case !out.SendingEnabled:
		return Component{Healthy: false, LatencyMS: &ms, Detail: "SES sending is disabled for this account (paused by AWS or by an operator)"}
	case !out.ProductionAccessEnabled:
		return Component{Healthy: false, LatencyMS: &ms, Detail: "SES account is in the sandbox: mail reaches verified addresses only; request production access"}
	}
	detail := "SES sending enabled, production access enabled"
	if q := out.SendQuota; q != nil {
		detail += fmt.Sprintf(" (sent %.0f of %.0f in 24 h)", q.SentLast24Hours, q.Max24HourSend)
	}
	return Component{Healthy: true, LatencyMS: &ms, Detail: detail}
}

// Outbox checks the local outbox directory ($SCENTMATCH_HOME/outbox),
// where mail is written locally: writable, or creatable when missing
// (the check creates nothing).
type Outbox struct {
	Dir string
}

// CheckEmail implements EmailChecker.
func (o Outbox) CheckEmail(context.Context) Component {
	info, err := os.Stat(o.Dir)
	switch {
	case err == nil && !info.IsDir():
		return Component{Healthy: false, Detail: o.Dir + " is not a directory"}
	case err == nil:
		f, err := os.CreateTemp(o.Dir, ".health-*")
		if err != nil {
			return Component{Healthy: false, Detail: "outbox not writable: " + err.Error()}
		}
		f.Close()
		os.Remove(f.Name())
		return Component{Healthy: true, Detail: "outbox " + o.Dir + " writable"}
	case !errors.Is(err, fs.ErrNotExist):
		return Component{Healthy: false, Detail: "outbox: " + err.Error()}
	}
	// Missing: the nearest existing parent must let the sender create it.
	dir := filepath.Dir(o.Dir)
	for {
		if info, err := os.Stat(dir); err == nil {
			if !info.IsDir() {
				return Component{Healthy: false, Detail: dir + " is not a directory: cannot create the outbox " + o.Dir}
			}
			if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
				return Component{Healthy: false, Detail: fmt.Sprintf("cannot create the outbox %s: %s is not writable", o.Dir, dir)}
			}
			return Component{Healthy: true, Detail: "outbox " + o.Dir + " will be created on the first message"}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Component{Healthy: false, Detail: "cannot create the outbox " + o.Dir}
		}
		dir = parent
	}
}
