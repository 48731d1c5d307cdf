// Package deploy reads template.yaml (AWS SAM) and the Makefile so tests
// can hold the deployment to what the code does: every function builds,
// every substitution resolves, no policy grants a wildcard action, every
// alarm watches a metric the code emits.
package deploy

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Template is a CloudFormation template as generic values. A short-form
// intrinsic (!Ref X, !Sub s, !GetAtt a.b) becomes a one-key map in its
// long form ({"Ref": "X"}, {"Fn::Sub": "s"}, {"Fn::GetAtt": "a.b"}).
type Template struct {
	Parameters map[string]any
	Resources  map[string]Resource
	Outputs    map[string]any
	raw        map[string]any
}

// Resource is one entry of Resources.
type Resource struct {
	Type           string
	Properties     map[string]any
	Metadata       map[string]any
	DeletionPolicy string
}

// Load reads and decodes a template file.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := convert(&n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	t := &Template{Resources: map[string]Resource{}, raw: root}
	t.Parameters, _ = root["Parameters"].(map[string]any)
	t.Outputs, _ = root["Outputs"].(map[string]any)
	res, _ := root["Resources"].(map[string]any)
	for id, r := range res {
		m, _ := r.(map[string]any)
		typ, _ := m["Type"].(string)
		props, _ := m["Properties"].(map[string]any)
		meta, _ := m["Metadata"].(map[string]any)
		del, _ := m["DeletionPolicy"].(string)
		t.Resources[id] = Resource{Type: typ, Properties: props, Metadata: meta, DeletionPolicy: del}
	}
	return t, nil
}

// Globals returns the Globals section for a resource kind ("Function").
func (t *Template) Globals(kind string) map[string]any {
	g, _ := t.raw["Globals"].(map[string]any)
	m, _ := g[kind].(map[string]any)
	return m
}

func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	}
	var v any
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			val, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		var x any
		plain := *n
		plain.Tag = ""
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || (len(n.Tag) > 0 && n.Tag[0] == '!' && n.Tag[1] != '!') {
			x = n.Value
		} else if err := plain.Decode(&x); err != nil {
			return nil, err
		}
		v = x
	}
	if len(n.Tag) > 1 && n.Tag[0] == '!' && n.Tag[1] != '!' {
		name := n.Tag[1:]
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		return map[string]any{name: v}, nil
	}
	return v, nil
}
