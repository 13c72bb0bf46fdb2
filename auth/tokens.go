package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits of a tokens file.
const (
	MinTokenLen = 16   // bytes; e.g. `openssl rand -hex 32` gives 64
	MaxTokenLen = 4096 // bytes; an HTTP header line must carry it
	MaxNameLen  = 128  // bytes
	MaxRatePerS = 1e6  // requests per second of one token
	MaxTokens   = 10000
	maxFileSize = 4 << 20 // 4 MiB: far more than MaxTokens entries need
)

// Token is one entry of the tokens file, a YAML list such as
//
//	[{token: "…", name: checkout, scopes: [orders:write, stock:read], rate_per_s: 500}]
type Token struct {
	// Token is the secret the caller sends as "Authorization: Bearer <token>":
	// MinTokenLen..MaxTokenLen bytes of visible ASCII (no spaces).
	Token string `yaml:"token"`
	// Name says whose token it is; unique; it is what logs show.
	Name string `yaml:"name"`
	// Scopes are what the token may do; at least one of Scopes().
	Scopes []Scope `yaml:"scopes"`
	// RatePerS limits the token's requests per second; optional, 0 takes
	// the API's default (http.rate_per_s, default 1000).
	RatePerS float64 `yaml:"rate_per_s"`
}

// LoadTokens reads and validates the tokens file at path.
func LoadTokens(path string) ([]Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: tokens file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	tokens, err := ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	return tokens, nil
}

// ParseTokens decodes a tokens file, a YAML list of Token (unknown keys are
// refused), and validates it as a whole. Its errors never quote a token.
func ParseTokens(data []byte) ([]Token, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("the file is over %d bytes", maxFileSize)
	}
	var tokens []Token
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tokens); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: list at least one token")
		}
		return nil, redact(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("the file holds more than one YAML document")
	}
	if err := ValidateTokens(tokens); err != nil {
		return nil, err
	}
	return tokens, nil
}

// yaml.v3's type errors quote values ("cannot unmarshal !!str `abcdefg...`
// into …") and unknown keys ("field abc not found in type auth.Token"):
// either may be a token written in the wrong place.
var (
	quoted  = regexp.MustCompile("`[^`]*`")
	unknown = regexp.MustCompile(`(?s)field .* not found in type \S+`)
)

// redact removes quoted values and unknown keys from a YAML decoding error;
// the line number stays.
func redact(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		m = unknown.ReplaceAllLiteralString(m, "unknown key; the keys are token, name, scopes, rate_per_s")
		msgs[i] = quoted.ReplaceAllLiteralString(m, "a value")
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// ValidateTokens reports every problem of a token list at once, each with
// its path ("[2].scopes[0]: unknown scope …"): an empty, short, long or
// non-printable token, a token or name listed twice, a missing or unknown
// scope, a rate out of bounds. The messages never quote a token.
func ValidateTokens(tokens []Token) error {
	var errs []error
	bad := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(tokens) == 0 {
		bad("tokens", "list at least one token")
	}
	if len(tokens) > MaxTokens {
		bad("tokens", "%d tokens, the limit is %d", len(tokens), MaxTokens)
		return errors.Join(errs...)
	}
	byToken := map[string]int{}
	byName := map[string]int{}
	for i, t := range tokens {
		p := fmt.Sprintf("[%d]", i)
		switch {
		case t.Token == "":
			bad(p+".token", "must not be empty")
		case len(t.Token) < MinTokenLen:
			bad(p+".token", "is %d bytes, at least %d are needed (e.g. openssl rand -hex 32)", len(t.Token), MinTokenLen)
		case len(t.Token) > MaxTokenLen:
			bad(p+".token", "is %d bytes, the limit is %d", len(t.Token), MaxTokenLen)
		case !visibleASCII(t.Token):
			bad(p+".token", "holds a space, a control or a non-ASCII character; a bearer token is visible ASCII")
		default:
			if j, dup := byToken[t.Token]; dup {
				bad(p+".token", "is the same token as [%d] (name %q): each caller needs its own", j, tokens[j].Name)
			} else {
				byToken[t.Token] = i
			}
		}
		switch {
		case t.Name == "":
			bad(p+".name", "must not be empty: logs name the caller by it")
		case len(t.Name) > MaxNameLen:
			bad(p+".name", "is %d bytes, the limit is %d", len(t.Name), MaxNameLen)
		case !printable(t.Name):
			bad(p+".name", "holds a control character or invalid UTF-8")
		default:
			if j, dup := byName[t.Name]; dup {
				bad(p+".name", "%q is also the name of [%d]", t.Name, j)
			} else {
				byName[t.Name] = i
			}
		}
		if len(t.Scopes) == 0 {
			bad(p+".scopes", "name at least one of %s", scopeList())
		}
		seen := map[Scope]bool{}
		for j, s := range t.Scopes {
			sp := fmt.Sprintf("%s.scopes[%d]", p, j)
			switch {
			case !s.Known():
				bad(sp, "unknown scope %q; known: %s", s, scopeList())
			case seen[s]:
				bad(sp, "%q is listed twice", s)
			}
			seen[s] = true
		}
		if math.IsNaN(t.RatePerS) || t.RatePerS < 0 || t.RatePerS > MaxRatePerS {
			bad(p+".rate_per_s", "%g is outside 0..%g (0 or absent: the default)", t.RatePerS, float64(MaxRatePerS))
		}
	}
	return errors.Join(errs...)
}

func scopeList() string {
	var s []string
	for _, sc := range Scopes() {
		s = append(s, string(sc))
	}
	return strings.Join(s, ", ")
}

// visibleASCII reports whether s is made of the bytes 0x21..0x7e only.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
