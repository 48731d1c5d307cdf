package coldstart

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
)

// functions lists functions/<name> directories.
func functions(tb testing.TB) (root string, names []string) {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	root = filepath.Join(wd, "..", "..")
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return root, names
}

// deployedLDFlags are the linker flags of the Makefile's LAMBDA_BUILD.
const deployedLDFlags = "-s -w"

// buildAll compiles every function as deployed (with ldflags; "-w" keeps
// the symbol table a test reads), for goarch, in one go build (shared
// compilation, parallel links); it returns name -> binary.
func buildAll(tb testing.TB, root string, names []string, goarch, ldflags string) map[string]string {
	tb.Helper()
	dir := tb.TempDir()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", ldflags, "-o", dir+"/", "./functions/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the functions: %v\n%s", err, b)
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = filepath.Join(dir, n)
	}
	return out
}

// firstPoll starts bin against a Runtime API server and returns the time
// until its first request for an invocation.
func firstPoll(tb testing.TB, bin string) time.Duration {
	tb.Helper()
	polled := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case polled <- time.Now():
			default:
			}
			<-r.Context().Done() // hold the poll open until the process is killed
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + srv.Listener.Addr().String(),
		"AWS_LAMBDA_FUNCTION_NAME=coldstart", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=AKID", "AWS_SECRET_ACCESS_KEY=SECRET",
		"DATABASE_URL=postgres://nobody@127.0.0.1:1/none", "HOME=" + tb.TempDir(),
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	select {
	case t := <-polled:
		return t.Sub(start)
	case <-ctx.Done():
		tb.Fatalf("%s never asked for an invocation", bin)
		return 0
	}
}

// TestEveryFunctionReachesTheRuntimeAPI checks that each function, built
// as deployed, starts without AWS and polls for its first event: a
// function that exits at start (a missing setting read too early) fails
// here rather than in its first deployment.
func TestEveryFunctionReachesTheRuntimeAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	root, names := functions(t)
	bins := buildAll(t, root, names, runtime.GOARCH, "-w")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			firstPoll(t, bins[name])
			keepsDeadMethodElimination(t, bins[name])
		})
	}
}

// keepsDeadMethodElimination fails when bin links reflect's method
// lookups (Value.Method, Value.MethodByName, Type.Method,
// Type.MethodByName): the linker then keeps every exported method of every
// type that reaches an interface, which cost notify 8 MB when it rendered
// through the standard library's text/template and html/template (see
// docs/BENCHMARKS.md, binary size).
func keepsDeadMethodElimination(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		switch f[len(f)-1] {
		case "reflect.Value.Method", "reflect.Value.MethodByName", "reflect.(*rtype).Method", "reflect.(*rtype).MethodByName":
			t.Errorf("%s links %s, which turns off the linker's dead-method elimination (a text/template or html/template Execute? use github.com/DataDog/datadog-agent/pkg/template)", filepath.Base(bin), f[len(f)-1])
		}
	}
}

// BenchmarkColdStart reports, per function, the binary size (MB) for
// linux/arm64 as deployed and the exec-to-first-poll time of an amd64
// build on this machine.
func BenchmarkColdStart(b *testing.B) {
	root, names := functions(b)
	arms := buildAll(b, root, names, "arm64", deployedLDFlags)
	amds := buildAll(b, root, names, "amd64", deployedLDFlags)
	for _, name := range names {
		info, err := os.Stat(arms[name])
		if err != nil {
			b.Fatal(err)
		}
		amd := amds[name]
		b.Run(name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += firstPoll(b, amd)
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/start")
			b.ReportMetric(float64(info.Size())/(1<<20), "MiB-arm64")
		})
	}
	fmt.Fprintln(os.Stderr, "cold start proxy: exec to first GET /runtime/invocation/next, amd64 build, this machine")
}
