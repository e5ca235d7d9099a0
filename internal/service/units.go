package service

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"text/template"
	"time"

	"github.com/slipway-dev/slipway/internal/helper"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// unitData is what the templates see.
type unitData struct {
	Config
	// Legacy renders the single-service layout (app.service restarted in
	// place): the benchmark's point of comparison and the tests' old server.
	Legacy                                             bool
	Binary, EnvFile, ReleasesDir, CurrentLink          string
	ServiceUnit, SocketUnit, TemplateUnit, CurrentUnit string
	StartTimeoutSec, StopTimeoutSec, WatchdogSec       string
	MetricsEnv                                         string
	Hardening, CurrentHardening, NotifyHardening       []string
	NotifyUnit, OnFailure, SettingsFile                string
	// Helper is slipway-helper's path in ExecStart: helper.UnitHelper,
	// which ensure-units replaces with the installing helper's own.
	Helper string
}

func newUnitData(c Config) unitData {
	d := unitData{
		Config: c,
		Binary: c.Binary(), EnvFile: c.EnvFile(), ReleasesDir: c.ReleasesDir(), CurrentLink: c.CurrentLink(),
		ServiceUnit: c.ServiceUnit(), SocketUnit: c.SocketUnit(), TemplateUnit: c.TemplateUnit(), CurrentUnit: c.CurrentUnit(),
		StartTimeoutSec: seconds(c.StartTimeout), StopTimeoutSec: seconds(c.StopTimeout),
		Hardening: Hardening(c), CurrentHardening: CurrentHardening(c), NotifyHardening: NotifyHardening(),
		NotifyUnit: c.NotifyUnit(), OnFailure: helper.OnFailure(c.AppName), SettingsFile: helper.SettingsFile(c.AppName),
		MetricsEnv: c.MetricsAddr(),
		Helper:     helper.UnitHelper,
	}
	if c.Watchdog > 0 {
		d.WatchdogSec = seconds(c.Watchdog)
	}
	return d
}

// seconds renders d for systemd, rounded up: a timeout must never shrink.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10) + "s"
}

// Units renders the unit files to install in UnitDir, file name to
// content: the socket, its current-release service and the instances'
// template (app.socket, app-current.service, app@.service), and the alert
// template (app-notify@.service).
func Units(c Config) (map[string][]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return renderAll(newUnitData(c), map[string]string{
		c.SocketUnit():   "app.socket.tmpl",
		c.CurrentUnit():  "app-current.service.tmpl",
		c.TemplateUnit(): "app@.service.tmpl",
		c.NotifyUnit():   "app-notify@.service.tmpl",
	})
}

// LegacyUnits renders the layout before instances: one app.service running
// current/app, restarted in place by each deploy, behind a socket that
// activates it. Servers provisioned then still run it until their next
// provision or deploy; the benchmark measures against it.
func LegacyUnits(c Config) (map[string][]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := newUnitData(c)
	d.Legacy = true
	return renderAll(d, map[string]string{c.SocketUnit(): "app.socket.tmpl", c.ServiceUnit(): "legacy.service.tmpl"})
}

func renderAll(d unitData, files map[string]string) (map[string][]byte, error) {
	units := map[string][]byte{}
	for name, tmpl := range files {
		b, err := render(tmpl, d)
		if err != nil {
			return nil, err
		}
		units[name] = b
	}
	return units, nil
}

// envTemplate is the env file provision writes when there is none.
func envTemplate(c Config) ([]byte, error) {
	return render("app.env.tmpl", newUnitData(c))
}

func render(name string, d unitData) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, d); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}
