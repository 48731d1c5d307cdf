package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// OutboxDir is the outbox's directory under $SCENTMATCH_HOME.
const OutboxDir = "outbox"

// Outbox writes each message as an .eml file, the local stand-in for SES.
// Any mail client opens the files.
type Outbox struct {
	Dir string
	// Now is the clock for the Date header and the file name (time.Now if nil).
	Now func() time.Time
}

// Name implements Sender.
func (o *Outbox) Name() string { return "outbox" }

// Send writes m to <Dir>/<UTC time>-<kind>-<random>.eml and returns the
// file's absolute path.
func (o *Outbox) Send(_ context.Context, m Message) (string, error) {
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	data, err := m.EML(now, newMessageID(m.From, now))
	if err != nil {
		return "", err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return "", fmt.Errorf("outbox %s: %w", o.Dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating the outbox: %w", err)
	}
	kind := string(m.Kind)
	if kind == "" {
		kind = "message"
	}
	name := fmt.Sprintf("%s-%s-%s.eml", now.UTC().Format("20060102T150405"), kind, randomHex(4))
	path := filepath.Join(dir, name)
	// Write then rename, so a reader never sees half a message.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}
