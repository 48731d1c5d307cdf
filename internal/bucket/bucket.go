// Package bucket opens objects by reference: s3://bucket/key in AWS, and
// file:///path in the local bucket (a directory in $SCENTMATCH_HOME that
// stands in for S3). Large lists and datasets travel between steps as such
// references.
package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Getter is the part of the S3 client Open uses.
type Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ Getter = (*s3.Client)(nil)

// Object is an opened object.
type Object struct {
	Body io.ReadCloser
	// ETag identifies this version of the object (S3's ETag; for a local
	// file a hash of its size and modification time).
	ETag string
	Size int64
	// Name is the reference, for messages.
	Name string
}

// Open opens ref. client may be nil when only file:// references are used.
func Open(ctx context.Context, ref string, client Getter) (*Object, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("object reference %q: %w", ref, err)
	}
	switch u.Scheme {
	case "file":
		f, err := os.Open(u.Path)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", ref, err)
		}
		info, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("opening %s: %w", ref, err)
		}
		sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%d", info.Size(), info.ModTime().UnixNano())))
		return &Object{Body: f, ETag: hex.EncodeToString(sum[:8]), Size: info.Size(), Name: ref}, nil
	case "s3":
		if client == nil {
			return nil, fmt.Errorf("opening %s: no S3 client configured", ref)
		}
		key := strings.TrimPrefix(u.Path, "/")
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.Host, Key: &key})
		if err != nil {
			return nil, fmt.Errorf("getting %s: %w", ref, err)
		}
		obj := &Object{Body: out.Body, Name: ref}
		if out.ETag != nil {
			obj.ETag = strings.Trim(*out.ETag, `"`)
		}
		if out.ContentLength != nil {
			obj.Size = *out.ContentLength
		}
		return obj, nil
	}
	return nil, fmt.Errorf("object reference %q: expected s3://bucket/key or file:///path", ref)
}
