package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
)

// WritePlot draws one workload's results as a PNG: on the left the latency
// distribution (command → answer, by percentile on a "nines" axis, log
// scale), on the right the commands answered in each second of the run.
// The renderer is a few lines of image/png and a 5×7 bitmap font, so the
// plot needs nothing outside the standard library.
func WritePlot(path, title string, results []*Result) error {
	const w, h = 1400, 560
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	c := &canvas{img: img}
	c.text(20, 14, 2, black, "STOCKSYNC BENCH - "+strings.ToUpper(title)+" (SAME MACHINE, SAME RUN, SAME GENERATOR)")

	// Left panel: latency percentiles.
	lp := panel{x0: 90, y0: 70, x1: 660, y1: 480}
	nines := func(p float64) float64 { return -math.Log10(1 - p) } // 0.9 → 1, 0.99 → 2
	const maxNines = 4.0
	lo, hi := -1.0, 1.0 // log10 ms
	for _, r := range results {
		if n := len(r.Latencies); n > 0 {
			lo = math.Min(lo, math.Floor(math.Log10(math.Max(r.Latencies[0]*1000, 0.01))))
			hi = math.Max(hi, math.Ceil(math.Log10(r.Latencies[n-1]*1000)))
		}
	}
	c.frame(lp)
	for e := lo; e <= hi; e++ {
		y := lp.y(e, lo, hi)
		c.hline(lp.x0, lp.x1, y, grid)
		c.text(lp.x0-8-len(msLabel(e))*6, y-3, 1, black, msLabel(e))
	}
	for i, lab := range []string{"P0", "P90", "P99", "P99.9", "P99.99"} {
		x := lp.x(float64(i), 0, maxNines)
		c.vline(x, lp.y0, lp.y1, grid)
		c.text(x-len(lab)*3, lp.y1+8, 1, black, lab)
	}
	c.text(lp.x0, lp.y0-20, 1, black, "LATENCY, COMMAND TO ANSWER (MS, LOG) BY PERCENTILE")
	for i, r := range results {
		n := len(r.Latencies)
		if n == 0 {
			continue
		}
		col := palette[i%len(palette)]
		px, py := -1, -1
		for k := 0; k <= 400; k++ {
			q := 1 - math.Pow(10, -maxNines*float64(k)/400)
			v := r.Latencies[min(n-1, int(q*float64(n)))] * 1000
			x, y := lp.x(nines(q), 0, maxNines), lp.y(math.Log10(math.Max(v, 0.01)), lo, hi)
			if px >= 0 {
				c.line(px, py, x, y, col)
			}
			px, py = x, y
		}
	}

	// Right panel: answered per second.
	rp := panel{x0: 760, y0: 70, x1: 1370, y1: 480}
	var top float64 = 1
	var secs int
	for _, r := range results {
		for _, v := range r.PerSecond {
			top = math.Max(top, float64(v))
		}
		secs = max(secs, len(r.PerSecond))
	}
	top = niceCeil(top)
	c.frame(rp)
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		y := rp.y(v, 0, top)
		c.hline(rp.x0, rp.x1, y, grid)
		lab := fmt.Sprintf("%.0f", v)
		c.text(rp.x0-8-len(lab)*6, y-3, 1, black, lab)
	}
	for k := 0; k <= 4; k++ {
		s := float64(secs) * float64(k) / 4
		x := rp.x(s, 0, float64(max(secs, 1)))
		lab := fmt.Sprintf("%.0fS", s)
		c.text(x-len(lab)*3, rp.y1+8, 1, black, lab)
	}
	c.text(rp.x0, rp.y0-20, 1, black, "ORDER COMMANDS ANSWERED PER SECOND, OVER THE RUN")
	for i, r := range results {
		col := palette[i%len(palette)]
		for k := 1; k < len(r.PerSecond); k++ {
			c.line(rp.x(float64(k-1), 0, float64(secs)), rp.y(float64(r.PerSecond[k-1]), 0, top),
				rp.x(float64(k), 0, float64(secs)), rp.y(float64(r.PerSecond[k]), 0, top), col)
		}
	}

	// Legend.
	x := 90
	for i, r := range results {
		col := palette[i%len(palette)]
		fill(img, image.Rect(x, 520, x+24, 526), col)
		lab := fmt.Sprintf("%s %.0f/S P99 %s", strings.ToUpper(r.System), r.Decided, strings.ToUpper(msOrInf(r.P99)))
		c.text(x+30, 519, 1, black, lab)
		x += 40 + len(lab)*6
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var (
	black   = color.RGBA{0, 0, 0, 255}
	grid    = color.RGBA{225, 225, 225, 255}
	palette = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}
)

func msLabel(e float64) string {
	v := math.Pow(10, e)
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0fS", v/1000)
	case v >= 1:
		return fmt.Sprintf("%.0fMS", v)
	}
	return fmt.Sprintf("%gMS", v)
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

type panel struct{ x0, y0, x1, y1 int }

func (p panel) x(v, lo, hi float64) int {
	return p.x0 + int(math.Round((v-lo)/(hi-lo)*float64(p.x1-p.x0)))
}

func (p panel) y(v, lo, hi float64) int {
	v = math.Max(lo, math.Min(hi, v))
	return p.y1 - int(math.Round((v-lo)/(hi-lo)*float64(p.y1-p.y0)))
}

type canvas struct{ img *image.RGBA }

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func (c *canvas) hline(x0, x1, y int, col color.RGBA) { fill(c.img, image.Rect(x0, y, x1+1, y+1), col) }
func (c *canvas) vline(x, y0, y1 int, col color.RGBA) { fill(c.img, image.Rect(x, y0, x+1, y1+1), col) }

func (c *canvas) frame(p panel) {
	c.hline(p.x0, p.x1, p.y0, black)
	c.hline(p.x0, p.x1, p.y1, black)
	c.vline(p.x0, p.y0, p.y1, black)
	c.vline(p.x1, p.y0, p.y1, black)
}

// line draws a 2-pixel line (Bresenham).
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(c.img, image.Rect(x0, y0, x0+2, y0+2), col)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// text draws s in the 5×7 font at (x, y), scaled; lowercase prints as
// uppercase, unknown characters as blanks.
func (c *canvas) text(x, y, scale int, col color.RGBA, s string) {
	for _, r := range strings.ToUpper(s) {
		if g, ok := font[r]; ok {
			for row := 0; row < 7; row++ {
				for bit := 0; bit < 5; bit++ {
					if g[row]&(1<<(4-bit)) != 0 {
						fill(c.img, image.Rect(x+bit*scale, y+row*scale, x+(bit+1)*scale, y+(row+1)*scale), col)
					}
				}
			}
		}
		x += 6 * scale
	}
}

// font is a 5×7 bitmap font: seven rows of five bits per glyph.
var font = map[rune][7]byte{
	'0': {14, 17, 19, 21, 25, 17, 14}, '1': {4, 12, 4, 4, 4, 4, 14}, '2': {14, 17, 1, 2, 4, 8, 31},
	'3': {31, 2, 4, 2, 1, 17, 14}, '4': {2, 6, 10, 18, 31, 2, 2}, '5': {31, 16, 30, 1, 1, 17, 14},
	'6': {6, 8, 16, 30, 17, 17, 14}, '7': {31, 1, 2, 4, 8, 8, 8}, '8': {14, 17, 17, 14, 17, 17, 14},
	'9': {14, 17, 17, 15, 1, 2, 12},
	'A': {14, 17, 17, 31, 17, 17, 17}, 'B': {30, 17, 17, 30, 17, 17, 30}, 'C': {14, 17, 16, 16, 16, 17, 14},
	'D': {28, 18, 17, 17, 17, 18, 28}, 'E': {31, 16, 16, 30, 16, 16, 31}, 'F': {31, 16, 16, 30, 16, 16, 16},
	'G': {14, 17, 16, 23, 17, 17, 15}, 'H': {17, 17, 17, 31, 17, 17, 17}, 'I': {14, 4, 4, 4, 4, 4, 14},
	'J': {7, 2, 2, 2, 2, 18, 12}, 'K': {17, 18, 20, 24, 20, 18, 17}, 'L': {16, 16, 16, 16, 16, 16, 31},
	'M': {17, 27, 21, 21, 17, 17, 17}, 'N': {17, 17, 25, 21, 19, 17, 17}, 'O': {14, 17, 17, 17, 17, 17, 14},
	'P': {30, 17, 17, 30, 16, 16, 16}, 'Q': {14, 17, 17, 17, 21, 18, 13}, 'R': {30, 17, 17, 30, 20, 18, 17},
	'S': {15, 16, 16, 14, 1, 1, 30}, 'T': {31, 4, 4, 4, 4, 4, 4}, 'U': {17, 17, 17, 17, 17, 17, 14},
	'V': {17, 17, 17, 17, 17, 10, 4}, 'W': {17, 17, 17, 21, 21, 21, 10}, 'X': {17, 17, 10, 4, 10, 17, 17},
	'Y': {17, 17, 10, 4, 4, 4, 4}, 'Z': {31, 1, 2, 4, 8, 16, 31},
	'.': {0, 0, 0, 0, 0, 12, 12}, ',': {0, 0, 0, 0, 12, 4, 8}, '-': {0, 0, 0, 31, 0, 0, 0},
	'/': {1, 1, 2, 4, 8, 16, 16}, ':': {0, 12, 12, 0, 12, 12, 0}, '(': {2, 4, 8, 8, 8, 4, 2},
	')': {8, 4, 2, 2, 2, 4, 8}, '%': {24, 25, 2, 4, 8, 19, 3}, '>': {8, 4, 2, 1, 2, 4, 8},
	'<': {2, 4, 8, 16, 8, 4, 2}, '=': {0, 0, 31, 0, 31, 0, 0}, '_': {0, 0, 0, 0, 0, 0, 31},
	'×': {0, 17, 10, 4, 10, 17, 0}, '+': {0, 4, 4, 31, 4, 4, 0},
}
