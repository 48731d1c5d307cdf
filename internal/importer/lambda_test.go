package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/importer"
)

// objectStore serves one bucket's objects path-style, like S3.
func objectStore(t *testing.T, bucket string, objects map[string][]byte, etag *atomic.Value) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/"+bucket+"/")
		body, ok := objects[key]
		if !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"`+etag.Load().(string)+`"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
}

func TestImportFunctionIsIdempotentByObjectAndETag(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sample, err := os.ReadFile("testdata/sample.jsonl")
	require.NoError(t, err)
	var etag atomic.Value
	etag.Store("etag-v1")
	client := objectStore(t, "scentmatch-dev-bucket", map[string][]byte{"imports/sample.jsonl": sample}, &etag)
	h := &importer.ObjectHandler{S3: client, Importer: func(context.Context) (*importer.Importer, error) { return b.im, nil }}
	payload, err := os.ReadFile("../../events/import-object.json")
	require.NoError(t, err)

	invoke := func() importer.ObjectResult {
		raw, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
		require.NoError(t, err)
		var res importer.ObjectResult
		require.NoError(t, json.Unmarshal(raw, &res))
		return res
	}
	first := invoke()
	require.False(t, first.Skipped)
	require.Equal(t, "etag-v1", first.ETag)
	require.Equal(t, 2, first.Summary.Counts["inserted"])
	require.Equal(t, 1, first.Summary.Counts["rejected"])
	require.Equal(t, 2, count(t, b.pool, "SELECT count(*) FROM source_identities WHERE source = 'partner-feed'"))

	again := invoke()
	require.True(t, again.Skipped, "the same object version is imported once")
	require.Equal(t, first.Summary.RunID, again.Summary.RunID)
	require.Equal(t, 1, count(t, b.pool, "SELECT count(*) FROM import_runs"))

	etag.Store("etag-v2")
	third := invoke()
	require.False(t, third.Skipped, "a new version is imported")
	require.Equal(t, 2, third.Summary.Counts["unchanged"])

	// A missing object is an error naming it.
	_, err = lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{"object": "s3://scentmatch-dev-bucket/imports/none.jsonl"}`))
	require.ErrorContains(t, err, "imports/none.jsonl")
	_, err = lambda.NewHandler(h.Handle).Invoke(context.Background(), []byte(`{}`))
	require.ErrorContains(t, err, "object")
}
