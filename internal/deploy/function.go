package deploy

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Values are what the template's references resolve to in one deployment:
// the parameters given (a parameter not given takes its Default), the
// pseudo parameters, and the Ref values of the resources that exist.
type Values struct {
	Parameters map[string]string
	Region     string // AWS::Region
	AccountID  string // AWS::AccountId
	Partition  string // AWS::Partition (default "aws")
	// Resources maps a logical id to what !Ref of it returns (a state
	// machine's ARN, a function's name, a bucket's name).
	Resources map[string]string
}

// Function is what the template gives one AWS::Serverless::Function:
// Globals.Function merged with its own Properties (its own win, and its
// Environment.Variables are added to the global ones).
type Function struct {
	ID           string
	Name         string // FunctionName, resolved ("" when the template sets none)
	MemoryMB     int
	TimeoutS     int
	Architecture string // "arm64" or "x86_64"
	Environment  map[string]string
}

// Functions returns the template's function logical ids, sorted.
func (t *Template) Functions() []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == "AWS::Serverless::Function" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Function resolves function id's memory, timeout, architecture and
// environment with vals. A reference that cannot be resolved (a parameter
// with no value and no default, an unknown resource, an intrinsic this
// resolver does not evaluate) is an error naming the variable.
func (t *Template) Function(id string, vals Values) (Function, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != "AWS::Serverless::Function" {
		return Function{}, fmt.Errorf("template has no function %s", id)
	}
	g := t.Globals("Function")
	prop := func(k string) any {
		if v, ok := r.Properties[k]; ok {
			return v
		}
		return g[k]
	}
	f := Function{ID: id, Environment: map[string]string{}}
	var err error
	if f.MemoryMB, err = t.intProp(prop("MemorySize"), vals, 128); err != nil {
		return f, fmt.Errorf("%s: MemorySize: %w", id, err)
	}
	if f.TimeoutS, err = t.intProp(prop("Timeout"), vals, 3); err != nil {
		return f, fmt.Errorf("%s: Timeout: %w", id, err)
	}
	f.Architecture = "x86_64"
	if archs, ok := prop("Architectures").([]any); ok && len(archs) == 1 {
		if s, ok := archs[0].(string); ok {
			f.Architecture = s
		}
	}
	if n := prop("FunctionName"); n != nil {
		if f.Name, err = t.Resolve(n, vals); err != nil {
			return f, fmt.Errorf("%s: FunctionName: %w", id, err)
		}
	}
	for _, src := range []map[string]any{g, r.Properties} {
		env, _ := src["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(vars)) {
			s, err := t.Resolve(vars[k], vals)
			if err != nil {
				return f, fmt.Errorf("%s: environment variable %s: %w", id, k, err)
			}
			f.Environment[k] = s
		}
	}
	return f, nil
}

func (t *Template) intProp(v any, vals Values, def int) (int, error) {
	if v == nil {
		return def, nil
	}
	s, err := t.Resolve(v, vals)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// Parameter returns a parameter's value in vals, else its Default.
func (t *Template) Parameter(name string, vals Values) (string, error) {
	if v, ok := vals.Parameters[name]; ok {
		return v, nil
	}
	p, ok := t.Parameters[name].(map[string]any)
	if !ok {
		return "", fmt.Errorf("no parameter %s", name)
	}
	d, ok := p["Default"]
	if !ok {
		return "", fmt.Errorf("parameter %s has no default and no value was given", name)
	}
	return scalar(d), nil
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// Resolve evaluates a template value to a string: scalars, Ref (parameters,
// pseudo parameters, resources in vals), Fn::Sub (string form and
// [string, variables] form), Fn::Join and Fn::GetAtt X.Arn when vals names
// "X.Arn".
func (t *Template) Resolve(v any, vals Values) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string, int, float64, bool:
		return scalar(x), nil
	case map[string]any:
		if len(x) != 1 {
			return "", fmt.Errorf("a mapping is not a value: %v", x)
		}
		for fn, arg := range x {
			switch fn {
			case "Ref":
				name, _ := arg.(string)
				return t.ref(name, vals)
			case "Fn::Sub":
				return t.sub(arg, vals)
			case "Fn::Join":
				a, _ := arg.([]any)
				if len(a) != 2 {
					return "", fmt.Errorf("Fn::Join takes [separator, list]")
				}
				sep, _ := a[0].(string)
				list, _ := a[1].([]any)
				parts := make([]string, 0, len(list))
				for _, e := range list {
					s, err := t.Resolve(e, vals)
					if err != nil {
						return "", err
					}
					parts = append(parts, s)
				}
				return strings.Join(parts, sep), nil
			case "Fn::GetAtt":
				var name string
				switch a := arg.(type) {
				case string:
					name = a
				case []any:
					if len(a) == 2 {
						name = scalar(a[0]) + "." + scalar(a[1])
					}
				}
				if s, ok := vals.Resources[name]; ok {
					return s, nil
				}
				return "", fmt.Errorf("Fn::GetAtt %s: no value for it in this deployment", name)
			}
			return "", fmt.Errorf("%s is not resolved here", fn)
		}
	}
	return "", fmt.Errorf("cannot resolve %T", v)
}

func (t *Template) ref(name string, vals Values) (string, error) {
	switch name {
	case "AWS::Region":
		return vals.Region, nil
	case "AWS::AccountId":
		return vals.AccountID, nil
	case "AWS::Partition":
		if vals.Partition == "" {
			return "aws", nil
		}
		return vals.Partition, nil
	case "AWS::NoValue":
		return "", nil
	}
	if _, ok := t.Parameters[name]; ok {
		return t.Parameter(name, vals)
	}
	if _, ok := t.Resources[name]; ok {
		if s, ok := vals.Resources[name]; ok {
			return s, nil
		}
		return "", fmt.Errorf("Ref %s: the resource has no value in this deployment", name)
	}
	return "", fmt.Errorf("Ref %s: no such parameter or resource", name)
}

func (t *Template) sub(arg any, vals Values) (string, error) {
	var s string
	local := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		if len(a) != 2 {
			return "", fmt.Errorf("Fn::Sub takes a string or [string, variables]")
		}
		s, _ = a[0].(string)
		local, _ = a[1].(map[string]any)
	default:
		return "", fmt.Errorf("Fn::Sub takes a string or [string, variables]")
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		var v string
		var err error
		if lv, ok := local[name]; ok {
			v, err = t.Resolve(lv, vals)
		} else if strings.Contains(name, ".") {
			v, err = t.Resolve(map[string]any{"Fn::GetAtt": name}, vals)
		} else {
			v, err = t.ref(name, vals)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return strings.ReplaceAll(out, "${!", "${"), firstErr
}

func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
