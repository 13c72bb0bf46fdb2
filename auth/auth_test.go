package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	tokA = "checkout-0123456789abcdef"
	tokB = "erp-feed-0123456789abcdef"
)

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // every one must be in the error; none means valid
	}{
		{name: "valid", file: `
- {token: ` + tokA + `, name: checkout, scopes: [orders:write, stock:read], rate_per_s: 50}
- token: ` + tokB + `
  name: erp
  scopes: [stock:write]
`},
		{name: "every problem at once", file: `
- {token: "", name: a, scopes: [stock:read]}
- {token: short, name: b, scopes: [stock:read]}
- {token: ` + tokA + `, name: c, scopes: [stock:delete, stock:read, stock:read]}
- {token: ` + tokA + `, name: c, scopes: []}
- {token: "with space 0123456789", name: "", scopes: [ops:admin], rate_per_s: -1}
`, want: []string{
			"[0].token: must not be empty",
			"[1].token: is 5 bytes, at least 16 are needed",
			`[2].scopes[0]: unknown scope "stock:delete"; known: stock:read, stock:write, orders:write, ops:admin`,
			`[2].scopes[2]: "stock:read" is listed twice`,
			`[3].token: is the same token as [2] (name "c")`,
			`[3].name: "c" is also the name of [2]`,
			"[3].scopes: name at least one of",
			"[4].token: holds a space",
			"[4].name: must not be empty",
			"[4].rate_per_s: -1 is outside 0..1e+06",
		}},
		{name: "empty file", file: "", want: []string{"the file is empty"}},
		{name: "empty list", file: "[]", want: []string{"tokens: list at least one token"}},
		{name: "unknown key", file: "- {token: " + tokA + ", name: a, scopes: [stock:read], scope: x}",
			want: []string{"line 1: unknown key; the keys are token, name, scopes, rate_per_s"}},
		{name: "token as a key", file: "- {" + tokA + ": x}",
			want: []string{"line 1: unknown key"}},
		{name: "two documents", file: "- {token: " + tokA + ", name: a, scopes: [stock:read]}\n---\n[]\n",
			want: []string{"more than one YAML document"}},
		{name: "control character in the name", file: "- {token: " + tokA + ", name: \"a\\nb\", scopes: [stock:read]}",
			want: []string{"[0].name: holds a control character"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tokens, err := ParseTokens([]byte(tc.file))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("ParseTokens: %v", err)
				}
				if len(tokens) != 2 || tokens[0].RatePerS != 50 || tokens[1].Scopes[0] != StockWrite {
					t.Fatalf("ParseTokens = %+v", tokens)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseTokens: nil error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), tokA) {
				t.Errorf("error quotes a token:\n%v", err)
			}
		})
	}
}

func TestParseTokensNeverQuotesAToken(t *testing.T) {
	// A list of strings instead of maps: yaml.v3 would quote the start of each.
	_, err := ParseTokens([]byte("- " + tokA + "\n- " + tokB + "\n"))
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), tokA[:7]) || strings.Contains(err.Error(), tokB[:7]) {
		t.Fatalf("error quotes a token: %v", err)
	}
	if !strings.Contains(err.Error(), "cannot unmarshal") {
		t.Fatalf("error does not say what is wrong: %v", err)
	}
}

func TestLoadTokens(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(path, []byte("- {token: "+tokA+", name: a, scopes: [stock:read]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tokens, err := LoadTokens(path); err != nil || len(tokens) != 1 {
		t.Fatalf("LoadTokens = %v, %v", tokens, err)
	}
	if _, err := LoadTokens(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte("- {token: x, name: a, scopes: [stock:read]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokens(path); err == nil || !strings.Contains(err.Error(), path+": [0].token") {
		t.Fatalf("invalid file: %v", err)
	}
}

func TestKeyring(t *testing.T) {
	k, err := NewKeyring([]Token{
		{Token: tokA, Name: "checkout", Scopes: []Scope{OrdersWrite, StockRead}, RatePerS: 5},
		{Token: tokB, Name: "erp", Scopes: []Scope{StockWrite}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, token, who string
	}{
		{name: "first", token: tokA, who: "checkout"},
		{name: "second", token: tokB, who: "erp"},
		{name: "unknown", token: "nobody-0123456789abcdef"},
		{name: "prefix", token: tokA[:len(tokA)-1]},
		{name: "longer", token: tokA + "x"},
		{name: "empty", token: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, ok := k.Authenticate(tc.token)
			if tc.who == "" {
				if ok || id != nil {
					t.Fatalf("Authenticate(%q) = %+v, want none", tc.token, id)
				}
				return
			}
			if !ok || id.Name != tc.who {
				t.Fatalf("Authenticate = %+v, %v, want %s", id, ok, tc.who)
			}
		})
	}
	id, _ := k.Authenticate(tokA)
	if !id.Can(OrdersWrite) || !id.Can(StockRead) || id.Can(StockWrite) || id.Can(OpsAdmin) || id.RatePerS != 5 {
		t.Errorf("identity %+v", id)
	}
	if k.Len() != 2 {
		t.Errorf("Len = %d", k.Len())
	}
	if _, err := NewKeyring(nil); err == nil {
		t.Error("NewKeyring(nil): nil error")
	}
}

// FuzzParseTokens holds that no file makes the parser panic, that what it
// accepts is valid and builds a keyring recognising every token, and that no
// error quotes a token found in the file.
func FuzzParseTokens(f *testing.F) {
	for _, seed := range []string{
		"- {token: " + tokA + ", name: a, scopes: [stock:read, orders:write], rate_per_s: 5}\n",
		"- token: " + tokB + "\n  name: b\n  scopes: [ops:admin]\n",
		"- {token: " + tokA + ", name: a, scopes: [stock:read]}\n- {token: " + tokA + ", name: a, scopes: [x]}\n",
		"- " + tokA + "\n",
		"[]", "", "---\n---\n", "- {token: 1234567890123456789, name: 7, scopes: [stock:read], rate_per_s: .nan}\n",
		"{token: " + tokA + "}", "- {scopes: {a: b}}", "- [a, b]", "&a [*a]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tokens, err := ParseTokens(data)
		if err != nil {
			for _, s := range tokenValues(data) {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("error quotes the token %q: %v", s, err)
				}
			}
			return
		}
		k, err := NewKeyring(tokens)
		if err != nil {
			t.Fatalf("parsed tokens do not make a keyring: %v", err)
		}
		for _, tok := range tokens {
			id, ok := k.Authenticate(tok.Token)
			if !ok || id.Name != tok.Name {
				t.Fatalf("token of %q not recognised", tok.Name)
			}
		}
	})
}

// tokenValues returns the strings under a "token" key anywhere in data that
// are long enough to be a token and appear nowhere else in the file (a name
// or a scope may be quoted, even if a token has the same value).
func tokenValues(data []byte) []string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return nil
	}
	var tokens []string
	count := map[string]int{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 50 {
			return
		}
		if n.Kind == yaml.ScalarNode {
			count[n.Value]++
		}
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "token" && v.Kind == yaml.ScalarNode && len(v.Value) >= MinTokenLen {
					tokens = append(tokens, v.Value)
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(&root, 0)
	var out []string
	for _, tok := range tokens {
		if count[tok] == 1 {
			out = append(out, tok)
		}
	}
	return out
}
