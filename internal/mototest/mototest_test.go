package mototest_test

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/scentmatch/pipeline/internal/mototest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mototest.Stop()
	os.Exit(code)
}

// TestNamesAreValidBucketNamesAndUnique: any test name gives a valid S3
// bucket name, a different one at every call.
func TestNamesAreValidBucketNamesAndUnique(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	seen := map[string]bool{}
	for _, name := range []string{"x", "A/B C", strings.Repeat("Long_Sub/Test ", 10)} {
		t.Run(name, func(t *testing.T) {
			for range 2 {
				n := mototest.Name(t)
				require.Regexp(t, valid, n)
				require.False(t, seen[n], n)
				seen[n] = true
			}
		})
	}
}

// TestBucketsAreTheTestsOwn: two tests' buckets are different and empty.
func TestBucketsAreTheTestsOwn(t *testing.T) {
	t.Parallel()
	client := mototest.S3(t)
	a, b := mototest.Bucket(t), mototest.Bucket(t)
	require.NotEqual(t, a, b)
	_, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(a), Key: aws.String("k"), Body: strings.NewReader("v")})
	require.NoError(t, err)
	l, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(b)})
	require.NoError(t, err)
	require.Empty(t, l.Contents)
}
