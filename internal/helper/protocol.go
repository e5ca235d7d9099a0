package helper

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Protocol is the version of Request and of the lines a step prints. Bump it
// on any change a helper of the previous version would misread.
const Protocol = 1

// HelperDir holds the helpers on a server, each named after its SHA-256.
const HelperDir = "/usr/local/lib/slipway"

// Request is what the client writes on the helper's stdin.
type Request struct {
	Protocol int             `json:"protocol"`
	Step     string          `json:"step"`
	Args     json.RawMessage `json:"args"`
}

// step is one registered step.
type step struct {
	root bool
	run  func(ctx context.Context, e *Env, args json.RawMessage) error
}

var steps = map[string]step{}

// argvRequest are the steps that may take their request from argv
// (hex-encoded) instead of stdin: see ArgvRequest.
var argvRequest = map[string]bool{}

// ArgvRequest is `slipway-helper <step> <request>`'s last word: the
// request for step, hex-encoded, for a step whose stdin is not its own
// (psql's, a terminal). The request then holds no secret: ps shows argv.
func ArgvRequest(step string, args any) (string, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	req, err := json.Marshal(Request{Protocol: Protocol, Step: step, Args: raw})
	return hex.EncodeToString(req), err
}

var stepName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,40}$`)

// Register makes fn the step name, with arguments of type A decoded from
// the request (unknown fields refused). root says whether it needs root:
// the client runs it through sudo -n (unless it logs in as root), a
// non-root step runs as the SSH user. Call it from init.
func Register[A any](name string, root bool, fn func(ctx context.Context, e *Env, a A) error) {
	if !stepName.MatchString(name) {
		panic("helper: step name " + name)
	}
	if _, dup := steps[name]; dup {
		panic("helper: step " + name + " registered twice")
	}
	steps[name] = step{root: root, run: func(ctx context.Context, e *Env, raw json.RawMessage) error {
		var a A
		if len(raw) > 0 {
			d := json.NewDecoder(strings.NewReader(string(raw)))
			d.DisallowUnknownFields()
			if err := d.Decode(&a); err != nil {
				return fmt.Errorf("step %s: arguments: %w", name, err)
			}
		}
		return fn(ctx, e, a)
	}}
}

// Steps lists the registered steps.
func Steps() []string {
	var names []string
	for n := range steps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrFailed is a step's failure that its own lines already explain: Main exits
// 1 without printing anything more.
var ErrFailed = errors.New("failed")

// ExitStatus is a step's own exit status, nothing printed: exec's and
// psql's are the program's they ran.
type ExitStatus int

func (s ExitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// Main is slipway-helper's main: `slipway-helper <step>` with the Request on
// stdin. Exit status: 0 done (the lines say the outcome), 1 the step failed,
// 2 a bad request (wrong protocol, unknown step), printed as one
// "result failed ..." line.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	self, _ := os.Executable()
	e := &Env{Root: "/", Sys: Systemctl{}, Out: os.Stdout, Self: self}
	os.Exit(run(ctx, e, os.Args[1:], os.Stdin))
}

func run(ctx context.Context, e *Env, args []string, stdin io.Reader) int {
	if len(args) == 1 && args[0] == "version" {
		fmt.Fprintf(e.Out, "protocol %d\n", Protocol)
		return 0
	}
	if cmd, ok := unitCommands[first(args)]; ok {
		if err := cmd(ctx, e, args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "slipway-helper %s: %v\n", args[0], err)
			return 1
		}
		return 0
	}
	if len(args) != 1 && (len(args) != 2 || !argvRequest[args[0]]) {
		e.Result("failed", "usage: slipway-helper <step> (request on stdin), or slipway-helper version")
		return 2
	}
	st, ok := steps[args[0]]
	if !ok {
		e.Result("failed", fmt.Sprintf("slipway-helper has no step %q (protocol %d): the client and this helper are of different Slipway versions", args[0], Protocol))
		return 2
	}
	// One line, read byte by byte: what follows it on stdin is the step's
	// (Env.In), e.g. the lock's heartbeats.
	var line []byte
	var err error
	if len(args) == 2 {
		// A step whose stdin is not its own (psql's, a terminal) takes its
		// request, hex-encoded, from argv: never a secret there.
		line, err = hex.DecodeString(args[1])
	} else {
		line, err = readLine(stdin)
	}
	var req Request
	if err == nil {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		e.Result("failed", "slipway-helper "+args[0]+": reading the request on stdin: "+err.Error())
		return 2
	}
	if req.Protocol != Protocol {
		e.Result("failed", fmt.Sprintf("slipway-helper speaks protocol %d, the client %d: deploy again with the same Slipway version on both sides", Protocol, req.Protocol))
		return 2
	}
	if req.Step != args[0] {
		e.Result("failed", fmt.Sprintf("slipway-helper %s: the request is for step %q", args[0], req.Step))
		return 2
	}
	if e.In == nil {
		e.In = stdin
	}
	if err := st.run(ctx, e, req.Args); err != nil {
		var status ExitStatus
		if errors.As(err, &status) {
			return int(status)
		}
		if !errors.Is(err, ErrFailed) {
			e.Result("failed", err.Error())
		}
		return 1
	}
	return 0
}

// Env is the machine a step works on.
type Env struct {
	// Root prefixes every absolute path a step touches: "/" on a server, a
	// temporary folder in unit tests.
	Root string
	// Sys is systemd.
	Sys Systemd
	// Out receives the step's lines.
	Out io.Writer
	// In is what the client sends after the request line.
	In io.Reader
	// Self is the helper binary's own path, for steps that run another step
	// in a transient unit.
	Self string
	// exec replaces the process (syscall.Exec) in unit tests; nil is
	// syscall.Exec.
	exec func(path string, argv, env []string) error
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Path is p (absolute, as on the server) under e.Root.
func (e *Env) Path(p string) string {
	if e.Root == "" || e.Root == "/" {
		return p
	}
	return strings.TrimSuffix(e.Root, "/") + p
}

// Time is e.Now().
func (e *Env) Time() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Line prints one line of the reply: kind ("step", "log", "why", ...) and
// text, line breaks in text made spaces so a line stays a line.
func (e *Env) Line(kind, text string) {
	fmt.Fprintf(e.Out, "%s %s\n", kind, oneLine(text))
}

// Result prints the last line: "result <outcome> <detail>".
func (e *Env) Result(outcome, detail string) {
	if detail == "" {
		fmt.Fprintf(e.Out, "result %s\n", outcome)
		return
	}
	fmt.Fprintf(e.Out, "result %s %s\n", outcome, oneLine(detail))
}

// readLine reads up to and without the first newline, one byte at a time.
func readLine(r io.Reader) ([]byte, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 1<<20 {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return line, nil
			}
			line = append(line, b[0])
			continue
		}
		if err == io.EOF && len(line) > 0 {
			return line, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("request line longer than 1 MiB")
}

func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// NeedsRoot reports whether the step runs as root; false for an unknown step.
func NeedsRoot(name string) bool { return steps[name].root }

// Known reports whether name is a registered step.
func Known(name string) bool { _, ok := steps[name]; return ok }

func first(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
