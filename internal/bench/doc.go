// Package bench measures Slipway against its baselines, each in one run on
// one machine: the release build (bench:build), the migration lint
// (bench:lint), the binary upload (bench:upload), whole deploys under load
// (bench:deploy) and, in bench:deploy's last rows (serving.go), the
// `deploy` target run as a user runs it, from the command's start to the
// first answer with the new /version, against the same target of an
// earlier commit (DefaultBaseline) in the same run. It is the only home of benchmark code: the product
// packages export product API, and this package drives them from outside, as
// a user would, so no test rig enters the product's import graph.
//
// The parts every benchmark shares:
//   - Rig: a sandbox of its own (or one given), the app built, the service
//     provisioned, its env file pointed at the sandbox's database (by
//     apptest.Install, the tests' own fixture for that).
//   - Load: a fixed-rate load generator; a Scenario is a way of deploying
//     run under that load, and adding one to a list adds its row to
//     bench:deploy's table.
//   - Median, and Table, the one table printer.
package bench
