package marketplace

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Update is one SKU's absolute available-to-sell for a channel.
type Update struct {
	SKU       string
	Available int64
	Version   int64 // monotonic per SKU; never push an older one than acknowledged (the sink enforces it)
}

// ItemResult is the marketplace's verdict on one update of a batch.
type ItemResult struct {
	SKU       string
	OK        bool
	Retryable bool   // false: retrying the same value will not help (e.g. unknown SKU): park it in the DLQ
	Reason    string // the marketplace's code and message, for the DLQ and logs
}

// Limits are what the sink must respect for this marketplace.
type Limits struct {
	MaxBatch     int           // updates per request
	Rate         float64       // requests per second, sustained
	Burst        int           // requests allowed at once above the rate
	MaxParallel  int           // requests in flight at once
	ItemCooldown time.Duration // the same SKU at most once per this interval (Ozon: 30s); 0 = none
}

// Adapter pushes batches of updates to one marketplace account.
type Adapter interface {
	Name() string
	Limits() Limits
	// Push sends one batch (len ≤ Limits().MaxBatch). A request-level failure returns an error:
	// *ThrottledError (with RetryAfter, from Retry-After / X-RateLimit headers or the marketplace's
	// documented rule, 0 if unknown) or *UnavailableError (5xx, connection refused, timeout) — both retryable —
	// or *RejectedError (4xx other than throttling: the request itself is wrong; not retryable).
	// Otherwise one ItemResult per update, in order.
	Push(ctx context.Context, batch []Update) ([]ItemResult, error)
}

// Kinds of adapter that New builds.
const (
	KindOzon        = "ozon"
	KindWildberries = "wildberries"
	KindYandex      = "yandex"
	KindWebhook     = "webhook"
)

// defaultLimits per kind, from each marketplace's documented limits
// (/work/shared/MARKETPLACES.md).
var defaultLimits = map[string]Limits{
	// 80 requests/min per seller, counted over any minute: 75/min with a
	// burst of 5 never puts more than 80 in one. No documented parallel
	// limit. One product–warehouse pair at most once per 30 s.
	KindOzon: {MaxBatch: 100, Rate: 75.0 / 60, Burst: 5, MaxParallel: 4, ItemCooldown: 30 * time.Second},
	// 300 requests/min: WB's own token bucket, 200 ms interval, burst 20.
	KindWildberries: {MaxBatch: 1000, Rate: 5, Burst: 20, MaxParallel: 4},
	// 100,000 offers/min at up to 2000 offers per request is 50 full
	// requests/min; at most 4 requests in parallel (else 420).
	KindYandex: {MaxBatch: 2000, Rate: 100_000.0 / 60 / 2000, Burst: 4, MaxParallel: 4},
	// Our own convention for generic receivers.
	KindWebhook: {MaxBatch: 500, Rate: 20, Burst: 20, MaxParallel: 4},
}

// DefaultLimits returns the limits New uses for kind when Config.Limits
// leaves them zero.
func DefaultLimits(kind string) (Limits, error) {
	l, ok := defaultLimits[kind]
	if !ok {
		return Limits{}, fmt.Errorf("%w %q", ErrUnknownKind, kind)
	}
	return l, nil
}

// Config is what New needs to build an adapter.
type Config struct {
	// BaseURL is the API's scheme and host, e.g. https://api-seller.ozon.ru;
	// for a webhook, the full URL to POST to. Required.
	BaseURL string
	// Token is the API key: Ozon's Api-Key, Wildberries' Authorization,
	// Yandex's Api-Key, the webhook's bearer token. Required, except for a
	// webhook (no Authorization header when empty).
	Token string
	// ClientID is Ozon's Client-Id header. Required for ozon.
	ClientID string
	// WarehouseID is the seller's warehouse at Ozon (warehouse_id) or
	// Wildberries ({warehouseId}). Required for both.
	WarehouseID int64
	// CampaignID is Yandex Market's {campaignId}. Required for yandex.
	CampaignID int64
	// Channel is the webhook body's "channel"; default "webhook".
	Channel string
	// HTTPClient sends the requests; default a client with a 5 s timeout.
	HTTPClient *http.Client
	// Limits override the kind's DefaultLimits field by field: a zero
	// field keeps the default. ItemCooldown < 0 turns the cooldown off.
	Limits Limits
}

// defaultTimeout bounds one request when Config.HTTPClient is nil: a stock
// push that takes longer is better retried than waited for.
const defaultTimeout = 5 * time.Second

// New builds the adapter of kind (ozon, wildberries, yandex, webhook). It
// reports every problem of cfg at once.
func New(kind string, cfg Config) (Adapter, error) {
	limits, err := DefaultLimits(kind)
	if err != nil {
		return nil, err
	}
	limits = merge(limits, cfg.Limits)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultTimeout}
	}
	if kind == KindWebhook && cfg.Channel == "" {
		cfg.Channel = KindWebhook
	}
	if err := validate(kind, cfg, limits); err != nil {
		return nil, fmt.Errorf("marketplace %s: %w", kind, err)
	}
	c := client{name: kind, http: cfg.HTTPClient}
	switch kind {
	case KindOzon:
		return &ozon{client: c, cfg: cfg, limits: limits}, nil
	case KindWildberries:
		return &wildberries{client: c, cfg: cfg, limits: limits, bucket: newBucket(limits.Rate, limits.Burst)}, nil
	case KindYandex:
		return &yandex{client: c, cfg: cfg, limits: limits}, nil
	default:
		return &webhook{client: c, cfg: cfg, limits: limits}, nil
	}
}

func merge(def, o Limits) Limits {
	if o.MaxBatch != 0 {
		def.MaxBatch = o.MaxBatch
	}
	if o.Rate != 0 {
		def.Rate = o.Rate
	}
	if o.Burst != 0 {
		def.Burst = o.Burst
	}
	if o.MaxParallel != 0 {
		def.MaxParallel = o.MaxParallel
	}
	switch {
	case o.ItemCooldown < 0:
		def.ItemCooldown = 0
	case o.ItemCooldown > 0:
		def.ItemCooldown = o.ItemCooldown
	}
	return def
}

func validate(kind string, cfg Config, l Limits) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(cfg.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("BaseURL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Token == "" && kind != KindWebhook {
		bad("Token is required")
	}
	switch kind {
	case KindOzon:
		if cfg.ClientID == "" {
			bad("ClientID is required")
		}
		if cfg.WarehouseID <= 0 {
			bad("WarehouseID must be > 0")
		}
	case KindWildberries:
		if cfg.WarehouseID <= 0 {
			bad("WarehouseID must be > 0")
		}
	case KindYandex:
		if cfg.CampaignID <= 0 {
			bad("CampaignID must be > 0")
		}
	}
	if l.MaxBatch < 1 || l.Rate <= 0 || l.Burst < 1 || l.MaxParallel < 1 {
		bad("Limits %+v: MaxBatch, Rate, Burst and MaxParallel must be positive", l)
	}
	return errors.Join(errs...)
}
