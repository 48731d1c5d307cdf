package rehearse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Moto is a moto server (pip package moto, `moto_server`) on loopback:
// every AWS API the pipeline calls, in memory, at one endpoint.
type Moto struct {
	URL  string
	proc *process
}

// MotoMissing is the error when moto_server is not on PATH.
const MotoMissing = "moto_server is not installed: run scripts/rehearse.sh --tools-only (it installs moto[server]==5.2.1 with pip)"

// StartMoto starts moto_server on a free loopback port, logging to dir.
func StartMoto(ctx context.Context, dir string) (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("%s", MotoMissing)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// moto's Step Functions keeps executions RUNNING until stopped
	// (SF_EXECUTION_HISTORY_TYPE=SUCCESS, its default); said explicitly.
	cmd.Env = append(os.Environ(), "SF_EXECUTION_HISTORY_TYPE=SUCCESS")
	p, err := startProcess("moto_server", cmd, filepath.Join(dir, "moto.log"))
	if err != nil {
		return nil, err
	}
	m := &Moto{URL: "http://127.0.0.1:" + strconv.Itoa(port), proc: p}
	if err := waitHTTP(ctx, p, m.URL+"/moto-api/", 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return m, nil
}

// Stop stops the server.
func (m *Moto) Stop() { m.proc.stop() }

// SentEmail is one message moto's SES accepted.
type SentEmail struct {
	ID           string              `json:"id"`
	Source       string              `json:"source"`
	Destinations map[string][]string `json:"destinations"`
	Subject      string              `json:"subject"`
	Body         string              `json:"body"`
}

// SentEmails reads the messages SES accepted from moto's model data
// (/moto-api/data.json, ses.Message: SES v1 and v2 share that backend).
func (m *Moto) SentEmails(ctx context.Context) ([]SentEmail, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/moto-api/data.json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading moto's data: %w", err)
	}
	defer resp.Body.Close()
	var data struct {
		SES struct {
			Message []SentEmail `json:"Message"`
		} `json:"ses"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&data); err != nil {
		return nil, fmt.Errorf("decoding moto's data: %w", err)
	}
	return data.SES.Message, nil
}
