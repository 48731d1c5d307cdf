package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/require"
)

// parsedEML is an outbox file read back with net/mail.
type parsedEML struct {
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
}

// parseEML reads an .eml file with net/mail and mime/multipart and decodes
// its subject and both parts.
func parseEML(t *testing.T, path string) parsedEML {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	require.NoError(t, err, path)
	var p parsedEML
	p.Header = msg.Header
	p.Subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.Equal(t, "quoted-printable", part.Header.Get("Content-Transfer-Encoding"))
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		require.NoError(t, err)
		ct, ctParams, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "utf-8", ctParams["charset"])
		switch ct {
		case "text/plain":
			p.Text = lf(string(body))
		case "text/html":
			p.HTML = lf(string(body))
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	require.NotEmpty(t, p.Text, "text part")
	require.NotEmpty(t, p.HTML, "HTML part")
	return p
}

func lf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestOutboxWritesParseableMultipartMessages(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "outbox")
	now := time.Date(2026, 3, 1, 3, 15, 0, 0, time.UTC)
	o := &Outbox{Dir: dir, Now: func() time.Time { return now }}
	c, err := Render(NewFragrance, FixtureReport(NewFragrance, now), RenderOptions{Now: now})
	require.NoError(t, err)
	subject := "Nouveautés: " + `Eau & "Fraîche"` + " — " + strings.TrimSpace(strings.Repeat("a very long subject ", 6))
	m := Message{Kind: NewFragrance, From: "ScentMatch Pipeline <pipeline@scentmatch.local>", To: []string{"ops@scentmatch.local", "Zoë Catalog <catalog@scentmatch.local>"},
		Subject: subject, Text: c.Text, HTML: c.HTML}
	path, err := o.Send(context.Background(), m)
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(path))
	require.Equal(t, dir, filepath.Dir(path))
	require.True(t, strings.HasPrefix(filepath.Base(path), "20260301T031500-new_fragrance-"), path)
	require.True(t, strings.HasSuffix(path, ".eml"))

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for i, line := range strings.Split(string(raw), "\r\n") {
		require.LessOrEqual(t, len(line), 998, "line %d is longer than RFC 5322 allows", i+1)
		require.NotContains(t, line, "\n", "bare line feed on line %d", i+1)
	}
	require.Contains(t, string(raw), "Subject: =?utf-8?q?", "a non-ASCII subject is RFC 2047-encoded")

	p := parseEML(t, path)
	require.Equal(t, subject, p.Subject)
	require.Equal(t, lf(c.Text), p.Text)
	require.Equal(t, lf(c.HTML), p.HTML)
	from, err := p.Header.AddressList("From")
	require.NoError(t, err)
	require.Equal(t, "pipeline@scentmatch.local", from[0].Address)
	to, err := p.Header.AddressList("To")
	require.NoError(t, err)
	require.Len(t, to, 2)
	require.Equal(t, "Zoë Catalog", to[1].Name)
	date, err := p.Header.Date()
	require.NoError(t, err)
	require.True(t, date.Equal(now))
	require.Regexp(t, `^<20260301T031500\.[0-9a-f]{16}@scentmatch\.local>$`, p.Header.Get("Message-ID"))
	require.Equal(t, "new_fragrance", p.Header.Get("X-ScentMatch-Kind"))

	// A second message gets a file of its own.
	path2, err := o.Send(context.Background(), m)
	require.NoError(t, err)
	require.NotEqual(t, path, path2)

	_, err = o.Send(context.Background(), Message{From: "not an address", To: []string{"a@b.c"}})
	require.ErrorContains(t, err, "sender")
	_, err = o.Send(context.Background(), Message{From: "a@b.c"})
	require.ErrorContains(t, err, "recipient")
}

// sesServer stands in for the SES v2 endpoint: it records each SendEmail
// request and answers with the next scripted reply.
type sesServer struct {
	*httptest.Server
	requests atomic.Int32
	bodies   chan sesRequest
	reply    func(n int32, w http.ResponseWriter)
}

type sesRequest struct {
	FromEmailAddress     string
	ConfigurationSetName string
	Destination          struct{ ToAddresses []string }
	Content              struct {
		Simple struct {
			Subject struct{ Data, Charset string }
			Body    struct {
				Text struct{ Data, Charset string }
				Html struct{ Data, Charset string }
			}
		}
	}
}

func newSESServer(t *testing.T, reply func(n int32, w http.ResponseWriter)) *sesServer {
	t.Helper()
	s := &sesServer{bodies: make(chan sesRequest, 16), reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
			http.Error(w, "unsigned request", http.StatusForbidden)
			return
		}
		var req sesRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.bodies <- req
		s.reply(n, w)
	}))
	t.Cleanup(s.Close)
	return s
}

func sesOK(id string) func(int32, http.ResponseWriter) {
	return func(_ int32, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"MessageId": "`+id+`"}`)
	}
}

func sesError(status int, code, message string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", code)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"message": "`+message+`"}`)
	}
}

// sesClient is the real SES v2 client pointed at the stand-in, retrying
// without waiting.
func sesClient(url string, attempts int) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			o.RateLimiter = ratelimit.None
		}),
	})
}

func TestSESSendsOneRequestWithBothBodies(t *testing.T) {
	t.Parallel()
	srv := newSESServer(t, sesOK("0100018e-test-message-id"))
	s := &SES{Client: sesClient(srv.URL, 3), ConfigurationSet: "scentmatch-pipeline"}
	now := time.Date(2026, 3, 1, 3, 15, 0, 0, time.UTC)
	c, err := Render(WeeklyReport, FixtureReport(WeeklyReport, now), RenderOptions{Now: now})
	require.NoError(t, err)
	id, err := s.Send(context.Background(), Message{Kind: WeeklyReport, From: "ScentMatch <pipeline@scentmatch.example>",
		To: []string{"ops@scentmatch.example", "cto@scentmatch.example"}, Subject: c.Subject, Text: c.Text, HTML: c.HTML})
	require.NoError(t, err)
	require.Equal(t, "0100018e-test-message-id", id)
	require.EqualValues(t, 1, srv.requests.Load())
	req := <-srv.bodies
	require.Equal(t, "ScentMatch <pipeline@scentmatch.example>", req.FromEmailAddress)
	require.Equal(t, []string{"ops@scentmatch.example", "cto@scentmatch.example"}, req.Destination.ToAddresses)
	require.Equal(t, "scentmatch-pipeline", req.ConfigurationSetName)
	require.Equal(t, c.Subject, req.Content.Simple.Subject.Data)
	require.Contains(t, req.Content.Simple.Subject.Data, "—", "SES takes the UTF-8 subject as is")
	require.Equal(t, c.Text, req.Content.Simple.Body.Text.Data)
	require.Equal(t, c.HTML, req.Content.Simple.Body.Html.Data)
	for _, cs := range []string{req.Content.Simple.Subject.Charset, req.Content.Simple.Body.Text.Charset, req.Content.Simple.Body.Html.Charset} {
		require.Equal(t, "UTF-8", cs)
	}
	require.Contains(t, req.Content.Simple.Body.Html.Data, "&lt;script&gt;alert(1)&lt;/script&gt;")
	require.Contains(t, req.Content.Simple.Body.Text.Data, "<script>alert(1)</script>")
}

func TestSESErrors(t *testing.T) {
	t.Parallel()
	msg := Message{Kind: ErrorAlert, From: "pipeline@scentmatch.example", To: []string{"ops@scentmatch.example"}, Subject: "s", Text: "t", HTML: "<p>h</p>"}
	throttle := sesError(http.StatusTooManyRequests, "TooManyRequestsException", "Maximum sending rate exceeded.")

	t.Run("throttling is retried", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(n int32, w http.ResponseWriter) {
			if n < 3 {
				throttle(w)
				return
			}
			sesOK("after-throttle")(n, w)
		})
		id, err := (&SES{Client: sesClient(srv.URL, 4)}).Send(context.Background(), msg)
		require.NoError(t, err)
		require.Equal(t, "after-throttle", id)
		require.EqualValues(t, 3, srv.requests.Load())
	})

	t.Run("throttling that outlasts the retries", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(_ int32, w http.ResponseWriter) { throttle(w) })
		_, err := (&SES{Client: sesClient(srv.URL, 3)}).Send(context.Background(), msg)
		var te *ThrottledError
		require.ErrorAs(t, err, &te)
		require.Equal(t, "throttled", errorKind(err))
		require.EqualValues(t, 3, srv.requests.Load())
	})

	t.Run("sandbox recipient", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(_ int32, w http.ResponseWriter) {
			sesError(http.StatusBadRequest, "MessageRejected", "Email address is not verified. The following identities failed the check in region EU-WEST-1: ops@scentmatch.example")(w)
		})
		_, err := (&SES{Client: sesClient(srv.URL, 3)}).Send(context.Background(), msg)
		var re *RejectedError
		require.ErrorAs(t, err, &re)
		require.True(t, re.Sandbox)
		require.Equal(t, "MessageRejected", re.Code)
		require.Equal(t, "sandbox", errorKind(err))
		require.Contains(t, err.Error(), "sandbox")
		require.EqualValues(t, 1, srv.requests.Load(), "a rejection is not retried")
	})

	t.Run("rejected message", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(_ int32, w http.ResponseWriter) {
			sesError(http.StatusBadRequest, "MessageRejected", "Illegal address")(w)
		})
		_, err := (&SES{Client: sesClient(srv.URL, 3)}).Send(context.Background(), msg)
		var re *RejectedError
		require.ErrorAs(t, err, &re)
		require.False(t, re.Sandbox)
		require.Equal(t, "rejected", errorKind(err))
	})

	t.Run("missing configuration set", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(_ int32, w http.ResponseWriter) {
			sesError(http.StatusNotFound, "NotFoundException", "Configuration set <nope> does not exist.")(w)
		})
		_, err := (&SES{Client: sesClient(srv.URL, 3), ConfigurationSet: "nope"}).Send(context.Background(), msg)
		var re *RejectedError
		require.ErrorAs(t, err, &re)
		require.Equal(t, "NotFoundException", re.Code)
		req := <-srv.bodies
		require.Equal(t, "nope", req.ConfigurationSetName)
	})

	t.Run("server fault", func(t *testing.T) {
		t.Parallel()
		srv := newSESServer(t, func(_ int32, w http.ResponseWriter) {
			sesError(http.StatusInternalServerError, "InternalFailure", "boom")(w)
		})
		_, err := (&SES{Client: sesClient(srv.URL, 2)}).Send(context.Background(), msg)
		var se *SendError
		require.ErrorAs(t, err, &se)
		require.Equal(t, "failed", errorKind(err))
		require.EqualValues(t, 2, srv.requests.Load(), "a 5xx is retried by the client")
	})
}
