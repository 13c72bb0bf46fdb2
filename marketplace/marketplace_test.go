package marketplace_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stocksync/stocksync/marketplace"
)

func TestNew(t *testing.T) {
	cases := []struct {
		name    string
		kind    string
		cfg     marketplace.Config
		wantErr []string // each in the error; none for success
	}{
		{name: "unknown kind", kind: "amazon", wantErr: []string{"unknown kind"}},
		{name: "ozon reports every problem", kind: "ozon", cfg: marketplace.Config{BaseURL: "ftp://x"},
			wantErr: []string{"BaseURL", "Token", "ClientID", "WarehouseID"}},
		{name: "wildberries needs a warehouse", kind: "wildberries", cfg: marketplace.Config{BaseURL: "https://x", Token: "t"},
			wantErr: []string{"WarehouseID"}},
		{name: "yandex needs a campaign", kind: "yandex", cfg: marketplace.Config{BaseURL: "https://x", Token: "t"},
			wantErr: []string{"CampaignID"}},
		{name: "webhook without a token", kind: "webhook", cfg: marketplace.Config{BaseURL: "https://x/hook"}},
		{name: "bad limits", kind: "webhook", cfg: marketplace.Config{BaseURL: "https://x", Limits: marketplace.Limits{Rate: -1}},
			wantErr: []string{"Limits"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := marketplace.New(c.kind, c.cfg)
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	if _, err := marketplace.New("amazon", marketplace.Config{}); !errors.Is(err, marketplace.ErrUnknownKind) {
		t.Errorf("unknown kind: %v, want ErrUnknownKind", err)
	}
}

func TestLimits(t *testing.T) {
	base := marketplace.Config{BaseURL: "https://x", Token: "t", ClientID: "c", WarehouseID: 1, CampaignID: 1}
	cases := []struct {
		name     string
		kind     string
		override marketplace.Limits
		want     marketplace.Limits
	}{
		{name: "ozon default", kind: "ozon",
			want: marketplace.Limits{MaxBatch: 100, Rate: 75.0 / 60, Burst: 5, MaxParallel: 4, ItemCooldown: 30 * time.Second}},
		{name: "wildberries default", kind: "wildberries",
			want: marketplace.Limits{MaxBatch: 1000, Rate: 5, Burst: 20, MaxParallel: 4}},
		{name: "yandex default", kind: "yandex",
			want: marketplace.Limits{MaxBatch: 2000, Rate: 100_000.0 / 60 / 2000, Burst: 4, MaxParallel: 4}},
		{name: "webhook default", kind: "webhook",
			want: marketplace.Limits{MaxBatch: 500, Rate: 20, Burst: 20, MaxParallel: 4}},
		{name: "override field by field", kind: "ozon", override: marketplace.Limits{MaxBatch: 50, ItemCooldown: -1},
			want: marketplace.Limits{MaxBatch: 50, Rate: 75.0 / 60, Burst: 5, MaxParallel: 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			cfg.Limits = c.override
			a, err := marketplace.New(c.kind, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Limits(); got != c.want {
				t.Errorf("Limits() = %+v, want %+v", got, c.want)
			}
			if a.Name() != c.kind {
				t.Errorf("Name() = %q, want %q", a.Name(), c.kind)
			}
		})
	}
}
