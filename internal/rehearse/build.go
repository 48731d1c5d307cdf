package rehearse

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build runs the Makefile's build-<LogicalId> target of each function, as
// `sam build` does (ARTIFACTS_DIR set), for GOARCH arch, into
// dir/<arch>/<LogicalId>/bootstrap, and returns the bootstraps by id.
func Build(ctx context.Context, root, dir, arch string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		art := filepath.Join(dir, arch, id)
		if err := os.MkdirAll(art, 0o755); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", root, "build-"+id, "ARTIFACTS_DIR="+art, "LAMBDA_ARCH="+arch)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("make build-%s LAMBDA_ARCH=%s: %w\n%s", id, arch, err, buf.String())
		}
		bin := filepath.Join(art, "bootstrap")
		if err := checkELF(bin, arch); err != nil {
			return nil, fmt.Errorf("make build-%s LAMBDA_ARCH=%s: %w", id, arch, err)
		}
		out[id] = bin
	}
	return out, nil
}

// checkELF checks that bin is a static Linux executable for arch.
func checkELF(bin, arch string) error {
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if len(b) < 20 || string(b[:4]) != "\x7fELF" {
		return fmt.Errorf("%s is not an ELF executable", bin)
	}
	machine := uint16(b[18]) | uint16(b[19])<<8
	want := map[string]uint16{"amd64": 62, "arm64": 183}[arch]
	if machine != want {
		return fmt.Errorf("%s is built for ELF machine %d, not %s", bin, machine, arch)
	}
	if bytes.Contains(b, []byte("/lib/ld-linux")) || bytes.Contains(b, []byte("/lib64/ld-linux")) {
		return fmt.Errorf("%s is dynamically linked (provided.al2023 wants a static binary: CGO_ENABLED=0)", bin)
	}
	return nil
}

// RIE returns the path of the aws-lambda-rie binary pinned as a tool in
// go.mod, building it if needed (go tool -n).
func RIE(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "aws-lambda-rie")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n aws-lambda-rie (the tool pinned in go.mod): %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(b)), nil
}
