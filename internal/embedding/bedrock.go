package embedding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/scentmatch/pipeline/internal/catalog"
)

// titanMaxChars keeps the input well inside Titan V2's 50,000-character
// (8,192-token) limit; a scent profile is a few hundred characters.
const titanMaxChars = 20000

// InvokeModelAPI is the part of the Bedrock runtime client the embedder
// uses.
type InvokeModelAPI interface {
	InvokeModel(ctx context.Context, in *bedrockruntime.InvokeModelInput, optFns ...func(*bedrockruntime.Options)) (*bedrockruntime.InvokeModelOutput, error)
}

var _ InvokeModelAPI = (*bedrockruntime.Client)(nil)

// Bedrock embeds fragrances with Amazon Bedrock Titan Text Embeddings V2:
// one InvokeModel call per fragrance, at most MaxConcurrency at a time.
// Throttled calls are retried by the client's retryer (NewBedrockClient);
// when retries run out, or access is denied, the rest of the batch is not
// sent and stays pending.
type Bedrock struct {
	Client         InvokeModelAPI
	ModelID        string
	Dim            int
	MaxConcurrency int
}

// Model implements Embedder: vectors are stored under the Bedrock model id.
func (b *Bedrock) Model() string { return b.ModelID }

// Dimension implements Embedder.
func (b *Bedrock) Dimension() int { return b.Dim }

// BedrockRetry bounds the retries of throttled and unavailable calls.
type BedrockRetry struct {
	// MaxAttempts counts the first call too (default 6).
	MaxAttempts int
	// BaseDelay is the first backoff ceiling, doubled per attempt with full
	// jitter (default 250ms), up to MaxDelay (default 8s).
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (r BedrockRetry) withDefaults() BedrockRetry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 6
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 250 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 8 * time.Second
	}
	return r
}

// jitterBackoff is exponential backoff with full jitter.
type jitterBackoff struct{ base, max time.Duration }

func (j jitterBackoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	ceil := j.max
	if attempt < 30 {
		ceil = min(j.max, j.base<<(attempt-1))
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1)), nil
}

// NewBedrockClient builds the Bedrock runtime client from the application's
// AWS configuration (region replaced when region is set) with a bounded
// retryer for throttling: the SDK's standard retryer without its
// client-side retry quota, so a burst of throttling is waited out rather
// than failing fast, and a backoff that tests can shorten.
func NewBedrockClient(cfg aws.Config, region string, r BedrockRetry) *bedrockruntime.Client {
	r = r.withDefaults()
	return bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
		if region != "" {
			o.Region = region
		}
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = r.MaxAttempts
			so.MaxBackoff = r.MaxDelay
			so.Backoff = jitterBackoff{base: r.BaseDelay, max: r.MaxDelay}
			so.RateLimiter = ratelimit.None
			// A model that is still loading answers ModelNotReadyException
			// (HTTP 429): worth waiting for too.
			so.Retryables = append(so.Retryables, retry.RetryableErrorCode{Codes: map[string]struct{}{"ModelNotReadyException": {}}})
		})
	})
}

// ThrottledError says Bedrock kept throttling after the retries: the
// fragrance stays pending for a later backfill.
type ThrottledError struct {
	ModelID string
	Err     error
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("bedrock %s throttled after retries (vectors stay pending): %v", e.ModelID, e.Err)
}
func (e *ThrottledError) Unwrap() error { return e.Err }

// AccessDeniedError says the caller may not invoke the model (IAM policy,
// or model access not granted in the Bedrock console). Retrying does not
// help; the fragrance stays pending.
type AccessDeniedError struct {
	ModelID string
	Err     error
}

func (e *AccessDeniedError) Error() string {
	return fmt.Sprintf("bedrock access denied to %s (grant bedrock:InvokeModel on it and enable model access; vectors stay pending): %v", e.ModelID, e.Err)
}
func (e *AccessDeniedError) Unwrap() error { return e.Err }

// DimensionError says the model answered a vector of another size than
// configured: that fragrance is not stored.
type DimensionError struct {
	ModelID   string
	Want, Got int
}

func (e *DimensionError) Error() string {
	return fmt.Sprintf("bedrock %s answered %d dimensions, configured %d", e.ModelID, e.Got, e.Want)
}

// StopsRun reports whether err ends a backfill: throttling that outlasted
// the retries and denied access fail every further call alike, so the rest
// stays pending instead of being sent.
func StopsRun(err error) bool {
	var t *ThrottledError
	var a *AccessDeniedError
	return errors.As(err, &t) || errors.As(err, &a)
}

// Embed implements Embedder. It returns a batch error only when ctx ends
// before anything was sent; every other failure is per fragrance.
func (b *Bedrock) Embed(ctx context.Context, fs []*catalog.Fragrance) ([][]float32, []error, error) {
	vecs := make([][]float32, len(fs))
	errs := make([]error, len(fs))
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// run is cancelled by the first error that stops the run, so the rest of
	// the batch is not sent.
	run, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		stopErr error
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, b.MaxConcurrency))
	for i, f := range fs {
		select {
		case sem <- struct{}{}:
		case <-run.Done():
		}
		if run.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v, err := b.one(run, f)
			if err != nil && StopsRun(err) {
				mu.Lock()
				if stopErr == nil {
					stopErr = err
				}
				mu.Unlock()
				cancel()
			}
			vecs[i], errs[i] = v, err
		}()
	}
	wg.Wait()
	// Not sent, or cut short by the stop: pending, under the error that
	// stopped the run (or ctx's own).
	for i := range fs {
		if vecs[i] != nil || (errs[i] != nil && !errors.Is(errs[i], context.Canceled)) {
			continue
		}
		switch {
		case ctx.Err() != nil:
			errs[i] = ctx.Err()
		case stopErr != nil:
			errs[i] = stopErr
		}
	}
	return vecs, errs, nil
}

type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions"`
	Normalize  bool   `json:"normalize"`
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount int       `json:"inputTextTokenCount"`
}

func (b *Bedrock) one(ctx context.Context, f *catalog.Fragrance) ([]float32, error) {
	text, err := ProfileText(f)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(titanRequest{InputText: text, Dimensions: b.Dim, Normalize: true})
	if err != nil {
		return nil, fmt.Errorf("encoding the Titan request: %w", err)
	}
	out, err := b.Client.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(b.ModelID),
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
		Body:        body,
	})
	if err != nil {
		return nil, b.translate(err)
	}
	var resp titanResponse
	if err := json.Unmarshal(out.Body, &resp); err != nil {
		return nil, fmt.Errorf("reading the answer of bedrock %s: %w", b.ModelID, err)
	}
	if len(resp.Embedding) != b.Dim {
		return nil, &DimensionError{ModelID: b.ModelID, Want: b.Dim, Got: len(resp.Embedding)}
	}
	// Asked normalized; normalize again so cosine stays a dot product even
	// if a model variant ignores the flag. A zero vector matches nothing.
	if !normalize(resp.Embedding) {
		return nil, fmt.Errorf("bedrock %s answered a zero vector", b.ModelID)
	}
	return resp.Embedding, nil
}

// translate turns Bedrock errors into the typed errors callers act on;
// this is the one place that knows the service's error codes.
func (b *Bedrock) translate(err error) error {
	var throttled *types.ThrottlingException
	var quota *types.ServiceQuotaExceededException
	var notReady *types.ModelNotReadyException
	var denied *types.AccessDeniedException
	var api smithy.APIError
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &throttled), errors.As(err, &quota), errors.As(err, &notReady):
		return &ThrottledError{ModelID: b.ModelID, Err: err}
	case errors.As(err, &denied):
		return &AccessDeniedError{ModelID: b.ModelID, Err: err}
	case errors.As(err, &api) && (api.ErrorCode() == "UnrecognizedClientException" || api.ErrorCode() == "ExpiredTokenException"):
		return &AccessDeniedError{ModelID: b.ModelID, Err: err}
	}
	return fmt.Errorf("invoking bedrock %s: %w", b.ModelID, err)
}

func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return false
	}
	inv := 1 / math.Sqrt(sum)
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
	return true
}

// ProfileText is the text a language-model embedder reads for a fragrance:
// brand, name, concentration, gender, notes by tier and accords (with
// their weights), one labelled line each. A fragrance with no notes and no
// accords is not embeddable, as for the local embedder.
func ProfileText(f *catalog.Fragrance) (string, error) {
	if len(f.NotesTop)+len(f.NotesMiddle)+len(f.NotesBase)+len(f.NotesUnsorted)+len(f.Accords) == 0 {
		return "", ErrNotEmbeddable
	}
	var sb strings.Builder
	line := func(label, value string) {
		if value != "" {
			sb.WriteString(label)
			sb.WriteString(": ")
			sb.WriteString(value)
			sb.WriteString(".\n")
		}
	}
	line("Fragrance", strings.TrimSpace(f.Brand+" "+f.Name))
	line("Concentration", f.Concentration)
	if f.Gender != "" {
		line("For", f.Gender)
	}
	line("Top notes", strings.Join(f.NotesTop, ", "))
	line("Heart notes", strings.Join(f.NotesMiddle, ", "))
	line("Base notes", strings.Join(f.NotesBase, ", "))
	line("Notes", strings.Join(f.NotesUnsorted, ", "))
	accords := make([]string, len(f.Accords))
	for i, a := range f.Accords {
		accords[i] = a.Name
		if a.Weight != nil {
			accords[i] += " (" + strconv.FormatFloat(*a.Weight, 'f', -1, 64) + ")"
		}
	}
	line("Accords", strings.Join(accords, ", "))
	text := strings.TrimSuffix(sb.String(), "\n")
	if len(text) > titanMaxChars {
		text = strings.ToValidUTF8(text[:titanMaxChars], "")
	}
	return text, nil
}
