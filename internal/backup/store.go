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
// transfer manager, which needs the multipart calls; Prune deletes).
type S3API interface {
	transfermanager.S3APIClient
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
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
	all, err := list(ctx, root, client)
	if err != nil || len(all) == 0 {
		return "", false, err
	}
	return all[len(all)-1].location, true, nil
}

// stored is one complete backup under a root.
type stored struct {
	name, location string
	keys           []string // S3: every object of the backup, the manifest first
}

// list returns the complete backups (those with a manifest) under root,
// sorted by name: oldest first for timestamped ones.
func list(ctx context.Context, root string, client S3API) ([]stored, error) {
	var out []stored
	if strings.HasPrefix(root, "s3://") {
		u, err := url.Parse(root)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("backup location %q: want s3://bucket/prefix", root)
		}
		if client == nil {
			return nil, fmt.Errorf("backup location %s: no S3 client configured", root)
		}
		prefix := strings.Trim(u.Path, "/")
		if prefix != "" {
			prefix += "/"
		}
		keys := map[string][]string{}
		complete := map[string]bool{}
		in := &s3.ListObjectsV2Input{Bucket: &u.Host, Prefix: &prefix}
		for {
			page, err := client.ListObjectsV2(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", root, err)
			}
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				dir, file, found := strings.Cut(strings.TrimPrefix(key, prefix), "/")
				switch {
				case !found:
				case file == ManifestFile: // first, for Prune
					keys[dir] = append([]string{key}, keys[dir]...)
					complete[dir] = true
				default:
					keys[dir] = append(keys[dir], key)
				}
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			in.ContinuationToken = page.NextContinuationToken
		}
		for dir := range complete {
			out = append(out, stored{name: dir, location: "s3://" + u.Host + "/" + prefix + dir + "/", keys: keys[dir]})
		}
	} else {
		dir := strings.TrimPrefix(root, "file://")
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("listing backups in %s: %w", dir, err)
		}
		for _, e := range entries {
			if _, err := os.Stat(filepath.Join(dir, e.Name(), ManifestFile)); e.IsDir() && err == nil {
				out = append(out, stored{name: e.Name(), location: filepath.Join(dir, e.Name())})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// Prune deletes the oldest complete backups under root whose names are
// timestamps (TimestampName: the ones written without --to, scheduled
// ones included) until keep of them remain (retention.backups_keep; 0 or
// less keeps all). Backups under other names (backup --to root/manual-x)
// and incomplete ones are left alone. Each backup's manifest goes first,
// so an interrupted prune leaves an incomplete backup, which restore
// refuses, never a damaged complete one. It returns what it deleted.
func Prune(ctx context.Context, root string, client S3API, keep int) ([]string, error) {
	all, err := list(ctx, root, client)
	if err != nil || keep <= 0 {
		return nil, err
	}
	var stamped []stored
	for _, b := range all {
		if _, err := time.Parse(timestampLayout, b.name); err == nil {
			stamped = append(stamped, b)
		}
	}
	var deleted []string
	for _, b := range stamped[:max(0, len(stamped)-keep)] {
		if !strings.HasPrefix(b.location, "s3://") {
			if err := os.Remove(filepath.Join(b.location, ManifestFile)); err != nil {
				return deleted, fmt.Errorf("pruning backup %s: %w", b.location, err)
			}
			if err := os.RemoveAll(b.location); err != nil {
				return deleted, fmt.Errorf("pruning backup %s: %w", b.location, err)
			}
		} else {
			u, _ := url.Parse(b.location)
			for _, key := range b.keys {
				if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.Host, Key: aws.String(key)}); err != nil {
					return deleted, fmt.Errorf("pruning backup %s: deleting %s: %w", b.location, key, err)
				}
			}
		}
		deleted = append(deleted, b.location)
	}
	return deleted, nil
}

const timestampLayout = "20060102T150405Z"

// TimestampName names a backup taken at t: sortable, UTC, second precision.
func TimestampName(t time.Time) string { return t.UTC().Format(timestampLayout) }

// Join appends a backup's name to a root location (directory or s3://).
func Join(root, name string) string {
	if strings.HasPrefix(root, "s3://") {
		return strings.TrimSuffix(root, "/") + "/" + name + "/"
	}
	return filepath.Join(strings.TrimPrefix(root, "file://"), name)
}
