// Package settings loads and validates the pipeline's three configuration
// files: monitoring_config.json, scraping_ethics.json and
// brand_priorities.json. Defaults are embedded (see the top-level config
// package); a file in the override location (a directory, or an S3 prefix
// in AWS) replaces its default whole. Validation reports every problem at
// once, each with the file, a JSON path, the rule and a severity: errors
// refuse the configuration, warnings are reported.
package settings

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/scentmatch/pipeline/config"
)

// EnvConfigDir names the override location when no flag gives one.
const EnvConfigDir = "SCENTMATCH_CONFIG_DIR"

// Overrides supplies configuration files that replace the defaults.
type Overrides interface {
	// Read returns the named file and where it came from, or an error
	// matching fs.ErrNotExist when the override has no such file.
	Read(ctx context.Context, name string) (data []byte, location string, err error)
	// Extra lists files present in the override that are not configuration
	// files (likely typos), for a warning.
	Extra(ctx context.Context) ([]string, error)
	// String describes the location.
	String() string
}

// Dir is an override directory.
type Dir string

// Read implements Overrides.
func (d Dir) Read(_ context.Context, name string) ([]byte, string, error) {
	path := filepath.Join(string(d), name)
	data, err := os.ReadFile(path)
	return data, path, err
}

// Extra implements Overrides.
func (d Dir) Extra(context.Context) ([]string, error) {
	entries, err := os.ReadDir(string(d))
	if err != nil {
		return nil, fmt.Errorf("reading configuration directory %s: %w", string(d), err)
	}
	var extra []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") || isConfigFile(e.Name()) {
			continue
		}
		extra = append(extra, filepath.Join(string(d), e.Name()))
	}
	return extra, nil
}

func (d Dir) String() string { return string(d) }

func isConfigFile(name string) bool {
	for _, f := range Files {
		if f == name {
			return true
		}
	}
	return false
}

// Load reads the configuration (defaults, replaced by the files ov holds; ov
// may be nil) and validates it. With any error-level problem it returns
// *InvalidError listing them all; warnings are in Config.Problems.
func Load(ctx context.Context, ov Overrides) (*Config, error) {
	cfg, problems, err := Check(ctx, ov)
	if err != nil {
		return nil, err
	}
	if len(problems.Errors()) > 0 {
		return nil, &InvalidError{Problems: problems}
	}
	return cfg, nil
}

// Check reads and validates the configuration and returns every problem.
// The returned Config is usable only when no problem is an error. The error
// is for an override location that cannot be read at all.
func Check(ctx context.Context, ov Overrides) (*Config, Problems, error) {
	cfg := &Config{Origins: map[string]string{}}
	var problems Problems
	if ov != nil {
		extra, err := ov.Extra(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, name := range extra {
			problems = append(problems, Problem{Severity: SeverityWarning, File: name, Path: "$", Rule: "known-file",
				Message: fmt.Sprintf("not a configuration file, ignored (expected one of %s)", strings.Join(Files, ", "))})
		}
	}
	targets := map[string]any{MonitoringFile: &cfg.Monitoring, EthicsFile: &cfg.Sources, BrandsFile: &cfg.Brands}
	for _, name := range Files {
		data, origin, err := read(ctx, ov, name)
		if err != nil {
			return nil, nil, err
		}
		cfg.Origins[name] = origin
		label := name
		if origin != "default" {
			label = origin
		}
		fileProblems := validateFile(name, label, data, targets[name])
		problems = append(problems, fileProblems...)
		if len(fileProblems.Errors()) == 0 {
			problems = append(problems, semanticChecks(name, label, cfg)...)
		}
	}
	if len(problems.Errors()) == 0 {
		problems = append(problems, crossChecks(cfg)...)
	}
	problems = problems.sorted()
	cfg.Problems = problems.Warnings()
	return cfg, problems, nil
}

func read(ctx context.Context, ov Overrides, name string) ([]byte, string, error) {
	if ov != nil {
		data, origin, err := ov.Read(ctx, name)
		if err == nil {
			return data, origin, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("reading %s from %s: %w", name, ov, err)
		}
	}
	data, err := config.Files.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("reading embedded default %s: %w", name, err)
	}
	return data, "default", nil
}

// Default returns the embedded default configuration.
func Default() *Config {
	cfg, err := Load(context.Background(), nil)
	if err != nil {
		panic(fmt.Sprintf("embedded default configuration is invalid: %v", err))
	}
	return cfg
}

var (
	schemasOnce sync.Once
	schemas     map[string]*jsonschema.Schema
	schemasErr  error
)

func schemaFor(name string) (*jsonschema.Schema, error) {
	schemasOnce.Do(func() {
		schemas = map[string]*jsonschema.Schema{}
		c := jsonschema.NewCompiler()
		for _, f := range Files {
			path := "schema/" + strings.TrimSuffix(f, ".json") + ".schema.json"
			data, err := config.Files.ReadFile(path)
			if err != nil {
				schemasErr = fmt.Errorf("reading embedded schema %s: %w", path, err)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				schemasErr = fmt.Errorf("parsing embedded schema %s: %w", path, err)
				return
			}
			if err := c.AddResource(path, doc); err != nil {
				schemasErr = fmt.Errorf("adding schema %s: %w", path, err)
				return
			}
		}
		for _, f := range Files {
			path := "schema/" + strings.TrimSuffix(f, ".json") + ".schema.json"
			s, err := c.Compile(path)
			if err != nil {
				schemasErr = fmt.Errorf("compiling schema %s: %w", path, err)
				return
			}
			schemas[f] = s
		}
	})
	if schemasErr != nil {
		return nil, schemasErr
	}
	return schemas[name], nil
}

var printer = message.NewPrinter(language.English)

// validateFile parses data, checks it against the file's JSON Schema and,
// when that passes, decodes it into target.
func validateFile(name, label string, data []byte, target any) Problems {
	errProblem := func(path, rule, msg string) Problems {
		return Problems{{Severity: SeverityError, File: label, Path: path, Rule: rule, Message: msg}}
	}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return errProblem("$", "json-syntax", syntaxMessage(data, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errProblem("$", "json-syntax", "unexpected data after the top-level value")
	}
	sch, err := schemaFor(name)
	if err != nil {
		return errProblem("$", "schema", err.Error())
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return errProblem("$", "json-syntax", err.Error())
	}
	if err := sch.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return errProblem("$", "schema", err.Error())
		}
		var out Problems
		collect(ve, label, &out)
		return dedupe(out)
	}
	if err := json.Unmarshal(data, target); err != nil {
		return errProblem("$", "type", err.Error())
	}
	return nil
}

// collect flattens the validation error tree into one problem per leaf.
func collect(ve *jsonschema.ValidationError, file string, out *Problems) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collect(c, file, out)
		}
		return
	}
	path := jsonPath(ve.InstanceLocation)
	add := func(path, rule, msg string) {
		*out = append(*out, Problem{Severity: SeverityError, File: file, Path: path, Rule: rule, Message: msg})
	}
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(jsonPath(append(append([]string(nil), ve.InstanceLocation...), p)), "unknown-key", fmt.Sprintf("unknown key %q", p))
		}
	case *kind.Required:
		for _, p := range k.Missing {
			add(jsonPath(append(append([]string(nil), ve.InstanceLocation...), p)), "required", "required key is missing")
		}
	default:
		rule := "schema"
		if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
			rule = kp[len(kp)-1]
		}
		add(path, rule, ve.ErrorKind.LocalizedString(printer))
	}
}

func dedupe(ps Problems) Problems {
	seen := map[string]bool{}
	var out Problems
	for _, p := range ps {
		key := p.Path + "\x00" + p.Rule + "\x00" + p.Message
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out
}

// jsonPath renders an instance location as $.a.b[0]["odd key"].
func jsonPath(tokens []string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, t := range tokens {
		if _, err := strconv.Atoi(t); err == nil {
			b.WriteString("[" + t + "]")
			continue
		}
		if isIdent(t) {
			b.WriteString("." + t)
			continue
		}
		b.WriteString("[" + strconv.Quote(t) + "]")
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// syntaxMessage turns a JSON decoding error into "line L, column C: ...".
func syntaxMessage(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var offset int64 = -1
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.As(err, &te):
		offset = te.Offset
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the file is empty or ends in the middle of a value"
	}
	if offset < 0 {
		return err.Error()
	}
	line, col := 1, 1
	for i := int64(0); i < offset-1 && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}
