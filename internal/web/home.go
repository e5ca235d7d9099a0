package web

import (
	"html/template"
	"net/http"
)

const homePage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Slipway</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<main>
<h1>Slipway</h1>
<p>This app is running{{if .Version}} version {{.Version}}{{end}}.</p>
<p><a href="/admin">Admin</a></p>
</main>
</body>
</html>
`

// home is GET / exactly: a small page saying the app runs, with a link to
// the admin area. Parsed here rather than in a package variable: an app
// that serves its own routes through this package links no template.
func home(version string) http.Handler {
	page := template.Must(template.New("home").Parse(homePage))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		_ = page.Execute(w, struct{ Version string }{version})
	})
}
