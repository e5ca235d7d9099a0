package lint

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	pganalyze "github.com/pganalyze/pg_query_go/v6"
)

// allowDirective finds an opt-out in a comment: `slipway:allow rule[,rule] reason`.
var allowDirective = regexp.MustCompile(`slipway:allow\b(.*)`)

// allowSet is the rules a statement opted out of.
type allowSet map[string]bool

func (a allowSet) permits(rule string) bool { return a[rule] }

// attachAllows reads the opt-outs and gives each statement its set. A
// comment belongs to the statement it is inside, to the statement it ends the
// line of (`...; -- slipway:allow ...`), or else to the next statement. A
// malformed opt-out is a finding and silences nothing: an unexplained
// exception is how unsafe migrations slip through review.
func attachAllows(path string, src []byte, lines lineIndex, comments []*pganalyze.ScanToken, starts, ends []int) ([]allowSet, []Finding) {
	sets := make([]allowSet, len(starts))
	var findings []Finding
	for _, cm := range comments {
		text := strings.TrimSuffix(string(src[cm.Start:cm.End]), "*/")
		match := allowDirective.FindStringSubmatch(text)
		if match == nil {
			continue
		}
		line := lines.line(int(cm.Start))
		fields := strings.Fields(match[1])
		if len(fields) == 0 {
			findings = append(findings, Finding{Path: path, Line: line, Rule: ruleAllowUnknownRule,
				Message: "slipway:allow names no rule: -- slipway:allow <rule> <reason>"})
			continue
		}
		var rules []string
		bad := false
		for _, r := range strings.Split(fields[0], ",") {
			if !optOutable[r] {
				findings = append(findings, Finding{Path: path, Line: line, Rule: ruleAllowUnknownRule,
					Message: fmt.Sprintf("slipway:allow names %q, which is no rule that can be opted out of; "+
						"use the rule name printed in the finding", r)})
				bad = true
			}
			rules = append(rules, r)
		}
		if len(fields) < 2 {
			findings = append(findings, Finding{Path: path, Line: line, Rule: ruleAllowWithoutReason,
				Message: messages[ruleAllowWithoutReason]})
			bad = true
		}
		if bad {
			continue
		}
		i := owner(int(cm.Start), lines, starts, ends)
		if i < 0 {
			continue
		}
		if sets[i] == nil {
			sets[i] = allowSet{}
		}
		for _, r := range rules {
			sets[i][r] = true
		}
	}
	return sets, findings
}

// owner is the index of the statement a comment at offset belongs to, or -1.
func owner(offset int, lines lineIndex, starts, ends []int) int {
	next := sort.SearchInts(starts, offset+1) // first statement starting after the comment
	prev := next - 1
	if prev >= 0 && offset < ends[prev] {
		return prev
	}
	if prev >= 0 && lines.line(offset) == lines.line(max(ends[prev]-1, starts[prev])) {
		return prev
	}
	if next < len(starts) {
		return next
	}
	return -1
}
