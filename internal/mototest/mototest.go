// Package mototest gives tests the AWS APIs from a real moto server
// (`moto_server`, pip package moto[server] 5.2.1, which
// scripts/rehearse.sh --tools-only installs and make test runs first).
//
// One moto_server serves a whole test binary: it starts on first use
// (URL, Config, S3, Bucket) and stops when the binary's TestMain calls
// Stop (dbtest.Main(m, mototest.Stop)); should the binary die first, the
// kernel kills it (Pdeathsig). Tests share it, so each takes its own
// names: Bucket creates a bucket no other test uses, Name gives a unique
// name for anything else (state machines, keys).
package mototest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	// Region is the region the clients sign for.
	Region = "us-east-1"
	// AccountID is moto's default account.
	AccountID = "123456789012"
	// AccessKey and SecretKey are the credentials the clients send
	// (moto accepts any); give them to a subprocess as
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
	AccessKey = "mototest"
	SecretKey = "mototest"
)

// Missing is the failure when moto_server is not on PATH.
const Missing = "moto_server is not installed: run scripts/rehearse.sh --tools-only " +
	"(it installs moto[server]==5.2.1 with pip; make test runs it first)"

var (
	once     sync.Once
	srv      *server
	startErr error
	names    atomic.Int64
)

type server struct {
	url  string
	dir  string // holds moto.log
	cmd  *exec.Cmd
	done chan struct{}
}

// URL is the moto server's endpoint (http://127.0.0.1:PORT), started on
// first use. It fails t when moto cannot start.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { srv, startErr = start() })
	if startErr != nil {
		t.Fatal(startErr)
	}
	return srv.url
}

// Stop stops the moto server if it was started. Call it from TestMain
// after m.Run.
func Stop() {
	if srv == nil {
		return
	}
	srv.stop()
	_ = os.RemoveAll(srv.dir)
}

// Config is an AWS configuration with moto as every service's endpoint.
func Config(t testing.TB) aws.Config {
	t.Helper()
	return aws.Config{Region: Region, BaseEndpoint: aws.String(URL(t)), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")}
}

// S3 is an S3 client on moto (path-style, as moto on loopback wants).
func S3(t testing.TB) *s3.Client {
	t.Helper()
	return s3.NewFromConfig(Config(t), func(o *s3.Options) { o.UsePathStyle = true })
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// Name is a name no other call in this binary returns: the test's name,
// lower-cased, with what S3 bucket names may not hold turned into '-',
// cut to fit 63 characters with a unique number after it.
func Name(t testing.TB) string {
	n := "-" + strconv.FormatInt(names.Add(1), 10)
	base := strings.Trim(unsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if max := 63 - len(n); len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	if len(base) < 3 {
		base = "test" + base
	}
	return base + n
}

// Bucket creates an empty bucket for t alone and returns its name.
func Bucket(t testing.TB) string {
	t.Helper()
	name := Name(t)
	_, err := S3(t).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("creating bucket %s in moto: %v", name, err)
	}
	return name
}

func start() (*server, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, errors.New(Missing)
	}
	dir, err := os.MkdirTemp("", "mototest-")
	if err != nil {
		return nil, err
	}
	// A port free when asked may be taken before moto binds it: try again.
	for attempt := 1; ; attempt++ {
		s, err := startOn(bin, dir)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
}

func startOn(bin, dir string) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	logPath := filepath.Join(dir, "moto.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// moto's Step Functions keeps executions RUNNING until stopped (its
	// default, said explicitly).
	cmd.Env = append(os.Environ(), "SF_EXECUTION_HISTORY_TYPE=SUCCESS")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	s := &server{url: "http://127.0.0.1:" + strconv.Itoa(port), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		log.Close()
		close(s.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("moto_server exited before answering on %s: %s", s.url, out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("moto_server did not answer on %s within 30s: %v\n%s", s.url, err, out)
		}
	}
}

// stop sends SIGTERM to moto's process group, then SIGKILL after 5 s.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
	}
}
