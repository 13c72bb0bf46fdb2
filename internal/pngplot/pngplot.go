// Package pngplot draws simple charts as PNG with the standard library only:
// an RGBA canvas, panels with linear axes, 2-pixel lines and a 5×7 bitmap
// font. bench and soak draw their plots with it.
package pngplot

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
)

// New returns a white canvas of w×h pixels.
func New(w, h int) *Canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	Fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	return &Canvas{Img: img}
}

// WritePNG writes the canvas to path.
func (c *Canvas) WritePNG(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.Img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Colours: text and frames, grid lines, and one per series.
var (
	Black   = color.RGBA{0, 0, 0, 255}
	Grid    = color.RGBA{225, 225, 225, 255}
	Palette = []color.RGBA{{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255}, {255, 127, 14, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}
)

// MsLabel labels 10^e milliseconds: 1MS, 100MS, 10S.
func MsLabel(e float64) string {
	v := math.Pow(10, e)
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0fS", v/1000)
	case v >= 1:
		return fmt.Sprintf("%.0fMS", v)
	}
	return fmt.Sprintf("%gMS", v)
}

// NiceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func NiceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// Panel is a plot area in pixels: (X0, Y0) top left, (X1, Y1) bottom right.
type Panel struct{ X0, Y0, X1, Y1 int }

// X maps v in [lo, hi] to a pixel column.
func (p Panel) X(v, lo, hi float64) int {
	return p.X0 + int(math.Round((v-lo)/(hi-lo)*float64(p.X1-p.X0)))
}

// Y maps v in [lo, hi] (clamped) to a pixel row.
func (p Panel) Y(v, lo, hi float64) int {
	v = math.Max(lo, math.Min(hi, v))
	return p.Y1 - int(math.Round((v-lo)/(hi-lo)*float64(p.Y1-p.Y0)))
}

// Canvas is an image being drawn on.
type Canvas struct{ Img *image.RGBA }

// Fill paints r with c.
func Fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// HLine draws a horizontal 1-pixel line.
func (c *Canvas) HLine(x0, x1, y int, col color.RGBA) { Fill(c.Img, image.Rect(x0, y, x1+1, y+1), col) }

// VLine draws a vertical 1-pixel line.
func (c *Canvas) VLine(x, y0, y1 int, col color.RGBA) { Fill(c.Img, image.Rect(x, y0, x+1, y1+1), col) }

// YGrid draws five grid lines of a linear axis from 0 to top, labelled on
// the left.
func (c *Canvas) YGrid(p Panel, top float64) {
	for k := 0; k <= 4; k++ {
		v := top * float64(k) / 4
		y := p.Y(v, 0, top)
		c.HLine(p.X0, p.X1, y, Grid)
		lab := fmt.Sprintf("%.0f", v)
		c.Text(p.X0-8-len(lab)*6, y-3, 1, Black, lab)
	}
}

// Frame outlines p.
func (c *Canvas) Frame(p Panel) {
	c.HLine(p.X0, p.X1, p.Y0, Black)
	c.HLine(p.X0, p.X1, p.Y1, Black)
	c.VLine(p.X0, p.Y0, p.Y1, Black)
	c.VLine(p.X1, p.Y0, p.Y1, Black)
}

// Line draws a 2-pixel line (Bresenham).
func (c *Canvas) Line(x0, y0, x1, y1 int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		Fill(c.Img, image.Rect(x0, y0, x0+2, y0+2), col)
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

// Text draws s in the 5×7 font at (x, y), scaled; lowercase prints as
// uppercase, unknown characters as blanks.
func (c *Canvas) Text(x, y, scale int, col color.RGBA, s string) {
	for _, r := range strings.ToUpper(s) {
		if g, ok := font[r]; ok {
			for row := 0; row < 7; row++ {
				for bit := 0; bit < 5; bit++ {
					if g[row]&(1<<(4-bit)) != 0 {
						Fill(c.Img, image.Rect(x+bit*scale, y+row*scale, x+(bit+1)*scale, y+(row+1)*scale), col)
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
