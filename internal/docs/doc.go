// Package docs holds no code: its test keeps README.md and docs/*.md honest
// about the code they describe.
//
// A manual drifts silently (the README once said the SSH handshake was bounded
// at 5 s while remote.DefaultHandshakeTimeout said 20 s). The test fails as
// soon as the docs and the code disagree on the names a reader types or sets:
//   - the targets: every target `go run mage.go -l` lists is in a targets
//     table, and every `go run mage.go <target> -flag` the docs show exists
//     with that flag;
//   - the environment: every variable the code reads (os.Getenv, os.LookupEnv
//     and getenv-style functions, found with go/parser) is named in the docs,
//     and every variable the docs present as a setting is read by the code;
//   - the code map: every internal/ package is named in docs/code.md, every
//     internal/ path and `pkg.Name` the docs point at exists;
//   - the defaults: every settings table's default column shows the value the
//     code starts from (config.Vars, deploy, service and sandbox defaults),
//     and the few values a doc quotes next to their constant match it;
//   - the lint rules table lists exactly internal/lint's rules;
//   - relative links resolve, anchors included.
//
// Elsewhere the docs link to the constant that owns a value that can change
// instead of restating it.
package docs
