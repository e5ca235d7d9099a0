// Package frontdoor puts Caddy in front of the app as its TLS front door:
// certificates by ACME (Let's Encrypt unless ACME_CA says otherwise), HTTP
// redirected to HTTPS, HSTS, and a reverse proxy to the app's loopback
// socket that sets X-Forwarded-For and X-Forwarded-Proto, which the app
// believes from loopback only (TRUSTED_PROXIES).
//
// Caddy comes from the server's own Debian packages. Slipway owns one site
// file per app (SiteDir/<app>.caddy), imported by one line it adds to the
// main Caddyfile, and one systemd drop-in: other sites on the same Caddy are
// left alone. Caddy is reloaded gracefully, and only when a file changed;
// it is never restarted. The app keeps its own socket, so a Caddy that fails
// takes HTTPS away, never the app.
package frontdoor
