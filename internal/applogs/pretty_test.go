package applogs

import "testing"

func TestPrettyShowsSlogJSONAsLevelMessageAndKeysInTheirOrder(t *testing.T) {
	for in, want := range map[string]string{
		`{"time":"2026-01-02T10:00:00Z","level":"INFO","msg":"serving","addr":"127.0.0.1:8080","release":"r1"}`:         "INFO serving addr=127.0.0.1:8080 release=r1",
		`{"time":"x","level":"ERROR","msg":"login failed","email":"a b@example.com","attempt":3,"ok":false,"err":null}`: `ERROR login failed email="a b@example.com" attempt=3 ok=false err=null`,
		`{"level":"WARN","msg":"slow","req":{"method":"GET","route":"GET /"},"ids":[1,2]}`:                              `WARN slow req.method=GET req.route="GET /" ids=[1,2]`,
		`{"msg":"k=v inside","q":"say \"hi\"","e":""}`:                                                                  `k=v inside q="say \"hi\"" e=""`,
	} {
		if got, ok := Pretty(in); !ok || got != want {
			t.Errorf("Pretty(%s)\n = %q, %v\nwant %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"plain text", `{"no":"msg"}`, `{"msg":"x"} trailing`, `{"msg":`, `["msg"]`} {
		if got, ok := Pretty(in); ok {
			t.Errorf("Pretty(%q) = %q, want it shown as it is", in, got)
		}
	}
}
