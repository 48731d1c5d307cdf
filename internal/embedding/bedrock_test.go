package embedding_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/embedding"
)

const titanID = "amazon.titan-embed-text-v2:0"

// titanRequest is what the embedder must send.
type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions"`
	Normalize  bool   `json:"normalize"`
}

// fakeBedrock answers InvokeModel like Bedrock does: POST
// /model/{modelId}/invoke, a JSON body in and out, errors as an HTTP status
// with the X-Amzn-Errortype header and a {"message"} body.
type fakeBedrock struct {
	t *testing.T
	// answer decides the reply to the n-th call (from 1) for one input text.
	answer func(req titanRequest, n int) (status int, errType string, dim int)
	delay  atomic.Int64 // nanoseconds each answer waits

	mu       sync.Mutex
	calls    map[string]int // per input text
	total    int
	requests []titanRequest
	inFlight atomic.Int64
	maxIn    atomic.Int64
}

func newFakeBedrock(t *testing.T, answer func(req titanRequest, n int) (int, string, int)) (*fakeBedrock, *httptest.Server) {
	fb := &fakeBedrock{t: t, answer: answer, calls: map[string]int{}}
	srv := httptest.NewServer(fb)
	t.Cleanup(srv.Close)
	return fb, srv
}

func (fb *fakeBedrock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := fb.inFlight.Add(1)
	defer fb.inFlight.Add(-1)
	for {
		m := fb.maxIn.Load()
		if cur <= m || fb.maxIn.CompareAndSwap(m, cur) {
			break
		}
	}
	if r.Method != http.MethodPost || r.URL.Path != "/model/"+titanID+"/invoke" {
		w.Header().Set("X-Amzn-Errortype", "UnknownOperationException")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message": "no route for %s %s"}`, r.Method, r.URL.Path)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		w.Header().Set("X-Amzn-Errortype", "MissingAuthenticationTokenException")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message": "Missing Authentication Token"}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req titanRequest
	if err := json.Unmarshal(body, &req); err != nil || r.Header.Get("Content-Type") != "application/json" {
		w.Header().Set("X-Amzn-Errortype", "ValidationException")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message": "Malformed input request"}`)
		return
	}
	fb.mu.Lock()
	fb.calls[req.InputText]++
	n := fb.calls[req.InputText]
	fb.total++
	fb.requests = append(fb.requests, req)
	fb.mu.Unlock()
	if d := time.Duration(fb.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	status, errType, dim := fb.answer(req, n)
	w.Header().Set("Content-Type", "application/json")
	if errType != "" {
		w.Header().Set("X-Amzn-Errortype", errType+":http://internal.amazon.com/coral/com.amazon.bedrock/")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message": "%s from the fake"}`, errType)
		return
	}
	// A deterministic, not normalized vector derived from the text.
	vec := make([]float64, dim)
	h := fnv.New64a()
	h.Write([]byte(req.InputText))
	seed := h.Sum64()
	for i := range vec {
		seed = seed*6364136223846793005 + 1442695040888963407
		vec[i] = float64(int64(seed>>33)%1000) / 100
	}
	json.NewEncoder(w).Encode(map[string]any{"embedding": vec, "inputTextTokenCount": len(strings.Fields(req.InputText))})
}

func (fb *fakeBedrock) callsFor(text string) int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.calls[text]
}

func (fb *fakeBedrock) totalCalls() int {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return fb.total
}

// bedrockEmbedder is the real SDK client, built the way FromConfig builds
// it, pointed at the fake, with retries fast enough for a test.
func bedrockEmbedder(t *testing.T, srv *httptest.Server, dim, concurrency int) embedding.Embedder {
	t.Helper()
	e, err := embedding.FromConfig(bedrockConfig(dim, concurrency),
		embedding.WithAWS(aws.Config{
			Region:       "eu-west-1",
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
			BaseEndpoint: aws.String(srv.URL),
		}),
		embedding.WithBedrockRetry(embedding.BedrockRetry{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}))
	require.NoError(t, err)
	return e
}

func ok(dim int) func(titanRequest, int) (int, string, int) {
	return func(titanRequest, int) (int, string, int) { return 200, "", dim }
}

func fragrances(n int) []*catalog.Fragrance {
	w := 0.9
	fs := make([]*catalog.Fragrance, n)
	for i := range fs {
		fs[i] = &catalog.Fragrance{Brand: "Acme", Name: fmt.Sprintf("Oud %d", i), Concentration: "Eau de Parfum", Gender: "men",
			NotesTop: []string{"Bergamot"}, NotesBase: []string{"Oud", "Sandalwood"},
			Accords: []catalog.Accord{{Name: "oud", Weight: &w}, {Name: "woody"}}}
	}
	return fs
}

func TestBedrockEmbedsWithTitanV2(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, ok(256))
	e := bedrockEmbedder(t, srv, 256, 2)
	require.Equal(t, titanID, e.Model())
	require.Equal(t, 256, e.Dimension())

	fs := append(fragrances(2), &catalog.Fragrance{Brand: "Acme", Name: "Bare"})
	vecs, errs, err := e.Embed(context.Background(), fs)
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		require.NoError(t, errs[i])
		require.Len(t, vecs[i], 256)
		require.InDelta(t, 1.0, embedding.Cosine(vecs[i], vecs[i]), 1e-5, "normalized")
	}
	require.ErrorIs(t, errs[2], embedding.ErrNotEmbeddable)
	require.Nil(t, vecs[2])
	require.Equal(t, 2, fb.totalCalls(), "a record with nothing to embed is not sent")

	fb.mu.Lock()
	req := fb.requests[0]
	fb.mu.Unlock()
	require.Equal(t, 256, req.Dimensions)
	require.True(t, req.Normalize)
	for _, want := range []string{"Fragrance: Acme Oud", "Concentration: Eau de Parfum.", "For: men.", "Top notes: Bergamot.", "Base notes: Oud, Sandalwood.", "Accords: oud (0.9), woody."} {
		require.Contains(t, req.InputText, want)
	}
	text, err := embedding.ProfileText(fs[0])
	require.NoError(t, err)
	require.Equal(t, 1, fb.callsFor(text))
}

func TestBedrockRetriesThrottling(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, func(_ titanRequest, n int) (int, string, int) {
		if n <= 2 {
			return http.StatusTooManyRequests, "ThrottlingException", 0
		}
		return 200, "", 512
	})
	e := bedrockEmbedder(t, srv, 512, 1)
	fs := fragrances(1)
	vecs, errs, err := e.Embed(context.Background(), fs)
	require.NoError(t, err)
	require.NoError(t, errs[0])
	require.Len(t, vecs[0], 512)
	text, _ := embedding.ProfileText(fs[0])
	require.Equal(t, 3, fb.callsFor(text), "two throttled calls, then the one that succeeded")
}

func TestBedrockThrottlingThatOutlastsRetriesLeavesTheBatchPending(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, func(titanRequest, int) (int, string, int) {
		return http.StatusTooManyRequests, "ThrottlingException", 0
	})
	e := bedrockEmbedder(t, srv, 256, 1)
	vecs, errs, err := e.Embed(context.Background(), fragrances(3))
	require.NoError(t, err)
	for i := range errs {
		var te *embedding.ThrottledError
		require.ErrorAs(t, errs[i], &te, "record %d", i)
		require.True(t, embedding.StopsRun(errs[i]))
		require.Nil(t, vecs[i])
	}
	var tex *types.ThrottlingException
	require.ErrorAs(t, errs[0], &tex, "the service's error stays reachable")
	require.Equal(t, 4, fb.totalCalls(), "MaxAttempts calls for the first record; the rest of the batch is not sent")
}

func TestBedrockAccessDeniedIsTypedAndNotRetried(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, func(titanRequest, int) (int, string, int) {
		return http.StatusForbidden, "AccessDeniedException", 0
	})
	e := bedrockEmbedder(t, srv, 256, 1)
	_, errs, err := e.Embed(context.Background(), fragrances(3))
	require.NoError(t, err)
	var ad *embedding.AccessDeniedError
	require.ErrorAs(t, errs[0], &ad)
	require.Contains(t, errs[0].Error(), "bedrock:InvokeModel")
	require.True(t, embedding.StopsRun(errs[0]))
	for i := 1; i < 3; i++ {
		require.ErrorAs(t, errs[i], &ad, "record %d stays pending under the same error", i)
	}
	require.Equal(t, 1, fb.totalCalls(), "no retry, and the rest of the batch is not sent")
}

func TestBedrockWrongDimensionFailsThatRecordOnly(t *testing.T) {
	t.Parallel()
	fs := fragrances(3)
	bad, _ := embedding.ProfileText(fs[1])
	_, srv := newFakeBedrock(t, func(req titanRequest, _ int) (int, string, int) {
		if req.InputText == bad {
			return 200, "", 1024
		}
		return 200, "", 256
	})
	e := bedrockEmbedder(t, srv, 256, 2)
	vecs, errs, err := e.Embed(context.Background(), fs)
	require.NoError(t, err)
	var de *embedding.DimensionError
	require.ErrorAs(t, errs[1], &de)
	require.Equal(t, embedding.DimensionError{ModelID: titanID, Want: 256, Got: 1024}, *de)
	require.False(t, embedding.StopsRun(errs[1]))
	require.Nil(t, vecs[1])
	require.NoError(t, errs[0])
	require.NoError(t, errs[2])
	require.Len(t, vecs[2], 256)
}

func TestBedrockBoundsConcurrency(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, ok(256))
	fb.delay.Store(int64(40 * time.Millisecond))
	e := bedrockEmbedder(t, srv, 256, 3)
	_, errs, err := e.Embed(context.Background(), fragrances(18))
	require.NoError(t, err)
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 18, fb.totalCalls())
	require.LessOrEqual(t, fb.maxIn.Load(), int64(3), "never more than max_concurrency calls at once")
	require.GreaterOrEqual(t, fb.maxIn.Load(), int64(2), "calls do overlap")
}

func TestBedrockStopsWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	fb, srv := newFakeBedrock(t, ok(256))
	fb.delay.Store(int64(50 * time.Millisecond))
	e := bedrockEmbedder(t, srv, 256, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for fb.totalCalls() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	vecs, errs, err := e.Embed(ctx, fragrances(20))
	require.NoError(t, err)
	cut := 0
	for i := range errs {
		if errs[i] != nil {
			require.True(t, errors.Is(errs[i], context.Canceled), "record %d: %v", i, errs[i])
			require.Nil(t, vecs[i])
			cut++
		}
	}
	require.Positive(t, cut)
	require.Less(t, fb.totalCalls(), 20)
}

func TestFromConfigBedrockNeedsAWS(t *testing.T) {
	t.Parallel()
	_, err := embedding.FromConfig(bedrockConfig(256, 1))
	require.ErrorIs(t, err, embedding.ErrProviderUnavailable)
	require.Contains(t, err.Error(), "AWS configuration")
}
