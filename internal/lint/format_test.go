package lint

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestWriteFormats(t *testing.T) {
	findings := []Finding{
		{Path: "migrations/00002_a,b.sql", Line: 3, Rule: ruleTruncate, Message: "50% of it: gone\nnext"},
		{Path: "migrations/00003_c.sql", Line: 7, Rule: ruleDropTable, Message: messages[ruleDropTable]},
	}
	t.Run("text", func(t *testing.T) {
		var b bytes.Buffer
		if err := Write(&b, "text", findings); err != nil {
			t.Fatal(err)
		}
		if want := findings[0].String() + "\n" + findings[1].String() + "\n"; b.String() != want {
			t.Errorf("text = %q, want %q", b.String(), want)
		}
	})
	t.Run("json round-trips", func(t *testing.T) {
		var b bytes.Buffer
		if err := Write(&b, "json", findings); err != nil {
			t.Fatal(err)
		}
		var got []Finding
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, b.String())
		}
		if len(got) != 2 || got[0] != findings[0] || got[1] != findings[1] {
			t.Errorf("json = %+v", got)
		}
		if !strings.Contains(b.String(), `"rule": "truncate"`) {
			t.Errorf("json keys are not lower-case: %s", b.String())
		}
	})
	t.Run("json of nothing is an empty array", func(t *testing.T) {
		var b bytes.Buffer
		if err := Write(&b, "json", nil); err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(b.String()) != "[]" {
			t.Errorf("json = %q, want []", b.String())
		}
	})
	t.Run("github escapes what would end the command", func(t *testing.T) {
		var b bytes.Buffer
		if err := Write(&b, "github", findings[:1]); err != nil {
			t.Fatal(err)
		}
		want := "::error file=migrations/00002_a%2Cb.sql,line=3,title=truncate::50%25 of it: gone%0Anext\n"
		if b.String() != want {
			t.Errorf("github = %q, want %q", b.String(), want)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		var b bytes.Buffer
		err := Write(&b, "xml", findings)
		if err == nil || !strings.Contains(err.Error(), "-format=json") || b.Len() > 0 {
			t.Errorf("Write(xml) = %v, wrote %q", err, b.String())
		}
	})
}
