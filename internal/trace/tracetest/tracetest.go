// Package tracetest helps tests look at trace screenshots: whether a part
// of the picture shows something or is covered.
package tracetest

import "image"

// Luminance is the mean and the maximum luminance (0 black to 255 white)
// of the rectangle at x, y of size w×h in img.
func Luminance(img image.Image, x, y, w, h int) (mean, max float64) {
	n := 0.0
	for py := y; py < y+h; py++ {
		for px := x; px < x+w; px++ {
			r, g, b, _ := img.At(px, py).RGBA()
			l := (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 257
			mean += l
			if l > max {
				max = l
			}
			n++
		}
	}
	return mean / n, max
}
