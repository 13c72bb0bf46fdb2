package fraudeval

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"github.com/stocksync/stocksync/internal/pngplot"
)

// WritePlot draws the report as a PNG with the repo's PNG renderer (internal/pngplot): on the left
// precision and recall per pattern, on the right the alert latency by
// percentile.
func WritePlot(path string, r *Report) error {
	const w, h = 1200, 520
	c := pngplot.New(w, h)
	black, grid := color.RGBA{0, 0, 0, 255}, color.RGBA{225, 225, 225, 255}
	c.Text(20, 14, 2, black, fmt.Sprintf("STOCKSYNC FRAUD-EVAL ON %s: %d EVENTS, %d ALERTS", r.Broker, r.Events, r.Alerts))

	// Left: bars.
	x0, y0, x1, y1 := 70, 70, 560, 440
	c.Frame(pngplot.Panel{X0: x0, Y0: y0, X1: x1, Y1: y1})
	for k := 0; k <= 4; k++ {
		y := y1 - (y1-y0)*k/4
		c.HLine(x0, x1, y, grid)
		c.Text(x0-40, y-3, 1, black, fmt.Sprintf("%.2f", float64(k)/4))
	}
	c.Text(x0, y0-20, 1, black, "PRECISION (LEFT BAR) AND RECALL (RIGHT BAR) PER PATTERN")
	slot := (x1 - x0) / max(1, len(r.Patterns))
	for i, p := range r.Patterns {
		bx := x0 + i*slot + slot/6
		bw := slot / 3
		for j, v := range []float64{p.Precision, p.Recall} {
			top := y1 - int(math.Round(v*float64(y1-y0)))
			pngplot.Fill(c.Img, image.Rect(bx+j*bw, top, bx+(j+1)*bw-4, y1), pngplot.Palette[j%len(pngplot.Palette)])
		}
		c.Text(x0+i*slot+4, y1+10, 1, black, string(p.Pattern))
		c.Text(x0+i*slot+4, y1+22, 1, black, fmt.Sprintf("P %.2f R %.2f", p.Precision, p.Recall))
	}

	// Right: latency by percentile, linear in ms.
	x0, x1 = 660, 1170
	c.Frame(pngplot.Panel{X0: x0, Y0: y0, X1: x1, Y1: y1})
	top := 10.0
	if n := len(r.Latencies); n > 0 {
		top = math.Max(top, r.Latencies[n-1]*1000)
	}
	for k := 0; k <= 4; k++ {
		y := y1 - (y1-y0)*k/4
		c.HLine(x0, x1, y, grid)
		c.Text(x0-50, y-3, 1, black, fmt.Sprintf("%.0fMS", top*float64(k)/4))
	}
	for _, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		c.Text(x0+int(q*float64(x1-x0))-12, y1+10, 1, black, fmt.Sprintf("P%g", q*100))
	}
	c.Text(x0, y0-20, 1, black, fmt.Sprintf("ALERT LATENCY, EVENT TO ALERT, BY PERCENTILE: P50 %s P99 %s", ms(r.P50), ms(r.P99)))
	n := len(r.Latencies)
	px, py := -1, -1
	for k := 0; n > 0 && k <= 200; k++ {
		q := float64(k) / 200
		v := r.Latencies[min(n-1, int(q*float64(n)))] * 1000
		x, y := x0+int(q*float64(x1-x0)), y1-int(v/top*float64(y1-y0))
		if px >= 0 {
			c.Line(px, py, x, y, pngplot.Palette[2])
		}
		px, py = x, y
	}
	return c.WritePNG(path)
}
