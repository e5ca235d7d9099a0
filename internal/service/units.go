package service

import (
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"text/template"
	"time"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// unitData is what the templates see.
type unitData struct {
	Config
	Binary, EnvFile, ReleasesDir, CurrentLink    string
	ServiceUnit, SocketUnit                      string
	StartTimeoutSec, StopTimeoutSec, WatchdogSec string
	Hardening                                    []string
}

func newUnitData(c Config) unitData {
	d := unitData{
		Config: c,
		Binary: c.Binary(), EnvFile: c.EnvFile(), ReleasesDir: c.ReleasesDir(), CurrentLink: c.CurrentLink(),
		ServiceUnit: c.ServiceUnit(), SocketUnit: c.SocketUnit(),
		StartTimeoutSec: seconds(c.StartTimeout), StopTimeoutSec: seconds(c.StopTimeout),
		Hardening: Hardening(c),
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

// Units renders the unit files: file name (app.service, app.socket) to
// content, to be installed in UnitDir.
func Units(c Config) (map[string][]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := newUnitData(c)
	svc, err := render("app.service.tmpl", d)
	if err != nil {
		return nil, err
	}
	sock, err := render("app.socket.tmpl", d)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{c.ServiceUnit(): svc, c.SocketUnit(): sock}, nil
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
