package bench

import (
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/stocksync/stocksync/internal/pngplot"
)

// WritePlot draws one workload's results as a PNG: on the left the latency
// distribution (command → answer, by percentile on a "nines" axis, log
// scale), on the right the commands answered in each second of the run.
// internal/pngplot draws it with the standard library only.
func WritePlot(path, title string, results []*Result) error {
	const w, h = 1400, 560
	c := pngplot.New(w, h)
	c.Text(20, 14, 2, pngplot.Black, "STOCKSYNC BENCH - "+strings.ToUpper(title)+" (SAME MACHINE, SAME RUN, SAME GENERATOR)")

	// Left panel: latency percentiles.
	lp := pngplot.Panel{X0: 90, Y0: 70, X1: 660, Y1: 480}
	nines := func(p float64) float64 { return -math.Log10(1 - p) } // 0.9 → 1, 0.99 → 2
	const maxNines = 4.0
	lo, hi := -1.0, 1.0 // log10 ms
	for _, r := range results {
		if n := len(r.Latencies); n > 0 {
			lo = math.Min(lo, math.Floor(math.Log10(math.Max(r.Latencies[0]*1000, 0.01))))
			hi = math.Max(hi, math.Ceil(math.Log10(r.Latencies[n-1]*1000)))
		}
	}
	c.Frame(lp)
	for e := lo; e <= hi; e++ {
		y := lp.Y(e, lo, hi)
		c.HLine(lp.X0, lp.X1, y, pngplot.Grid)
		c.Text(lp.X0-8-len(pngplot.MsLabel(e))*6, y-3, 1, pngplot.Black, pngplot.MsLabel(e))
	}
	for i, lab := range []string{"P0", "P90", "P99", "P99.9", "P99.99"} {
		x := lp.X(float64(i), 0, maxNines)
		c.VLine(x, lp.Y0, lp.Y1, pngplot.Grid)
		c.Text(x-len(lab)*3, lp.Y1+8, 1, pngplot.Black, lab)
	}
	c.Text(lp.X0, lp.Y0-20, 1, pngplot.Black, "LATENCY, COMMAND TO ANSWER (MS, LOG) BY PERCENTILE")
	for i, r := range results {
		n := len(r.Latencies)
		if n == 0 {
			continue
		}
		col := pngplot.Palette[i%len(pngplot.Palette)]
		px, py := -1, -1
		for k := 0; k <= 400; k++ {
			q := 1 - math.Pow(10, -maxNines*float64(k)/400)
			v := r.Latencies[min(n-1, int(q*float64(n)))] * 1000
			x, y := lp.X(nines(q), 0, maxNines), lp.Y(math.Log10(math.Max(v, 0.01)), lo, hi)
			if px >= 0 {
				c.Line(px, py, x, y, col)
			}
			px, py = x, y
		}
	}

	// Right panel: answered per second.
	rp := pngplot.Panel{X0: 760, Y0: 70, X1: 1370, Y1: 480}
	var top float64 = 1
	var secs int
	for _, r := range results {
		for _, v := range r.PerSecond {
			top = math.Max(top, float64(v))
		}
		secs = max(secs, len(r.PerSecond))
	}
	top = pngplot.NiceCeil(top)
	c.Frame(rp)
	c.YGrid(rp, top)
	for k := 0; k <= 4; k++ {
		s := float64(secs) * float64(k) / 4
		x := rp.X(s, 0, float64(max(secs, 1)))
		lab := fmt.Sprintf("%.0fS", s)
		c.Text(x-len(lab)*3, rp.Y1+8, 1, pngplot.Black, lab)
	}
	c.Text(rp.X0, rp.Y0-20, 1, pngplot.Black, "ORDER COMMANDS ANSWERED PER SECOND, OVER THE RUN")
	for i, r := range results {
		col := pngplot.Palette[i%len(pngplot.Palette)]
		for k := 1; k < len(r.PerSecond); k++ {
			c.Line(rp.X(float64(k-1), 0, float64(secs)), rp.Y(float64(r.PerSecond[k-1]), 0, top),
				rp.X(float64(k), 0, float64(secs)), rp.Y(float64(r.PerSecond[k]), 0, top), col)
		}
	}

	// Legend.
	x := 90
	for i, r := range results {
		col := pngplot.Palette[i%len(pngplot.Palette)]
		pngplot.Fill(c.Img, image.Rect(x, 520, x+24, 526), col)
		lab := fmt.Sprintf("%s %.0f/S P99 %s", strings.ToUpper(r.System), r.Decided, strings.ToUpper(msOrInf(r.P99)))
		c.Text(x+30, 519, 1, pngplot.Black, lab)
		x += 40 + len(lab)*6
	}
	return c.WritePNG(path)
}
