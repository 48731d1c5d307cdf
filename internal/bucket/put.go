package bucket

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Putter is the part of the S3 client Put uses.
type Putter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ Putter = (*s3.Client)(nil)

// Join returns the reference of key under root (s3://bucket[/prefix] or
// file:///dir).
func Join(root, key string) string {
	return strings.TrimSuffix(root, "/") + "/" + strings.TrimPrefix(key, "/")
}

// Put writes body to ref and returns the new object's ETag. A local write
// goes to a temporary file renamed into place, so a reader never sees half
// an object. client may be nil when only file:// references are used.
func Put(ctx context.Context, ref string, body io.ReadSeeker, client Putter) (string, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("object reference %q: %w", ref, err)
	}
	switch u.Scheme {
	case "file":
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(u.Path), ".put-*")
		if err != nil {
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
		defer os.Remove(tmp.Name())
		if _, err := io.Copy(tmp, body); err != nil {
			tmp.Close()
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
		if err := tmp.Close(); err != nil {
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
		if err := os.Rename(tmp.Name(), u.Path); err != nil {
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
		obj, err := Open(ctx, ref, nil)
		if err != nil {
			return "", err
		}
		obj.Body.Close()
		return obj.ETag, nil
	case "s3":
		if client == nil {
			return "", fmt.Errorf("writing %s: no S3 client configured", ref)
		}
		key := strings.TrimPrefix(u.Path, "/")
		out, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &u.Host, Key: &key, Body: body})
		if err != nil {
			return "", fmt.Errorf("putting %s: %w", ref, err)
		}
		if out.ETag == nil {
			return "", nil
		}
		return strings.Trim(*out.ETag, `"`), nil
	}
	return "", fmt.Errorf("object reference %q: expected s3://bucket/key or file:///path", ref)
}
