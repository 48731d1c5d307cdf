package bucket

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
)

func TestLocalPutThenOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ref := Join("file://"+t.TempDir(), "cycles/c1/detect/candidates.jsonl")
	etag, err := Put(ctx, ref, strings.NewReader("{}\n"), nil)
	require.NoError(t, err)
	obj, err := Open(ctx, ref, nil)
	require.NoError(t, err)
	defer obj.Body.Close()
	b, _ := io.ReadAll(obj.Body)
	require.Equal(t, "{}\n", string(b))
	require.Equal(t, etag, obj.ETag)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(strings.TrimPrefix(ref, "file://")), ".put-*"))
	require.Empty(t, matches, "no temporary file left behind")
}

// TestS3PutThenOpen runs the real S3 client against an httptest server
// that keeps objects in memory.
func TestS3PutThenOpen(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	objects := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			objects[r.URL.Path] = b
			w.Header().Set("ETag", `"abc123"`)
		case http.MethodGet:
			b, ok := objects[r.URL.Path]
			if !ok {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("ETag", `"abc123"`)
			w.Write(b)
		}
	}))
	defer srv.Close()
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	ctx := context.Background()
	etag, err := Put(ctx, "s3://scentmatch/cycles/c1/x.jsonl", bytes.NewReader([]byte("line\n")), client)
	require.NoError(t, err)
	require.Equal(t, "abc123", etag)
	require.Equal(t, []byte("line\n"), objects["/scentmatch/cycles/c1/x.jsonl"])
	obj, err := Open(ctx, "s3://scentmatch/cycles/c1/x.jsonl", client)
	require.NoError(t, err)
	b, _ := io.ReadAll(obj.Body)
	require.Equal(t, "line\n", string(b))

	_, err = Put(ctx, "ftp://x/y", strings.NewReader(""), client)
	require.ErrorContains(t, err, "expected s3://bucket/key or file:///path")
}
