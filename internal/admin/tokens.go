package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/internal/password"
)

// Lifetimes of the signed tokens.
const (
	// CSRFTTL bounds how old a form's token may be: a login form left open
	// overnight needs a reload.
	CSRFTTL = 12 * time.Hour
	// DeviceTTL is how long a browser that logged in stays a known device
	// of that email (see throttle.go).
	DeviceTTL = 90 * 24 * time.Hour
	// EnrolTTL is how long the link `app admin create -reset-password`
	// prints lets a new browser in as a known one.
	EnrolTTL = time.Hour
)

// signer makes and checks HMAC-SHA256 tokens under one server key.
type signer struct{ key []byte }

func (s signer) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfFor is the form token of a pre-session id (the CSRF cookie): the
// server signs it, so a script can't pick a cookie and field of its own; it
// has to fetch the form.
func (s signer) csrfFor(preSession string, now time.Time) string {
	issued := strconv.FormatInt(now.Unix(), 10)
	return issued + "." + s.mac("csrf", preSession, issued)
}

func (s signer) validCSRF(preSession, token string, now time.Time) bool {
	issued, mac, ok := strings.Cut(token, ".")
	if !ok || len(preSession) < 32 || !fresh(issued, now, CSRFTTL) {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(s.mac("csrf", preSession, issued)))
}

// newDevice is the device cookie for email: a random id, when it was
// issued, the account's device epoch (users.device_epoch: a password
// change raises it, ending every older cookie), and a signature over them
// and the email. It stores no email.
func (s signer) newDevice(email string, epoch int64, now time.Time) string {
	id := randomToken()[:22]
	issued := strconv.FormatInt(now.Unix(), 10)
	ep := strconv.FormatInt(epoch, 10)
	return id + "." + issued + "." + ep + "." + s.mac("device", email, id, issued, ep)
}

// EnrolLink is the path (/admin/login?device=...) that lets one new
// browser log in as a known one of email for EnrolTTL: the owner's way in
// while an attack keeps every new browser out. It spares no password, and
// a later password change ends it. epoch is the account's
// users.User.DeviceEpoch; `app admin create -reset-password` prints it.
func EnrolLink(h *password.Hasher, email string, epoch int64) string {
	return "/admin/login?device=" + signer{h.Key("device cookie")}.newEnrol(email, epoch, time.Now())
}

// newEnrol is a device cookie that a browser takes from the link the
// owner gets over SSH (EnrolLink): "enrol." and the rest signed apart, so
// it is good for EnrolTTL only, not DeviceTTL.
func (s signer) newEnrol(email string, epoch int64, now time.Time) string {
	id := randomToken()[:22]
	issued := strconv.FormatInt(now.Unix(), 10)
	ep := strconv.FormatInt(epoch, 10)
	return "enrol." + id + "." + issued + "." + ep + "." + s.mac("enrol", email, id, issued, ep)
}

// device returns the id and epoch of a device cookie (or enrolment)
// signed for email, or ok false. The epoch is still to be checked against the account's. A
// cookie from before epochs (id.issued.mac) is epoch 0: the column's
// default, so it stays valid until the account's first password change.
func (s signer) device(cookie, email string, now time.Time) (id string, epoch int64, ok bool) {
	parts := strings.Split(cookie, ".")
	kind, ttl := "device", DeviceTTL
	if len(parts) == 5 && parts[0] == "enrol" {
		kind, ttl, parts = "enrol", EnrolTTL, parts[1:]
	} else if len(parts) != 3 && len(parts) != 4 {
		return "", 0, false
	}
	if len(parts[0]) != 22 || !fresh(parts[1], now, ttl) {
		return "", 0, false
	}
	mac := parts[len(parts)-1]
	want := s.mac(kind, email, parts[0], parts[1])
	if len(parts) == 4 {
		e, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || e < 0 || strconv.FormatInt(e, 10) != parts[2] {
			return "", 0, false
		}
		epoch, want = e, s.mac(kind, email, parts[0], parts[1], parts[2])
	}
	if !hmac.Equal([]byte(mac), []byte(want)) {
		return "", 0, false
	}
	return parts[0], epoch, true
}

func fresh(unix string, now time.Time, ttl time.Duration) bool {
	n, err := strconv.ParseInt(unix, 10, 64)
	if err != nil {
		return false
	}
	age := now.Sub(time.Unix(n, 0))
	return age >= -time.Minute && age <= ttl
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
