package deploy

import "testing"

func TestVersionSaysAnUntaggedCommitOnce(t *testing.T) {
	for _, c := range []struct {
		v    Version
		want string
	}{
		{Version{Version: "fec97d4e609d", Commit: "fec97d4e609d3c5e0b1a"}, "fec97d4e609d"},
		{Version{Version: "fec97d4e609d-dirty", Commit: "fec97d4e609d3c5e0b1a"}, "fec97d4e609d-dirty"},
		{Version{Version: "v1.2.0", Commit: "fec97d4e609d3c5e0b1a"}, "v1.2.0 (commit fec97d4e609d)"},
		{Version{Commit: "fec97d4e609d3c5e0b1a"}, "fec97d4e609d"},
		{Version{}, "unknown version"},
	} {
		if got := c.v.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.v, got, c.want)
		}
	}
}
