package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Message is one rendered e-mail. The same Message goes to SES or to the
// outbox.
type Message struct {
	Kind    Kind
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers a message and returns its id: the SES message id, or the
// outbox file's path.
type Sender interface {
	Send(ctx context.Context, m Message) (id string, err error)
	// Name says where messages go ("ses" or "outbox"), for logs and output.
	Name() string
}

// cleanHeader keeps a header value on one line: a catalog value that ends
// up in a subject must not start a new header.
func cleanHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// formatAddress renders an address for a header, RFC 2047-encoding a
// display name that is not ASCII.
func formatAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", s, err)
	}
	return a.String(), nil
}

// encodeSubject RFC 2047-encodes a subject that is not plain ASCII and folds
// the encoded words onto continuation lines.
func encodeSubject(s string) string {
	enc := mime.QEncoding.Encode("utf-8", cleanHeader(s))
	return strings.ReplaceAll(enc, "?= =?", "?=\r\n =?")
}

// EML renders m as an RFC 5322 message: multipart/alternative with a
// quoted-printable text/plain part and a text/html part.
func (m Message) EML(date time.Time, messageID string) ([]byte, error) {
	from, err := formatAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	if len(m.To) == 0 {
		return nil, fmt.Errorf("a message needs at least one recipient")
	}
	to := make([]string, len(m.To))
	for i, t := range m.To {
		if to[i], err = formatAddress(t); err != nil {
			return nil, fmt.Errorf("recipient: %w", err)
		}
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for _, part := range []struct{ ctype, content string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		h := textproto.MIMEHeader{}
		h.Set("Content-Type", part.ctype+"; charset=utf-8")
		h.Set("Content-Transfer-Encoding", "quoted-printable")
		w, err := mw.CreatePart(h)
		if err != nil {
			return nil, fmt.Errorf("writing the %s part: %w", part.ctype, err)
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(crlf(part.content))); err != nil {
			return nil, fmt.Errorf("writing the %s part: %w", part.ctype, err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("writing the %s part: %w", part.ctype, err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("closing the message: %w", err)
	}

	var out bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&out, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", strings.Join(to, ",\r\n "))
	header("Subject", encodeSubject(m.Subject))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	if m.Kind != "" {
		header("X-ScentMatch-Kind", string(m.Kind))
	}
	out.WriteString("\r\n")
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

// crlf turns bare line feeds into the CRLF line ends mail uses.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// newMessageID returns a unique Message-ID at the sender's domain.
func newMessageID(from string, now time.Time) string {
	domain := "scentmatch.local"
	if a, err := mail.ParseAddress(from); err == nil {
		if at := strings.LastIndexByte(a.Address, '@'); at >= 0 {
			domain = a.Address[at+1:]
		}
	}
	return fmt.Sprintf("<%s.%s@%s>", now.UTC().Format("20060102T150405"), randomHex(8), domain)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
