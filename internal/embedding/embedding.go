// Package embedding turns fragrances into vectors for similarity search and
// keeps them fresh: a vector is current when its model and content hash
// match the fragrance's. The default embedder is local and deterministic
// (a scent profile: notes by tier, accords with weights, gender and
// concentration, feature-hashed and L2-normalized); no network, no model
// download.
package embedding

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/scentmatch/pipeline/internal/catalog"
	"github.com/scentmatch/pipeline/internal/settings"
)

// ErrNotEmbeddable is returned for a fragrance with no notes and no
// accords: its vector would be noise (never a zero vector that matches
// everything).
var ErrNotEmbeddable = errors.New("no notes and no accords to embed")

// Embedder produces one vector per fragrance.
type Embedder interface {
	Model() string
	Dimension() int
	// Embed returns one vector per fragrance; a nil vector with its error
	// in errs[i] when that fragrance cannot be embedded.
	Embed(ctx context.Context, fs []*catalog.Fragrance) (vectors [][]float32, errs []error, err error)
}

// Local is the deterministic scent-profile embedder.
type Local struct {
	ModelName string
	Dim       int
}

// Model implements Embedder.
func (l Local) Model() string { return l.ModelName }

// Dimension implements Embedder.
func (l Local) Dimension() int { return l.Dim }

// Embed implements Embedder.
func (l Local) Embed(_ context.Context, fs []*catalog.Fragrance) ([][]float32, []error, error) {
	vecs := make([][]float32, len(fs))
	errs := make([]error, len(fs))
	for i, f := range fs {
		vecs[i], errs[i] = l.vector(f)
	}
	return vecs, errs, nil
}

// Feature weights: the heart of a scent is its accords and base.
const (
	weightTop      = 0.6
	weightMiddle   = 0.8
	weightBase     = 1.0
	weightUnsorted = 0.8
	weightGender   = 0.4
	weightConc     = 0.2
)

func (l Local) vector(f *catalog.Fragrance) ([]float32, error) {
	if len(f.NotesTop)+len(f.NotesMiddle)+len(f.NotesBase)+len(f.NotesUnsorted)+len(f.Accords) == 0 {
		return nil, ErrNotEmbeddable
	}
	v := make([]float64, l.Dim)
	add := func(feature string, w float64) {
		h := fnv.New64a()
		h.Write([]byte(feature))
		sum := h.Sum64()
		idx := int(sum % uint64(l.Dim))
		if sum>>63 == 1 {
			w = -w
		}
		v[idx] += w
	}
	for _, tier := range []struct {
		notes []string
		w     float64
	}{{f.NotesTop, weightTop}, {f.NotesMiddle, weightMiddle}, {f.NotesBase, weightBase}, {f.NotesUnsorted, weightUnsorted}} {
		for _, n := range tier.notes {
			// A note counts as itself and, more weakly, as its words
			// ("Tonka Bean" is near "Bean"), so related notes overlap.
			key := catalog.Fold(n)
			add("note:"+key, tier.w)
			for _, w := range strings.Fields(key) {
				add("word:"+w, tier.w*0.3)
			}
		}
	}
	for i, a := range f.Accords {
		w := 1.5 - 0.15*float64(i)
		if a.Weight != nil {
			w = 1.5 * *a.Weight
		}
		if w < 0.2 {
			w = 0.2
		}
		add("accord:"+catalog.Fold(a.Name), w)
	}
	if f.Gender != "" {
		add("gender:"+f.Gender, weightGender)
	}
	if f.Concentration != "" {
		add("conc:"+f.Concentration, weightConc)
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return nil, ErrNotEmbeddable
	}
	out := make([]float32, l.Dim)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out, nil
}

// Cosine is the cosine similarity of two L2-normalized vectors.
func Cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot
}

// ErrProviderUnavailable says the configured provider cannot run here.
var ErrProviderUnavailable = errors.New("embedding provider not available")

// Option configures FromConfig.
type Option func(*options)

type options struct {
	aws   *aws.Config
	retry BedrockRetry
}

// WithAWS gives FromConfig the application's AWS configuration, which the
// bedrock provider builds its client from.
func WithAWS(cfg aws.Config) Option { return func(o *options) { o.aws = &cfg } }

// WithBedrockRetry bounds the Bedrock client's retries (defaults otherwise).
func WithBedrockRetry(r BedrockRetry) Option { return func(o *options) { o.retry = r } }

// ForEnv returns the configured embedder; the bedrock provider gets its
// client from the AWS configuration, which awsConfig loads only then (the
// local embedder needs no AWS setup at all). It lives here rather than on
// app.Env so that functions which never embed (notify, status, ...) do not
// link the Bedrock client.
func ForEnv(ctx context.Context, cfg settings.Embedding, awsConfig func(context.Context) (aws.Config, error)) (Embedder, error) {
	if cfg.Provider != "bedrock" {
		return FromConfig(cfg)
	}
	awsCfg, err := awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return FromConfig(cfg, WithAWS(awsCfg))
}

// FromConfig returns the configured embedder: the local scent-profile
// embedder, or Bedrock Titan V2 (which needs WithAWS).
func FromConfig(cfg settings.Embedding, opts ...Option) (Embedder, error) {
	var o options
	for _, fn := range opts {
		fn(&o)
	}
	switch cfg.Provider {
	case "local", "":
		return Local{ModelName: cfg.Model, Dim: cfg.Dimension}, nil
	case "bedrock":
		if cfg.Bedrock == nil {
			return nil, fmt.Errorf("%w: provider \"bedrock\" needs the embedding.bedrock section", ErrProviderUnavailable)
		}
		if o.aws == nil {
			return nil, fmt.Errorf("%w: provider \"bedrock\" needs the AWS configuration", ErrProviderUnavailable)
		}
		return &Bedrock{
			Client:         NewBedrockClient(*o.aws, cfg.Bedrock.Region, o.retry),
			ModelID:        cfg.Bedrock.ModelID,
			Dim:            cfg.Dimension,
			MaxConcurrency: cfg.Bedrock.MaxConcurrency,
		}, nil
	}
	return nil, fmt.Errorf("%w: %q (use provider \"local\" or \"bedrock\")", ErrProviderUnavailable, cfg.Provider)
}
