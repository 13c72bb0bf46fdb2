package state

import (
	"fmt"
	"testing"

	"github.com/lovoo/goka/storage"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantGet(t testing.TB, s storage.Storage, key, want string) {
	t.Helper()
	v, err := s.Get(key)
	if err != nil || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, v, err, want)
	}
	if ok, err := s.Has(key); err != nil || !ok {
		t.Fatalf("Has(%q) = %v, %v", key, ok, err)
	}
}

func wantMissing(t testing.TB, s storage.Storage, key string) {
	t.Helper()
	v, err := s.Get(key)
	if err != nil || v != nil {
		t.Fatalf("Get(%q) = %q, %v; want nil, nil", key, v, err)
	}
	if ok, err := s.Has(key); err != nil || ok {
		t.Fatalf("Has(%q) = %v, %v; want false", key, ok, err)
	}
}

func iter(t testing.TB, s storage.Storage, start, limit []byte) storage.Iterator {
	t.Helper()
	it, err := s.IteratorWithRange(start, limit)
	must(t, err)
	return it
}

// wantKeys drains and releases it.
func wantKeys(t testing.TB, it storage.Iterator, want ...string) {
	t.Helper()
	defer it.Release()
	var got []string
	for it.Next() {
		got = append(got, string(it.Key()))
	}
	must(t, it.Err())
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
}
