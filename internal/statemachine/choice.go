package statemachine

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Choice rules: boolean combinations (And, Or, Not) of data-test
// expressions on a Variable. A comparison whose Variable holds a value of
// the wrong type is false, not an error; a Variable (or a *Path operand)
// that finds nothing is a States.Runtime error, except for IsPresent.

type choiceRule struct {
	next string

	and, or []*choiceRule
	not     *choiceRule

	variable  *Path
	op        string
	value     any        // the literal operand
	valuePath *Path      // the operand of the *Path comparators
	ts        time.Time  // a Timestamp* literal, parsed
	pattern   []globPart // StringMatches
}

type opKind int

const (
	opString opKind = iota
	opNumeric
	opBoolean
	opTimestamp
	opTypeTest
	opMatches
)

var choiceOps = map[string]opKind{
	"StringEquals": opString, "StringLessThan": opString, "StringGreaterThan": opString,
	"StringLessThanEquals": opString, "StringGreaterThanEquals": opString,
	"StringMatches": opMatches,
	"NumericEquals": opNumeric, "NumericLessThan": opNumeric, "NumericGreaterThan": opNumeric,
	"NumericLessThanEquals": opNumeric, "NumericGreaterThanEquals": opNumeric,
	"BooleanEquals":   opBoolean,
	"TimestampEquals": opTimestamp, "TimestampLessThan": opTimestamp, "TimestampGreaterThan": opTimestamp,
	"TimestampLessThanEquals": opTimestamp, "TimestampGreaterThanEquals": opTimestamp,
	"IsNull": opTypeTest, "IsPresent": opTypeTest, "IsNumeric": opTypeTest,
	"IsString": opTypeTest, "IsBoolean": opTypeTest, "IsTimestamp": opTypeTest,
}

// compileChoiceRule compiles one rule; top is true for the members of
// Choices, which need Next.
func compileChoiceRule(v any, top bool) (*choiceRule, error) {
	o, ok := v.(*object)
	if !ok {
		return nil, fmt.Errorf("a choice rule must be an object, got %s", typeName(v))
	}
	r := &choiceRule{}
	var ops []string
	for _, k := range o.keys {
		val := o.vals[k]
		switch k {
		case "Comment":
		case "Next":
			if !top {
				return nil, fmt.Errorf("Next is allowed only on the top-level rules of Choices")
			}
			s, ok := val.(string)
			if !ok || s == "" {
				return nil, fmt.Errorf("Next must be a state name")
			}
			r.next = s
		case "Variable":
			s, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("Variable must be a path string")
			}
			p, err := ParsePath(s)
			if err != nil {
				return nil, fmt.Errorf("Variable: %w", err)
			}
			r.variable = p
		case "And", "Or":
			arr, ok := val.([]any)
			if !ok || len(arr) == 0 {
				return nil, fmt.Errorf("%s must be a non-empty array of rules", k)
			}
			for i, e := range arr {
				sub, err := compileChoiceRule(e, false)
				if err != nil {
					return nil, fmt.Errorf("%s[%d]: %w", k, i, err)
				}
				if k == "And" {
					r.and = append(r.and, sub)
				} else {
					r.or = append(r.or, sub)
				}
			}
			ops = append(ops, k)
		case "Not":
			sub, err := compileChoiceRule(val, false)
			if err != nil {
				return nil, fmt.Errorf("Not: %w", err)
			}
			r.not = sub
			ops = append(ops, k)
		default:
			base := strings.TrimSuffix(k, "Path")
			kind, known := choiceOps[k]
			isPath := false
			if !known {
				var ok bool
				kind, ok = choiceOps[base]
				if !ok || kind == opTypeTest || kind == opMatches {
					return nil, fmt.Errorf("unknown field %q", k)
				}
				isPath = true
			}
			ops = append(ops, k)
			r.op = k
			if isPath {
				s, ok := val.(string)
				if !ok {
					return nil, fmt.Errorf("%s must be a path string", k)
				}
				p, err := parseReferencePath(s)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", k, err)
				}
				r.valuePath = p
				continue
			}
			if err := r.setOperand(k, kind, val); err != nil {
				return nil, err
			}
		}
	}
	if len(ops) != 1 {
		if len(ops) == 0 {
			return nil, fmt.Errorf("the rule has no comparison (or And, Or, Not)")
		}
		return nil, fmt.Errorf("the rule has more than one comparison: %s", strings.Join(ops, ", "))
	}
	if r.op != "" && r.variable == nil {
		return nil, fmt.Errorf("%s needs a Variable", r.op)
	}
	if r.op == "" && r.variable != nil {
		return nil, fmt.Errorf("Variable is not allowed beside %s", ops[0])
	}
	if top && r.next == "" {
		return nil, fmt.Errorf("a rule of Choices needs Next")
	}
	return r, nil
}

func (r *choiceRule) setOperand(k string, kind opKind, val any) error {
	switch kind {
	case opString, opMatches:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("%s needs a string, got %s", k, typeName(val))
		}
		r.value = s
		if kind == opMatches {
			pat, err := compileGlob(s)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			r.pattern = pat
		}
	case opNumeric:
		if _, ok := val.(json.Number); !ok {
			return fmt.Errorf("%s needs a number, got %s", k, typeName(val))
		}
		r.value = val
	case opBoolean, opTypeTest:
		if _, ok := val.(bool); !ok {
			return fmt.Errorf("%s needs true or false, got %s", k, typeName(val))
		}
		r.value = val
	case opTimestamp:
		s, ok := val.(string)
		if !ok {
			return fmt.Errorf("%s needs a timestamp string, got %s", k, typeName(val))
		}
		t, ok := parseTimestamp(s)
		if !ok {
			return fmt.Errorf("%s: %q is not an RFC 3339 timestamp such as 2016-03-14T01:59:00Z", k, s)
		}
		r.value = s
		r.ts = t
	}
	return nil
}

// parseTimestamp accepts the spec's profile of RFC 3339: an uppercase T
// and an uppercase Z (or a numeric offset).
func parseTimestamp(s string) (time.Time, bool) {
	if strings.ContainsAny(s, "tz") {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// choiceRuntimeError is a Variable or operand path that found nothing.
type choiceRuntimeError struct{ err error }

func (e *choiceRuntimeError) Error() string { return e.err.Error() }

func (r *choiceRule) eval(data, ctx any) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.eval(data, ctx)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.eval(data, ctx)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(data, ctx)
		return !ok, err
	}
	v, err := r.variable.eval(data, ctx)
	if r.op == "IsPresent" {
		return (err == nil) == r.value.(bool), nil
	}
	if err != nil {
		return false, &choiceRuntimeError{fmt.Errorf("Variable %q: %w", r.variable.raw, err)}
	}
	want := r.value
	ts := r.ts
	op := r.op
	if r.valuePath != nil {
		op = strings.TrimSuffix(op, "Path")
		want, err = r.valuePath.eval(data, ctx)
		if err != nil {
			return false, &choiceRuntimeError{fmt.Errorf("%s %q: %w", r.op, r.valuePath.raw, err)}
		}
		if choiceOps[op] == opTimestamp {
			s, ok := want.(string)
			if !ok {
				return false, nil
			}
			if ts, ok = parseTimestamp(s); !ok {
				return false, nil
			}
		}
	}
	switch op {
	case "IsNull":
		return (v == nil) == want.(bool), nil
	case "IsNumeric":
		_, ok := v.(json.Number)
		return ok == want.(bool), nil
	case "IsString":
		_, ok := v.(string)
		return ok == want.(bool), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == want.(bool), nil
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, ok = parseTimestamp(s)
		}
		return ok == want.(bool), nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && matchGlob(r.pattern, s), nil
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := want.(bool)
		return ok1 && ok2 && a == b, nil
	}
	var c int
	switch choiceOps[op] {
	case opString:
		a, ok1 := v.(string)
		b, ok2 := want.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		c = strings.Compare(a, b)
	case opNumeric:
		a, ok1 := toFloat(v)
		b, ok2 := toFloat(want)
		if !ok1 || !ok2 {
			return false, nil
		}
		c = cmpFloat(a, b)
	case opTimestamp:
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		t, ok := parseTimestamp(s)
		if !ok {
			return false, nil
		}
		c = t.Compare(ts)
	}
	switch {
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0, nil
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0, nil
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0, nil
	case strings.HasSuffix(op, "LessThan"):
		return c < 0, nil
	}
	return c == 0, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// globPart is a literal run or, when star is set, a * wildcard.
type globPart struct {
	lit  string
	star bool
}

// compileGlob reads a StringMatches pattern: * matches any run of
// characters, \* is a literal star and \\ a literal backslash.
func compileGlob(s string) ([]globPart, error) {
	var parts []globPart
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, globPart{lit: b.String()})
			b.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '*' && s[i+1] != '\\') {
				return nil, fmt.Errorf("pattern %q: a backslash must escape * or \\", s)
			}
			i++
			b.WriteByte(s[i])
		case '*':
			flush()
			parts = append(parts, globPart{star: true})
		default:
			b.WriteByte(s[i])
		}
	}
	flush()
	return parts, nil
}

func matchGlob(parts []globPart, s string) bool {
	if len(parts) == 0 {
		return s == ""
	}
	p := parts[0]
	if !p.star {
		return strings.HasPrefix(s, p.lit) && matchGlob(parts[1:], s[len(p.lit):])
	}
	rest := parts[1:]
	if len(rest) == 0 {
		return true
	}
	for i := 0; i <= len(s); i++ {
		if matchGlob(rest, s[i:]) {
			return true
		}
	}
	return false
}
