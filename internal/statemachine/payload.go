package statemachine

import (
	"fmt"
	"strings"
)

// Payload templates: Parameters, ItemSelector and ResultSelector. A field
// whose name ends in ".$" takes the value of a path or an intrinsic
// function, under the name without ".$"; other fields are copied, and
// nested objects and arrays are processed the same way.

type payload struct {
	lit    any
	fields []payloadField // an object
	isObj  bool
	elems  []*payload // an array
	isArr  bool
	path   *Path
	call   *intrinsicCall
	field  string // the ".$" field name, for errors
}

type payloadField struct {
	key string
	val *payload
}

func compilePayload(v any) (*payload, error) {
	switch t := v.(type) {
	case *object:
		p := &payload{isObj: true}
		seen := map[string]string{}
		for _, k := range t.keys {
			fv := t.vals[k]
			key := k
			var node *payload
			if strings.HasSuffix(k, ".$") {
				key = strings.TrimSuffix(k, ".$")
				s, ok := fv.(string)
				if !ok {
					return nil, fmt.Errorf("field %q: a field ending in .$ needs a path or intrinsic function string, got %s", k, typeName(fv))
				}
				node = &payload{field: k}
				if looksIntrinsic(s) {
					c, err := parseIntrinsic(s)
					if err != nil {
						return nil, fmt.Errorf("field %q: %w", k, err)
					}
					node.call = c
				} else {
					path, err := ParsePath(s)
					if err != nil {
						return nil, fmt.Errorf("field %q: %w", k, err)
					}
					node.path = path
				}
			} else {
				var err error
				node, err = compilePayload(fv)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
			}
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("fields %q and %q both produce %q", other, k, key)
			}
			seen[key] = k
			p.fields = append(p.fields, payloadField{key: key, val: node})
		}
		return p, nil
	case []any:
		p := &payload{isArr: true}
		for i, e := range t {
			n, err := compilePayload(e)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			p.elems = append(p.elems, n)
		}
		return p, nil
	default:
		return &payload{lit: v}, nil
	}
}

// payloadError is a ".$" field whose path found nothing or whose intrinsic
// failed.
type payloadError struct {
	field string
	err   error
}

func (e *payloadError) Error() string {
	return fmt.Sprintf("field %q: %v", e.field, e.err)
}

func (e *payloadError) Unwrap() error { return e.err }

func (p *payload) eval(env *evalEnv, data, ctx any) (any, error) {
	switch {
	case p.isObj:
		out := newObject(len(p.fields))
		for _, f := range p.fields {
			v, err := f.val.eval(env, data, ctx)
			if err != nil {
				return nil, err
			}
			out.set(f.key, v)
		}
		return out, nil
	case p.isArr:
		out := make([]any, len(p.elems))
		for i, e := range p.elems {
			v, err := e.eval(env, data, ctx)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case p.path != nil:
		v, err := p.path.eval(data, ctx)
		if err != nil {
			return nil, &payloadError{field: p.field, err: err}
		}
		return v, nil
	case p.call != nil:
		v, err := p.call.eval(env, data, ctx)
		if err != nil {
			return nil, &payloadError{field: p.field, err: err}
		}
		return v, nil
	}
	return p.lit, nil
}
