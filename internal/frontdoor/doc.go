// Package frontdoor puts Caddy in front of the app as its TLS front door:
// certificates by ACME (Let's Encrypt unless ACME_CA says otherwise), HTTP
// redirected to HTTPS, HSTS, and a reverse proxy to a unix socket of the
// app's that only Caddy can connect to (ProxySocket), setting
// X-Forwarded-For and X-Forwarded-Proto, which the app believes on that
// socket alone. Caddy's admin API is moved to a unix socket only root and
// Caddy reach (AdminSocket).
//
// Caddy comes from the server's own Debian packages. Slipway owns one site
// file per app (SiteDir/<app>.caddy), imported by one line it adds to the
// main Caddyfile, the admin line of its global options, the proxy socket's
// units and two systemd drop-ins (the app's instances, caddy.service): other
// sites on the same Caddy are left alone. Caddy is reloaded gracefully, and only when a file changed;
// it is never restarted. The app keeps its own socket, so a Caddy that fails
// takes HTTPS away, never the app.
//
// The server side is slipway-helper's steps (package helper): caddy-package,
// caddy-proxy, caddy-site and caddy-restore change the server, caddy-state
// reads the site file, the ACME account and the certificates back, and
// caddy-account-aside moves a broken account out of Caddy's storage.
package frontdoor
