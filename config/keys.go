package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// unknownKeys reports every key of doc that t (a struct type, walked through
// its yaml tags) does not have, each with its path in the file, e.g.
// "kafka.partitionz: unknown key (known: brokers, …), line 3". yaml.v3's own
// KnownFields error names only the key and the Go type.
func unknownKeys(doc *yaml.Node, t reflect.Type) error {
	w := keyWalker{seen: map[*yaml.Node]bool{}}
	w.walk(doc, t, "")
	return errors.Join(w.errs...)
}

type keyWalker struct {
	errs []error
	// seen holds the anchored nodes walked already: an alias is checked once,
	// so a cycle (&a [*a]) or a billion aliases cost nothing.
	seen map[*yaml.Node]bool
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func (w *keyWalker) walk(n *yaml.Node, t reflect.Type, path string) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Anchor != "" || n.Kind == yaml.AliasNode {
		if w.seen[n] {
			return
		}
		w.seen[n] = true
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return // decodes itself (Duration)
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		var known []string
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name) // yaml.v3's default
			}
			fields[name] = f.Type
			known = append(known, name)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Value == "<<" {
				w.walk(val, t, path) // a merge key: the merged mapping's keys count as this one's
				continue
			}
			p := key.Value
			if path != "" {
				p = path + "." + key.Value
			}
			ft, ok := fields[key.Value]
			if !ok {
				w.errs = append(w.errs, fmt.Errorf("%s: unknown key (known: %s), line %d", p, strings.Join(known, ", "), key.Line))
				continue
			}
			w.walk(val, ft, p)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}
