package statemachine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Paths, as the Amazon States Language defines them: JsonPath expressions
// that start with "$" (the state's data) or "$$" (the context object).
// Supported syntax: .name, ['name'] and ["name"], [n] (negative counts from
// the end), [*] and .*, [a:b] and [a:b:c] slices, ['a','b'] and [1,2]
// unions, ..name / ..* / ..[n] deep scans, and [?(...)] filters with @ and $
// operands, literals, == != < <= > >=, &&, || and !. Path functions such as
// length() are refused.
//
// A definite path (only names and single indexes) selects at most one node;
// when the node is missing the path fails. Any other path is indefinite and
// always yields an array of the nodes it matched, possibly empty: the
// behaviour of the Jayway JsonPath library Step Functions runs on.

// Path is a parsed JsonPath expression.
type Path struct {
	raw      string
	context  bool // starts with $$
	segs     []pathSeg
	definite bool
}

type segKind int

const (
	segChild    segKind = iota // .name, ['name']
	segIndex                   // [n]
	segWildcard                // .*, [*]
	segSlice                   // [a:b:c]
	segNames                   // ['a','b']
	segIndexes                 // [1,2]
	segFilter                  // [?(...)]
)

type pathSeg struct {
	kind    segKind
	deep    bool // reached through ..
	name    string
	names   []string
	index   int
	indexes []int
	slice   [3]*int
	filter  filterExpr
}

// String returns the path as written.
func (p *Path) String() string { return p.raw }

// isReference reports whether p is a Reference Path: definite, names and
// indexes only.
func (p *Path) isReference() bool {
	if !p.definite {
		return false
	}
	for _, s := range p.segs {
		if s.kind != segChild && s.kind != segIndex {
			return false
		}
	}
	return true
}

// ParsePath parses a JsonPath expression as used in InputPath, OutputPath,
// ItemsPath and the ".$" fields of payload templates.
func ParsePath(s string) (*Path, error) {
	p, n, err := parsePathPrefix(s, false)
	if err != nil {
		return nil, err
	}
	if n != len(s) {
		return nil, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[n:], n)
	}
	return p, nil
}

// parseReferencePath parses a path that must select a single node.
func parseReferencePath(s string) (*Path, error) {
	p, err := ParsePath(s)
	if err != nil {
		return nil, err
	}
	if !p.isReference() {
		return nil, fmt.Errorf("path %q: a reference path may use only .name, ['name'] and [index]", s)
	}
	return p, nil
}

// parsePathPrefix parses the path at the start of s. Embedded paths
// (inside intrinsic function arguments and filter expressions) end at
// whitespace, ',', ')' or an operator; top-level paths end only at the end
// of s. It returns the number of bytes consumed.
func parsePathPrefix(s string, embedded bool) (*Path, int, error) {
	p := &Path{definite: true}
	i := 0
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context = true
		i = 2
	case strings.HasPrefix(s, "$"):
		i = 1
	default:
		return nil, 0, fmt.Errorf("path %q must start with $ or $$", s)
	}
	for i < len(s) {
		c := s[i]
		deep := false
		switch {
		case strings.HasPrefix(s[i:], ".."):
			deep = true
			i += 2
			if i < len(s) && s[i] == '[' {
				seg, n, err := parseBracket(s, i)
				if err != nil {
					return nil, 0, err
				}
				seg.deep = true
				p.segs = append(p.segs, seg)
				p.definite = false
				i = n
				continue
			}
		case c == '.':
			i++
		case c == '[':
			seg, n, err := parseBracket(s, i)
			if err != nil {
				return nil, 0, err
			}
			p.segs = append(p.segs, seg)
			if seg.kind != segChild && seg.kind != segIndex {
				p.definite = false
			}
			i = n
			continue
		default:
			if embedded && endsEmbedded(c) {
				p.raw = s[:i]
				return p, i, nil
			}
			return nil, 0, fmt.Errorf("path %q: unexpected %q at offset %d", s, string(c), i)
		}
		// A name or * after . or ..
		if i < len(s) && s[i] == '*' {
			p.segs = append(p.segs, pathSeg{kind: segWildcard, deep: deep})
			p.definite = false
			i++
			continue
		}
		start := i
		for i < len(s) && s[i] != '.' && s[i] != '[' && !(embedded && endsEmbedded(s[i])) {
			if s[i] == '(' || s[i] == ')' {
				return nil, 0, fmt.Errorf("path %q: path functions (such as length()) are not supported", s)
			}
			if s[i] == ' ' || s[i] == '\t' || s[i] == '\n' {
				return nil, 0, fmt.Errorf("path %q: unexpected whitespace at offset %d; use ['name with spaces']", s, i)
			}
			i++
		}
		if i == start {
			return nil, 0, fmt.Errorf("path %q: missing field name at offset %d", s, start)
		}
		p.segs = append(p.segs, pathSeg{kind: segChild, deep: deep, name: s[start:i]})
		if deep {
			p.definite = false
		}
	}
	p.raw = s[:i]
	return p, i, nil
}

func endsEmbedded(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ')', '=', '!', '<', '>', '&', '|':
		return true
	}
	return false
}

// parseBracket parses the [...] selector starting at s[i] == '['.
func parseBracket(s string, i int) (pathSeg, int, error) {
	i++ // [
	i = skipSpaces(s, i)
	if i >= len(s) {
		return pathSeg{}, 0, fmt.Errorf("path %q: unclosed [", s)
	}
	switch {
	case s[i] == '*':
		i = skipSpaces(s, i+1)
		if i >= len(s) || s[i] != ']' {
			return pathSeg{}, 0, fmt.Errorf("path %q: expected ] after [*", s)
		}
		return pathSeg{kind: segWildcard}, i + 1, nil
	case s[i] == '?':
		i++
		if i >= len(s) || s[i] != '(' {
			return pathSeg{}, 0, fmt.Errorf("path %q: a filter must read [?(...)]", s)
		}
		fp := &filterParser{s: s, i: i + 1}
		expr, err := fp.parseOr()
		if err != nil {
			return pathSeg{}, 0, fmt.Errorf("path %q: filter: %w", s, err)
		}
		j := skipSpaces(s, fp.i)
		if j >= len(s) || s[j] != ')' {
			return pathSeg{}, 0, fmt.Errorf("path %q: filter: expected ) at offset %d", s, j)
		}
		j = skipSpaces(s, j+1)
		if j >= len(s) || s[j] != ']' {
			return pathSeg{}, 0, fmt.Errorf("path %q: filter: expected ] at offset %d", s, j)
		}
		return pathSeg{kind: segFilter, filter: expr}, j + 1, nil
	case s[i] == '\'' || s[i] == '"':
		var names []string
		for {
			name, n, err := parseQuoted(s, i)
			if err != nil {
				return pathSeg{}, 0, err
			}
			names = append(names, name)
			i = skipSpaces(s, n)
			if i < len(s) && s[i] == ',' {
				i = skipSpaces(s, i+1)
				continue
			}
			break
		}
		if i >= len(s) || s[i] != ']' {
			return pathSeg{}, 0, fmt.Errorf("path %q: expected ] at offset %d", s, i)
		}
		if len(names) == 1 {
			return pathSeg{kind: segChild, name: names[0]}, i + 1, nil
		}
		return pathSeg{kind: segNames, names: names}, i + 1, nil
	default:
		end := strings.IndexByte(s[i:], ']')
		if end < 0 {
			return pathSeg{}, 0, fmt.Errorf("path %q: unclosed [", s)
		}
		body := strings.TrimSpace(s[i : i+end])
		next := i + end + 1
		if strings.Contains(body, ":") {
			parts := strings.Split(body, ":")
			if len(parts) > 3 {
				return pathSeg{}, 0, fmt.Errorf("path %q: bad slice [%s]", s, body)
			}
			var seg pathSeg
			seg.kind = segSlice
			for k, part := range parts {
				part = strings.TrimSpace(part)
				if part == "" {
					continue
				}
				n, err := strconv.Atoi(part)
				if err != nil {
					return pathSeg{}, 0, fmt.Errorf("path %q: bad slice [%s]", s, body)
				}
				seg.slice[k] = &n
			}
			if seg.slice[2] != nil && *seg.slice[2] <= 0 {
				return pathSeg{}, 0, fmt.Errorf("path %q: a slice step must be positive", s)
			}
			return seg, next, nil
		}
		var idx []int
		for _, part := range strings.Split(body, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return pathSeg{}, 0, fmt.Errorf("path %q: bad selector [%s]; quote field names: ['name']", s, body)
			}
			idx = append(idx, n)
		}
		if len(idx) == 1 {
			return pathSeg{kind: segIndex, index: idx[0]}, next, nil
		}
		return pathSeg{kind: segIndexes, indexes: idx}, next, nil
	}
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// parseQuoted reads a '...' or "..." name; a backslash escapes the next
// character.
func parseQuoted(s string, i int) (string, int, error) {
	if i >= len(s) || (s[i] != '\'' && s[i] != '"') {
		return "", 0, fmt.Errorf("path %q: expected a quoted name at offset %d", s, i)
	}
	q := s[i]
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if j+1 >= len(s) {
				return "", 0, fmt.Errorf("path %q: dangling backslash", s)
			}
			j++
			b.WriteByte(s[j])
		case q:
			return b.String(), j + 1, nil
		default:
			b.WriteByte(s[j])
		}
	}
	return "", 0, fmt.Errorf("path %q: unclosed quote", s)
}

// pathNotFoundError says which part of a definite path found nothing.
type pathNotFoundError struct {
	path string
	at   string
}

func (e *pathNotFoundError) Error() string {
	if e.at == "" {
		return fmt.Sprintf("path %q found nothing", e.path)
	}
	return fmt.Sprintf("path %q found nothing at %s", e.path, e.at)
}

// eval selects from data (or from the context object for $$ paths). A
// definite path returns the node or a *pathNotFoundError; an indefinite one
// returns an []any of the matches.
func (p *Path) eval(data, ctx any) (any, error) {
	root := data
	if p.context {
		root = ctx
	}
	if p.definite {
		cur := root
		for k, s := range p.segs {
			next, ok := selectOne(cur, s)
			if !ok {
				return nil, &pathNotFoundError{path: p.raw, at: describeSeg(p, k)}
			}
			cur = next
		}
		return cur, nil
	}
	nodes := []any{root}
	for _, s := range p.segs {
		var out []any
		for _, n := range nodes {
			if s.deep {
				walkPreorder(n, func(d any) { out = selectMany(out, d, s, data) })
			} else {
				out = selectMany(out, n, s, data)
			}
		}
		nodes = out
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, nil
}

func describeSeg(p *Path, k int) string {
	s := p.segs[k]
	switch s.kind {
	case segChild:
		return fmt.Sprintf("field %q", s.name)
	case segIndex:
		return fmt.Sprintf("index %d", s.index)
	}
	return fmt.Sprintf("step %d", k+1)
}

func selectOne(n any, s pathSeg) (any, bool) {
	switch s.kind {
	case segChild:
		o, ok := n.(*object)
		if !ok {
			return nil, false
		}
		return o.get(s.name)
	case segIndex:
		a, ok := n.([]any)
		if !ok {
			return nil, false
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, false
		}
		return a[i], true
	}
	return nil, false
}

func selectMany(out []any, n any, s pathSeg, root any) []any {
	switch s.kind {
	case segChild, segIndex:
		if v, ok := selectOne(n, s); ok {
			out = append(out, v)
		}
	case segWildcard:
		switch t := n.(type) {
		case *object:
			for _, k := range t.keys {
				out = append(out, t.vals[k])
			}
		case []any:
			out = append(out, t...)
		}
	case segNames:
		if o, ok := n.(*object); ok {
			for _, name := range s.names {
				if v, ok := o.get(name); ok {
					out = append(out, v)
				}
			}
		}
	case segIndexes:
		for _, i := range s.indexes {
			if v, ok := selectOne(n, pathSeg{kind: segIndex, index: i}); ok {
				out = append(out, v)
			}
		}
	case segSlice:
		a, ok := n.([]any)
		if !ok {
			return out
		}
		start, end, step := 0, len(a), 1
		if s.slice[0] != nil {
			start = clampIndex(*s.slice[0], len(a))
		}
		if s.slice[1] != nil {
			end = clampIndex(*s.slice[1], len(a))
		}
		if s.slice[2] != nil {
			step = *s.slice[2]
		}
		for i := start; i < end; i += step {
			out = append(out, a[i])
		}
	case segFilter:
		switch t := n.(type) {
		case []any:
			for _, e := range t {
				if s.filter.test(e, root) {
					out = append(out, e)
				}
			}
		case *object:
			if s.filter.test(t, root) {
				out = append(out, t)
			}
		}
	}
	return out
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	if i < 0 {
		return 0
	}
	if i > n {
		return n
	}
	return i
}

// walkPreorder visits n and all its descendants, parents first, in
// document order.
func walkPreorder(n any, visit func(any)) {
	visit(n)
	switch t := n.(type) {
	case *object:
		for _, k := range t.keys {
			walkPreorder(t.vals[k], visit)
		}
	case []any:
		for _, e := range t {
			walkPreorder(e, visit)
		}
	}
}

// resultPathError explains why ResultPath could not place a result.
type resultPathError struct {
	path   string
	reason string
}

func (e *resultPathError) Error() string {
	return fmt.Sprintf("ResultPath %q: %s", e.path, e.reason)
}

// setPath returns a copy of root with v placed at the reference path p,
// creating missing objects on the way. Only the nodes along the path are
// copied.
func setPath(root any, p *Path, v any) (any, error) {
	return setAt(root, p, 0, v)
}

func setAt(n any, p *Path, k int, v any) (any, error) {
	if k == len(p.segs) {
		return v, nil
	}
	s := p.segs[k]
	switch s.kind {
	case segChild:
		o, ok := n.(*object)
		if !ok {
			return nil, &resultPathError{path: p.raw, reason: fmt.Sprintf("cannot set field %q on a %s", s.name, typeName(n))}
		}
		child, exists := o.get(s.name)
		if !exists {
			if k+1 < len(p.segs) && p.segs[k+1].kind == segIndex {
				return nil, &resultPathError{path: p.raw, reason: fmt.Sprintf("field %q does not exist, so it has no index", s.name)}
			}
			child = newObject(1)
		}
		nv, err := setAt(child, p, k+1, v)
		if err != nil {
			return nil, err
		}
		c := o.clone()
		c.set(s.name, nv)
		return c, nil
	case segIndex:
		a, ok := n.([]any)
		if !ok {
			return nil, &resultPathError{path: p.raw, reason: fmt.Sprintf("cannot index a %s", typeName(n))}
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, &resultPathError{path: p.raw, reason: fmt.Sprintf("index %d is out of range (length %d)", s.index, len(a))}
		}
		nv, err := setAt(a[i], p, k+1, v)
		if err != nil {
			return nil, err
		}
		c := make([]any, len(a))
		copy(c, a)
		c[i] = nv
		return c, nil
	}
	return nil, &resultPathError{path: p.raw, reason: "not a reference path"}
}

// filterExpr is a compiled [?(...)] predicate.
type filterExpr interface {
	test(current, root any) bool
}

type filterParser struct {
	s string
	i int
}

type filterOr struct{ l, r filterExpr }
type filterAnd struct{ l, r filterExpr }
type filterNot struct{ e filterExpr }
type filterCmp struct {
	l, r filterOperand
	op   string // "" for an existence test of l
}

func (f filterOr) test(c, r any) bool  { return f.l.test(c, r) || f.r.test(c, r) }
func (f filterAnd) test(c, r any) bool { return f.l.test(c, r) && f.r.test(c, r) }
func (f filterNot) test(c, r any) bool { return !f.e.test(c, r) }

type filterOperand struct {
	path    *Path // @... (relative) or $... (root)
	current bool
	lit     any
}

func (o filterOperand) value(current, root any) (any, bool) {
	if o.path == nil {
		return o.lit, true
	}
	base := root
	if o.current {
		base = current
	}
	v, err := o.path.eval(base, nil)
	if err != nil {
		return nil, false
	}
	return v, true
}

func (f filterCmp) test(current, root any) bool {
	lv, lok := f.l.value(current, root)
	if f.op == "" {
		if !lok {
			return false
		}
		if b, ok := lv.(bool); ok {
			return b
		}
		return true
	}
	rv, rok := f.r.value(current, root)
	if !lok || !rok {
		return f.op == "!=" && lok != rok
	}
	switch f.op {
	case "==":
		return jsonEqual(lv, rv)
	case "!=":
		return !jsonEqual(lv, rv)
	}
	c, ok := compareOrdered(lv, rv)
	if !ok {
		return false
	}
	switch f.op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

// compareOrdered compares two numbers or two strings.
func compareOrdered(a, b any) (int, bool) {
	if af, ok := toFloat(a); ok {
		bf, ok := toFloat(b)
		if !ok {
			return 0, false
		}
		switch {
		case af < bf:
			return -1, true
		case af > bf:
			return 1, true
		}
		return 0, true
	}
	as, ok1 := a.(string)
	bs, ok2 := b.(string)
	if !ok1 || !ok2 {
		return 0, false
	}
	return strings.Compare(as, bs), true
}

func (p *filterParser) parseOr() (filterExpr, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for {
		p.i = skipSpaces(p.s, p.i)
		if !strings.HasPrefix(p.s[p.i:], "||") {
			return l, nil
		}
		p.i += 2
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = filterOr{l, r}
	}
}

func (p *filterParser) parseAnd() (filterExpr, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		p.i = skipSpaces(p.s, p.i)
		if !strings.HasPrefix(p.s[p.i:], "&&") {
			return l, nil
		}
		p.i += 2
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = filterAnd{l, r}
	}
}

func (p *filterParser) parseUnary() (filterExpr, error) {
	p.i = skipSpaces(p.s, p.i)
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("unexpected end")
	}
	if p.s[p.i] == '!' && !strings.HasPrefix(p.s[p.i:], "!=") {
		p.i++
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return filterNot{e}, nil
	}
	if p.s[p.i] == '(' {
		p.i++
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.i = skipSpaces(p.s, p.i)
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("expected ) at offset %d", p.i)
		}
		p.i++
		return e, nil
	}
	l, err := p.parseOperand()
	if err != nil {
		return nil, err
	}
	p.i = skipSpaces(p.s, p.i)
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			r, err := p.parseOperand()
			if err != nil {
				return nil, err
			}
			return filterCmp{l: l, r: r, op: op}, nil
		}
	}
	if strings.HasPrefix(p.s[p.i:], "=~") || strings.HasPrefix(p.s[p.i:], " in ") {
		return nil, fmt.Errorf("operator at offset %d is not supported", p.i)
	}
	if l.path == nil {
		return nil, fmt.Errorf("a literal alone is not a condition (offset %d)", p.i)
	}
	return filterCmp{l: l}, nil
}

func (p *filterParser) parseOperand() (filterOperand, error) {
	p.i = skipSpaces(p.s, p.i)
	if p.i >= len(p.s) {
		return filterOperand{}, fmt.Errorf("unexpected end")
	}
	c := p.s[p.i]
	switch {
	case c == '@':
		// Parse "@..." as "$..." relative to the current node.
		path, n, err := parsePathPrefix("$"+p.s[p.i+1:], true)
		if err != nil {
			return filterOperand{}, err
		}
		if path.context {
			return filterOperand{}, fmt.Errorf("@$ is not a path")
		}
		path.raw = "@" + path.raw[1:]
		p.i += n
		return filterOperand{path: path, current: true}, nil
	case c == '$':
		path, n, err := parsePathPrefix(p.s[p.i:], true)
		if err != nil {
			return filterOperand{}, err
		}
		if path.context {
			return filterOperand{}, fmt.Errorf("$$ is not allowed in a filter")
		}
		p.i += n
		return filterOperand{path: path}, nil
	case c == '\'' || c == '"':
		s, n, err := parseQuoted(p.s, p.i)
		if err != nil {
			return filterOperand{}, err
		}
		p.i = n
		return filterOperand{lit: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		j := p.i + 1
		for j < len(p.s) && strings.IndexByte("0123456789.eE+-", p.s[j]) >= 0 {
			j++
		}
		num := p.s[p.i:j]
		if !validNumber(num) {
			return filterOperand{}, fmt.Errorf("bad number %q", num)
		}
		p.i = j
		return filterOperand{lit: json.Number(num)}, nil
	}
	for _, w := range []struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.s[p.i:], w.word) {
			p.i += len(w.word)
			return filterOperand{lit: w.v}, nil
		}
	}
	return filterOperand{}, fmt.Errorf("unexpected %q at offset %d", string(c), p.i)
}
