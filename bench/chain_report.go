package bench

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stocksync/stocksync/internal/pngplot"
)

// WriteChainReport writes results.md (the tables), results.json (every
// figure) and chain.png (cancellations over the day, per 1,000 orders by
// mode) to dir.
func WriteChainReport(dir string, r *ChainResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var md strings.Builder
	WriteChainTables(&md, r)
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), js, 0o644); err != nil {
		return err
	}
	return WriteChainPlot(filepath.Join(dir, "chain.png"), r)
}

func (r *ChainResult) batches() []*ModeResult {
	var out []*ModeResult
	for _, m := range r.Modes {
		if d, _ := chainBatchInterval(m.Mode); d > 0 {
			out = append(out, m)
		}
	}
	return out
}

// WriteChainTables writes the cancellations and the propagation tables.
func WriteChainTables(w io.Writer, r *ChainResult) {
	c := r.Config
	days := "a day per real-time mode, one after another, each engine alone with the simulation, and one for the batch modes"
	if c.SideBySide {
		days = "every mode side by side in one day, the engines sharing the cores"
	}
	engine := c.Backend
	if engine == "" {
		engine = "the default"
	}
	fmt.Fprintf(w, "%d SKUs, %s of simulated time at %g× (%s simulated a wall second), %s; %s engine; %s wall in all; promotion ×%g from %s for %s; demand per simulated minute: %g marketplace orders, %g app orders, %g shelf sales; ERP deliveries every %s; seed %d. Load is the machine's 1-minute load average during the mode's day (2 cores).\n\n",
		c.SKUs, c.Day, c.Speed, time.Duration(c.Speed*float64(time.Second)), days, engine, r.Wall.Round(time.Second), c.SpikeFactor, c.SpikeAt, c.SpikeFor, c.MarketplaceOrders, c.AppOrders, c.ShelfSales, c.Restock, c.Seed)
	batches := r.batches()
	fmt.Fprint(w, "| mode | marketplace orders | cancelled | per 1,000 |")
	for _, b := range batches {
		fmt.Fprintf(w, " fewer than %s |", b.Mode)
	}
	fmt.Fprintln(w, " app orders (cancelled) | lost: shown too little | oversold units | unknown | load |")
	fmt.Fprint(w, "|---|---:|---:|---:|")
	for range batches {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w, "---:|---:|---:|---:|---:|")
	for _, m := range r.Modes {
		var orders, cancelled, lost int
		for _, ch := range marketplaceChannels {
			orders, cancelled, lost = orders+m.Orders[ch], cancelled+m.Cancelled[ch], lost+m.NotShown[ch]
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f |", m.Mode, orders, cancelled, m.PerThousand())
		for _, b := range batches {
			fmt.Fprintf(w, " %s |", ratio(b, m))
		}
		fmt.Fprintf(w, " %d (%d) | %d | %d | %d | %.1f |\n", m.Orders["app"], m.Cancelled["app"], lost, m.OversoldUnits, m.Unknown, m.Load)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Stock change → marketplace acknowledgement, wall time: the engine's `%s` less `%s` (changes of SKUs the channel already shows), outside the promotion and during it; and the first values of the %d SKUs listed as it starts. The marketplaces' limits run %g× faster than in a real day, so a wait they impose counts %g× less here:\n\n",
		e2eMetric, firstMetric, c.NewSKUs, c.Speed, c.Speed)
	fmt.Fprintln(w, "| mode | channel | changes | p50 | p95 | p99 | promotion: changes | p50 | p95 | p99 | listing: first values | p50 | p95 | p99 | requests | what bounds it |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, m := range r.Modes {
		for _, ch := range sortedKeys(m.Latency) {
			fmt.Fprintf(w, "| %s | %s |", m.Mode, ch)
			for _, h := range []Histogram{m.Latency[ch], m.PromotionLatency[ch], m.Listing[ch]} {
				fmt.Fprintf(w, " %d | %s | %s | %s |", h.Count, msOrInf(h.Quantile(.5)), msOrInf(h.Quantile(.95)), msOrInf(h.Quantile(.99)))
			}
			fmt.Fprintf(w, " %d | %s |\n", m.Pushes[ch], chainBound(ch, c.Speed))
		}
	}
}

// ratio is how many times fewer cancellations per order m had than b.
func ratio(b, m *ModeResult) string {
	if b == m {
		return "1×"
	}
	bp, mp := b.PerThousand(), m.PerThousand()
	switch {
	case math.IsNaN(bp) || math.IsNaN(mp):
		return "–"
	case mp == 0 && bp == 0:
		return "–"
	case mp == 0:
		return "∞ (none)"
	}
	return fmt.Sprintf("%.1f×", bp/mp)
}

// chainBound says which marketplace limit bounds a channel's propagation.
func chainBound(ch string, speed float64) string {
	switch chainKind(ch) {
	case "ozon":
		return fmt.Sprintf("Ozon: one update per item per 30 s (%.2f s wall here): a SKU that moves again within 30 s waits for it", 30/speed)
	case "wildberries":
		return "Wildberries: 300 requests/min of up to 1000 SKUs: not binding at this rate"
	case "yandex":
		return "Yandex Market: 100,000 offers/min, 4 requests in parallel: not binding at this rate"
	}
	return "the chain's own webhook: 20 requests/s of up to 500 SKUs"
}

// WriteChainPlot draws marketplace cancellations per 5 simulated minutes
// by mode, with the promotion shaded, and cancellations per 1,000
// marketplace orders by mode.
func WriteChainPlot(path string, r *ChainResult) error {
	const w, h = 1400, 600
	c := pngplot.New(w, h)
	c.Text(20, 14, 2, pngplot.Black, fmt.Sprintf("STOCKSYNC CHAIN DAY - %d SKUS, %s SIMULATED AT %G×", r.Config.SKUs, r.Config.Day, r.Config.Speed))

	lp := pngplot.Panel{X0: 80, Y0: 70, X1: 900, Y1: 480}
	day := r.Config.Day.Minutes()
	top := 1.0
	for _, m := range r.Modes {
		for _, v := range m.Bins {
			top = math.Max(top, float64(v))
		}
	}
	top = pngplot.NiceCeil(top)
	x0, x1 := lp.X(r.Config.SpikeAt.Minutes(), 0, day), lp.X((r.Config.SpikeAt+r.Config.SpikeFor).Minutes(), 0, day)
	pngplot.Fill(c.Img, image.Rect(x0, lp.Y0, x1+1, lp.Y1), color.RGBA{255, 228, 228, 255})
	c.Text(x0+4, lp.Y0+6, 1, pngplot.Palette[1], fmt.Sprintf("PROMOTION ×%G", r.Config.SpikeFactor))
	c.Frame(lp)
	c.YGrid(lp, top)
	for k := 0; k <= 4; k++ {
		min := day * float64(k) / 4
		lab := fmt.Sprintf("%.0fMIN", min)
		c.Text(lp.X(min, 0, day)-len(lab)*3, lp.Y1+8, 1, pngplot.Black, lab)
	}
	bin := r.Bin.Minutes()
	c.Text(lp.X0, lp.Y0-20, 1, pngplot.Black, fmt.Sprintf("MARKETPLACE ORDERS CANCELLED (OUT OF STOCK) PER %.0f SIMULATED MINUTES", bin))
	for i, m := range r.Modes {
		col := pngplot.Palette[i%len(pngplot.Palette)]
		for k := 1; k < len(m.Bins); k++ {
			c.Line(lp.X((float64(k)-0.5)*bin, 0, day), lp.Y(float64(m.Bins[k-1]), 0, top),
				lp.X((float64(k)+0.5)*bin, 0, day), lp.Y(float64(m.Bins[k]), 0, top), col)
		}
	}

	rp := pngplot.Panel{X0: 1000, Y0: 70, X1: 1370, Y1: 480}
	best := 1.0
	for _, m := range r.Modes {
		if v := m.PerThousand(); !math.IsNaN(v) {
			best = math.Max(best, v)
		}
	}
	best = pngplot.NiceCeil(best)
	c.Frame(rp)
	c.YGrid(rp, best)
	c.Text(rp.X0, rp.Y0-20, 1, pngplot.Black, "CANCELLED PER 1,000 MARKETPLACE ORDERS")
	slot := float64(rp.X1-rp.X0) / float64(max(len(r.Modes), 1))
	for i, m := range r.Modes {
		v := m.PerThousand()
		if math.IsNaN(v) {
			continue
		}
		bx := rp.X0 + int(slot*float64(i)+slot*0.2)
		pngplot.Fill(c.Img, image.Rect(bx, rp.Y(v, 0, best), bx+int(slot*0.6), rp.Y1), pngplot.Palette[i%len(pngplot.Palette)])
		lab := fmt.Sprintf("%.1f", v)
		c.Text(bx, rp.Y(v, 0, best)-10, 1, pngplot.Black, lab)
	}

	x := 80
	for i, m := range r.Modes {
		col := pngplot.Palette[i%len(pngplot.Palette)]
		pngplot.Fill(c.Img, image.Rect(x, 530, x+24, 536), col)
		lab := fmt.Sprintf("%s %.1f PER 1,000", strings.ToUpper(m.Mode), m.PerThousand())
		c.Text(x+30, 529, 1, pngplot.Black, lab)
		x += 40 + len(lab)*6
	}
	return c.WritePNG(path)
}
