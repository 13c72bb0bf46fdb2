package bench

import (
	"image"
	"image/color"
	"image/png"
	"os"
)

// Canvas is WritePlot's renderer (image/png and the 5×7 font) for the
// plots of other tools, such as make fraud-eval.
type Canvas struct{ c canvas }

// NewCanvas returns a white w×h canvas.
func NewCanvas(w, h int) *Canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	return &Canvas{canvas{img: img}}
}

// Text draws s (uppercased) at (x, y) with the font scaled by scale.
func (c *Canvas) Text(x, y, scale int, col color.RGBA, s string) { c.c.text(x, y, scale, col, s) }

// Rect fills r.
func (c *Canvas) Rect(r image.Rectangle, col color.RGBA) { fill(c.c.img, r, col) }

// Line draws a 2-pixel line.
func (c *Canvas) Line(x0, y0, x1, y1 int, col color.RGBA) { c.c.line(x0, y0, x1, y1, col) }

// Frame draws a black rectangle's border.
func (c *Canvas) Frame(x0, y0, x1, y1 int) { c.c.frame(panel{x0, y0, x1, y1}) }

// HLine draws a horizontal line.
func (c *Canvas) HLine(x0, x1, y int, col color.RGBA) { c.c.hline(x0, x1, y, col) }

// Palette is the plots' series colours.
func Palette(i int) color.RGBA { return palette[i%len(palette)] }

// WritePNG writes the canvas to path.
func (c *Canvas) WritePNG(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, c.c.img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
