package sandbox

import (
	"testing"
	"testing/fstest"
)

func TestHostMirror(t *testing.T) {
	for _, tc := range []struct {
		name string
		etc  fstest.MapFS
		want string
	}{
		{"deb822 as on this machine", fstest.MapFS{
			"sources.list.d/debian.sources": {Data: []byte(`Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
`)},
			"sources.list.d/google.list.disabled-by-farm": {Data: []byte("deb https://packages.cloud.google.com/apt bookworm main\n")},
		}, "http://deb.debian.org/debian"},
		{"one-line with options, security first", fstest.MapFS{
			"sources.list": {Data: []byte(`# comment
deb-src http://src.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib
`)},
		}, "http://mirror.example/debian"},
		{"disabled stanza skipped", fstest.MapFS{
			"sources.list.d/a.sources": {Data: []byte("Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb deb-src\nURIs: http://on.example/debian\nSuites: bookworm\n")},
		}, "http://on.example/debian"},
		{"only updates pocket", fstest.MapFS{
			"sources.list": {Data: []byte("deb http://mirror.example/debian bookworm-updates main\n")},
		}, "http://mirror.example/debian"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hostMirror(tc.etc, "bookworm")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHostMirrorNoneSaysHowToSetOne(t *testing.T) {
	_, err := hostMirror(fstest.MapFS{}, "bookworm")
	if err == nil || err.Error() != "no apt source for bookworm in /etc/apt (set SANDBOX_MIRROR)" {
		t.Fatalf("got %v", err)
	}
}
