// Package opsui is the ops console every instance serves at /ops/: a live
// business view (charts of the last hour, sampled each second from the
// instance's own registry, so neither Prometheus nor Grafana is needed),
// the cluster (instances, partitions, lag, rebalances, readiness), the
// channels (mode with confirmation, circuit, paged pending values, last
// error and ack, push now, CSV), the DLQ (browse by class, inspect, replay)
// and lookups of a SKU and an order.
//
// The page is static HTML and JavaScript (static/, with uPlot vendored in
// static/vendor/uplot: no CDN) over the JSON API, so it needs no rights the
// API would not give its token. Its data routes live in queryapi (ops.go)
// and read a Console: a Recorder (the series), Orders (fed with the order
// answers by the engine's OnResult hook: units, refusals, top SKUs, order
// history), the cluster view and the DLQ browser. What the
// console needs of an engine beside the API's Engine is the small Engine
// interface of this package.
//
// Metrics of Orders, registered on the registry given to NewOrders. On the
// new engine (engine.backend: txloop) each instance counts the answers its
// own loop decided, once committed: aggregate with sum. The goka engine's
// instances each read all of orders.results, so each exports the
// deployment's figures: aggregate with max.
//
//	stocksync_order_units_total{op}        counter: units in answers; op is reserved, committed, released, expired, shipped
//	stocksync_order_refusals_total{reason} counter: reserves refused, by reason (insufficient_stock: out of stock)
//	stocksync_top_sku_units{kind,sku}      gauge: units of the 10 SKUs most asked for (kind=demand) and most refused (kind=refused)
package opsui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page; mount it under /ops/.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("opsui: embedded files: " + err.Error())
	}
	return http.StripPrefix("/ops", http.FileServer(http.FS(sub)))
}
