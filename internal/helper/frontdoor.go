package helper

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The front door's steps (internal/frontdoor): Caddy from Debian's
// packages, its admin API on a unix socket, one site file per app, the
// proxy socket Caddy reaches the app through, and what provision reads
// back (certificates, the ACME account, Caddy's refusals). Each prints
// "ok: ..." and "changed: ..." lines; a failure is one "result failed"
// line in Caddy's own words.

// CaddyPackageArgs are caddy-package's: the drop-in of caddy.service that
// gives Caddy /run/caddy for its admin socket.
type CaddyPackageArgs struct {
	DropIn     string `json:"drop_in"`
	DropInBody string `json:"drop_in_body"`
}

// CaddySiteArgs are caddy-site's: the app's site file and its content, the
// main Caddyfile with its import line and admin socket. Reload reloads
// Caddy even when no file changed.
type CaddySiteArgs struct {
	Site    string `json:"site"`
	Content string `json:"content"`
	Main    string `json:"main"`
	Import  string `json:"import"`
	Socket  string `json:"socket"`
	Reload  bool   `json:"reload"`
}

// CaddyProxyArgs are caddy-proxy's: the proxy socket's unit, its holder
// and the instances' drop-in (paths and contents), the socket's path, the
// app's instances (a pattern) and its current link.
type CaddyProxyArgs struct {
	Unit        string `json:"unit"`
	UnitBody    string `json:"unit_body"`
	Hold        string `json:"hold"`
	HoldBody    string `json:"hold_body"`
	DropIn      string `json:"drop_in"`
	DropInBody  string `json:"drop_in_body"`
	Socket      string `json:"socket"`
	Instances   string `json:"instances"`
	CurrentLink string `json:"current_link"`
}

// CaddyRestoreArgs are caddy-restore's: the site file as it was (Had
// false: there was none).
type CaddyRestoreArgs struct {
	Site string `json:"site"`
	Had  bool   `json:"had"`
	Old  string `json:"old"`
}

// CaddyStateArgs are caddy-state's: what provision reads before it
// changes anything.
type CaddyStateArgs struct {
	// Site is the app's site file ("" reads none).
	Site string `json:"site"`
	// Storage is Caddy's certificate folder, Domains the ones to read.
	Storage string   `json:"storage"`
	Domains []string `json:"domains"`
	// AccountKey and AccountReg are the ACME account's files; Mismatch the
	// CA's words for a request the account's key didn't sign, looked for
	// in Caddy's log since the key was written.
	AccountKey string `json:"account_key"`
	AccountReg string `json:"account_reg"`
	Mismatch   string `json:"mismatch"`
}

// CaddyAsideArgs are caddy-account-aside's: the account folder and where
// it goes (a time is appended).
type CaddyAsideArgs struct {
	Dir   string `json:"dir"`
	Aside string `json:"aside"`
}

func init() {
	Register("caddy-package", true, func(ctx context.Context, e *Env, a CaddyPackageArgs) error {
		return caddyPackage(ctx, e, osPrograms{e}, a)
	})
	Register("caddy-site", true, func(ctx context.Context, e *Env, a CaddySiteArgs) error {
		return caddySite(ctx, e, osPrograms{e}, a)
	})
	Register("caddy-proxy", true, caddyProxy)
	Register("caddy-restore", true, caddyRestore)
	Register("caddy-state", true, caddyState)
	Register("caddy-account-aside", true, caddyAside)
}

// failf prints the failure's one line and returns ErrFailed.
func failf(e *Env, format string, args ...any) error {
	e.Result("failed", fmt.Sprintf(format, args...))
	return ErrFailed
}

// caddyInstallLog keeps apt-get's output of the Caddy install.
const caddyInstallLog = "/var/log/slipway-caddy-install.log"

func caddyPackage(ctx context.Context, e *Env, progs programs, a CaddyPackageArgs) error {
	if err := checkAbs("the drop-in", a.DropIn); err != nil {
		return err
	}
	installed, version, err := dpkgInstalled(e, "caddy")
	if err != nil {
		return err
	}
	if installed {
		e.Line("ok:", "caddy "+version+" installed")
	} else {
		var log []byte
		apt := func(argv ...string) error {
			out, err := progs.run(ctx, program{argv: argv, env: []string{"DEBIAN_FRONTEND=noninteractive"}})
			log = append(log, out...)
			return err
		}
		// Stale package lists (a fresh VPS image) 404: update only then.
		err := apt("apt-get", "install", "-y", "-q", "caddy")
		if err != nil {
			_ = apt("apt-get", "update", "-q")
			err = apt("apt-get", "install", "-y", "-q", "caddy")
		}
		_ = os.WriteFile(e.Path(caddyInstallLog), log, 0o640)
		if err != nil {
			lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
			return failf(e, "apt-get install caddy: %s (full log: %s)", lines[len(lines)-1], caddyInstallLog)
		}
		_, version, err = dpkgInstalled(e, "caddy")
		if err != nil {
			return err
		}
		e.Line("changed:", "installed caddy "+version+" from the Debian packages")
	}
	changed, err := putFile(e, a.DropIn, a.DropInBody)
	if err != nil {
		return err
	}
	if changed {
		if err := e.Sys.DaemonReload(ctx); err != nil {
			return err
		}
		e.Line("changed:", a.DropIn+" (/run/caddy for the admin socket)")
	} else {
		e.Line("ok:", a.DropIn+" (/run/caddy for the admin socket)")
	}
	// RuntimeDirectory= makes it at each start; a running Caddy needs it now.
	if fi, err := os.Stat(e.Path("/run/caddy")); err != nil || !fi.IsDir() {
		caddy, err := lookupAccount(e, "caddy")
		if err != nil || caddy == nil {
			return failf(e, "the caddy package made no account caddy: apt-get install --reinstall caddy")
		}
		if err := ensureDir(e, "/run/caddy", caddy.uid, caddy.gid, 0o700); err != nil {
			return err
		}
	}
	e.Result("ok", "")
	return nil
}

// putFile writes body (and a line break) to p unless p holds it already
// (trailing line breaks aside), through a file renamed over it, 0644.
func putFile(e *Env, p, body string) (bool, error) {
	old, err := os.ReadFile(e.Path(p))
	if err == nil && strings.TrimRight(string(old), "\n") == strings.TrimRight(body, "\n") {
		return false, nil
	}
	if err := os.MkdirAll(e.Path(path.Dir(p)), 0o755); err != nil {
		return false, err
	}
	root, err := lookupAccount(e, "root")
	if err != nil || root == nil {
		return false, fmt.Errorf("the server has no root account in /etc/passwd: %v", err)
	}
	return true, writeFileAs(e.Path(p), []byte(strings.TrimRight(body, "\n")+"\n"), root.uid, root.gid, 0o644)
}

var (
	blankOrComment = regexp.MustCompile(`^\s*(#.*)?$`)
	openBrace      = regexp.MustCompile(`^\s*\{\s*$`)
	adminLine      = regexp.MustCompile(`^\s*admin(\s|$)`)
)

// globalOptions reads a Caddyfile's global options block: "none" when
// there is none, its admin line when it has one, "block" otherwise.
func globalOptions(caddyfile string) string {
	inBlock, depth := false, 0
	for _, line := range strings.Split(caddyfile, "\n") {
		if !inBlock {
			if blankOrComment.MatchString(line) {
				continue
			}
			if openBrace.MatchString(line) {
				inBlock, depth = true, 1
				continue
			}
			return "none"
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if depth == 1 && adminLine.MatchString(line) {
			return strings.TrimSpace(line)
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if depth <= 0 {
			return "block"
		}
	}
	return "none"
}

// withAdmin is caddyfile with the admin line adm in its global options
// (g: globalOptions' answer, "none" or "block").
func withAdmin(caddyfile, g, adm string) string {
	if g == "none" {
		return "# Added by Slipway (provision): Caddy's admin API on a socket only root and\n" +
			"# Caddy reach (on localhost:2019 any local user could replace this config).\n{\n\t" + adm + "\n}\n\n" + caddyfile
	}
	lines := strings.SplitAfter(caddyfile, "\n")
	var b strings.Builder
	done := false
	for _, l := range lines {
		b.WriteString(l)
		if !done && openBrace.MatchString(strings.TrimSuffix(l, "\n")) {
			if !strings.HasSuffix(l, "\n") {
				b.WriteString("\n")
			}
			b.WriteString("\t# Slipway (provision): the admin API on a socket only root and Caddy reach.\n\t" + adm + "\n")
			done = true
		}
	}
	return b.String()
}

// caddySays is Caddy's own last log line matching re (not systemd's lines
// about the unit: "Failed to kill control group ..." came last now and
// then).
func caddySays(ctx context.Context, e *Env, re string) string {
	lines, _ := e.Sys.Journal(ctx, []string{"_SYSTEMD_UNIT=caddy.service"}, 30, time.Time{})
	rx := regexp.MustCompile("(?i)" + re)
	for i := len(lines) - 1; i >= 0; i-- {
		if rx.MatchString(lines[i]) {
			return lines[i]
		}
	}
	return ""
}

// caddySite is caddy-site: Caddy's admin API on its unix socket (global
// options of the main Caddyfile), the import line, the site file; Caddy
// enabled, started or reloaded only when one of its files changed. A
// reload Caddy refuses puts the files back as they were: the running
// configuration was never replaced.
func caddySite(ctx context.Context, e *Env, progs programs, a CaddySiteArgs) error {
	for what, p := range map[string]string{"the site file": a.Site, "the Caddyfile": a.Main, "the admin socket": a.Socket} {
		if err := checkAbs(what, p); err != nil {
			return err
		}
	}
	mainFile := e.Path(a.Main)
	main, err := os.ReadFile(mainFile)
	if err != nil {
		return failf(e, "%s is missing: reinstall caddy (apt-get install --reinstall -o Dpkg::Options::=--force-confmiss caddy)", a.Main)
	}
	if err := os.MkdirAll(e.Path(path.Dir(a.Site)), 0o755); err != nil {
		return err
	}
	oldSite, siteErr := os.ReadFile(e.Path(a.Site))
	hadSite := siteErr == nil
	touched := false
	adm := "admin unix/" + a.Socket
	text := string(main)
	switch g := globalOptions(text); g {
	case adm:
		e.Line("ok:", a.Main+" puts Caddy's admin API on "+a.Socket)
	case "none", "block":
		text = withAdmin(text, g, adm)
		e.Line("changed:", a.Main+" puts Caddy's admin API on "+a.Socket+" (global options; the rest untouched)")
		touched = true
	default:
		return failf(e, "the global options of %s say '%s': Slipway needs '%s' there (on localhost:2019 any local user can replace Caddy's configuration): change that line and provision again", a.Main, g, adm)
	}
	if contains(strings.Split(text, "\n"), a.Import) {
		e.Line("ok:", a.Main+" imports "+path.Dir(a.Site))
	} else {
		text += "\n# Added by Slipway (provision): one site file per app.\n" + a.Import + "\n"
		e.Line("changed:", a.Main+" imports "+path.Dir(a.Site)+" (one line added, the rest untouched)")
		touched = true
	}
	// Written in place, not renamed: the file keeps its owner and mode.
	if text != string(main) {
		if err := os.WriteFile(mainFile, []byte(text), 0o644); err != nil {
			return err
		}
	}
	restore := func() {
		_ = os.WriteFile(mainFile, main, 0o644)
		if hadSite {
			_ = os.WriteFile(e.Path(a.Site), oldSite, 0o644)
		} else {
			_ = os.Remove(e.Path(a.Site))
		}
	}
	if hadSite && string(oldSite) == a.Content {
		e.Line("ok:", a.Site+" up to date")
	} else {
		root, err := lookupAccount(e, "root")
		if err != nil || root == nil {
			restore()
			return fmt.Errorf("the server has no root account in /etc/passwd: %v", err)
		}
		if err := writeFileAs(e.Path(a.Site), []byte(a.Content), root.uid, root.gid, 0o644); err != nil {
			restore()
			return err
		}
		e.Line("changed:", a.Site+" written")
		touched = true
	}
	p, err := e.Sys.Show(ctx, "caddy.service", "UnitFileState", "ActiveState")
	if err != nil {
		restore()
		return err
	}
	if enabledStates[p["UnitFileState"]] {
		e.Line("ok:", "caddy enabled")
	} else {
		if err := e.Sys.Enable(ctx, "caddy.service"); err != nil {
			restore()
			return err
		}
		e.Line("changed:", "caddy enabled")
	}
	switch {
	case p["ActiveState"] != "active" && p["ActiveState"] != "reloading":
		if err := e.Sys.Start(ctx, "caddy.service", true); err != nil {
			restore()
			return failf(e, "caddy does not start: %s", caddySays(ctx, e, "error|bind|listen"))
		}
		e.Line("changed:", "caddy started")
	case touched || a.Reload:
		// caddy reload: graceful, the old configuration serves until the
		// new one runs; a refused one leaves the old one running. The
		// package's reload sends the configuration to the admin address the
		// new one names: a Caddy still on localhost:2019 (before Slipway
		// moved it) gets it there, once.
		var err error
		if fi, serr := os.Stat(e.Path(a.Socket)); serr == nil && fi.Mode()&fs.ModeSocket != 0 {
			err = e.Sys.Reload(ctx, "caddy.service")
		} else {
			_, err = progs.run(ctx, program{argv: []string{"caddy", "reload", "--config", a.Main, "--adapter", "caddyfile", "--address", "localhost:2019", "--force"}, user: "caddy", dir: "/"})
		}
		if err != nil {
			restore()
			return failf(e, "caddy refused the configuration, files put back: %s", caddySays(ctx, e, "error"))
		}
		e.Line("changed:", "caddy reloaded (graceful)")
	default:
		e.Line("ok:", "caddy active, nothing to reload")
	}
	e.Result("ok", "")
	return nil
}

// caddyProxy is caddy-proxy: the proxy socket (Caddy's way in), its
// holder (what it activates: nothing) and the drop-in that hands it to
// the app's instances; the socket listening, then the holder active.
// Then a line "without <unit>" for each running instance that does not
// hold the socket (one started before it existed), and "current
// <release>" when a release is current.
func caddyProxy(ctx context.Context, e *Env, a CaddyProxyArgs) error {
	for what, p := range map[string]string{"the proxy unit": a.Unit, "the holder": a.Hold, "the drop-in": a.DropIn, "the proxy socket": a.Socket, "the current link": a.CurrentLink} {
		if err := checkAbs(what, p); err != nil {
			return err
		}
	}
	name, holder := path.Base(a.Unit), path.Base(a.Hold)
	if err := checkUnit(name); err != nil {
		return err
	}
	if err := checkUnit(holder); err != nil {
		return err
	}
	if !unitPattern.MatchString(a.Instances) {
		return fmt.Errorf("%q is not a unit pattern: fix APP_NAME", a.Instances)
	}
	anyNew, unitNew := false, false
	for i, f := range []struct{ p, body, what string }{
		{a.Unit, a.UnitBody, "Caddy's way in: " + a.Socket + ", root:caddy 0660"},
		{a.Hold, a.HoldBody, "what " + name + " activates: nothing"},
		{a.DropIn, a.DropInBody, "the app's instances accept on " + name},
	} {
		changed, err := putFile(e, f.p, f.body)
		if err != nil {
			return err
		}
		if changed {
			e.Line("changed:", f.p+" ("+f.what+")")
			anyNew, unitNew = true, unitNew || i == 0
		} else {
			e.Line("ok:", f.p+" ("+f.what+")")
		}
	}
	if anyNew {
		if err := e.Sys.DaemonReload(ctx); err != nil {
			return err
		}
	}
	for _, u := range []string{name, holder} {
		p, err := e.Sys.Show(ctx, u, "UnitFileState")
		if err != nil {
			return err
		}
		if enabledStates[p["UnitFileState"]] {
			e.Line("ok:", u+" enabled")
			continue
		}
		if err := e.Sys.Enable(ctx, u); err != nil {
			return err
		}
		e.Line("changed:", u+" enabled")
	}
	p, err := e.Sys.Show(ctx, name, "ActiveState")
	if err != nil {
		return err
	}
	// The holder first inactive: systemd refuses a socket whose service runs.
	switch {
	case p["ActiveState"] != "active":
		if err := e.Sys.Stop(ctx, holder); err != nil {
			return err
		}
		if err := e.Sys.Start(ctx, name, true); err != nil {
			return err
		}
		e.Line("changed:", name+" listening on "+a.Socket)
	case unitNew:
		if err := e.Sys.Stop(ctx, holder); err != nil {
			return err
		}
		if err := e.Sys.Restart(ctx, name); err != nil {
			return err
		}
		e.Line("changed:", name+" restarted on "+a.Socket)
	default:
		e.Line("ok:", name+" listening on "+a.Socket)
	}
	if h, err := e.Sys.Show(ctx, holder, "ActiveState"); err != nil {
		return err
	} else if h["ActiveState"] == "active" {
		e.Line("ok:", holder+" active")
	} else {
		if err := e.Sys.Start(ctx, holder, true); err != nil {
			return err
		}
		e.Line("changed:", holder+" active")
	}
	without, err := instancesWithout(ctx, e, a.Socket, a.Instances)
	if err != nil {
		return err
	}
	for _, u := range without {
		e.Line("without", u)
	}
	if target, err := os.Readlink(e.Path(a.CurrentLink)); err == nil {
		e.Line("current", path.Base(target))
	}
	e.Result("ok", "")
	return nil
}

// instancesWithout names each active instance (pattern) that does not
// hold the unix socket sock systemd listens on: an instance gets its
// sockets when it starts.
func instancesWithout(ctx context.Context, e *Env, sock, pattern string) ([]string, error) {
	data, err := os.ReadFile(e.Path("/proc/net/unix"))
	if err != nil {
		return nil, err
	}
	held := func(pid string, inode string) bool {
		fds, _ := os.ReadDir(e.Path("/proc/" + pid + "/fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(e.Path("/proc/" + pid + "/fd/" + fd.Name())); err == nil && l == "socket:["+inode+"]" {
				return true
			}
		}
		return false
	}
	ino := ""
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[7] == sock && held("1", f[6]) {
			ino = f[6]
		}
	}
	if ino == "" {
		return nil, fmt.Errorf("systemd does not listen on %s: systemctl status %s", sock, path.Base(sock))
	}
	units, err := e.Sys.List(ctx, pattern)
	if err != nil {
		return nil, err
	}
	var without []string
	for _, u := range units {
		p, err := e.Sys.Show(ctx, u, "ActiveState", "MainPID")
		if err != nil {
			return nil, err
		}
		if pid, _ := strconv.Atoi(p["MainPID"]); p["ActiveState"] == "active" && pid > 0 && !held(p["MainPID"], ino) {
			without = append(without, u)
		}
	}
	return without, nil
}

// caddyRestore is caddy-restore: the site file put back as it was before
// provision, and Caddy reloaded: domains that got no certificate leave the
// previous front door serving.
func caddyRestore(ctx context.Context, e *Env, a CaddyRestoreArgs) error {
	if err := checkAbs("the site file", a.Site); err != nil {
		return err
	}
	if a.Had {
		root, err := lookupAccount(e, "root")
		if err != nil || root == nil {
			return fmt.Errorf("the server has no root account in /etc/passwd: %v", err)
		}
		if err := writeFileAs(e.Path(a.Site), []byte(a.Old), root.uid, root.gid, 0o644); err != nil {
			return err
		}
	} else if err := os.Remove(e.Path(a.Site)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := e.Sys.Reload(ctx, "caddy.service"); err != nil {
		return err
	}
	e.Line("changed:", a.Site+" put back as it was, caddy reloaded")
	e.Result("ok", "")
	return nil
}

// caddyState is caddy-state. Its lines:
//
//	time <the server's clock, seconds since the epoch, to the microsecond>
//	site <the site file, base64> | site -     (none)
//	account stored | account none
//	refused <a line of Caddy's log since the account's key was written
//	         that holds Mismatch>
//	cert <domain> <issuer key> <the certificate, PEM, base64>
func caddyState(ctx context.Context, e *Env, a CaddyStateArgs) error {
	now := e.Time()
	e.Line("time", fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000))
	if a.Site != "" {
		if err := checkAbs("the site file", a.Site); err != nil {
			return err
		}
		if b, err := os.ReadFile(e.Path(a.Site)); err == nil {
			e.Line("site", base64.StdEncoding.EncodeToString(b))
		} else {
			e.Line("site", "-")
		}
	}
	if a.AccountKey != "" {
		for what, p := range map[string]string{"the account key": a.AccountKey, "the account": a.AccountReg} {
			if err := checkAbs(what, p); err != nil {
				return err
			}
		}
		key, kerr := os.Stat(e.Path(a.AccountKey))
		reg, rerr := os.Stat(e.Path(a.AccountReg))
		if kerr == nil && rerr == nil && key.Size() > 0 && reg.Size() > 0 {
			e.Line("account", "stored")
		} else {
			e.Line("account", "none")
		}
		if kerr == nil && a.Mismatch != "" {
			lines, err := e.Sys.Journal(ctx, []string{"_SYSTEMD_UNIT=caddy.service"}, 100000, key.ModTime().Truncate(time.Second))
			if err != nil {
				return err
			}
			var refused []string
			for _, l := range lines {
				if strings.Contains(strings.ToLower(l), strings.ToLower(a.Mismatch)) {
					refused = append(refused, l)
				}
			}
			if len(refused) > 20 {
				refused = refused[len(refused)-20:]
			}
			for _, l := range refused {
				e.Line("refused", l)
			}
		}
	}
	if len(a.Domains) > 0 {
		if err := checkAbs("Caddy's certificate folder", a.Storage); err != nil {
			return err
		}
		for _, d := range a.Domains {
			if d == "" || strings.ContainsAny(d, "/\\ \n") || d == "." || d == ".." {
				return fmt.Errorf("%q is not a domain: fix APP_DOMAIN", d)
			}
			files, _ := filepath.Glob(filepath.Join(e.Path(a.Storage), "*", d, d+".crt"))
			sort.Strings(files)
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					continue
				}
				e.Line("cert", d+" "+filepath.Base(filepath.Dir(filepath.Dir(f)))+" "+base64.StdEncoding.EncodeToString(b))
			}
		}
	}
	e.Result("ok", "")
	return nil
}

// caddyAside is caddy-account-aside: the account folder moved aside, out
// of Caddy's storage and kept (its key deactivates the account); the next
// order registers a new one.
func caddyAside(_ context.Context, e *Env, a CaddyAsideArgs) error {
	if err := checkAbs("the account", a.Dir); err != nil {
		return err
	}
	if err := checkAbs("where the account goes", a.Aside); err != nil {
		return err
	}
	caddy, err := lookupAccount(e, "caddy")
	if err != nil || caddy == nil {
		return fmt.Errorf("no account caddy on the server: apt-get install --reinstall caddy")
	}
	if err := ensureDir(e, path.Dir(a.Aside), caddy.uid, caddy.gid, 0o700); err != nil {
		return err
	}
	aside := fmt.Sprintf("%s.%d", a.Aside, e.Time().Unix())
	if err := os.Rename(e.Path(a.Dir), e.Path(aside)); err != nil {
		return err
	}
	e.Line("changed:", "Caddy's ACME account moved aside to "+aside+": its key is not that of the account its registration names (Caddy 2.6's account race); the next order registers a new one")
	e.Result("ok", "")
	return nil
}
