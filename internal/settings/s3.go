package settings

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3API is the part of the S3 client the configuration loader uses.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

var _ S3API = (*s3.Client)(nil)

// S3Prefix is an override location in a bucket, e.g.
// s3://scentmatch-prod/config/v7/ (a new prefix per configuration version,
// so a deploy can point at a known set).
type S3Prefix struct {
	Client S3API
	Bucket string
	Prefix string
}

// ParseS3 splits an s3://bucket/prefix location.
func ParseS3(location string, client S3API) (*S3Prefix, error) {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an s3://bucket/prefix location", location)
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &S3Prefix{Client: client, Bucket: u.Host, Prefix: prefix}, nil
}

func (p *S3Prefix) String() string { return "s3://" + p.Bucket + "/" + p.Prefix }

// Read implements Overrides.
func (p *S3Prefix) Read(ctx context.Context, name string) ([]byte, string, error) {
	key := p.Prefix + name
	loc := "s3://" + p.Bucket + "/" + key
	out, err := p.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &p.Bucket, Key: &key})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, loc, fmt.Errorf("%s: %w", loc, fs.ErrNotExist)
		}
		return nil, loc, fmt.Errorf("getting %s: %w", loc, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(io.LimitReader(out.Body, 4<<20))
	if err != nil {
		return nil, loc, fmt.Errorf("reading %s: %w", loc, err)
	}
	if out.VersionId != nil && *out.VersionId != "" {
		loc += "?versionId=" + *out.VersionId
	}
	return data, loc, nil
}

// Extra implements Overrides.
func (p *S3Prefix) Extra(ctx context.Context) ([]string, error) {
	var extra []string
	pager := s3.NewListObjectsV2Paginator(p.Client, &s3.ListObjectsV2Input{Bucket: &p.Bucket, Prefix: &p.Prefix})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", p, err)
		}
		for _, obj := range page.Contents {
			if obj.Key == nil {
				continue
			}
			name := path.Base(*obj.Key)
			if strings.HasSuffix(name, ".json") && !isConfigFile(name) && path.Dir(*obj.Key)+"/" == p.Prefix {
				extra = append(extra, "s3://"+p.Bucket+"/"+*obj.Key)
			}
		}
	}
	return extra, nil
}
