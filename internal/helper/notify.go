package helper

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/envfile"
	"github.com/slipway-dev/slipway/internal/notify"
)

// What the server itself alerts about: a unit that fails (a job, a worker,
// a scheduled backup, WAL archiving, a verification) says
// OnFailure=<app>-notify@%n.service, and that template runs
// `slipway-helper notify-failure <app> <failed unit>`, which posts to the
// DEPLOY_NOTIFY_URL kept in the server's settings file. The deploying
// user's copy of the URL reaches the server through settings-sync (stdin),
// at provision and at each deploy.

// NotifySetting is the server setting notify-failure posts to: the
// deploying user's DEPLOY_NOTIFY_URL, the same name on both sides.
const NotifySetting = "DEPLOY_NOTIFY_URL"

// SettingsFile is the server's own settings of app (root-only, KEY=value
// lines): what the server needs when nobody is deploying, kept apart from
// the env file so the app's process never sees them.
func SettingsFile(app string) string { return path.Join("/etc", app, "slipway.env") }

// NotifyUnit is the alert template's unit name, e.g. app-notify@.service.
func NotifyUnit(app string) string { return app + "-notify@.service" }

// OnFailure is the OnFailure= value of a unit that alerts when it fails:
// an instance of NotifyUnit named after the failed unit.
func OnFailure(app string) string { return app + "-notify@%n.service" }

// SettingsArgs are settings-sync's: the server settings to set. An empty
// NotifyURL leaves the server's as it is (a deploy from a machine without
// it must not silence the server's alerts).
type SettingsArgs struct {
	App       string `json:"app"`
	NotifyURL string `json:"notify_url"`
}

func init() {
	Register("settings-sync", true, settingsSync)
	unitCommands["notify-failure"] = notifyFailure
}

// settingsSync writes the settings that differ into SettingsFile, which it
// creates root-only if missing. It prints "ok: ..." or "changed: ..." (with
// the URL's scheme and host only: the rest is the webhook's credential).
func settingsSync(_ context.Context, e *Env, a SettingsArgs) error {
	if !appName.MatchString(a.App) {
		return fmt.Errorf("settings-sync: app name %q is not valid", a.App)
	}
	if a.NotifyURL == "" {
		e.Result("ok", "unchanged")
		return nil
	}
	n, err := notify.New(a.NotifyURL)
	if err != nil {
		return err
	}
	file := SettingsFile(a.App)
	f, err := readSettings(e, file)
	if err != nil {
		return err
	}
	text, changed, err := f.Apply(envfile.Change{Key: NotifySetting, Value: a.NotifyURL})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if !changed {
		fmt.Fprintf(e.Out, "ok: server settings: %s (%s) up to date in %s\n", NotifySetting, n.Where(), file)
		e.Result("ok", "unchanged")
		return nil
	}
	if err := replaceRootOnly(e.Path(file), text); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	fmt.Fprintf(e.Out, "changed: server settings: %s (%s) written to %s, for the server's own alerts\n", NotifySetting, n.Where(), file)
	e.Result("ok", "changed")
	return nil
}

// readSettings parses the settings file; a missing one is empty.
func readSettings(e *Env, file string) (*envfile.File, error) {
	data, err := os.ReadFile(e.Path(file))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	f, err := envfile.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return f, nil
}

// replaceRootOnly writes data to p through a new root-only file renamed
// over it: a reader sees the old settings or the new, never half.
func replaceRootOnly(p string, data []byte) error {
	if err := os.MkdirAll(path.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", p, os.Getpid())
	_ = os.Remove(tmp)
	if err := writeRootOnly(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// notifyKinds name what failed by the unit's name after "<app>-".
var notifyKinds = []struct{ prefix, kind string }{
	{"job-", "job"},
	{"worker-", "worker"},
	{"backup", "backup"},
	{"archive", "archive"},
	{"verify", "verify"},
}

// notifyKind is the event's kind for a failed unit of app: "job",
// "worker", "backup", "archive", "verify", or "unit" for another.
func notifyKind(app, unit string) string {
	rest, ok := strings.CutPrefix(unit, app+"-")
	if ok {
		for _, k := range notifyKinds {
			if strings.HasPrefix(rest, k.prefix) {
				return k.kind
			}
		}
	}
	return "unit"
}

// notifyFailure is <app>-notify@.service's ExecStart: `notify-failure
// <app> <failed unit>`. It posts one event, with the unit's result (never
// its log lines: a webhook is a third party), to the server's
// DEPLOY_NOTIFY_URL; with none set it says so and succeeds.
func notifyFailure(ctx context.Context, e *Env, args []string) error {
	if len(args) != 2 || !appName.MatchString(args[0]) || !validUnitName(args[1]) {
		return errors.New("usage: slipway-helper notify-failure <app name> <failed unit>")
	}
	app, unit := args[0], args[1]
	f, err := readSettings(e, SettingsFile(app))
	if err != nil {
		return err
	}
	raw, _ := f.Lookup(NotifySetting)
	if raw == "" {
		fmt.Fprintf(e.Out, "%s failed; no %s in %s: no alert sent (provision or deploy with it set puts it there)\n", unit, NotifySetting, SettingsFile(app))
		return nil
	}
	n, err := notify.New(raw)
	if err != nil {
		return fmt.Errorf("%s in %s: %w", NotifySetting, SettingsFile(app), err)
	}
	result := "failed"
	if p, err := e.Sys.Show(ctx, unit, "Result"); err == nil && p["Result"] != "" {
		result = p["Result"]
	}
	host, _ := os.Hostname()
	kind := notifyKind(app, unit)
	cause := fmt.Sprintf("%s failed (%s)", unit, result)
	ev := notify.Event{
		Text:    fmt.Sprintf("%s %s on %s: %s failed (%s)", app, kind, host, unit, result),
		Kind:    kind,
		Host:    host,
		Outcome: "failed",
		Cause:   cause,
		Who:     "slipway-helper",
	}
	sendCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := n.Send(sendCtx, ev); err != nil {
		return fmt.Errorf("alert for %s to %s: %w", unit, n.Where(), err)
	}
	fmt.Fprintf(e.Out, "%s failed (%s): alert sent to %s\n", unit, result, n.Where())
	return nil
}

// validUnitName accepts what systemd passes as %n: a unit name, no path.
func validUnitName(s string) bool {
	if s == "" || len(s) > 256 || strings.ContainsAny(s, "/ \t\n") || strings.HasPrefix(s, "-") {
		return false
	}
	return strings.Contains(s, ".")
}
