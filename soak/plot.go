package soak

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"

	"github.com/stocksync/stocksync/internal/pngplot"
)

// writePlot draws the decided and failed order commands per second over
// the run, the p99 latency per second below, and each fault as a shaded
// band labelled with its kind.
func writePlot(path string, r *Report) error {
	c := pngplot.New(1400, 640)
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	c.Text(20, 14, 2, pngplot.Black, "STOCKSYNC SOAK - "+verdict+" - "+strings.ToUpper(r.LoadFor)+" OF LOAD, FAULTS SHADED")
	secs := float64(max(1, len(r.PerSecond)))
	top := 1.0
	for s := range r.PerSecond {
		top = math.Max(top, float64(max(r.PerSecond[s], r.ErrPerSecond[s])))
	}
	top = pngplot.NiceCeil(top)
	up := pngplot.Panel{X0: 90, Y0: 70, X1: 1370, Y1: 330}
	lo := pngplot.Panel{X0: 90, Y0: 400, X1: 1370, Y1: 580}
	band := color.RGBA{255, 236, 200, 255}
	for i, f := range r.Faults {
		if f.Skipped != "" {
			continue
		}
		x0 := up.X(f.Start.Sub(r.Started).Seconds(), 0, secs)
		x1 := max(x0+2, up.X(f.End.Sub(r.Started).Seconds(), 0, secs))
		pngplot.Fill(c.Img, image.Rect(x0, up.Y0+1, x1, up.Y1), band)
		pngplot.Fill(c.Img, image.Rect(x0, lo.Y0+1, x1, lo.Y1), band)
		c.Text(x0+2, up.Y0+4+12*(i%3), 1, pngplot.Black, f.Kind)
	}
	c.Frame(up)
	c.Frame(lo)
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		y := up.Y(v, 0, top)
		c.HLine(up.X0, up.X1, y, pngplot.Grid)
		lab := fmt.Sprintf("%.0f", v)
		c.Text(up.X0-8-len(lab)*6, y-3, 1, pngplot.Black, lab)
		s := secs * float64(k) / 4
		lab = fmt.Sprintf("%.0fS", s)
		c.Text(lo.X(s, 0, secs)-len(lab)*3, lo.Y1+8, 1, pngplot.Black, lab)
	}
	c.Text(up.X0, up.Y0-20, 1, pngplot.Black, "ORDER COMMANDS PER SECOND: DECIDED (BLUE), WITHOUT AN ANSWER (RED)")
	series := func(p pngplot.Panel, v []float64, lo, hi float64, col color.RGBA) {
		for s := 1; s < len(v); s++ {
			if math.IsNaN(v[s-1]) || math.IsNaN(v[s]) {
				continue // no data that second
			}
			c.Line(p.X(float64(s-1), 0, secs), p.Y(v[s-1], lo, hi), p.X(float64(s), 0, secs), p.Y(v[s], lo, hi), col)
		}
	}
	toF := func(v []int) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	series(up, toF(r.PerSecond), 0, top, pngplot.Palette[0])
	series(up, toF(r.ErrPerSecond), 0, top, pngplot.Palette[1])
	// Lower panel: p99 latency, log scale, 1 ms to 10 s.
	c.Text(lo.X0, lo.Y0-20, 1, pngplot.Black, "P99 LATENCY OF DECIDED COMMANDS PER SECOND (MS, LOG)")
	for e := 0.0; e <= 4; e++ {
		y := lo.Y(e, 0, 4)
		c.HLine(lo.X0, lo.X1, y, pngplot.Grid)
		c.Text(lo.X0-8-len(pngplot.MsLabel(e))*6, y-3, 1, pngplot.Black, pngplot.MsLabel(e))
	}
	logs := make([]float64, len(r.P99PerSecond))
	for i, v := range r.P99PerSecond {
		logs[i] = math.NaN()
		if v > 0 {
			logs[i] = math.Log10(math.Max(v, 1))
		}
	}
	series(lo, logs, 0, 4, pngplot.Palette[2])
	c.Text(90, 615, 1, pngplot.Black, fmt.Sprintf("%d ATTEMPTS, %d DECIDED, %d WITHOUT AN ANSWER, P50 %s, P99 %s",
		r.Attempts, r.Decided, r.Errors, strings.ToUpper(r.P50), strings.ToUpper(r.P99)))
	return c.WritePNG(path)
}
