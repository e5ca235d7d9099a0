package admin

import (
	"strconv"
	"testing"
	"time"
)

// TestDeviceCookiesCarryTheEpoch: a cookie names the epoch it was issued
// under and can't be moved to another; one from before epochs reads as 0.
func TestDeviceCookiesCarryTheEpoch(t *testing.T) {
	s := signer{key: []byte("k")}
	now := time.Now()
	c := s.newDevice("ada@example.com", 3, now)
	if id, epoch, ok := s.device(c, "ada@example.com", now); !ok || epoch != 3 || len(id) != 22 {
		t.Errorf("fresh cookie: %q %d %v, want its id and epoch 3", id, epoch, ok)
	}
	if _, _, ok := s.device(c, "bob@example.com", now); ok {
		t.Error("a cookie of ada@ counted for bob@")
	}
	id, issued := c[:22], strconv.FormatInt(now.Unix(), 10)
	moved := id + "." + issued + ".4." + c[len(c)-43:]
	if _, _, ok := s.device(moved, "ada@example.com", now); ok {
		t.Error("a cookie with its epoch changed by hand was accepted")
	}
	old := id + "." + issued + "." + s.mac("device", "ada@example.com", id, issued)
	if _, epoch, ok := s.device(old, "ada@example.com", now); !ok || epoch != 0 {
		t.Errorf("a cookie from before epochs: %d %v, want epoch 0", epoch, ok)
	}
}
