package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestFormats(t *testing.T) {
	none := func(string) string { return "" }
	var b bytes.Buffer
	New(&b, "", none).Info("hello", "k", 1)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil || m["msg"] != "hello" {
		t.Errorf("non-terminal default should be JSON, got %q (%v)", b.String(), err)
	}
	b.Reset()
	New(&b, "text", none).Info("hello", "k", 1)
	if !strings.Contains(b.String(), "msg=hello k=1") {
		t.Errorf("text: %q", b.String())
	}
}
