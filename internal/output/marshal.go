package output

import (
	"bytes"
	"encoding/json"
	"sort"
)

// Marshal encodes v as compact JSON with each object's keys in the order the
// schema declares its properties (keys it does not declare follow, sorted).
// encoding/json sorts map keys, which would turn the seed's
// {title, price, inStock, description} into an alphabetical jumble that no
// caller wrote. HTML characters are not escaped: the text is a result, not
// markup.
func (s *Schema) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := marshalOrdered(&buf, v, s.root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func marshalOrdered(buf *bytes.Buffer, v any, n *Node) error {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		done := map[string]bool{}
		if n != nil {
			for _, p := range n.Properties {
				if _, ok := v[p.Name]; ok {
					keys = append(keys, p.Name)
					done[p.Name] = true
				}
			}
		}
		var rest []string
		for k := range v {
			if !done[k] {
				rest = append(rest, k)
			}
		}
		sort.Strings(rest)
		keys = append(keys, rest...)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := marshalScalar(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			var child *Node
			if p := n.Property(k); p != nil {
				child = p.Schema
			}
			if err := marshalOrdered(buf, v[k], child); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case []any:
		var item *Node
		if n != nil {
			item = n.Items
		}
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := marshalOrdered(buf, e, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	}
	return marshalScalar(buf, v)
}

func marshalScalar(buf *bytes.Buffer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Write(bytes.TrimRight(b.Bytes(), "\n"))
	return nil
}
