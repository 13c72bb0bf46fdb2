// Package opsui serves the operators' page: channels with their mode,
// circuit and backlog, the values a channel has not acknowledged (with CSV
// export and push-now, the manual fallback for a marketplace that
// misbehaves), and a stock lookup. It is static HTML and JavaScript over the
// JSON API, so it needs no rights the API would not give its token.
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
