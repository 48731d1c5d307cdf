// Package s3test is an in-memory S3 endpoint for tests: the real
// aws-sdk-go-v2 S3 client talks to it over HTTP (path-style addressing).
// It serves PutObject, GetObject, HeadObject, DeleteObject,
// ListObjectsV2 and the multipart upload calls, and counts the
// operations it served so tests can assert how an upload travelled.
package s3test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Server is an in-memory S3.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	objects map[string][]byte // "bucket/key"
	uploads map[string]map[int][]byte
	nextID  int
	ops     map[string]int
}

// New starts a server that closes when t ends.
func New(t testing.TB) *Server {
	s := &Server{objects: map[string][]byte{}, uploads: map[string]map[int][]byte{}, ops: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Client returns a real S3 client pointed at the server.
func (s *Server) Client() *s3.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""), RetryMaxAttempts: 1}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.UsePathStyle = true
	})
}

// Object returns a stored object's bytes.
func (s *Server) Object(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[bucket+"/"+key]
	return b, ok
}

// Put stores an object directly.
func (s *Server) Put(bucket, key string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[bucket+"/"+key] = append([]byte(nil), data...)
}

// Delete removes an object directly.
func (s *Server) Delete(bucket, key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, bucket+"/"+key)
}

// Keys lists the stored keys of bucket, sorted.
func (s *Server) Keys(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.objects {
		if b, key, _ := strings.Cut(k, "/"); b == bucket {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

// Ops returns how many times each operation was served.
func (s *Server) Ops() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.ops {
		out[k] = v
	}
	return out
}

// PendingUploads counts multipart uploads neither completed nor aborted.
func (s *Server) PendingUploads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.uploads)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	q := r.URL.Query()
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := func(name string) { s.ops[name]++ }
	full := bucket + "/" + key
	switch {
	case r.Method == http.MethodGet && key == "" && q.Get("list-type") == "2":
		op("ListObjectsV2")
		s.list(w, bucket, q)
	case r.Method == http.MethodPost && q.Has("uploads"):
		op("CreateMultipartUpload")
		s.nextID++
		id := "upload-" + strconv.Itoa(s.nextID)
		s.uploads[id] = map[int][]byte{}
		writeXML(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string
			Key      string
			UploadId string
		}{Bucket: bucket, Key: key, UploadId: id})
	case r.Method == http.MethodPut && q.Has("uploadId"):
		op("UploadPart")
		parts, ok := s.uploads[q.Get("uploadId")]
		if !ok {
			writeError(w, http.StatusNotFound, "NoSuchUpload", "no such upload")
			return
		}
		n, _ := strconv.Atoi(q.Get("partNumber"))
		parts[n] = body
		w.Header().Set("ETag", etag(body))
	case r.Method == http.MethodPost && q.Has("uploadId"):
		op("CompleteMultipartUpload")
		id := q.Get("uploadId")
		parts, ok := s.uploads[id]
		if !ok {
			writeError(w, http.StatusNotFound, "NoSuchUpload", "no such upload")
			return
		}
		var req struct {
			Parts []struct {
				PartNumber int
			} `xml:"Part"`
		}
		if err := xml.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "MalformedXML", err.Error())
			return
		}
		var all []byte
		for _, p := range req.Parts {
			all = append(all, parts[p.PartNumber]...)
		}
		s.objects[full] = all
		delete(s.uploads, id)
		writeXML(w, struct {
			XMLName xml.Name `xml:"CompleteMultipartUploadResult"`
			Bucket  string
			Key     string
			ETag    string
		}{Bucket: bucket, Key: key, ETag: etag(all)})
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		op("AbortMultipartUpload")
		delete(s.uploads, q.Get("uploadId"))
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPut:
		op("PutObject")
		s.objects[full] = body
		w.Header().Set("ETag", etag(body))
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if r.Method == http.MethodGet {
			op("GetObject")
		} else {
			op("HeadObject")
		}
		data, ok := s.objects[full]
		if !ok {
			writeError(w, http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
			return
		}
		w.Header().Set("ETag", etag(data))
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(data)
		}
	case r.Method == http.MethodDelete:
		op("DeleteObject")
		delete(s.objects, full)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusNotImplemented, "NotImplemented", r.Method+" "+r.URL.String())
	}
}

func (s *Server) list(w http.ResponseWriter, bucket string, q map[string][]string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	prefix, delim, after := get("prefix"), get("delimiter"), get("continuation-token")
	max := 1000
	if m, err := strconv.Atoi(get("max-keys")); err == nil && m > 0 {
		max = m
	}
	type content struct {
		Key  string
		Size int
		ETag string
	}
	type commonPrefix struct{ Prefix string }
	res := struct {
		XMLName               xml.Name `xml:"ListBucketResult"`
		Name                  string
		Prefix                string
		KeyCount              int
		MaxKeys               int
		IsTruncated           bool
		NextContinuationToken string         `xml:",omitempty"`
		Contents              []content      `xml:"Contents"`
		CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
	}{Name: bucket, Prefix: prefix, MaxKeys: max}
	var keys []string
	for k := range s.objects {
		if b, key, _ := strings.Cut(k, "/"); b == bucket && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		if after != "" && k <= after {
			continue
		}
		if res.KeyCount == max {
			res.IsTruncated = true
			break
		}
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := k[:len(prefix)+i+len(delim)]
				if !seen[p] {
					seen[p] = true
					res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{p})
					res.KeyCount++
					res.NextContinuationToken = k
				}
				continue
			}
		}
		res.Contents = append(res.Contents, content{Key: k, Size: len(s.objects[bucket+"/"+k]), ETag: etag(s.objects[bucket+"/"+k])})
		res.KeyCount++
		res.NextContinuationToken = k
	}
	if !res.IsTruncated {
		res.NextContinuationToken = ""
	}
	writeXML(w, res)
}

// readBody reads a request body, decoding aws-chunked framing (what the
// SDK sends for streaming checksums) when present.
func readBody(r *http.Request) ([]byte, error) {
	if !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") &&
		!strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") {
		return io.ReadAll(r.Body)
	}
	br := bufio.NewReader(r.Body)
	var out bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked size %q: %w", sizeHex, err)
		}
		if n == 0 {
			_, _ = io.Copy(io.Discard, br) // trailers
			return out.Bytes(), nil
		}
		if _, err := io.CopyN(&out, br, n); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		if _, err := br.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
	}
}

func etag(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: code, Message: msg})
}
