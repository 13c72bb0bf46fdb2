// Package auth holds the bearer tokens of the HTTP API (DESIGN.md "Auth"):
// the tokens file, its validation, and the keyring that tells which caller a
// presented token belongs to and what it may do.
//
// A token is a shared secret. The keyring keeps only its SHA-256 and compares
// digests in constant time, so neither a token's bytes nor its length leak
// through timing; nothing here logs or formats a token, only its name.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
)

// Scope is a permission a token carries; every /v1 route needs one.
type Scope string

// The scopes, from reading stock to operating channels.
const (
	StockRead   Scope = "stock:read"   // GET of stock, orders, locations and channels
	StockWrite  Scope = "stock:write"  // snapshots and adjustments
	OrdersWrite Scope = "orders:write" // reserve, confirm, release, ship
	OpsAdmin    Scope = "ops:admin"    // switching a channel between auto and manual
	// FraudWrite sends returns and loyalty events (POST /v1/returns,
	// /v1/loyalty): the tills' and the loyalty system's scope.
	FraudWrite Scope = "fraud:write"
	// FraudReview reads anti-fraud alerts and labels them fraud or legit:
	// the analysts' scope. Alerts name customers, so stock:read does not
	// cover them.
	FraudReview Scope = "fraud:review"
)

// Scopes lists every scope, in the order above.
func Scopes() []Scope {
	return []Scope{StockRead, StockWrite, OrdersWrite, OpsAdmin, FraudWrite, FraudReview}
}

// Known reports whether s is one of Scopes.
func (s Scope) Known() bool { return slices.Contains(Scopes(), s) }

// Identity is an authenticated caller.
type Identity struct {
	// Name is the token's name from the tokens file: what logs show.
	Name string
	// Scopes are the permissions of the token.
	Scopes []Scope
	// RatePerS is the token's own rate limit in requests per second, 0 for
	// the API's default.
	RatePerS float64
}

// Can reports whether the identity holds scope s.
func (id *Identity) Can(s Scope) bool { return slices.Contains(id.Scopes, s) }

// Keyring recognises the tokens of a tokens file. It is safe for concurrent
// use and never changes after NewKeyring.
type Keyring struct {
	entries []entry
}

type entry struct {
	digest [sha256.Size]byte
	id     *Identity
}

// NewKeyring validates tokens as a whole (see ValidateTokens) and returns
// the keyring that recognises them.
func NewKeyring(tokens []Token) (*Keyring, error) {
	if err := ValidateTokens(tokens); err != nil {
		return nil, err
	}
	k := &Keyring{entries: make([]entry, 0, len(tokens))}
	for _, t := range tokens {
		k.entries = append(k.entries, entry{
			digest: sha256.Sum256([]byte(t.Token)),
			id:     &Identity{Name: t.Name, Scopes: slices.Clone(t.Scopes), RatePerS: t.RatePerS},
		})
	}
	return k, nil
}

// Authenticate returns the identity of token, or false if no entry holds it.
// It hashes token and compares the digest with every entry's, without
// stopping at a match, so its time depends only on the number of entries.
func (k *Keyring) Authenticate(token string) (*Identity, bool) {
	d := sha256.Sum256([]byte(token))
	var found *Identity
	for i := range k.entries {
		if subtle.ConstantTimeCompare(d[:], k.entries[i].digest[:]) == 1 {
			found = k.entries[i].id
		}
	}
	return found, found != nil
}

// Len is the number of tokens.
func (k *Keyring) Len() int { return len(k.entries) }
