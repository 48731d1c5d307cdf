package statemachine

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/rand/v2"
	"strings"
)

// Intrinsic functions (States.Format and friends) as they appear in the
// values of ".$" fields of payload templates, and in a Fail state's
// ErrorPath and CausePath. Arguments are 'string' literals (\' \{ \} \\ are
// the only escapes), numbers, true/false/null, paths ($ or $$), or nested
// calls, at most 10 deep.

const maxIntrinsicDepth = 10

// intrinsicCall is a parsed invocation.
type intrinsicCall struct {
	raw  string
	name string
	def  *intrinsicDef
	args []intrinsicArg
}

type intrinsicArg struct {
	lit      any      // for literals
	isLit    bool     //
	fmtParts []string // for string literals: the text between unescaped {} placeholders
	path     *Path
	call     *intrinsicCall
}

// intrinsicError is a failed evaluation: States.IntrinsicFailure.
type intrinsicError struct {
	fn     string
	reason string
}

func (e *intrinsicError) Error() string { return e.fn + ": " + e.reason }

// evalEnv supplies randomness to States.UUID and States.MathRandom.
type evalEnv struct {
	rand func() float64
}

type intrinsicDef struct {
	min, max int // max < 0: no limit
	eval     func(env *evalEnv, c *intrinsicCall, args []any) (any, error)
}

var intrinsics map[string]*intrinsicDef

func init() {
	intrinsics = map[string]*intrinsicDef{
		"States.Format":         {1, -1, fnFormat},
		"States.StringToJson":   {1, 1, fnStringToJSON},
		"States.JsonToString":   {1, 1, fnJSONToString},
		"States.Array":          {0, -1, fnArray},
		"States.ArrayPartition": {2, 2, fnArrayPartition},
		"States.ArrayContains":  {2, 2, fnArrayContains},
		"States.ArrayRange":     {3, 3, fnArrayRange},
		"States.ArrayGetItem":   {2, 2, fnArrayGetItem},
		"States.ArrayLength":    {1, 1, fnArrayLength},
		"States.ArrayUnique":    {1, 1, fnArrayUnique},
		"States.Base64Encode":   {1, 1, fnBase64Encode},
		"States.Base64Decode":   {1, 1, fnBase64Decode},
		"States.Hash":           {2, 2, fnHash},
		"States.JsonMerge":      {3, 3, fnJSONMerge},
		"States.MathRandom":     {2, 3, fnMathRandom},
		"States.MathAdd":        {2, 2, fnMathAdd},
		"States.StringSplit":    {2, 2, fnStringSplit},
		"States.UUID":           {0, 0, fnUUID},
	}
}

// looksIntrinsic tells a ".$" value that is a function call from a path.
func looksIntrinsic(s string) bool {
	return strings.HasPrefix(strings.TrimSpace(s), "States.")
}

// parseIntrinsic parses a whole intrinsic invocation.
func parseIntrinsic(s string) (*intrinsicCall, error) {
	p := &intrinsicParser{s: s}
	p.i = skipSpaces(s, 0)
	c, err := p.call(1)
	if err != nil {
		return nil, fmt.Errorf("intrinsic %q: %w", s, err)
	}
	if j := skipSpaces(s, p.i); j != len(s) {
		return nil, fmt.Errorf("intrinsic %q: unexpected %q after the call", s, s[j:])
	}
	return c, nil
}

type intrinsicParser struct {
	s string
	i int
}

func (p *intrinsicParser) call(depth int) (*intrinsicCall, error) {
	if depth > maxIntrinsicDepth {
		return nil, fmt.Errorf("more than %d nested intrinsic functions", maxIntrinsicDepth)
	}
	start := p.i
	open := strings.IndexByte(p.s[p.i:], '(')
	if open < 0 {
		return nil, fmt.Errorf("expected ( after the function name")
	}
	name := strings.TrimSpace(p.s[p.i : p.i+open])
	def, ok := intrinsics[name]
	if !ok {
		return nil, fmt.Errorf("unknown intrinsic function %q", name)
	}
	p.i += open + 1
	c := &intrinsicCall{name: name, def: def}
	p.i = skipSpaces(p.s, p.i)
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
	} else {
		for {
			a, err := p.arg(depth)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.i = skipSpaces(p.s, p.i)
			if p.i >= len(p.s) {
				return nil, fmt.Errorf("%s: missing )", name)
			}
			if p.s[p.i] == ',' {
				p.i = skipSpaces(p.s, p.i+1)
				continue
			}
			if p.s[p.i] == ')' {
				p.i++
				break
			}
			return nil, fmt.Errorf("%s: expected , or ) at offset %d", name, p.i)
		}
	}
	c.raw = p.s[start:p.i]
	if len(c.args) < def.min || (def.max >= 0 && len(c.args) > def.max) {
		return nil, fmt.Errorf("%s takes %s, got %d", name, arity(def), len(c.args))
	}
	if name == "States.Format" && c.args[0].isLit {
		if _, ok := c.args[0].lit.(string); !ok {
			return nil, fmt.Errorf("States.Format: the first argument must be a string")
		}
		if n := len(c.args[0].fmtParts) - 1; n != len(c.args)-1 {
			return nil, fmt.Errorf("States.Format: the template has %d {} placeholders but %d values follow", n, len(c.args)-1)
		}
	}
	return c, nil
}

func arity(d *intrinsicDef) string {
	switch {
	case d.max < 0:
		return fmt.Sprintf("at least %d arguments", d.min)
	case d.min == d.max:
		return fmt.Sprintf("%d arguments", d.min)
	}
	return fmt.Sprintf("%d to %d arguments", d.min, d.max)
}

func (p *intrinsicParser) arg(depth int) (intrinsicArg, error) {
	if p.i >= len(p.s) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	rest := p.s[p.i:]
	switch c := rest[0]; {
	case c == '\'':
		return p.stringLit()
	case c == '$':
		path, n, err := parsePathPrefix(rest, true)
		if err != nil {
			return intrinsicArg{}, err
		}
		p.i += n
		return intrinsicArg{path: path}, nil
	case strings.HasPrefix(rest, "States."):
		call, err := p.call(depth + 1)
		if err != nil {
			return intrinsicArg{}, err
		}
		return intrinsicArg{call: call}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := 1
		for j < len(rest) && strings.IndexByte("0123456789.eE+-", rest[j]) >= 0 {
			j++
		}
		if !validNumber(rest[:j]) {
			return intrinsicArg{}, fmt.Errorf("bad number %q", rest[:j])
		}
		p.i += j
		return intrinsicArg{isLit: true, lit: json.Number(rest[:j])}, nil
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(rest, w.word) {
			p.i += len(w.word)
			return intrinsicArg{isLit: true, lit: w.v}, nil
		}
	}
	return intrinsicArg{}, fmt.Errorf("unexpected %q at offset %d", rest[:1], p.i)
}

// stringLit reads a '...' literal: \' \{ \} \\ escape; any other backslash
// is an error (the spec's "open escape"). An unescaped {} is a placeholder
// for States.Format.
func (p *intrinsicParser) stringLit() (intrinsicArg, error) {
	var b strings.Builder
	var parts []string
	for j := p.i + 1; j < len(p.s); j++ {
		switch c := p.s[j]; c {
		case '\\':
			if j+1 >= len(p.s) || strings.IndexByte(`'{}\`, p.s[j+1]) < 0 {
				return intrinsicArg{}, fmt.Errorf("open escape \\ at offset %d: only \\' \\{ \\} and \\\\ are escapes", j)
			}
			j++
			b.WriteByte(p.s[j])
		case '{':
			if j+1 < len(p.s) && p.s[j+1] == '}' {
				parts = append(parts, b.String())
				b.Reset()
				j++
				continue
			}
			b.WriteByte(c)
		case '\'':
			parts = append(parts, b.String())
			p.i = j + 1
			return intrinsicArg{isLit: true, lit: strings.Join(parts, "{}"), fmtParts: parts}, nil
		default:
			b.WriteByte(c)
		}
	}
	return intrinsicArg{}, fmt.Errorf("unclosed string literal at offset %d", p.i)
}

// paths lists every path the call reads, for validation.
func (c *intrinsicCall) paths() []*Path {
	var out []*Path
	for _, a := range c.args {
		if a.path != nil {
			out = append(out, a.path)
		}
		if a.call != nil {
			out = append(out, a.call.paths()...)
		}
	}
	return out
}

// eval runs the call. Paths that find nothing are *pathNotFoundError;
// anything else that goes wrong is *intrinsicError.
func (c *intrinsicCall) eval(env *evalEnv, data, ctx any) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		switch {
		case a.isLit:
			args[i] = a.lit
		case a.path != nil:
			v, err := a.path.eval(data, ctx)
			if err != nil {
				return nil, err
			}
			args[i] = v
		default:
			v, err := a.call.eval(env, data, ctx)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
	}
	return c.def.eval(env, c, args)
}

func (c *intrinsicCall) fail(format string, a ...any) error {
	return &intrinsicError{fn: c.name, reason: fmt.Sprintf(format, a...)}
}

func (c *intrinsicCall) wantString(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", c.fail("argument %d must be a string, got %s", i+1, typeName(args[i]))
	}
	return s, nil
}

func (c *intrinsicCall) wantArray(args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, c.fail("argument %d must be an array, got %s", i+1, typeName(args[i]))
	}
	return a, nil
}

func (c *intrinsicCall) wantInt(args []any, i int) (int64, error) {
	n, ok := toInt(args[i])
	if !ok {
		return 0, c.fail("argument %d must be an integer, got %s", i+1, short(args[i]))
	}
	return n, nil
}

func fnFormat(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	var parts []string
	if c.args[0].isLit {
		parts = c.args[0].fmtParts
	} else {
		tmpl, err := c.wantString(args, 0)
		if err != nil {
			return nil, err
		}
		parts = strings.Split(tmpl, "{}")
	}
	if len(parts)-1 != len(args)-1 {
		return nil, c.fail("the template has %d {} placeholders but %d values follow", len(parts)-1, len(args)-1)
	}
	var b strings.Builder
	b.WriteString(parts[0])
	for i, v := range args[1:] {
		switch t := v.(type) {
		case string:
			b.WriteString(t)
		case json.Number:
			b.WriteString(string(t))
		case bool, nil:
			b.WriteString(string(mustJSON(t)))
		default:
			return nil, c.fail("argument %d must be a string, number, boolean or null, got %s", i+2, typeName(v))
		}
		b.WriteString(parts[i+1])
	}
	return b.String(), nil
}

func fnStringToJSON(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	s, err := c.wantString(args, 0)
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON([]byte(s), false)
	if err != nil {
		return nil, c.fail("the string is not JSON: %v", err)
	}
	return v, nil
}

func fnJSONToString(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	b, err := encodeJSON(args[0])
	if err != nil {
		return nil, c.fail("%v", err)
	}
	return string(b), nil
}

func fnArray(_ *evalEnv, _ *intrinsicCall, args []any) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func fnArrayPartition(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, err := c.wantArray(args, 0)
	if err != nil {
		return nil, err
	}
	size, err := c.wantInt(args, 1)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, c.fail("the chunk size must be positive, got %d", size)
	}
	out := []any{}
	for i := 0; i < len(a); i += int(size) {
		end := min(i+int(size), len(a))
		chunk := make([]any, end-i)
		copy(chunk, a[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func fnArrayContains(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, err := c.wantArray(args, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range a {
		if jsonEqual(e, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

const maxArrayRange = 1000

func fnArrayRange(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	start, err := c.wantInt(args, 0)
	if err != nil {
		return nil, err
	}
	end, err := c.wantInt(args, 1)
	if err != nil {
		return nil, err
	}
	step, err := c.wantInt(args, 2)
	if err != nil {
		return nil, err
	}
	if step == 0 {
		return nil, c.fail("the step must not be 0")
	}
	out := []any{}
	for v := start; (step > 0 && v <= end) || (step < 0 && v >= end); v += step {
		if len(out) == maxArrayRange {
			return nil, c.fail("the range has more than %d items", maxArrayRange)
		}
		out = append(out, intNumber(v))
	}
	return out, nil
}

func fnArrayGetItem(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, err := c.wantArray(args, 0)
	if err != nil {
		return nil, err
	}
	i, err := c.wantInt(args, 1)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, c.fail("index %d is out of range (length %d)", i, len(a))
	}
	return a[i], nil
}

func fnArrayLength(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, err := c.wantArray(args, 0)
	if err != nil {
		return nil, err
	}
	return intNumber(int64(len(a))), nil
}

func fnArrayUnique(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, err := c.wantArray(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
next:
	for _, e := range a {
		for _, seen := range out {
			if jsonEqual(e, seen) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out, nil
}

const maxEncodedLength = 10000

func fnBase64Encode(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	s, err := c.wantString(args, 0)
	if err != nil {
		return nil, err
	}
	if len(s) > maxEncodedLength {
		return nil, c.fail("the string is longer than %d characters", maxEncodedLength)
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	s, err := c.wantString(args, 0)
	if err != nil {
		return nil, err
	}
	if len(s) > maxEncodedLength {
		return nil, c.fail("the string is longer than %d characters", maxEncodedLength)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, c.fail("not Base64: %v", err)
	}
	return string(b), nil
}

func fnHash(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	s, err := c.wantString(args, 0)
	if err != nil {
		return nil, err
	}
	alg, err := c.wantString(args, 1)
	if err != nil {
		return nil, err
	}
	if len(s) > maxEncodedLength {
		return nil, c.fail("the string is longer than %d characters", maxEncodedLength)
	}
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, c.fail("unsupported algorithm %q (MD5, SHA-1, SHA-256, SHA-384, SHA-512)", alg)
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnJSONMerge(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	a, ok1 := args[0].(*object)
	b, ok2 := args[1].(*object)
	if !ok1 || !ok2 {
		return nil, c.fail("the first two arguments must be objects, got %s and %s", typeName(args[0]), typeName(args[1]))
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, c.fail("the third argument must be a boolean, got %s", typeName(args[2]))
	}
	if deep {
		return nil, c.fail("deep merge is not supported (Step Functions supports only false)")
	}
	out := a.clone()
	for _, k := range b.keys {
		out.set(k, b.vals[k])
	}
	return out, nil
}

func fnMathRandom(env *evalEnv, c *intrinsicCall, args []any) (any, error) {
	lo, err := c.wantInt(args, 0)
	if err != nil {
		return nil, err
	}
	hi, err := c.wantInt(args, 1)
	if err != nil {
		return nil, err
	}
	if hi <= lo {
		return nil, c.fail("the end (%d) must be greater than the start (%d)", hi, lo)
	}
	f := env.rand
	if len(args) == 3 {
		seed, err := c.wantInt(args, 2)
		if err != nil {
			return nil, err
		}
		f = rand.New(rand.NewPCG(uint64(seed), 0)).Float64
	}
	return intNumber(lo + int64(f()*float64(hi-lo))), nil
}

func fnMathAdd(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	for i := range args {
		if _, ok := args[i].(json.Number); !ok {
			return nil, c.fail("argument %d must be a number, got %s", i+1, typeName(args[i]))
		}
	}
	a, ok1 := toInt(args[0])
	b, ok2 := toInt(args[1])
	if ok1 && ok2 {
		return intNumber(a + b), nil
	}
	x, _ := toFloat(args[0])
	y, _ := toFloat(args[1])
	return floatNumber(x + y), nil
}

// fnStringSplit splits at every character of the delimiter argument and
// drops empty pieces: "This.is+a,test=string" split by ".+,=" gives five
// words, as in the Step Functions documentation.
func fnStringSplit(_ *evalEnv, c *intrinsicCall, args []any) (any, error) {
	s, err := c.wantString(args, 0)
	if err != nil {
		return nil, err
	}
	delims, err := c.wantString(args, 1)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(delims, r) }) {
		out = append(out, f)
	}
	return out, nil
}

func fnUUID(env *evalEnv, _ *intrinsicCall, _ []any) (any, error) {
	var b [16]byte
	for i := range b {
		b[i] = byte(env.rand() * 256)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
