package lint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats are the output formats Write knows, the first the default.
var Formats = []string{"text", "json", "github"}

// CheckFormat rejects a format Write doesn't know, before any work is done.
func CheckFormat(format string) error {
	for _, f := range Formats {
		if format == f {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q: use -format=%s", format, strings.Join(Formats, ", -format="))
}

// Write prints findings in format:
//   - text: one `path:line: rule: message` line each;
//   - json: one array of {"path", "line", "rule", "message"} objects ([] when
//     there is nothing), for scripts;
//   - github: GitHub Actions workflow commands
//     (`::error file=path,line=n,title=rule::message`), which annotate the
//     lines in a pull request's diff.
func Write(w io.Writer, format string, findings []Finding) error {
	if err := CheckFormat(format); err != nil {
		return err
	}
	var b strings.Builder
	switch format {
	case "text":
		for _, f := range findings {
			b.WriteString(f.String() + "\n")
		}
	case "json":
		out := make([]jsonFinding, 0, len(findings))
		for _, f := range findings {
			out = append(out, jsonFinding(f))
		}
		j, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		b.Write(append(j, '\n'))
	case "github":
		for _, f := range findings {
			fmt.Fprintf(&b, "::error file=%s,line=%d,title=%s::%s\n",
				ghProperty(f.Path), f.Line, ghProperty(f.Rule), ghData(f.Message))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type jsonFinding struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// ghData escapes a workflow command's message the way @actions/core does.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value, where ':' and ','
// would end it.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
