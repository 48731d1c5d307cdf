package bucket

import (
	"bytes"
	"context"
	"fmt"
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

// Local returns the local bucket of a home directory: file://<home>/bucket.
func Local(home string) string {
	return (&url.URL{Scheme: "file", Path: filepath.Join(home, "bucket")}).String()
}

// Join appends a key to a bucket base (s3://bucket[/prefix] or
// file:///dir).
func Join(base, key string) string {
	return strings.TrimRight(base, "/") + "/" + strings.TrimLeft(key, "/")
}

// Put writes body at ref: an S3 object, or a file (directories created;
// written to a temporary name and renamed, so a reader never sees half).
// client may be nil when only file:// references are used.
func Put(ctx context.Context, ref string, body []byte, contentType string, client Putter) error {
	u, err := url.Parse(ref)
	if err != nil {
		return fmt.Errorf("object reference %q: %w", ref, err)
	}
	switch u.Scheme {
	case "file":
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return fmt.Errorf("writing %s: %w", ref, err)
		}
		tmp := u.Path + ".tmp"
		if err := os.WriteFile(tmp, body, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", ref, err)
		}
		if err := os.Rename(tmp, u.Path); err != nil {
			return fmt.Errorf("writing %s: %w", ref, err)
		}
		return nil
	case "s3":
		if client == nil {
			return fmt.Errorf("writing %s: no S3 client configured", ref)
		}
		key := strings.TrimPrefix(u.Path, "/")
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &u.Host, Key: &key, Body: bytes.NewReader(body), ContentType: &contentType}); err != nil {
			return fmt.Errorf("putting %s: %w", ref, err)
		}
		return nil
	}
	return fmt.Errorf("object reference %q: expected s3://bucket/key or file:///path", ref)
}
