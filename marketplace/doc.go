// Package marketplace pushes each channel's available-to-sell to the
// marketplaces' stock APIs. The sinks own batching, rate limiting, retries,
// the circuit breaker and the DLQ; an Adapter only turns one batch into one
// request and the answer into one ItemResult per update, or into one typed
// request-level error.
//
// Every adapter sends absolute values, so resending the same body is safe;
// what is not safe is an older value overtaking a newer one, which the sink
// prevents by never pushing a version older than the acknowledged one.
//
// Adapters (New's kinds) and how they map the marketplace's answers:
//
//	ozon         POST /v2/products/stocks, Client-Id + Api-Key headers.
//	             200 with result[] per item: updated → OK; item error codes
//	             TOO_MANY_REQUESTS (the pair's 30 s cooldown) → retryable;
//	             NOT_FOUND, STOCK_TOO_BIG, INVALID_STATE and unknown codes →
//	             not retryable; updated:false without errors, or an item
//	             missing from result[] → retryable. 429 or body code 8 →
//	             *ThrottledError (RetryAfter 0: Ozon sends no Retry-After).
//	wildberries  PUT /api/v3/stocks/{warehouseId}, Authorization header.
//	             204 → all OK. amount outside 0..100000 → not retryable,
//	             never sent. 409 [{code,message,data}] → the SKUs named in
//	             data fail, not retryable; the rest were not applied and are
//	             retryable; without named SKUs every item is retryable. A 409
//	             costs five requests: the adapter mirrors WB's token bucket
//	             and holds a push back as *ThrottledError (Status 0) when it
//	             is spent. 429 → *ThrottledError (Retry-After or
//	             X-Ratelimit-Retry).
//	yandex       PUT /v2/campaigns/{campaignId}/offers/stocks, Api-Key
//	             header. 200 → all OK. 420 (more than 4 parallel requests or
//	             the offers quota) and 429 → *ThrottledError; RetryAfter from
//	             Retry-After, else X-RateLimit-Resource-Until when Remaining
//	             cannot cover the push. A push that the last X-RateLimit-Resource-Remaining
//	             cannot cover is held back as *ThrottledError (Status 0).
//	             400 errors[] → *RejectedError: Yandex answers for the whole
//	             request, so what the adapter can check per item (count < 0,
//	             SKU empty or over 255 bytes) is refused per item first.
//	webhook      POST {"channel","updates":[{sku,available,version}]} with
//	             Authorization: Bearer. 2xx → OK, or the per-item results[]
//	             when the body has them (a SKU missing there is retryable).
//	             429, and 503 with Retry-After → *ThrottledError.
//
// For all of them: 5xx, 408, connection failures and timeouts →
// *UnavailableError; other 4xx (401, 403, 404, 400 …) → *RejectedError; a
// negative Available is refused per item, not retryable, and never sent; a
// cancelled ctx returns an error wrapping context.Canceled that is none of
// the three types (the caller stopped, the marketplace did not fail).
//
// The package marketplace/mock has an HTTP server for each kind that
// behaves like the real API, including its unpleasant parts; the contract
// tests here run every adapter against them.
package marketplace
