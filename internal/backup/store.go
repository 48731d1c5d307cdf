package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Store holds one backup's files: a local directory or an S3 prefix.
type Store interface {
	// Create starts writing a file; nothing is visible under name until
	// Commit, and Abort discards what was written.
	Create(ctx context.Context, name string) (FileWriter, error)
	// Open reads a file; a missing one is an error wrapping fs.ErrNotExist.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Location is the backup's address: a directory or s3://bucket/prefix/.
	Location() string
}

// FileWriter is a file being written.
type FileWriter interface {
	io.Writer
	Commit() error
	Abort()
}

// S3API is the part of the S3 client backups use (uploads go through the
// transfer manager, which needs the multipart calls).
type S3API interface {
	transfermanager.S3APIClient
}

var _ S3API = (*s3.Client)(nil)

// OpenStore returns the store at location: s3://bucket/prefix, file:///dir
// or a directory path. client may be nil for local locations.
func OpenStore(location string, client S3API) (Store, error) {
	if strings.HasPrefix(location, "s3://") {
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("backup location %q: want s3://bucket/prefix", location)
		}
		if client == nil {
			return nil, fmt.Errorf("backup location %s: no S3 client configured", location)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		return &S3Store{Client: client, Bucket: u.Host, Prefix: prefix}, nil
	}
	dir := strings.TrimPrefix(location, "file://")
	if dir == "" {
		return nil, errors.New("backup location is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("backup location %q: %w", location, err)
	}
	return &DirStore{Dir: abs}, nil
}

// DirStore is a backup in a local directory.
type DirStore struct{ Dir string }

// Location implements Store.
func (d *DirStore) Location() string { return d.Dir }

// Create implements Store: the file is written as name.partial and
// renamed on Commit, after an fsync.
func (d *DirStore) Create(_ context.Context, name string) (FileWriter, error) {
	if err := os.MkdirAll(d.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating backup directory: %w", err)
	}
	final := filepath.Join(d.Dir, name)
	f, err := os.Create(final + ".partial")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", final, err)
	}
	return &dirWriter{f: f, final: final}, nil
}

// Open implements Store.
func (d *DirStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.Dir, name))
}

type dirWriter struct {
	f     *os.File
	final string
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *dirWriter) Commit() error {
	if err := w.f.Sync(); err != nil {
		w.Abort()
		return fmt.Errorf("writing %s: %w", w.final, err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("writing %s: %w", w.final, err)
	}
	if err := os.Rename(w.f.Name(), w.final); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("writing %s: %w", w.final, err)
	}
	return nil
}

func (w *dirWriter) Abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}

// S3Store is a backup under an S3 prefix. Files stream to multipart
// uploads (parts of PartSize bytes, a few in flight): a file is never
// held whole in memory or on disk.
type S3Store struct {
	Client S3API
	Bucket string
	Prefix string // "" or ending in "/"
	// PartSize is the multipart part size (default 8 MiB, S3's minimum is
	// 5 MiB); a file smaller than two parts' worth goes up in one PutObject.
	PartSize int64
}

// Location implements Store.
func (s *S3Store) Location() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// Create implements Store.
func (s *S3Store) Create(ctx context.Context, name string) (FileWriter, error) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(ctx)
	w := &s3Writer{pw: pw, done: make(chan error, 1), cancel: cancel, name: s.Location() + name}
	tm := transfermanager.New(s.Client, func(o *transfermanager.Options) {
		if s.PartSize > 0 {
			o.PartSizeBytes = s.PartSize
			o.MultipartUploadThreshold = 2 * s.PartSize
		}
		// Two parts in flight: memory stays at a few parts per file.
		o.Concurrency = 2
	})
	key := s.Prefix + name
	go func() {
		_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &s.Bucket, Key: &key, Body: pr})
		pr.CloseWithError(err) // unblock a writer if the upload failed first
		w.done <- err
	}()
	return w, nil
}

type s3Writer struct {
	pw     *io.PipeWriter
	done   chan error
	cancel context.CancelFunc
	name   string
}

func (w *s3Writer) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil {
		return n, fmt.Errorf("uploading %s: %w", w.name, err)
	}
	return n, nil
}

func (w *s3Writer) Commit() error {
	w.pw.Close()
	err := <-w.done
	w.cancel()
	if err != nil {
		return fmt.Errorf("uploading %s: %w", w.name, err)
	}
	return nil
}

// Abort ends the upload with an error, so the transfer manager aborts the
// multipart upload and no object appears.
func (w *s3Writer) Abort() {
	w.pw.CloseWithError(errors.New("backup aborted"))
	<-w.done
	w.cancel()
}

// Open implements Store.
func (s *S3Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	key := s.Prefix + name
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil {
		var nsk *s3types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, fmt.Errorf("s3://%s/%s: %w", s.Bucket, key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("getting s3://%s/%s: %w", s.Bucket, key, err)
	}
	return out.Body, nil
}

// Latest returns the newest complete backup (one with a manifest) under
// root: a directory or s3://bucket/prefix holding one backup per
// timestamped subdirectory. ok is false when there is none.
func Latest(ctx context.Context, root string, client S3API) (location string, ok bool, err error) {
	var names []string
	if strings.HasPrefix(root, "s3://") {
		u, err := url.Parse(root)
		if err != nil || u.Host == "" {
			return "", false, fmt.Errorf("backup location %q: want s3://bucket/prefix", root)
		}
		if client == nil {
			return "", false, fmt.Errorf("backup location %s: no S3 client configured", root)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		in := &s3.ListObjectsV2Input{Bucket: &u.Host, Prefix: &prefix}
		for {
			out, err := client.ListObjectsV2(ctx, in)
			if err != nil {
				return "", false, fmt.Errorf("listing %s: %w", root, err)
			}
			for _, o := range out.Contents {
				key := aws.ToString(o.Key)
				rest := strings.TrimPrefix(key, prefix)
				if dir, file, found := strings.Cut(rest, "/"); found && file == ManifestFile {
					names = append(names, "s3://"+u.Host+"/"+prefix+dir+"/")
				}
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			in.ContinuationToken = out.NextContinuationToken
		}
	} else {
		dir := strings.TrimPrefix(root, "file://")
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("listing backups in %s: %w", dir, err)
		}
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), ManifestFile)); e.IsDir() && err == nil {
				names = append(names, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(names) == 0 {
		return "", false, nil
	}
	sort.Strings(names)
	return names[len(names)-1], true, nil
}

// TimestampName names a backup taken at t: sortable, UTC, second precision.
func TimestampName(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// Join appends a backup's name to a root location (directory or s3://).
func Join(root, name string) string {
	if strings.HasPrefix(root, "s3://") {
		return strings.TrimSuffix(root, "/") + "/" + name + "/"
	}
	return filepath.Join(strings.TrimPrefix(root, "file://"), name)
}
